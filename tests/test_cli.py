"""The CLI as people and CI use it: validate, lint (with baseline), status; exit codes; --json."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from harness.cli import main
from tests.conftest import DATA, snapshot_tree

REPO = Path(__file__).parent.parent

BOUND = """\
metadata:
  id: c-v1
  version: 1.0.0
  status: {status}
  promotion:
    measurements:
      F-1:value: [0, 5]
falsification_tests:
- id: F-1
  test: falsifiers/test_f.py::test_f
  params:
    value: 3
{ledger}
"""

TEST = """\
from harness import accepts, records

@accepts("value")
@records("value")
def test_f(falsifier):
    assert falsifier.record("value", falsifier.params["value"]) < 10
"""


def write(project: Path, status: str = "DRAFT", ledger: str = "", test: str = TEST) -> Path:
    (project / "falsifiers" / "test_f.py").write_text(test)
    path = project / "contracts" / "c-v1.yaml"
    path.write_text(BOUND.format(status=status, ledger=ledger))
    return path


def test_shipped_contracts_validate_clean():
    assert main(["--root", str(REPO), "validate"]) == 0


def test_python_dash_m_and_json(tmp_path):
    out = subprocess.run([sys.executable, "-m", "harness", "--root", str(REPO), "validate", "--json"], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["files"] >= 2 and data["findings"] == []


def test_validate_pv_shaped_data(capsys):
    assert main(["--root", str(DATA.parent), "validate", str(DATA / "pv-shaped-v1.yaml")]) == 0


def test_lint_clean_project(project, capsys):
    write(project)
    assert main(["--root", str(project), "lint"]) == 0, capsys.readouterr().out


def test_lint_finds_missing_test_unknown_param_and_missing_param(project, capsys):
    write(project, test=TEST.replace('@accepts("value")', '@accepts("value", "needed")'))
    path = project / "contracts" / "c-v1.yaml"
    path.write_text(path.read_text().replace("    value: 3", "    value: 3\n    typo: 1"))
    assert main(["--root", str(project), "lint"]) == 1
    out = capsys.readouterr().out
    assert "contracts/c-v1.yaml:13:5: F-1: param 'typo' is not accepted by test_f" in out
    assert "[missing-param]" in out and "requires param 'needed'" in out
    (project / "falsifiers" / "test_f.py").unlink()
    assert main(["--root", str(project), "lint"]) == 1
    assert "test file falsifiers/test_f.py does not exist [missing-test]" in capsys.readouterr().out


def test_lint_flags_hand_written_verdicts(project, capsys):
    write(project, status="DRAFT_PARTIAL_DISCHARGE", ledger="  status: DISCHARGED")
    assert main(["--root", str(project), "lint"]) == 1
    out = capsys.readouterr().out
    assert "[no-fingerprint]" in out and "[no-evidence]" in out


def test_lint_flags_status_that_does_not_follow(project, capsys):
    write(project, status="ACTIVE_RUNTIME")
    assert main(["--root", str(project), "lint"]) == 1
    assert "contract status ACTIVE_RUNTIME does not follow from its falsifiers, which give DRAFT [status-mismatch]" in capsys.readouterr().out


def test_lint_flags_promotion_on_unrecorded_measurement(project, capsys):
    write(project, test=TEST.replace('@records("value")\n', ""))
    assert main(["--root", str(project), "lint"]) == 1
    assert "[unknown-measurement]" in capsys.readouterr().out


def test_lint_baseline_reports_only_new_findings(project, capsys):
    path = write(project)
    path.write_text(path.read_text().replace("    value: 3", "    value: 3\n    typo: 1"))
    assert main(["--root", str(project), "lint", "--update-baseline"]) == 0
    assert (project / ".harness" / "lint-baseline.json").exists()
    assert main(["--root", str(project), "lint"]) == 0
    assert "0 new finding(s), 1 known" in capsys.readouterr().out
    (project / "falsifiers" / "test_f.py").unlink()
    assert main(["--root", str(project), "lint"]) == 1
    assert main(["--root", str(project), "lint", "--no-baseline"]) == 1


def test_pvs_siphash_fingerprint_is_rusts_default_hasher():
    """pv's fingerprint hashes with Rust's DefaultHasher (SipHash-1-3, zero keys); CPython's keyed
    hash is the same function: checked against it on random inputs of every tail length."""
    import _imp
    import random

    from harness.pv_baseline import pv_fingerprint, siphash13

    rng = random.Random(0)
    for n in [*range(0, 33), 100, 4097]:
        data = rng.randbytes(n)
        for key in (0, 1, 2**62 + 12345):
            assert siphash13(data, key, 0) == int.from_bytes(_imp.source_hash(key, data), "little")
    rule, file, message = "PV-VAL-001", "contracts/x-v1.yaml", "Missing proof_obligations"
    expected = int.from_bytes(_imp.source_hash(0, b"PV-VAL-001\xffcontracts/x-v1.yaml\xffMissing proof_obligations\xff"), "little")
    assert pv_fingerprint(rule, file, message) == f"PV-VAL-001:contracts/x-v1.yaml:{expected:016x}"


def test_lint_reads_and_writes_pvs_baseline_keeping_pvs_own_entries(project, capsys):
    import json

    path = write(project)
    path.write_text(path.read_text().replace("    value: 3", "    value: 3\n    typo: 1"))
    assert main(["--root", str(project), "lint"]) == 1  # a new finding: no baseline yet
    (project / ".pv").mkdir()
    pv_own = "PV-VAL-001:contracts/other-v1.yaml:6004b3249effc262"
    (project / ".pv" / "lint-previous.json").write_text(json.dumps([pv_own]))
    assert main(["--root", str(project), "lint", "--update-baseline"]) == 0
    written = (project / ".pv" / "lint-previous.json").read_text()
    entries = json.loads(written)
    assert pv_own in entries and any(e.startswith("harness/") for e in entries) and " " not in written  # compact, as pv writes it
    (project / ".harness" / "lint-baseline.json").unlink()  # pv's file alone keeps the finding known
    capsys.readouterr()
    assert main(["--root", str(project), "lint"]) == 0
    assert "0 new finding(s), 1 known" in capsys.readouterr().out
    (project / ".pv" / "lint-previous.json").write_text(json.dumps([pv_own]))  # pv rewrote it with only its own
    assert main(["--root", str(project), "lint"]) == 1


def test_lint_baseline_never_quiets_a_backing_finding(project, capsys):
    """A status that does not follow from its falsifiers decides whether a claim is backed: a baseline cannot hold it."""
    write(project, status="ACTIVE_RUNTIME")
    main(["--root", str(project), "lint", "--update-baseline"])
    capsys.readouterr()
    assert main(["--root", str(project), "lint"]) == 1
    assert "[status-mismatch]" in capsys.readouterr().out


def test_lint_after_a_real_run_is_clean_and_then_stale(project, capsys):
    write(project)
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "falsifiers"], cwd=project, capture_output=True, text=True, check=False
    )
    assert run.returncode == 0, run.stdout + run.stderr
    code = main(["--root", str(project), "lint"])
    assert code == 0, capsys.readouterr().out
    capsys.readouterr()
    assert main(["--root", str(project), "status", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    row = data["contracts"][0]
    assert row["status"] == "ACTIVE_RUNTIME" and row["falsifiers"][0]["status"] == "DISCHARGED"
    assert row["falsifiers"][0]["last_outcome"] == "passed" and row["falsifiers"][0]["stale"] is False
    # edit the test: the recorded verdict is now stale
    (project / "falsifiers" / "test_f.py").write_text(TEST.replace("< 10", "< 11"))
    assert main(["--root", str(project), "lint"]) == 1
    assert "[stale]" in capsys.readouterr().out
    capsys.readouterr()
    assert main(["--root", str(project), "status", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["contracts"][0]["falsifiers"][0]["stale"] is True


def test_status_table_for_people(project, capsys):
    write(project)
    before = snapshot_tree(project)
    assert main(["--root", str(project), "status"]) == 0
    out = capsys.readouterr().out
    assert "c-v1" in out and "F-1" in out and "OPEN" in out
    assert snapshot_tree(project) == before


def test_usage_errors_exit_2(capsys):
    try:
        main(["frobnicate"])
    except SystemExit as exc:
        assert exc.code == 2
    else:
        raise AssertionError("no usage error")
