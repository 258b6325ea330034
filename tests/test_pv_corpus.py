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


@pytest.mark.parametrize(
    ("path", "shapes", "status"),
    [
        ("albor/fresh-training-step-v1.yaml", {"falsification_tests": 2, "falsification": 3}, None),  # given/when/then list
        ("aprender/agent-trace-terms-v1.yaml", {"falsification_tests": 4}, None),  # legacy name/test_harness/expected_output
        ("albor/lm-head-layout-parity-v1.yaml", {"falsification_tests": 3}, None),  # changelog entries as strings
        ("aprender/apr-backend-registry-v1.yaml", {"falsification_tests": 3}, "active"),  # top-level status
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_every_falsifier_shape_is_listed_with_its_position(repo, path, shapes, status):
    listed = json.loads(cli(repo, "status", "--json", str(repo / "contracts" / path)).stdout)["contracts"][0]
    found: dict[str, int] = {}
    for f in listed["falsifiers"]:
        found[f["shape"]] = found.get(f["shape"], 0) + 1
        assert not f["bound"]
    assert found == shapes
    assert listed["status"] == status


def test_falsifiers_nested_in_another_block_are_read_even_where_pv_refuses_the_file(repo):
    """``obligations[].falsification`` (and SHIP-style ``invariants[].falsifier``) are read; pv's own
    PROVABILITY-001 still refuses the file, as pv does."""
    from harness.snapshot import load_contract

    contract, _ = load_contract(repo / "contracts" / "albor/memory-profiling-v1.yaml", root=repo, pv_rules="off")
    assert [(f.id, f.shape) for f in contract.falsifiers] == [(f"C-DHAT-00{i}", "obligations") for i in range(1, 5)]
    assert all(f.line > 0 for f in contract.falsifiers)


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
    from harness.cli.gate import run_gate

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
    from harness.snapshot import load_contract

    path = tmp_path / "c.yaml"
    path.write_text(text)
    contract, findings = load_contract(path, root=tmp_path)
    assert contract is None
    assert any(f.rule == rule and f.line == line and f.is_error for f in findings), [f.render() for f in findings]


def test_legitimate_downstream_blocks_are_not_near_misses():
    from harness.contract.pv_rules import near_miss

    assert near_miss("invariants") is None and near_miss("gates") is None and near_miss("spec") is None
    assert near_miss("kani_harness") == "kani_harnesses" and near_miss("qa_gates") == "qa_gate"


SHAPES = {
    "gates": (
        "metadata: {version: '1.0.0', description: d, kind: pattern, references: [x]}\n"
        "gates:\n- id: G-1\n  command: cargo test -p x\n  expected: exit 0\n- name: G-2\n  check: grep -q y z\n"
    ),
    "invariants": (
        "contract_id: C-SHIP-1\nmetadata: {version: '1.0.0', description: d, kind: pattern, references: [x]}\n"
        "invariants:\n- id: INV-1\n  statement: s\n  falsifier: {id: FALSIFY-INV-1, test: cargo test inv1}\n"
        "- id: INV-2\n  statement: t\n  falsifier: cargo test inv2\n- id: INV-3\n  statement: no falsifier\n"
    ),
    "falsifiers": "metadata: {version: '1.0.0', description: d, kind: pattern, references: [x]}\nfalsifiers:\n  F-A: {test: a}\n  F-B: {test: b}\n",
}


@pytest.mark.parametrize(("shape", "ids"), [("gates", ["G-1", "G-2"]), ("invariants", ["FALSIFY-INV-1", "INV-2"]), ("falsifiers", ["F-A", "F-B"])])
def test_falsifiers_kept_in_other_shapes_are_listed_as_external(tmp_path, shape, ids):
    """Shapes met in pv-family repositories beyond the corpus above (gates lists, SHIP-style
    invariants carrying a falsifier, falsifiers keyed by id): read, listed, never run."""
    (tmp_path / "contracts").mkdir()
    (tmp_path / "contracts" / "c.yaml").write_text(SHAPES[shape])
    out = cli(tmp_path, "status", "--json")
    listed = json.loads(out.stdout)["contracts"][0]["falsifiers"]
    assert [f["id"] for f in listed] == ids and {f["shape"] for f in listed} == {shape}
    assert all(not f["bound"] and f["line"] > 0 for f in listed)


def test_an_unread_falsifier_block_is_warned_at_its_line(tmp_path):
    (tmp_path / "contracts").mkdir()
    (tmp_path / "contracts" / "c.yaml").write_text("metadata: {version: '1', description: d, references: [x], kind: pattern}\nfalsification_gates: [a]\n")
    data = json.loads(cli(tmp_path, "validate", "--json").stdout)
    assert [(f["rule"], f["line"], f["severity"]) for f in data["findings"]] == [("unread-falsifiers", 2, "warning")]
