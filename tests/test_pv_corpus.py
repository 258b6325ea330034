"""Real pv-family contracts (tests/data/pv-corpus, SOURCES says where each comes from): the harness
reads them as pv reads them — the same verdict, their falsifiers listed, never a byte changed — and a
repository holding them still runs its own tests and falsifiers."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import snapshot_tree

CORPUS = Path(__file__).parent / "data" / "pv-corpus"


def sources() -> list[tuple[str, str]]:
    rows = []
    for line in (CORPUS / "SOURCES").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            parts = line.split()
            rows.append((parts[0], parts[-1]))
    return rows


def cli(root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "harness", "--root", str(root), *args], cwd=root, capture_output=True, text=True, check=False)


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("pv-repo")
    shutil.copytree(CORPUS, root / "contracts")
    (root / "contracts" / "SOURCES").unlink()
    return root


@pytest.mark.parametrize(("path", "verdict"), sources(), ids=[p for p, _ in sources()])
def test_validate_gives_pvs_verdict(repo, path, verdict):
    out = cli(repo, "validate", "--json", str(repo / "contracts" / path))
    assert "Traceback" not in out.stderr, out.stderr
    data = json.loads(out.stdout)
    errors = [f for f in data["findings"] if f["severity"] == "error"]
    if verdict == "skip":
        assert data["files"] == 1  # named explicitly it is read; a directory scan skips it (below)
        return
    if verdict.startswith("warn("):
        rule = verdict[len("warn(") : -1]
        warnings = [f for f in data["findings"] if f["severity"] == "warning"]
        assert out.returncode == 0 and not errors and any(f["rule"] == f"pv:{rule}" and f["line"] > 0 for f in warnings), data["findings"]
        listed = json.loads(cli(repo, "status", "--json", str(repo / "contracts" / path)).stdout)["contracts"][0]
        assert listed["falsifiers"] and not any(f["bound"] for f in listed["falsifiers"]), "other shapes are listed, as external"
        return
    if verdict == "accept":
        assert out.returncode == 0 and not errors, errors
        listed = json.loads(cli(repo, "status", "--json", str(repo / "contracts" / path)).stdout)["contracts"][0]
        assert listed["falsifiers"], "its falsifiers are listed"
    else:
        rule = verdict[len("refuse(") : -1]
        assert out.returncode == 1 and any(f["rule"] == f"pv:{rule}" and f["line"] > 0 for f in errors), errors


def test_a_directory_scan_skips_what_pv_skips(repo):
    data = json.loads(cli(repo, "validate", "--json").stdout)
    assert data["files"] == sum(1 for _, v in sources() if v != "skip")


def test_a_full_run_with_the_corpus_in_contracts_runs_the_projects_own_tests_and_changes_no_corpus_byte(repo, tmp_path):
    project = tmp_path / "project"
    shutil.copytree(repo, project)
    (project / "pyproject.toml").write_text("[tool.pytest.ini_options]\naddopts = '-p no:cacheprovider'\n")
    (project / "tests").mkdir()
    (project / "tests" / "test_own.py").write_text("def test_own():\n    assert 1 + 1 == 2\n")
    run = project / "runs" / "r1"
    run.mkdir(parents=True)
    (run / "epoch-000.metadata.json").write_text(json.dumps({"train_loss": 2.5, "val_loss": 2.6}))
    (project / "contracts" / "ours-v1.yaml").write_text(
        "metadata:\n  version: 1.0.0\n  status: DRAFT\nsubjects:\n  r:\n    run: runs/r1\nfalsification_tests:\n"
        "- id: F-OURS-001\n  test: builtin:metric-plausibility\n  subject: r\n"
    )
    before = {k: v for k, v in snapshot_tree(project / "contracts").items() if k != "ours-v1.yaml"}
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q"], cwd=project, capture_output=True, text=True, check=False)
    assert "1 passed" in proc.stdout.splitlines()[-1] or "2 passed" in proc.stdout.splitlines()[-1], proc.stdout[-2000:]
    assert "REFUSED: contracts/aprender/agent-loop-v1.yaml:" in proc.stdout
    assert proc.returncode == 1  # refused contracts fail the run, after everything else ran
    after = {k: v for k, v in snapshot_tree(project / "contracts").items() if k not in ("ours-v1.yaml", ".harness.lock")}
    assert after == before
    assert sorted(p.name for p in (project / "evidence").iterdir()) == ["ours-v1"]
    assert "status: DISCHARGED" in (project / "contracts" / "ours-v1.yaml").read_text()


def test_the_gate_passes_a_repo_of_external_only_pv_contracts(tmp_path):
    from harness.gate import run_gate

    (tmp_path / "pyproject.toml").write_text("[tool.pytest.ini_options]\naddopts = '-p no:cacheprovider'\n")
    (tmp_path / "contracts").mkdir()
    for path, verdict in sources():
        if verdict == "accept" or verdict.startswith("warn("):
            shutil.copy(CORPUS / path, tmp_path / "contracts" / Path(path).name)
    result = run_gate(tmp_path)
    assert result.passed, [p.render() for p in result.problems]
    one = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--contract=batch-v1"], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert "batch-v1: 4 external and 0 locally bound falsifier(s)" in one.stdout, one.stdout


@pytest.mark.parametrize(
    ("text", "rule", "line"),
    [
        ('metadata: {version: "1.0.0", description: stub, registry: true, references: [x]}\nkind: AlgorithmContract\n', "pv:SCHEMA-018", 2),
        ("metadata: {version: '1', description: d, kind: pattern, references: [x]}\nproof_obligation:\n- {type: invariant, property: p}\n", "pv:SCHEMA-019", 2),
        ("metadata: {version: '1', description: d, kind: pattern, references: [x]}\nFalsification_Tests: []\n", "pv:SCHEMA-019", 2),
        (
            "metadata: {version: '1', description: d, references: [x]}\nequations: {f: {formula: x}}\nproof_obligations:\n- {type: invariant, property: p}\n",
            "pv:PROVABILITY-001",
            1,
        ),
    ],
    ids=["top-level-kind", "near-miss-singular", "near-miss-case", "kernel-without-tests"],
)
def test_pvs_structural_rules_are_refusals_with_a_position(tmp_path, text, rule, line):
    from harness.contract import load_contract

    path = tmp_path / "c.yaml"
    path.write_text(text)
    contract, findings = load_contract(path, root=tmp_path)
    assert contract is None
    assert any(f.rule == rule and f.line == line and f.is_error for f in findings), [f.render() for f in findings]


def test_legitimate_downstream_blocks_are_not_near_misses():
    from harness.contract.pv_rules import near_miss

    assert near_miss("invariants") is None and near_miss("gates") is None and near_miss("spec") is None
    assert near_miss("kani_harness") == "kani_harnesses" and near_miss("qa_gates") == "qa_gate"
