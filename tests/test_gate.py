"""The pre-merge gate: each kind of drift fails it with contract, falsifier and reason; a
consistent repository passes; it never writes a file."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness.cli.gate import run_gate
from tests.conftest import snapshot_tree

TEST = """\
from pathlib import Path
from harness import accepts, records

@accepts("limit")
@records("value")
def test_value(falsifier):
    value = falsifier.record("value", float(Path("data/value.txt").read_text()))
    assert value < falsifier.params["limit"], f"value {value} is not below the limit"
"""

CONTRACT = """\
metadata:
  version: 1.0.0
  status: DRAFT
falsification_tests:
- id: F-VALUE-001
  test: falsifiers/test_value.py::test_value
  params:
    limit: 10
"""


def make_value_repo(tmp_path: Path, contract: str) -> Path:
    """A repository whose one falsifier reads data/value.txt (3), run once so its claims are on disk."""
    (tmp_path / "pyproject.toml").write_text("[tool.pytest.ini_options]\naddopts = '-p no:cacheprovider'\n")
    for folder in ("contracts", "falsifiers", "data"):
        (tmp_path / folder).mkdir()
    (tmp_path / "falsifiers" / "test_value.py").write_text(TEST)
    (tmp_path / "data" / "value.txt").write_text("3")
    (tmp_path / "contracts" / "c-v1.yaml").write_text(contract)
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "falsifiers"], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stdout
    return tmp_path


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    make_value_repo(tmp_path, CONTRACT)
    return tmp_path


def gate(repo: Path):
    before = snapshot_tree(repo)
    result = run_gate(repo)
    assert snapshot_tree(repo) == before, "the gate wrote a file"
    return result


def test_consistent_repo_passes(repo):
    result = gate(repo)
    assert result.passed, [p.render() for p in result.problems]
    assert result.checks == {"falsified": "pass", "validate": "pass", "lint": "pass", "cuda-evidence": "pass", "run": "pass"}


def test_discharged_falsifier_that_now_fails(repo):
    (repo / "data" / "value.txt").write_text("42")  # the data changed; the test and params did not
    result = gate(repo)
    assert [p.render() for p in result.problems] == [
        "[run] c-v1::F-VALUE-001: DISCHARGED on disk, but it fails now: AssertionError: value 42.0 is not below the limit",
        "[run] c-v1: status ACTIVE_RUNTIME on disk, but this run's results give FALSIFIED",
    ]


def test_stale_verdict(repo):
    path = repo / "falsifiers" / "test_value.py"
    path.write_text(path.read_text().replace("< falsifier", "<= falsifier"))
    rendered = [p.render() for p in gate(repo).problems]
    assert any(r.startswith("[lint] contracts/c-v1.yaml:") and "F-VALUE-001" in r and "[stale]" in r for r in rendered), rendered
    assert any(r.startswith("[run] c-v1::F-VALUE-001: DISCHARGED is stale") for r in rendered), rendered


def test_status_that_does_not_follow(repo):
    path = repo / "contracts" / "c-v1.yaml"
    path.write_text(path.read_text().replace("status: ACTIVE_RUNTIME", "status: DRAFT"))
    rendered = [p.render() for p in gate(repo).problems]
    assert any("contract status DRAFT does not follow from its falsifiers, which give ACTIVE_RUNTIME [status-mismatch]" in r for r in rendered), rendered
    assert "[run] c-v1: status DRAFT does not follow from its falsifiers (ACTIVE_RUNTIME)" in rendered


def test_cuda_falsifier_discharged_without_cuda_evidence(repo):
    path = repo / "contracts" / "c-v1.yaml"
    path.write_text(path.read_text().replace("  params:\n", "  requires: [cuda]\n  params:\n"))
    rendered = [p.render() for p in gate(repo).problems]
    assert any(r.startswith("[cuda-evidence] c-v1::F-VALUE-001: DISCHARGED, but its evidence ran on cpu, not CUDA") for r in rendered), rendered


def test_invalid_contract_fails_validate(repo):
    (repo / "contracts" / "broken-v1.yaml").write_text("metadata: [\n")
    result = gate(repo)
    assert result.checks["validate"] == "fail"
    assert any(p.check == "validate" and "contracts/broken-v1.yaml:" in p.contract for p in result.problems)


def test_cli_json_and_exit_codes(repo):
    ok = subprocess.run([sys.executable, "-m", "harness", "--root", str(repo), "gate", "--json"], capture_output=True, text=True, check=False)
    assert ok.returncode == 0 and json.loads(ok.stdout)["passed"] is True
    (repo / "data" / "value.txt").write_text("42")
    bad = subprocess.run(
        [sys.executable, "-m", "harness", "--root", str(repo), "gate", "--junitxml", str(repo.parent / "gate.xml")], capture_output=True, text=True, check=False
    )
    assert bad.returncode == 1 and "c-v1::F-VALUE-001" in bad.stdout
    assert 'name="falsifier" value="F-VALUE-001"' in (repo.parent / "gate.xml").read_text()
    usage = subprocess.run([sys.executable, "-m", "harness", "--root", str(repo), "gate", "--contract", "nope"], capture_output=True, text=True, check=False)
    assert usage.returncode == 2 and "unknown contract nope" in usage.stderr
