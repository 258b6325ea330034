"""A temporary project for plugin tests: a pv-shaped contract template with comments, falsifier
tests for every outcome, and helpers to write entries and read statuses back."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from harness.snapshot import load_contract

CONTRACT = """\
# A contract with comments everywhere: none may be lost by a rewrite.
metadata:
  id: demo-contract
  version: 1.0.0   # semver
  status: DRAFT    # machine-written
  description: >
    Folded text that must not be re-wrapped.

# the falsifiers
falsification_tests:
{entries}
{hypotheses}"""

HYPOTHESES = """\
hypotheses:
- id: H1
  statement: the value is too big
  refuted_by: [F-PASS-001]
"""

FALSIFIERS = """\
import pytest
from harness import accepts, records


@accepts("value", limit=10)
@records("value")
def test_value(falsifier):
    v = falsifier.record("value", falsifier.params["value"])
    assert v < falsifier.params["limit"], f"value {v} is not below {falsifier.params['limit']}"


def test_crash(falsifier):
    raise ValueError("the subject could not be built")


def test_skip(falsifier):
    pytest.skip("no data on this machine")


def test_xfail(falsifier):
    pytest.xfail("known to be broken")


@pytest.fixture
def broken_setup():
    raise RuntimeError("setup exploded")


def test_setup_error(falsifier, broken_setup):
    pass


@pytest.fixture
def broken_teardown():
    yield
    raise RuntimeError("teardown exploded")


def test_teardown_error(falsifier, broken_teardown):
    falsifier.record("value", 1)


def test_no_measurement(falsifier):
    return  # never runs its check, never records what the contract expects


def test_gpu(falsifier):
    falsifier.record("value", 1)


def test_interrupt(falsifier):
    raise KeyboardInterrupt
"""


def entry(fid: str, func: str, *, params: dict | None = None, extra: str = "") -> str:
    lines = [f"- id: {fid}", f"  test: falsifiers/test_demo.py::{func}  # bound"]
    if params:
        lines.append("  params:")
        lines += [f"    {k}: {v}" for k, v in params.items()]
    if extra:
        lines += ["  " + line for line in textwrap.dedent(extra).strip().splitlines()]
    return "\n".join(lines)


def make_proj(pytester: pytest.Pytester):
    pytester.makefile(".toml", pyproject="[tool.pytest.ini_options]\naddopts = '-p no:cacheprovider'\n")
    (pytester.path / "contracts").mkdir()
    (pytester.path / "falsifiers").mkdir()
    (pytester.path / "falsifiers" / "test_demo.py").write_text(FALSIFIERS)

    def write_contract(*entries: str, name: str = "demo-v1") -> Path:
        path = pytester.path / "contracts" / f"{name}.yaml"
        body = "\n".join(entries)
        path.write_text(CONTRACT.format(entries=body, hypotheses=HYPOTHESES if "id: F-PASS-001" in body else ""))
        return path

    pytester.write_contract = write_contract  # type: ignore[attr-defined]
    return pytester


def statuses(path: Path) -> dict[str, str | None]:
    contract, findings = load_contract(path, root=path.parent.parent)
    assert contract is not None, findings
    out = {f.id: f.status for f in contract.falsifiers}
    out["<contract>"] = contract.status
    return out


def make_counting_project(root: Path, contracts: int) -> Path:
    """A project of ``contracts`` contracts, each with one bound falsifier that passes, discharged
    by a real pytest run (so each has evidence): the subject of the file-open counting test."""
    import subprocess
    import sys

    (root / "contracts").mkdir(parents=True)
    (root / "falsifiers").mkdir()
    (root / "pyproject.toml").write_text("[tool.pytest.ini_options]\naddopts = '-p no:cacheprovider'\n")
    (root / "falsifiers" / "test_values.py").write_text(FALSIFIERS)
    for index in range(contracts):
        entry = textwrap.indent(
            f"- id: F-{index:03d}\n  rule: the value is small\n  test: falsifiers/test_values.py::test_value\n  params:\n    value: {index % 7}\n", ""
        )
        (root / "contracts" / f"c{index:03d}.yaml").write_text(CONTRACT.format(entries=entry, hypotheses="").replace("demo-contract", f"c{index:03d}"))
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q"], cwd=root, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return root
