"""Shared helpers for the harness's own tests."""

from __future__ import annotations

import contextlib
import importlib
import os
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

# pytester's inline runs restore sys.modules afterwards: a C extension first imported inside one
# (numpy's fft or linalg, reached through transformers → scipy) cannot be loaded again in the same
# process, and a later CUDA falsifier in that xdist worker errors out. Import them up front.
for _name in ("numpy", "numpy.fft", "numpy.linalg", "numpy.random"):
    with contextlib.suppress(ImportError):  # numpy is an optional extra
        importlib.import_module(_name)

# Under pytest-xdist every worker (and the pytest subprocesses it starts) would otherwise run
# torch's intra-op thread pool on all cores: spinning OpenMP threads then starve each other.
if "PYTEST_XDIST_WORKER" in os.environ:
    os.environ.setdefault("OMP_NUM_THREADS", "1")


DATA = Path(__file__).parent / "data"


def snapshot_tree(root: Path) -> dict[str, tuple[int, bytes]]:
    """Every file under ``root`` with its mtime and bytes: proves that nothing was written."""
    out = {}
    for path in sorted(root.rglob("*")):
        if path.is_file():
            out[str(path.relative_to(root))] = (path.stat().st_mtime_ns, path.read_bytes())
    return out


@pytest.fixture
def project(tmp_path: Path):
    """A minimal project root (pyproject.toml, contracts/, falsifiers/) to run the CLI in."""
    (tmp_path / "pyproject.toml").write_text("[project]\nname='p'\n")
    (tmp_path / "contracts").mkdir()
    (tmp_path / "falsifiers").mkdir()

    return tmp_path


@pytest.fixture
def proj(pytester: pytest.Pytester):
    """A project with contracts/ and falsifiers/test_demo.py; ``proj.write_contract(*entries)``."""
    from tests.plugin_project import make_proj

    return make_proj(pytester)
