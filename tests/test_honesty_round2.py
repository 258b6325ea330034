"""Honest, round 2: the second hostile review's routes to a pass nobody saw, one test per class
(issue #20). Each was red on the code before its fix (run against 8fc6081, the commit before the
round); docs/security.md maps route → rule → test.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from harness.cli.gate import run_gate
from harness.fingerprint import current_fingerprint
from harness.snapshot import load_contract
from tests.conftest import snapshot_tree
from tests.plugin_project import entry, statuses


def run(cwd: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **(env or {})},
    )


def cli(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "harness", "--root", str(cwd), *args], cwd=cwd, capture_output=True, text=True, check=False)


def gate(repo: Path):
    before = {k: v for k, v in snapshot_tree(repo).items() if not k.startswith(".cache/")}
    result = run_gate(repo)
    assert {k: v for k, v in snapshot_tree(repo).items() if not k.startswith(".cache/")} == before, "the gate wrote a file"
    return result


def new_project(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "pyproject.toml").write_text("[tool.pytest.ini_options]\naddopts = '-p no:cacheprovider'\n")
    (root / "contracts").mkdir(exist_ok=True)
    (root / "falsifiers").mkdir(exist_ok=True)
    return root


def falsifier_of(path: Path, root: Path, fid: str):
    contract = load_contract(path, root=root)[0]
    return contract, contract.falsifier(fid)


def fingerprint_now(root: Path, fid: str = "F-1") -> str | None:
    contract, f = falsifier_of(root / "contracts" / "c.yaml", root, fid)
    return current_fingerprint(root, contract, f)


def status_of(root: Path, fid: str, name: str = "c.yaml") -> str | None:
    contract = load_contract(root / "contracts" / name, root=root)[0]
    return None if contract is None else contract.falsifier(fid).status


RUN_CONTRACT = """\
metadata:
  version: 1.0.0
  status: DRAFT
subjects:
  finetune:
    run: {run}
falsification_tests:
- id: F-METRIC-001
  test: builtin:metric-plausibility
  subject: finetune
"""


def hf_state(step: int, val_loss: float) -> str:
    return json.dumps(
        {"global_step": step, "log_history": [{"loss": 2.4, "step": step - 10, "epoch": 1.0}, {"eval_loss": val_loss, "step": step, "epoch": 1.0}]}
    )


# 1 ------------------------------------------------------------------ the latest of a run by its number
def test_the_latest_checkpoint_and_epoch_are_chosen_by_number(tmp_path):
    from harness.subjects.runs import latest_run_file, read_run

    for step in (500, 1000):
        (tmp_path / "hf" / f"checkpoint-{step}").mkdir(parents=True)
        (tmp_path / "hf" / f"checkpoint-{step}" / "trainer_state.json").write_text(hf_state(step, 2.0 if step == 500 else 0.0008))
    assert latest_run_file(tmp_path / "hf").parent.name == "checkpoint-1000"
    assert read_run(tmp_path / "hf")[-1]["val_loss"] == 0.0008
    pv = tmp_path / "pv"
    pv.mkdir()
    for epoch in (998, 999, 1000):
        (pv / f"epoch-{epoch}.metadata.json").write_text(json.dumps({"train_loss": 2.0, "val_loss": 0.0008 if epoch == 1000 else 2.1}))
    assert read_run(pv)[-1]["val_loss"] == 0.0008
    for version in (9, 10):
        (tmp_path / "pl" / f"version_{version}").mkdir(parents=True)
        loss = 0.0008 if version == 10 else 2.1
        (tmp_path / "pl" / f"version_{version}" / "metrics.csv").write_text(f"epoch,step,train_loss,val_loss\n0,10,2.0,{loss}\n")
    assert latest_run_file(tmp_path / "pl").parent.name == "version_10"


def test_a_run_whose_last_checkpoint_collapsed_is_never_discharged(tmp_path):
    root = new_project(tmp_path)
    for step, loss in ((500, 2.0), (1000, 0.0008)):
        (root / "runs" / "hf" / f"checkpoint-{step}").mkdir(parents=True)
        (root / "runs" / "hf" / f"checkpoint-{step}" / "trainer_state.json").write_text(hf_state(step, loss))
    (root / "contracts" / "c.yaml").write_text(RUN_CONTRACT.format(run="runs/hf"))
    proc = run(root, "-q")
    assert status_of(root, "F-METRIC-001") in ("FALSIFIED", "METHODOLOGY_SUSPECT"), proc.stdout


# 2 ------------------------------------------------------------------ the fingerprint covers what runs
SUBJECT_TEST = """\
from harness import accepts

@accepts(limit=10)
def test_f(falsifier, model):
    assert model.leaks() < falsifier.params["limit"]
"""

CONFTEST = """\
import pytest
from mypkg.model import Model

@pytest.fixture
def model():
    return Model()
"""

FIXTURE_CONTRACT = """\
metadata:
  version: 1.0.0
  status: DRAFT
falsification_tests:
- id: F-1
  test: falsifiers/test_f.py::test_f
  params:
    limit: 10
"""


@pytest.fixture
def subject_project(tmp_path):
    root = new_project(tmp_path)
    (root / "mypkg").mkdir()
    (root / "mypkg" / "__init__.py").write_text("")
    (root / "mypkg" / "model.py").write_text("class Model:\n    causal = True\n\n    def leaks(self):\n        return 0 if self.causal else 99\n")
    (root / "conftest.py").write_text(CONFTEST)
    (root / "falsifiers" / "test_f.py").write_text(SUBJECT_TEST)
    (root / "contracts" / "c.yaml").write_text(FIXTURE_CONTRACT)
    return root


def test_an_edit_to_the_subjects_own_code_stales_the_verdict(subject_project):
    root = subject_project
    assert run(root, "-q").returncode == 0
    assert status_of(root, "F-1") == "DISCHARGED"
    assert cli(root, "lint").returncode == 0
    model = root / "mypkg" / "model.py"
    model.write_text(model.read_text().replace("causal = True", "causal = False"))  # the causal mask removed
    lint = cli(root, "lint")
    assert lint.returncode == 1 and "[stale]" in lint.stdout, lint.stdout
    assert not gate(root).passed


def test_an_edit_to_a_fixtures_plugin_named_in_pytest_plugins_stales_the_verdict(subject_project):
    """The plugin no longer registers the demo's fixtures itself: a fixtures module reaches a
    verdict through ``pytest_plugins`` in a conftest, and that route must enter the fingerprint."""
    root = subject_project
    (root / "conftest.py").write_text('pytest_plugins = ["mypkg.fixtures"]\n')
    (root / "mypkg" / "fixtures.py").write_text(CONFTEST)
    assert run(root, "-q").returncode == 0
    assert status_of(root, "F-1") == "DISCHARGED"
    assert cli(root, "lint").returncode == 0
    model = root / "mypkg" / "model.py"
    model.write_text(model.read_text().replace("causal = True", "causal = False"))
    lint = cli(root, "lint")
    assert lint.returncode == 1 and "[stale]" in lint.stdout, lint.stdout


@pytest.mark.parametrize(
    ("layout", "test_source"),
    [
        ({"src/helpers.py": "LIMIT = 5\n"}, "from helpers import LIMIT\n\ndef test_f(falsifier):\n    assert LIMIT < 10\n"),
        (
            {"falsifiers/__init__.py": "", "falsifiers/util.py": "LIMIT = 5\n"},
            "from .util import LIMIT\n\ndef test_f(falsifier):\n    assert LIMIT < 10\n",
        ),
        ({"tools/__init__.py": "", "tools/util.py": "LIMIT = 5\n"}, "from tools.util import LIMIT\n\ndef test_f(falsifier):\n    assert LIMIT < 10\n"),
        ({"lib.py": "LIMIT = 5\n"}, "import lib\n\ndef test_f(falsifier):\n    assert lib.LIMIT < 10\n"),
    ],
    ids=["src-layout", "relative-import", "sibling-folder", "root-module"],
)
def test_every_project_module_the_test_imports_is_in_the_fingerprint(tmp_path, layout, test_source):
    root = new_project(tmp_path)
    for name, text in layout.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    (root / "falsifiers" / "test_f.py").write_text(test_source)
    (root / "contracts" / "c.yaml").write_text(FIXTURE_CONTRACT.replace("  params:\n    limit: 10\n", ""))
    before = fingerprint_now(root)
    assert before is not None
    helper = root / next(name for name in layout if name.endswith(("util.py", "helpers.py", "lib.py")))
    helper.write_text("LIMIT = 50\n")
    assert fingerprint_now(root) != before


def test_the_live_definition_is_fingerprinted_not_the_dead_one(tmp_path):
    root = new_project(tmp_path)
    dead = "def test_f(falsifier):\n    assert 1 < 10\n\n\n"
    live = "def test_f(falsifier):\n    assert 2 < 10\n"
    (root / "falsifiers" / "test_f.py").write_text(dead + live)
    (root / "contracts" / "c.yaml").write_text(FIXTURE_CONTRACT.replace("  params:\n    limit: 10\n", ""))
    before = fingerprint_now(root)
    (root / "falsifiers" / "test_f.py").write_text(dead + live.replace("2 < 10", "20 < 10"))
    assert fingerprint_now(root) != before


# 3 ------------------------------------------------------------------ the subject's declaration and content
SHARD_CONTRACT = """\
metadata:
  version: 1.0.0
  status: DRAFT
subjects:
  data:
    vocab_size: 1000
    shards: {shards}
falsification_tests:
- id: F-1
  test: builtin:shard-integrity
  subject: data
"""


def test_a_subject_retargeted_or_rewritten_in_place_changes_the_fingerprint(tmp_path):
    root = new_project(tmp_path)
    (root / "data").mkdir()
    np.save(root / "data" / "good-0.npy", np.arange(500, dtype=np.uint16))
    np.save(root / "data" / "bad-0.npy", np.arange(500, dtype=np.uint16) + 900)  # ids ≥ V
    path = root / "contracts" / "c.yaml"
    path.write_text(SHARD_CONTRACT.format(shards="data/good-*.npy"))
    first = fingerprint_now(root)
    path.write_text(SHARD_CONTRACT.format(shards="data/bad-*.npy"))  # a contract-only edit of subjects:
    assert fingerprint_now(root) != first
    path.write_text(SHARD_CONTRACT.format(shards="data/good-*.npy"))
    assert fingerprint_now(root) == first
    shard = root / "data" / "good-0.npy"
    stat = shard.stat()
    np.save(shard, np.arange(500, dtype=np.uint16) + 600)  # same size, same mtime, other ids
    os.utime(shard, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert shard.stat().st_size == stat.st_size
    assert fingerprint_now(root) != first


# 4 ------------------------------------------------------------------ a baseline never quiets backing
def test_a_cuda_claim_whose_test_is_gone_fails_the_gate_whatever_the_baseline(tmp_path):
    from harness.lint import BACKING_RULES, lint_contract, split_new
    from tests.test_gate import CONTRACT, make_value_repo

    repo = make_value_repo(tmp_path, CONTRACT)
    path = repo / "contracts" / "c-v1.yaml"
    path.write_text(path.read_text().replace("  params:\n", "  requires: [cuda]\n  params:\n"))  # a DISCHARGED CUDA claim
    assert "status: DISCHARGED" in path.read_text()
    (repo / "falsifiers" / "test_value.py").unlink()
    assert cli(repo, "lint", "--update-baseline").returncode in (0, 1)
    result = gate(repo)
    assert result.checks["cuda-evidence"] == "fail", [p.render() for p in result.problems]
    assert any("no longer exists" in p.render() for p in result.problems)
    from harness.snapshot import read_snapshot

    snapshot = read_snapshot(repo)
    findings = lint_contract(snapshot.contracts[0], snapshot)
    assert "missing-test" in BACKING_RULES
    new, _ = split_new(findings, {json.dumps([f.location, f.rule]) for f in findings} | {f.rule for f in findings})
    assert any(f.rule == "missing-test" for f in new)


# 5 ------------------------------------------------------------------ a rolled-back contract
def test_a_contract_rolled_back_over_newer_evidence_is_refused(tmp_path):
    from tests.test_gate import CONTRACT, make_value_repo

    repo = make_value_repo(tmp_path, CONTRACT)
    path = repo / "contracts" / "c-v1.yaml"
    discharged = path.read_text()
    assert "status: DISCHARGED" in discharged
    time.sleep(0.01)
    (repo / "data" / "value.txt").write_text("30")
    assert run(repo, "-q", "falsifiers").returncode == 1
    assert "status: FALSIFIED" in path.read_text()
    path.write_text(discharged)  # git checkout contracts/c-v1.yaml
    lint = cli(repo, "lint")
    assert lint.returncode == 1 and "[evidence-provenance]" in lint.stdout and "later run" in lint.stdout, lint.stdout
    assert not gate(repo).passed


# 6 ------------------------------------------------------------------ python -O
COLLAPSED_RUN = {"epoch-000.metadata.json": (2.5, 2.6), "epoch-001.metadata.json": (0.001, 0.0008)}


def collapsed_run_project(root: Path) -> Path:
    new_project(root)
    (root / "runs" / "r1").mkdir(parents=True)
    for name, (train, val) in COLLAPSED_RUN.items():
        (root / "runs" / "r1" / name).write_text(json.dumps({"train_loss": train, "val_loss": val}))
    (root / "contracts" / "c.yaml").write_text(RUN_CONTRACT.format(run="runs/r1"))
    return root


@pytest.mark.parametrize("args", [(), ("--assert=plain",)], ids=["rewritten", "assert-plain"])
def test_python_dash_O_never_discharges(tmp_path, args):
    root = collapsed_run_project(tmp_path)
    (root / "falsifiers" / "test_v.py").write_text("def test_v(falsifier):\n    assert falsifier.params['value'] < 1\n")
    text = (root / "contracts" / "c.yaml").read_text()
    (root / "contracts" / "c.yaml").write_text(text + "- id: F-2\n  test: falsifiers/test_v.py::test_v\n  params:\n    value: 5\n")
    proc = run(root, "-q", *args, env={"PYTHONOPTIMIZE": "1"})
    assert status_of(root, "F-METRIC-001") != "DISCHARGED", proc.stdout
    assert status_of(root, "F-2") != "DISCHARGED", proc.stdout


# 7 ------------------------------------------------------------------ a shadowing 'subject' fixture
def test_a_project_fixture_named_subject_is_refused_by_name(tmp_path):
    root = collapsed_run_project(tmp_path)
    (root / "conftest.py").write_text("import pytest\n\n@pytest.fixture\ndef subject():\n    from harness.subjects.runs import RunSubject\n    return None\n")
    proc = run(root, "-q", "-rE")
    assert status_of(root, "F-METRIC-001") is None, proc.stdout
    assert "shadows the harness's" in proc.stdout and "conftest.py" in proc.stdout, proc.stdout


# 8 ------------------------------------------------------------------ partial scans
SPLIT_CONTRACT = """\
metadata:
  version: 1.0.0
  status: DRAFT
subjects:
  data:
    vocab_size: 4096
    seq_len: 32
    splits:
      train: data/train.npy
      val: data/val.npy
falsification_tests:
- id: F-1
  test: builtin:split-overlap
  subject: data
{params}"""


@pytest.fixture
def carved(tmp_path):
    """val carved from the end of train: a scan that stops early never sees it."""
    root = new_project(tmp_path)
    (root / "data").mkdir()
    train = np.random.default_rng(0).integers(0, 4096, 60_000).astype(np.uint16)
    np.save(root / "data" / "train.npy", train)
    np.save(root / "data" / "val.npy", train[-3000:])
    return root


def test_split_overlap_reads_everything_by_default(carved):
    (carved / "contracts" / "c.yaml").write_text(SPLIT_CONTRACT.format(params=""))
    proc = run(carved, "-q")
    assert status_of(carved, "F-1") == "FALSIFIED", proc.stdout


def test_a_capped_scan_that_passes_is_suspect_never_discharged(carved):
    (carved / "contracts" / "c.yaml").write_text(SPLIT_CONTRACT.format(params="  params:\n    max_train_tokens: 20000\n"))
    proc = run(carved, "-q")
    assert status_of(carved, "F-1") == "METHODOLOGY_SUSPECT", proc.stdout


def test_model_vocab_fit_reads_past_any_former_cap(tmp_path):
    root = new_project(tmp_path)
    (root / "data").mkdir()
    ids = np.random.default_rng(1).integers(0, 800, 2_300_000).astype(np.uint16)
    ids[2_200_000:2_200_050] = 899  # ids ≥ V after token 2.2·10⁶
    np.save(root / "data" / "train.npy", ids)
    np.save(root / "data" / "val.npy", ids[:5000])
    text = SPLIT_CONTRACT.format(params="").replace("vocab_size: 4096", "vocab_size: 800").replace("split-overlap", "model-vocab-fit")
    (root / "contracts" / "c.yaml").write_text(text)
    proc = run(root, "-q")
    assert status_of(root, "F-1") == "FALSIFIED", proc.stdout


# 9 ------------------------------------------------------------------ params edited to the same size and mtime
EDITS_QUIETLY = """\
import os
from pathlib import Path

def test_edits(falsifier):
    path = Path("contracts/c.yaml")
    stat = path.stat()
    path.write_text(path.read_text().replace("limit: 10", "limit: 99"))  # same size
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # same mtime
    assert 3 < falsifier.params["limit"]
"""


def test_params_edited_mid_run_to_the_same_size_and_mtime_get_no_verdict(tmp_path):
    root = new_project(tmp_path)
    (root / "falsifiers" / "test_f.py").write_text(EDITS_QUIETLY.replace("test_edits", "test_f"))
    path = root / "contracts" / "c.yaml"
    path.write_text(FIXTURE_CONTRACT)
    proc = run(root, "-q")
    assert "limit: 99" in path.read_text()
    assert status_of(root, "F-1") is None, proc.stdout


# 10 ----------------------------------------------------------------- the summary says what happened
def test_a_contract_key_with_a_reserved_part_is_a_finding_and_nothing_is_written(proj):
    path = proj.write_contract(entry("F-PASS-001", "test_value", params={"value": 3}), name="a")
    (proj.path / "contracts" / "a").mkdir()
    nested = proj.path / "contracts" / "a" / "LATEST.yaml"
    nested.write_text(path.read_text())
    result = proj.runpytest()
    assert "reserved-name" in result.stdout.str() or "LATEST" in result.stdout.str()
    validate = cli(proj.path, "validate")
    assert validate.returncode == 1 and "[reserved-name]" in validate.stdout, validate.stdout
    assert statuses(nested)["F-PASS-001"] is None


def test_a_latest_folder_refuses_the_run_before_anything_is_written(proj):
    path = proj.write_contract(entry("F-PASS-001", "test_value", params={"value": 3}))
    key = path.stem
    (proj.path / "evidence" / key / "LATEST").mkdir(parents=True)
    before = path.read_text()
    result = proj.runpytest()
    assert path.read_text() == before
    assert [p.name for p in (proj.path / "evidence" / key).iterdir()] == ["LATEST"]
    assert "evidence in" not in result.stdout.str()


def test_when_every_falsifier_errors_the_summary_names_no_evidence(proj):
    path = proj.write_contract(entry("F-CRASH-001", "test_crash"))
    path.write_text(path.read_text().replace("status: DRAFT    # machine-written", "status: ACTIVE_RUNTIME    # machine-written"))
    result = proj.runpytest()
    out = result.stdout.str()
    assert "status: DRAFT" in path.read_text()  # the contract's claim is corrected: it was rewritten
    assert not (proj.path / "evidence").exists()  # and no verdict moved, so there is no evidence
    assert "evidence in" not in out and "no evidence written" in out, out


# 11 ----------------------------------------------------------------- init writes inside only
@pytest.mark.parametrize("name", ["../../x", "a/../../x", "LATEST", "/tmp/x", ""])
def test_init_refuses_a_name_that_leaves_the_contracts_folder(tmp_path, name):
    root = new_project(tmp_path / "p")
    proc = cli(root, "init", "--name", name)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert not (tmp_path / "x.yaml").exists() and not (tmp_path.parent / "x.yaml").exists()
    assert "Traceback" not in proc.stderr


def test_init_never_writes_through_a_symlinked_contracts_folder(tmp_path):
    root = tmp_path / "p"
    root.mkdir()
    (root / "pyproject.toml").write_text("[project]\nname='p'\n")
    outside = tmp_path / "outside"
    outside.mkdir()
    (root / "contracts").symlink_to(outside)
    proc = cli(root, "init")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert list(outside.iterdir()) == []


# 12 ----------------------------------------------------------------- globs stay inside
def _outside_shards(tmp_path: Path) -> Path:
    root = new_project(tmp_path / "p")
    outside = tmp_path / "outside"
    outside.mkdir()
    np.save(outside / "s.npy", np.arange(500, dtype=np.uint16))
    (root / "data" / "a").mkdir(parents=True)
    return root


@pytest.mark.parametrize("pattern", ["data/*/../../../outside/*.npy", "data/a/../../../outside/*.npy", "data/link/*.npy", "data/**/*.npy"])
def test_a_glob_or_symlink_leading_out_is_refused(tmp_path, pattern):
    root = _outside_shards(tmp_path)
    (root / "data" / "link").symlink_to(tmp_path / "outside")
    (root / "contracts" / "c.yaml").write_text(SHARD_CONTRACT.format(shards=json.dumps(pattern)))
    validate = cli(root, "validate")
    lint = cli(root, "lint")
    assert validate.returncode == 1 or lint.returncode == 1, validate.stdout + lint.stdout
    assert "Traceback" not in validate.stderr + lint.stderr
    proc = run(root, "-q")
    assert status_of(root, "F-1") != "DISCHARGED", proc.stdout


# 13 ----------------------------------------------------------------- glob cost is bounded
def test_a_glob_of_many_double_stars_over_a_deep_tree_is_quick(tmp_path):
    """Eight ``**`` over a 16-deep tree took pathlib minutes (one walk per way to split the depth);
    the harness walks once. A bound of 20 s on the whole CLI leaves the slowest runner room."""
    from harness.globbing import GlobError, expand_glob

    root = new_project(tmp_path)
    deep = root / "data"
    for depth in range(16):
        deep = deep / f"d{depth}"
    deep.mkdir(parents=True)
    for i in range(3):
        np.save(deep / f"s{i}.npy", np.arange(10, dtype=np.uint16))
    (root / "contracts" / "c.yaml").write_text(SHARD_CONTRACT.format(shards='"**/**/**/**/**/**/**/**/*.npy"'))
    validate = subprocess.run(
        [sys.executable, "-m", "harness", "--root", str(root), "validate"], cwd=root, capture_output=True, text=True, check=False, timeout=20
    )
    assert "Traceback" not in validate.stderr
    found = expand_glob(root, "**/**/**/**/**/**/**/**/*.npy", (root,))  # as one **: a walk, not 8 nested ones
    assert len(found) == 3
    with pytest.raises(GlobError, match=r"\*\*"):
        expand_glob(root, "data/**/d3/**/d7/**/*.npy", (root,))  # three separate **: refused, not walked


def test_a_glob_over_too_many_entries_is_a_clear_error(tmp_path, monkeypatch):
    from harness import globbing

    root = new_project(tmp_path)
    (root / "data").mkdir()
    for i in range(50):
        (root / "data" / f"s{i}.npy").write_bytes(b"")
    monkeypatch.setattr(globbing, "MAX_GLOB_ENTRIES", 20)
    with pytest.raises(globbing.GlobError, match="more than 20 files and folders"):
        globbing.expand_glob(root, "data/**/*.npy", (root,))


# 14 ----------------------------------------------------------------- params bound what is allocated
@pytest.mark.parametrize(("key", "value"), [("batch_size", 1_000_000_000), ("seq_len", 10**9), ("batch_size", -1)])
def test_an_oversized_batch_is_a_clear_finding_not_a_big_allocation(tmp_path, key, value):
    root = new_project(tmp_path)
    (root / "data").mkdir()
    np.save(root / "data" / "train.npy", np.arange(5000, dtype=np.uint16) % 4096)
    np.save(root / "data" / "val.npy", np.arange(5000, dtype=np.uint16)[::-1] % 4096)
    text = SPLIT_CONTRACT.format(params="").replace(
        "    seq_len: 32\n", f"    seq_len: 32\n    {key}: {value}\n".replace("seq_len: 32\n    seq_len", "seq_len")
    )
    (root / "contracts" / "c.yaml").write_text(text)
    validate = cli(root, "validate")
    assert validate.returncode == 1 and "[bad-subject]" in validate.stdout and key in validate.stdout, validate.stdout
    proc = run(root, "-q")
    assert status_of(root, "F-1") is None, proc.stdout


# 15 ----------------------------------------------------------------- builtin: under pv's own lists
def test_a_builtin_under_pv_gates_is_a_lint_error_not_silence(project):
    (project / "contracts" / "c.yaml").write_text(
        "metadata:\n  version: 1.0.0\n  status: DRAFT\nfalsification_tests: []\ngates:\n- id: G-1\n  test: builtin:shard-entropy\n  status: DISCHARGED\n"
    )
    lint = cli(project, "lint")
    assert lint.returncode == 1 and "[external-builtin]" in lint.stdout and "falsification_tests" in lint.stdout, lint.stdout


# 16 ----------------------------------------------------------------- pointers move only when the answer does
PROMOTED = """\
metadata:
  version: 1.0.0
  status: DRAFT
  promotion:
    to: ACTIVE_RUNTIME
    measurements:
      value: [0, 5]
falsification_tests:
- id: F-VALUE-001
  test: falsifiers/test_value.py::test_value
  params:
    limit: 10
"""


def test_a_wobbling_measurement_does_not_move_the_evidence_pointer(tmp_path):
    from tests.test_gate import make_value_repo

    repo = make_value_repo(tmp_path, PROMOTED)
    path = repo / "contracts" / "c-v1.yaml"

    def pointer() -> str:
        return load_contract(path, root=repo)[0].falsifier("F-VALUE-001").evidence

    first = pointer()
    (repo / "data" / "value.txt").write_text("3.03")  # a 1% wobble inside the band
    assert run(repo, "-q", "falsifiers").returncode == 0
    assert pointer() == first
    assert cli(repo, "lint").returncode == 0
    (repo / "data" / "value.txt").write_text("7")  # out of the band: the promotion's answer changed
    assert run(repo, "-q", "falsifiers").returncode == 0
    assert pointer() != first
    assert "status: DRAFT_PARTIAL_DISCHARGE" in path.read_text()


def test_evidence_prune_keeps_what_the_ledger_points_at(tmp_path):
    from tests.test_gate import CONTRACT, make_value_repo

    repo = make_value_repo(tmp_path, CONTRACT)
    for value in ("3", "30", "4", "31", "5"):
        (repo / "data" / "value.txt").write_text(value)
        run(repo, "-q", "falsifiers")
    folder = repo / "evidence" / "c-v1"
    runs = sorted(p.name for p in folder.iterdir() if p.is_dir())
    assert len(runs) >= 4
    pointed = Path(load_contract(repo / "contracts" / "c-v1.yaml", root=repo)[0].falsifier("F-VALUE-001").evidence).name
    dry = cli(repo, "evidence", "prune", "--keep", "1", "--dry-run")
    assert dry.returncode == 0 and sorted(p.name for p in folder.iterdir() if p.is_dir()) == runs
    prune = cli(repo, "evidence", "prune", "--keep", "1")
    assert prune.returncode == 0, prune.stdout + prune.stderr
    kept = sorted(p.name for p in folder.iterdir() if p.is_dir())
    latest = (folder / "LATEST").read_text().strip()
    assert pointed in kept and latest in kept and len(kept) <= 2
    assert cli(repo, "lint").returncode == 0 and gate(repo).passed


# 17 ----------------------------------------------------------------- init binds what can run
def test_init_with_a_vocab_json_and_no_merges_binds_only_what_can_run(tmp_path):
    root = new_project(tmp_path)
    (root / "vocab").mkdir()
    (root / "vocab" / "vocab.json").write_text(json.dumps({chr(c): i for i, c in enumerate(range(33, 127))}))
    (root / "data").mkdir()
    np.save(root / "data" / "s.npy", np.arange(90, dtype=np.uint16))
    (root / "docs").mkdir()
    (root / "docs" / "a.txt").write_text("hello")
    proc = cli(root, "init", "--vocab", "vocab/vocab.json", "--encoder", "byte_level", "--shards", "data/*.npy", "--documents", "docs/*.txt")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    text = (root / "contracts" / "pipeline-v1.yaml").read_text()
    assert "builtin:vocab-id-agreement" not in text and "builtin:tokenizer-roundtrip" not in text
    assert "merges.txt" in proc.stdout and "not bound" in proc.stdout


# 19 ----------------------------------------------------------------- the gate says what failed
def test_the_gate_summarises_a_validate_failure_as_what_it_is(tmp_path):
    from harness.cli.gate import failure_summary
    from harness.gate import GateProblem, GateResult

    result = GateResult()
    result.problems = [GateProblem("contracts/c.yaml:3:1", None, "bad [schema]", check="validate"), GateProblem("c", "F-1", "x", check="run")]
    summary = failure_summary(result)
    assert "1 invalid contract finding(s)" in summary and "1 claim(s) not backed by the gate's own run" in summary
    root = new_project(tmp_path)
    (root / "contracts" / "c.yaml").write_text("metadata: [\n")
    proc = cli(root, "gate", "--no-run")
    assert proc.returncode == 1
    assert "invalid contract" in proc.stdout and "not backed" not in proc.stdout, proc.stdout
    assert "harness gate —" in proc.stdout and "contract(s)" in proc.stdout.split("harness gate —", 1)[1].splitlines()[0]
