"""Routes to a false pass, lost results and crashes: one test per class (issue "Honest under
real CI"). Each was red before its fix; docs/security.md maps route → rule → test.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.cli.gate import run_gate
from harness.snapshot import load_contract
from tests.conftest import snapshot_tree
from tests.plugin_project import entry, statuses

PARAM_TESTS = """\
import pytest
from harness import accepts, records


@accepts(limit=10)
@pytest.mark.parametrize("value", [42, 3])  # the failing item first: the last item must not decide
def test_each(falsifier, value):
    assert value < falsifier.params["limit"], f"{value} is not below the limit"


@accepts(limit=10)
def test_named(falsifier):
    assert 3 < falsifier.params["limit"]


class TestShadow:
    def test_named(self, falsifier):
        assert False, "the class method of the same name fails"


@accepts(limit=10)
@pytest.mark.parametrize("value", [1, 2, 3])
def test_three(falsifier, value):
    assert value < falsifier.params["limit"]


def test_passes(falsifier):
    pass


CALLS = []


def test_fails_the_first_time(falsifier):
    CALLS.append(1)
    assert len(CALLS) > 1, "the first copy fails"


def _helper(falsifier):
    pass


def test_no_fixture():
    pass
"""


def gate(repo: Path):
    def files() -> dict:  # pytester makes the project HOME: the user cache (~/.cache) is not the repo
        return {k: v for k, v in snapshot_tree(repo).items() if not k.startswith(".cache/")}

    before = files()
    result = run_gate(repo)
    assert files() == before, "the gate wrote a file"
    return result


def run(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args], cwd=cwd, capture_output=True, text=True, check=False)


def cli(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "harness", "--root", str(cwd), *args], cwd=cwd, capture_output=True, text=True, check=False)


@pytest.fixture
def many(proj):
    (proj.path / "falsifiers" / "test_many.py").write_text(PARAM_TESTS)
    return proj


def many_entry(fid: str, func: str, extra: str = "") -> str:
    return entry(fid, func, extra=extra).replace("test_demo.py", "test_many.py")


# 1 ------------------------------------------------------------------ several items per falsifier
def test_a_parametrized_falsifier_with_one_failing_item_is_falsified(many):
    path = many.write_contract(many_entry("F-EACH-001", "test_each"))
    many.runpytest("-p", "no:randomly")
    assert statuses(path)["F-EACH-001"] == "FALSIFIED"
    # whatever the order of the items
    path.write_text(path.read_text().replace("status: FALSIFIED", "status: OPEN"))
    many.runpytest("-p", "no:randomly", "-k", "3 or 42")
    assert statuses(path)["F-EACH-001"] == "FALSIFIED"


def test_a_class_method_of_the_same_name_is_not_the_bound_test(many):
    path = many.write_contract(many_entry("F-NAMED-002", "test_named"))
    result = many.runpytest("-v")
    assert statuses(path)["F-NAMED-002"] == "DISCHARGED"
    assert "TestShadow" not in result.stdout.str()  # the class method is not an item of the falsifier


def test_keep_duplicates_runs_every_copy_and_any_failure_falsifies(many, monkeypatch):
    path = many.write_contract(many_entry("F-ONCE-001", "test_fails_the_first_time"))
    result = many.runpytest("--keep-duplicates", "falsifiers/test_many.py", "falsifiers/test_many.py")
    assert result.parseoutcomes()["failed"] == 1  # the first copy failed, the second passed last
    assert statuses(path)["F-ONCE-001"] == "FALSIFIED"


def test_a_partial_run_is_not_run_and_never_discharges(many):
    path = many.write_contract(many_entry("F-THREE-003", "test_three"))
    result = many.runpytest("-k", "not 2")
    assert result.ret == 0
    assert statuses(path)["F-THREE-003"] is None
    result.stdout.fnmatch_lines(["*F-THREE-003: NOT RUN (partial: 2 of 3 items ran*"])
    deselect = many.runpytest("--deselect", "falsifiers/test_many.py::test_three[demo-v1::F-THREE-003-1]")
    assert statuses(path)["F-THREE-003"] is None, deselect.stdout.str()
    many.runpytest()
    assert statuses(path)["F-THREE-003"] == "DISCHARGED"
    # and the check mode does not take a partial run as backing the claim
    check = many.runpytest("--harness-check", "-k", "not 2")
    assert check.ret == pytest.ExitCode.TESTS_FAILED
    check.stdout.fnmatch_lines(["*CLAIM NOT BACKED: demo-v1::F-THREE-003: DISCHARGED on disk, but it did not run (not run: partial*"])


# 2 ------------------------------------------------------------------ contract identity
def test_contracts_with_the_same_stem_in_two_folders_are_two_contracts(proj):
    for folder, value in (("a", 3), ("b", 42)):
        (proj.path / "contracts" / folder).mkdir()
        proj.write_contract(entry("F-PASS-001", "test_value", params={"value": value}), name=f"{folder}/c")
    result = proj.runpytest()
    result.assert_outcomes(passed=1, failed=1)
    assert statuses(proj.path / "contracts" / "a" / "c.yaml")["F-PASS-001"] == "DISCHARGED"
    assert statuses(proj.path / "contracts" / "b" / "c.yaml")["F-PASS-001"] == "FALSIFIED"
    assert load_contract(proj.path / "contracts" / "a" / "c.yaml", root=proj.path)[0].falsifier("F-PASS-001").evidence.startswith("evidence/a/c/")
    ambiguous = proj.runpytest("--contract=c")
    assert ambiguous.ret == pytest.ExitCode.USAGE_ERROR
    ambiguous.stderr.fnmatch_lines(["*--contract: c is ambiguous*a/c*b/c*"])
    proj.runpytest("--contract=a/c").assert_outcomes(passed=1)


def test_c_yaml_and_c_yml_are_a_clash_with_a_clear_error(proj):
    proj.write_contract(entry("F-PASS-001", "test_value", params={"value": 3}), name="c")
    (proj.path / "contracts" / "c.yml").write_text((proj.path / "contracts" / "c.yaml").read_text().replace("value: 3", "value: 42"))
    result = proj.runpytest()
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*contracts/c.yml*same contract key 'c' as contracts/c.yaml*duplicate-contract*"])
    assert statuses(proj.path / "contracts" / "c.yaml")["F-PASS-001"] is None
    assert statuses(proj.path / "contracts" / "c.yml")["F-PASS-001"] is None


# 3 ------------------------------------------------------------------ claims that never became items
@pytest.mark.parametrize("func", ["_helper", "test_no_fixture"])
def test_a_discharged_claim_bound_to_a_non_item_fails_check_and_gate(many, func):
    path = many.write_contract(many_entry("F-GOOD-001", "test_passes"))
    many.runpytest()
    assert statuses(path)["F-GOOD-001"] == "DISCHARGED"
    contract = load_contract(path, root=many.path)[0]
    good = contract.falsifier("F-GOOD-001")
    # a contract-only change: a second claim, bound to something that never becomes a test item,
    # with the status, a computed fingerprint and another falsifier's evidence folder
    from harness.fingerprint import fingerprint
    from harness.sources import find_test

    body = path.read_text()
    text = body + "\n" + many_entry("F-GHOST-009", func) + "\n"
    path.write_text(text)
    loaded, found = load_contract(path, root=many.path)
    assert loaded is not None, [f.render() for f in found]
    ghost = loaded.falsifier("F-GHOST-009")
    fp = fingerprint(ghost, find_test(many.path, ghost.test_file, ghost.test_func))
    path.write_text(text + f"  status: DISCHARGED\n  fingerprint: {fp}\n  evidence: {good.evidence}\n")
    check = many.runpytest("--harness-check")
    assert check.ret != 0
    assert "F-GHOST-009" in check.stdout.str()
    problems = [p.render() for p in gate(many.path).problems]
    assert any("F-GHOST-009" in p for p in problems), problems


def test_a_discharged_claim_in_a_module_skipped_at_import_fails_the_gate(proj):
    (proj.path / "falsifiers" / "test_skipped.py").write_text("import pytest\npytest.importorskip('no_such_module_here')\n\ndef test_x(falsifier):\n    pass\n")
    path = proj.write_contract(entry("F-SKIPMOD-001", "test_x").replace("test_demo.py", "test_skipped.py"))
    text = path.read_text().replace("# bound", "# bound\n  status: DISCHARGED")
    path.write_text(text)
    problems = [p.render() for p in gate(proj.path).problems]
    assert any("F-SKIPMOD-001" in p and "[run]" in p for p in problems), problems


# 4 ------------------------------------------------------------------ fingerprint of what ran
EDITS_ITSELF = """\
from pathlib import Path
from harness import accepts

@accepts(limit=10)
def test_edits_itself(falsifier):
    marker = "ORIGINAL"
    here = Path(__file__)
    here.write_text(here.read_text().replace('"ORIGINAL"', '"EDITED"'))
    assert marker == "ORIGINAL"
"""

EDITS_CONTRACT = """\
from pathlib import Path
from harness import accepts

@accepts(limit=10)
def test_edits_contract(falsifier):
    contract = Path("contracts/demo-v1.yaml")
    contract.write_text(contract.read_text().replace("limit: 10", "limit: 11"))
    assert 3 < falsifier.params["limit"]
"""


def test_the_fingerprint_is_of_the_test_that_ran_not_of_the_file_at_the_end(proj):
    (proj.path / "falsifiers" / "test_self.py").write_text(EDITS_ITSELF)
    path = proj.write_contract(entry("F-SELF-001", "test_edits_itself").replace("test_demo.py", "test_self.py"))
    proj.runpytest().assert_outcomes(passed=1)
    assert statuses(path)["F-SELF-001"] == "DISCHARGED"
    lint = cli(proj.path, "lint")
    assert lint.returncode == 1 and "[stale]" in lint.stdout, lint.stdout


def test_params_edited_during_the_run_are_not_discharged(proj):
    (proj.path / "falsifiers" / "test_edit.py").write_text(EDITS_CONTRACT)
    path = proj.write_contract(entry("F-EDIT-001", "test_edits_contract", params={"limit": 10}).replace("test_demo.py", "test_edit.py"))
    result = proj.runpytest()
    result.assert_outcomes(passed=1)
    assert "limit: 11" in path.read_text()
    assert statuses(path)["F-EDIT-001"] is None
    result.stdout.fnmatch_lines(["*F-EDIT-001*changed during the run*"])


# 5 ------------------------------------------------------------------ promotion in check mode
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


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    from tests.test_gate import make_value_repo

    make_value_repo(tmp_path, PROMOTED)
    return tmp_path


def test_check_mode_judges_promotion_on_this_runs_measurements(repo):
    path = repo / "contracts" / "c-v1.yaml"
    assert "status: ACTIVE_RUNTIME" in path.read_text()
    (repo / "data" / "value.txt").write_text("7")  # still passes (< 10) but is out of the promotion band
    check = run(repo, "--harness-check", "falsifiers")
    assert check.returncode == 1, check.stdout
    assert "ACTIVE_RUNTIME" in check.stdout and "CLAIM NOT BACKED" in check.stdout
    assert not gate(repo).passed


def test_after_a_demotion_lint_and_gate_agree_with_what_was_written(repo):
    (repo / "data" / "value.txt").write_text("7")
    assert run(repo, "-q", "falsifiers").returncode == 0
    assert "status: DRAFT_PARTIAL_DISCHARGE" in (repo / "contracts" / "c-v1.yaml").read_text()
    lint = cli(repo, "lint")
    assert lint.returncode == 0, lint.stdout
    result = gate(repo)
    assert result.passed, [p.render() for p in result.problems]
    (repo / "data" / "value.txt").write_text("3")  # and back up
    assert run(repo, "-q", "falsifiers").returncode == 0
    assert "status: ACTIVE_RUNTIME" in (repo / "contracts" / "c-v1.yaml").read_text()
    assert cli(repo, "lint").returncode == 0


# 6 ------------------------------------------------------------------ status claims
def test_a_suspect_falsifier_that_now_fails_is_an_unbacked_claim(proj):
    path = proj.write_contract(entry("F-PASS-001", "test_value", params={"value": 3}, extra="plausible:\n  value: [5, 9]"))
    proj.runpytest()
    assert statuses(path)["F-PASS-001"] == "METHODOLOGY_SUSPECT"
    path.write_text(path.read_text().replace("value: 3", "value: 30"))
    check = proj.runpytest("--harness-check")
    assert check.ret == pytest.ExitCode.TESTS_FAILED
    check.stdout.fnmatch_lines(["*CLAIM NOT BACKED: demo-v1::F-PASS-001: METHODOLOGY_SUSPECT on disk, but it fails now*"])


@pytest.mark.parametrize("claimed", ["ACTIVE_RUNTIME", "active_runtime", "ACTIVE", "active", "Discharged", "enforced"])
def test_a_contract_that_claims_success_over_a_falsified_falsifier_fails(proj, claimed):
    path = proj.write_contract(entry("F-FAIL-002", "test_value", params={"value": 42}))
    proj.runpytest()
    assert statuses(path)["F-FAIL-002"] == "FALSIFIED"
    text = path.read_text()
    path.write_text(text.replace("status: FALSIFIED    # machine-written", f"status: {claimed}    # machine-written"))
    lint = cli(proj.path, "lint")
    assert lint.returncode == 1 and "F-FAIL-002" in lint.stdout, lint.stdout
    problems = [p.render() for p in gate(proj.path).problems]
    assert any(claimed in p and "FALSIFIED" in p for p in problems), problems


# 7 ------------------------------------------------------------------ evidence provenance
def _cuda_repo(repo: Path) -> Path:
    """The repo's falsifier marked CUDA, with a forged results.json (passed, cuda, right fingerprint)."""
    from harness.fingerprint import fingerprint
    from harness.sources import find_test

    path = repo / "contracts" / "c-v1.yaml"
    text = path.read_text().replace("  params:\n", "  requires: [cuda]\n  params:\n")
    path.write_text(text)
    f = load_contract(path, root=repo)[0].falsifier("F-VALUE-001")
    return path, fingerprint(f, find_test(repo, f.test_file, f.test_func)), f


def _forge(repo: Path, folder: str, contract_key: str, fp: str) -> None:
    run_dir = repo / folder
    run_dir.mkdir(parents=True, exist_ok=True)
    record = {"falsifier_id": "F-VALUE-001", "outcome": "passed", "device": "cuda:0", "fingerprint": fp, "measurements": {"value": 3.0}}
    (run_dir / "results.json").write_text(json.dumps({"contract_key": contract_key, "contract": contract_key, "falsifiers": {"F-VALUE-001": record}}))


@pytest.mark.parametrize(
    ("folder", "owner"),
    [
        ("evidence/c-v1/20990101T000000Z-abcdef", "c-v1"),  # hand-written, no digest
        ("evidence/other-v1/20990101T000000Z-abcdef", "other-v1"),  # another contract's
        ("evidence-forged/c-v1/20990101T000000Z-abcdef", "c-v1"),  # outside evidence/
    ],
)
def test_forged_cuda_evidence_does_not_back_a_claim(repo, folder, owner):
    path, fp, f = _cuda_repo(repo)
    _forge(repo, folder, owner, fp)
    text = path.read_text()
    path.write_text(text.replace(f"evidence: {f.evidence}", f"evidence: {folder}").replace(f"fingerprint: {f.fingerprint}", f"fingerprint: {fp}"))
    problems = [p.render() for p in gate(repo).problems]
    assert any(p.startswith("[cuda-evidence] c-v1::F-VALUE-001") or (p.startswith("[validate]") and folder in p) for p in problems), problems


def test_an_edited_results_json_shows(repo):
    path = repo / "contracts" / "c-v1.yaml"
    f = load_contract(path, root=repo)[0].falsifier("F-VALUE-001")
    assert cli(repo, "lint").returncode == 0
    results = repo / f.evidence / "results.json"
    data = json.loads(results.read_text())
    data["falsifiers"]["F-VALUE-001"]["measurements"]["value"] = 2.0
    results.write_text(json.dumps(data))
    lint = cli(repo, "lint")
    assert lint.returncode == 1 and "digest" in lint.stdout, lint.stdout


# 8 ------------------------------------------------------------------ xdist
@pytest.mark.parametrize("name", ["é-contract-v1", "weird[1]-v1"])
def test_xdist_loadgroup_keeps_every_result_whatever_the_contract_name(proj, name):
    entries = [entry(f"F-PASS-{i:03d}", "test_value", params={"value": i}) for i in range(4)]
    path = proj.write_contract(*entries, entry("F-FAIL-100", "test_value", params={"value": 42}), name=name)
    result = proj.runpytest_subprocess("-n", "2", "--dist", "loadgroup")
    got = statuses(path)
    assert got["F-FAIL-100"] == "FALSIFIED" and got["F-PASS-003"] == "DISCHARGED", result.stdout.str()


# 9 / 16 ------------------------------------------------------------- one write error stands alone; read-only files
def test_a_read_only_contract_is_left_alone_and_the_others_are_still_written(proj):
    ro = proj.write_contract(entry("F-PASS-001", "test_value", params={"value": 3}), name="a-readonly")
    other = proj.write_contract(entry("F-PASS-001", "test_value", params={"value": 3}), name="b-writable")
    ro.chmod(0o444)
    before = ro.read_bytes()
    result = proj.runpytest()
    assert ro.read_bytes() == before
    result.stdout.fnmatch_lines(["*contracts/a-readonly.yaml*read-only*"])
    assert result.ret != 0
    assert statuses(other)["F-PASS-001"] == "DISCHARGED"
    assert not (proj.path / "evidence" / "a-readonly").exists()  # no evidence that no contract records


def test_a_long_contract_name_is_written(proj):
    name = "c" * 240
    path = proj.write_contract(entry("F-PASS-001", "test_value", params={"value": 3}), name=name)
    proj.runpytest()
    assert statuses(path)["F-PASS-001"] == "DISCHARGED"


def test_a_symlinked_evidence_folder_is_never_written_through(proj, tmp_path_factory):
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    (elsewhere / "LATEST").write_text("precious\n")
    (proj.path / "evidence").mkdir()
    (proj.path / "evidence" / "demo-v1").symlink_to(elsewhere, target_is_directory=True)
    proj.write_contract(entry("F-PASS-001", "test_value", params={"value": 3}))
    result = proj.runpytest()
    assert (elsewhere / "LATEST").read_text() == "precious\n"
    assert sorted(p.name for p in elsewhere.iterdir()) == ["LATEST"]
    result.stdout.fnmatch_lines(["*outside the project*"])


def test_a_symlinked_contract_stays_a_symlink(proj):
    real = proj.write_contract(entry("F-PASS-001", "test_value", params={"value": 3}), name="real")
    (proj.path / "shared").mkdir()
    target = proj.path / "shared" / "real.yaml"
    real.rename(target)
    real.symlink_to(Path("..") / "shared" / "real.yaml")
    proj.runpytest()
    assert real.is_symlink()
    assert "status: DISCHARGED" in target.read_text()


# 10 / 11 ------------------------------------------------------------ validate and writer agree
def test_a_tab_in_a_contract_is_rewritten_like_any_other(proj):
    path = proj.write_contract(entry("F-PASS-001", "test_value", params={"value": 3}))
    path.write_text(path.read_text().replace("status: DRAFT    # machine-written", "status: DRAFT\t# machine-written\t"))
    assert cli(proj.path, "validate").returncode == 0
    result = proj.runpytest()
    assert statuses(path)["F-PASS-001"] == "DISCHARGED", result.stdout.str()
    assert "\t# machine-written\t" in path.read_text()


def test_a_merge_key_supplying_status_is_no_traceback(proj):
    path = proj.write_contract(entry("F-PASS-001", "test_value", params={"value": 3}))
    text = (
        path.read_text().replace("metadata:\n", "base: &base\n  status: DRAFT\nmetadata:\n  <<: *base\n").replace("  status: DRAFT    # machine-written\n", "")
    )
    path.write_text(text)
    assert cli(proj.path, "validate").returncode == 0
    result = proj.runpytest()
    assert "Traceback" not in result.stdout.str() and "KeyError" not in result.stdout.str()
    contract = load_contract(path, root=proj.path)[0]
    assert contract.falsifier("F-PASS-001").status == "DISCHARGED"
    assert contract.status == "ACTIVE_RUNTIME"


# 12 ------------------------------------------------------------------ read-only contracts/
def test_a_read_only_contracts_folder_without_a_lock_file(proj):
    path = proj.write_contract(entry("F-PASS-001", "test_value", params={"value": 3}))
    proj.runpytest()
    (proj.path / "contracts" / ".harness.lock").unlink(missing_ok=True)
    os.chmod(proj.path / "contracts", 0o555)
    try:
        same = proj.runpytest()  # nothing to change: no lock needed, no error
        assert same.ret == 0, same.stdout.str()
        path.chmod(0o644)
        path.write_text(path.read_text().replace("value: 3", "value: 42"))
        changed = proj.runpytest()
        assert "Traceback" not in changed.stdout.str() and "PermissionError" not in changed.stdout.str()
        changed.stdout.fnmatch_lines(["*contracts*read-only*"])
        assert changed.ret != 0
    finally:
        os.chmod(proj.path / "contracts", 0o755)


# 13 ------------------------------------------------------------------ ini keys everywhere
def test_custom_evidence_and_falsifiers_folders(pytester):
    pytester.makefile(
        ".toml",
        pyproject="[tool.pytest.ini_options]\naddopts = '-p no:cacheprovider'\nharness_evidence = 'ledger'\nharness_falsifiers = 'checks'\n",
    )
    (pytester.path / "contracts").mkdir()
    (pytester.path / "checks").mkdir()
    (pytester.path / "checks" / "test_c.py").write_text("def test_ok(falsifier):\n    pass\n")
    path = pytester.path / "contracts" / "c-v1.yaml"
    path.write_text("metadata:\n  version: 1.0.0\n  status: DRAFT\nfalsification_tests:\n- id: F-OK-001\n  test: checks/test_c.py::test_ok\n")
    pytester.runpytest().assert_outcomes(passed=1)
    assert "evidence: ledger/c-v1/" in path.read_text()
    second = pytester.runpytest()
    second.assert_outcomes(passed=1)
    assert "path-escape" not in second.stdout.str()
    for command in ("validate", "lint"):
        out = cli(pytester.path, command)
        assert out.returncode == 0, out.stdout + out.stderr
    result = gate(pytester.path)
    assert result.passed, [p.render() for p in result.problems]


# 14 ------------------------------------------------------------------ no CPU falsifier
def test_the_gate_passes_a_repo_with_only_cuda_and_external_falsifiers(tmp_path):
    (tmp_path / "pyproject.toml").write_text("[tool.pytest.ini_options]\naddopts = '-p no:cacheprovider'\n")
    (tmp_path / "contracts").mkdir()
    (tmp_path / "falsifiers").mkdir()
    (tmp_path / "falsifiers" / "test_g.py").write_text("def test_gpu(falsifier):\n    pass\n")
    (tmp_path / "contracts" / "c-v1.yaml").write_text(
        "metadata:\n  version: 1.0.0\n  status: DRAFT\nfalsification_tests:\n"
        "- id: F-EXT-001\n  test: cargo test -p foo\n"
        "- id: F-GPU-002\n  test: falsifiers/test_g.py::test_gpu\n  requires: [cuda]\n"
    )
    result = gate(tmp_path)
    assert result.passed, [p.render() for p in result.problems]


# 15 ------------------------------------------------------------------ odd evidence is no traceback
def test_odd_evidence_values_are_findings_not_tracebacks(repo):
    path = repo / "contracts" / "c-v1.yaml"
    f = load_contract(path, root=repo)[0].falsifier("F-VALUE-001")
    results = repo / f.evidence / "results.json"
    data = json.loads(results.read_text())
    data["falsifiers"]["F-VALUE-001"]["measurements"]["value"] = "three"
    data["dispatch"]["started"] = 12345
    results.write_text(json.dumps(data))
    for args in (("lint",), ("report", "--out", str(repo.parent / "report"))):
        out = cli(repo, *args)
        assert "Traceback" not in out.stderr + out.stdout, out.stderr
        assert out.returncode in (0, 1), out.stderr
    check = run(repo, "--harness-check", "falsifiers")
    assert "Traceback" not in check.stdout + check.stderr and "INTERNALERROR" not in check.stdout


# 17 ------------------------------------------------------------------ cheap refusal
def test_deeply_nested_flow_is_refused_quickly(tmp_path):
    path = tmp_path / "deep.yaml"
    path.write_text("metadata: " + "[" * 5000 + "]" * 5000 + "\n")
    start = time.perf_counter()
    contract, findings = load_contract(path, root=tmp_path)
    elapsed = time.perf_counter() - start
    assert contract is None and findings[0].rule == "too-deep" and findings[0].line == 1
    assert elapsed < 1.0, elapsed


# 18 ------------------------------------------------------------------ never reformat
JSON_STYLE = '{"metadata": {"version": "1.0.0", "status": "DRAFT"},\n "falsification_tests": [{"id": "F-PASS-001", "test": "falsifiers/test_demo.py::test_value", "params": {"value": 3}}]}\n'

FLOW_AND_BLOCK = (
    "\ufeff# BOM, CRLF and a block-scalar test\r\n"
    "metadata:\r\n"
    "  version: 1.0.0   #  two spaces\r\n"
    "  status: DRAFT\r\n"
    "other:   {a: 1,   b: [1,2]}\r\n"
    "falsification_tests:\r\n"
    "- id: F-PASS-001\r\n"
    "  test: >-\r\n"
    "    falsifiers/test_demo.py::test_value\r\n"
    "  params: {value: 3}\r\n"
)


@pytest.mark.parametrize("text", [JSON_STYLE, FLOW_AND_BLOCK], ids=["json", "bom-crlf-block"])
def test_the_writer_never_reformats(proj, text):
    """Rewritten surgically in the file's own style: take out the ledger the run inserted and put
    the old status value back, and the original bytes return exactly (BOM, CRLF, spacing, order)."""
    import re

    path = proj.path / "contracts" / "demo-v1.yaml"
    path.write_bytes(text.encode("utf-8"))
    proj.runpytest()
    assert statuses(path)["F-PASS-001"] == "DISCHARGED"
    new = path.read_bytes().decode("utf-8")
    ledger = r"(status|fingerprint|evidence|digest)"
    if text is JSON_STYLE:
        undone = re.sub(rf'"{ledger}": "[^"]*", ', "", new.split('"falsification_tests"', 1)[1])
        undone = new.split('"falsification_tests"', 1)[0] + '"falsification_tests"' + undone
    else:
        head, tail = new.split("falsification_tests:", 1)
        undone = head + "falsification_tests:" + "".join(line for line in tail.splitlines(keepends=True) if not re.match(rf"  {ledger}: ", line))
    assert undone.replace("ACTIVE_RUNTIME", "DRAFT") == text, new


# 19 ------------------------------------------------------------------ dependency floors
def test_filelock_floor_is_one_that_refuses_symlinks():
    text = (Path(__file__).parent.parent / "pyproject.toml").read_text()
    line = next(line for line in text.splitlines() if '"filelock' in line)
    floor = tuple(int(x) for x in line.split(">=")[1].split('"')[0].split(".")[:2])
    assert floor >= (3, 20), line  # 3.20.1 opens with O_NOFOLLOW (CVE-2025-68146)


# 1b ----------------------------------------------------------------- several results in one item
SUBTESTS = """\
def test_with_subtests(falsifier, subtests):
    for value in (3, 42, 5):  # the failing subtest is not the last one
        with subtests.test(value=value):
            assert value < 10, f"{value} is not below 10"
"""


def test_a_failing_subtest_falsifies_whatever_comes_after_it(proj):
    pytest.importorskip("_pytest.subtests", reason="subtests are built into pytest from 9.0")
    (proj.path / "falsifiers" / "test_sub.py").write_text(SUBTESTS)
    path = proj.write_contract(entry("F-SUB-001", "test_with_subtests").replace("test_demo.py", "test_sub.py"))
    proj.runpytest()
    assert statuses(path)["F-SUB-001"] == "FALSIFIED"
