"""Every documented install line resolves as the README promises (issue #39, item 11): in a clean
venv, beside the pinned CPU torch, no extra moves torch, pulls torchvision or NVIDIA's CUDA wheels,
or leaves pip's resolver spinning. Resolution only (``pip install --dry-run --report``): the
test reads what pip would install, from the same package index the test command installs from.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PIN = "torch==2.13.0"
FORBIDDEN = re.compile(r"^(torchvision|torchaudio|triton|nvidia-.*)$", re.IGNORECASE)


def documented_extras() -> list[str]:
    """The extras the README's table names (`[ml]`, `[ray]`, ...), in its order."""
    text = (ROOT / "README.md").read_text()
    table = text.split("Which extra is for what", 1)[1].split("\n\n", 2)[1]
    return [m for row in table.splitlines() if row.startswith("| `[") for m in re.findall(r"`\[([a-z0-9-]+)\]`", row.split("|")[1])]


def resolve(tmp_path: Path, *requirements: str) -> dict[str, str]:
    """What pip would install for ``requirements`` into a clean venv: {name: version}."""
    env_dir = tmp_path / "venv"
    if not env_dir.exists():
        venv.create(env_dir, with_pip=True)
    report = tmp_path / "report.json"
    proc = subprocess.run(
        [str(env_dir / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check", "--dry-run", "--report", str(report), *requirements],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    if proc.returncode and not _index_reachable(env_dir):
        pytest.skip("no package index is reachable from this machine (an offline runner): nothing to resolve against")
    assert proc.returncode == 0, f"pip could not resolve {requirements}:\n{proc.stderr[-3000:]}"
    return {i["metadata"]["name"].lower(): i["metadata"]["version"] for i in json.loads(report.read_text())["install"]}


def _index_reachable(env_dir: Path) -> bool:
    """Whether pip can resolve anything at all here (setuptools, which every build needs)."""
    probe = subprocess.run(
        [str(env_dir / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check", "--dry-run", "--ignore-installed", "setuptools"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    return probe.returncode == 0


def test_the_readme_names_every_extra_the_package_declares():
    declared = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]) - {"test"}
    assert set(documented_extras()) == declared


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="venv layout")
@pytest.mark.parametrize("extras", [["ml"], "every documented extra"], ids=["readme-line", "every-extra"])
def test_a_documented_install_line_keeps_the_pinned_cpu_torch_and_pulls_no_cuda(tmp_path, extras):
    extras = documented_extras() if extras == "every documented extra" else extras
    got = resolve(tmp_path, f"{ROOT}[{','.join(extras)}]", PIN)
    assert got.get("torch", "").split("+")[0] == PIN.split("==")[1], got.get("torch")
    # what the pin brings by itself on this interpreter (where the index holds no CPU build of it
    # for this Python, the pin alone pulls CUDA wheels): the extras must add nothing to it
    pin_alone = {name for name in resolve(tmp_path, PIN) if FORBIDDEN.match(name)}
    pulled = sorted(name for name in got if FORBIDDEN.match(name) and name not in pin_alone)
    assert not pulled, f"[{','.join(extras)}] beside {PIN} pulls {pulled}"
    assert "falsifier-harness" in got
