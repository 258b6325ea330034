"""The pytest plugin, end to end with pytester on real contracts in temporary projects."""

from __future__ import annotations

import json

import pytest

from harness.snapshot import load_contract
from tests.plugin_project import entry, statuses


def test_outcome_matrix_only_a_genuine_pass_discharges(proj):
    path = proj.write_contract(
        entry("F-PASS-001", "test_value", params={"value": 3}),
        entry("F-FAIL-002", "test_value", params={"value": 42}),
        entry("F-CRASH-003", "test_crash"),
        entry("F-SKIP-004", "test_skip"),
        entry("F-XFAIL-005", "test_xfail"),
        entry("F-SETUP-006", "test_setup_error"),
        entry("F-TEARDOWN-007", "test_teardown_error"),
    )
    result = proj.runpytest()
    result.assert_outcomes(passed=2, failed=2, errors=2, skipped=1, xfailed=1)  # pytest counts the crash as failed
    got = statuses(path)
    assert got == {
        "F-PASS-001": "DISCHARGED",
        "F-FAIL-002": "FALSIFIED",
        "F-CRASH-003": None,
        "F-SKIP-004": None,
        "F-XFAIL-005": None,
        "F-SETUP-006": None,
        "F-TEARDOWN-007": None,
        "<contract>": "FALSIFIED",
    }
    result.stdout.fnmatch_lines(["*F-FAIL-002: OPEN → FALSIFIED*", "*F-CRASH-003: ERROR*", "*F-SKIP-004: NOT RUN (skipped*", "*contract: DRAFT → FALSIFIED*"])
    text = path.read_text()
    assert "value 42.0 is not below 10" not in text  # messages live in evidence, not the contract


def test_skip_never_discharges_and_never_reverts(proj):
    path = proj.write_contract(entry("F-SKIP-004", "test_skip"))
    proj.runpytest().assert_outcomes(skipped=1)
    assert statuses(path)["F-SKIP-004"] is None
    # a falsifier DISCHARGED earlier keeps its status when a later run skips it
    path.write_text(path.read_text().replace("test_skip  # bound", "test_skip  # bound\n  status: DISCHARGED"))
    proj.runpytest().assert_outcomes(skipped=1)
    assert statuses(path)["F-SKIP-004"] == "DISCHARGED"


def test_implausible_measurement_is_methodology_suspect(proj):
    path = proj.write_contract(entry("F-PASS-001", "test_value", params={"value": 3}, extra="plausible:\n  value: [5, 9]"))
    result = proj.runpytest()
    result.assert_outcomes(passed=1)
    assert statuses(path)["F-PASS-001"] == "METHODOLOGY_SUSPECT"
    result.stdout.fnmatch_lines(["*SUSPECT*value=3 outside plausible*"])


def test_a_falsifier_that_never_records_its_measurement_is_suspect(proj):
    path = proj.write_contract(entry("F-EARLY-008", "test_no_measurement", extra="plausible:\n  entropy_bits: [4, 17]"))
    proj.runpytest().assert_outcomes(passed=1)
    assert statuses(path)["F-EARLY-008"] == "METHODOLOGY_SUSPECT"


def test_evidence_is_written_and_pointed_at(proj):
    path = proj.write_contract(entry("F-PASS-001", "test_value", params={"value": 3}), entry("F-FAIL-002", "test_value", params={"value": 42}))
    proj.runpytest()
    contract, _ = load_contract(path, root=proj.path)
    evidence = contract.falsifier("F-PASS-001").evidence
    assert evidence and evidence.startswith("evidence/demo-v1/")
    run = proj.path / evidence
    results = json.loads((run / "results.json").read_text())
    assert results["status_before"] == "DRAFT" and results["status_after"] == "FALSIFIED"
    fail = results["falsifiers"]["F-FAIL-002"]
    assert fail["outcome"] == "failed" and fail["measurements"] == {"value": 42.0}
    assert "value 42.0 is not below 10" in fail["message"]
    assert "python:" in (run / "dispatch.txt").read_text()
    readme = (run / "README.md").read_text()
    assert "| F-FAIL-002 | failed | OPEN → FALSIFIED |" in readme and "| H1 | REFUTED |" in readme


def test_comments_survive_and_a_second_identical_run_changes_nothing(proj):
    path = proj.write_contract(entry("F-PASS-001", "test_value", params={"value": 3}))
    original = path.read_text()
    proj.runpytest()
    first = path.read_text()
    # every original line is still there, in order; only ledger lines were added or changed
    added = [line for line in first.splitlines() if line not in original.splitlines()]
    assert all(line.strip().split(":")[0] in ("status", "fingerprint", "evidence", "digest") for line in added), added
    for comment in [line for line in original.splitlines() if "#" in line and "status" not in line]:
        assert comment in first
    mtime = path.stat().st_mtime_ns
    proj.runpytest()
    assert path.read_text() == first
    assert path.stat().st_mtime_ns == mtime


def test_contract_option_selects_by_stem_or_id_and_rejects_unknown(proj):
    proj.write_contract(entry("F-PASS-001", "test_value", params={"value": 3}), name="alpha-v1")
    proj.write_contract(entry("F-PASS-001", "test_value", params={"value": 4}), name="beta-v1")
    (proj.path / "tests").mkdir()
    (proj.path / "tests" / "test_other.py").write_text("def test_unrelated():\n    pass\n")
    result = proj.runpytest("--contract=alpha-v1", "-v")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*test_value?alpha-v1::F-PASS-001? PASSED*"])
    proj.runpytest("--contract=demo-contract").assert_outcomes(passed=2)  # metadata.id is shared here
    bad = proj.runpytest("--contract=nope")
    assert bad.ret == pytest.ExitCode.USAGE_ERROR
    bad.stderr.fnmatch_lines(["*unknown contract nope*alpha-v1, beta-v1*"])


def test_missing_test_is_a_collection_error_naming_contract_file_and_line(proj):
    proj.write_contract(entry("F-PASS-001", "test_value", params={"value": 3}), entry("F-GONE-009", "test_does_not_exist"))
    result = proj.runpytest()
    assert result.ret == pytest.ExitCode.TESTS_FAILED  # reported and failing, but the rest still ran
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*REFUSED: contracts/demo-v1.yaml:*: falsifier F-GONE-009 binds falsifiers/test_demo.py::test_does_not_exist*[missing-test]*"])


def test_exitfirst_leaves_the_rest_not_run(proj):
    path = proj.write_contract(entry("F-FAIL-002", "test_value", params={"value": 42}), entry("F-PASS-001", "test_value", params={"value": 3}))
    result = proj.runpytest("-x")
    result.assert_outcomes(failed=1)
    got = statuses(path)
    assert got["F-FAIL-002"] == "FALSIFIED" and got["F-PASS-001"] is None
    result.stdout.fnmatch_lines(["*F-PASS-001: NOT RUN*"])


def test_keyboard_interrupt_leaves_the_interrupted_falsifier_alone(proj):
    path = proj.write_contract(
        entry("F-PASS-001", "test_value", params={"value": 3}), entry("F-INT-010", "test_interrupt"), entry("F-LATER-011", "test_value", params={"value": 4})
    )
    result = proj.runpytest_subprocess()
    assert result.ret == pytest.ExitCode.INTERRUPTED
    got = statuses(path)
    assert got["F-INT-010"] is None  # interrupted: no verdict
    assert got["F-PASS-001"] == "DISCHARGED" and got["F-LATER-011"] == "DISCHARGED"  # ran before the interrupt


def test_cuda_falsifier_without_cuda_is_skipped_never_discharged(proj, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    path = proj.write_contract(entry("F-GPU-012", "test_gpu", extra="requires: [cuda]"), entry("F-PASS-001", "test_value", params={"value": 3}))
    result = proj.runpytest("-rs")
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(["*needs CUDA: CUDA_VISIBLE_DEVICES is empty*"])
    assert statuses(path)["F-GPU-012"] is None
    strict = proj.runpytest("--require-cuda")
    strict.assert_outcomes(passed=1, errors=1)
    strict.stdout.fnmatch_lines(["*--require-cuda: demo-v1::F-GPU-012 needs CUDA*"])
    assert statuses(path)["F-GPU-012"] is None
    proj.runpytest("-m", "not cuda").assert_outcomes(passed=1)
    proj.runpytest("-m", "cuda", "--strict-markers").assert_outcomes(skipped=1)


def test_xdist_gives_the_same_file_as_a_serial_run(proj):
    entries = [entry(f"F-PASS-{i:03d}", "test_value", params={"value": i}) for i in range(6)]
    entries += [entry("F-FAIL-100", "test_value", params={"value": 42}), entry("F-SKIP-004", "test_skip")]
    path = proj.write_contract(*entries)
    pristine = path.read_text()
    proj.runpytest_subprocess()
    serial = path.read_text()
    path.write_text(pristine)
    proj.runpytest_subprocess("-n", "2", "--dist", "loadgroup")
    parallel = path.read_text()

    def strip_runs(text: str) -> str:
        return "\n".join(line for line in text.splitlines() if "evidence:" not in line and "digest:" not in line)

    assert strip_runs(parallel) == strip_runs(serial)
    assert statuses(path)["F-FAIL-100"] == "FALSIFIED" and statuses(path)["F-PASS-005"] == "DISCHARGED"


def test_check_mode_writes_nothing_and_fails_on_unbacked_claims(proj):
    path = proj.write_contract(entry("F-PASS-001", "test_value", params={"value": 3}))
    proj.runpytest()
    assert statuses(path)["F-PASS-001"] == "DISCHARGED"
    ok = proj.runpytest("--harness-check")
    assert ok.ret == 0, ok.stdout.str()
    # the claim no longer holds: same DISCHARGED on disk, but now the falsifier fails
    path.write_text(path.read_text().replace("value: 3", "value: 30"))
    before = path.read_bytes()
    bad = proj.runpytest("--harness-check")
    assert bad.ret == pytest.ExitCode.TESTS_FAILED
    bad.stdout.fnmatch_lines(
        ["*CLAIM NOT BACKED: demo-v1::F-PASS-001: DISCHARGED is stale*", "*CLAIM NOT BACKED: demo-v1::F-PASS-001: DISCHARGED on disk, but it fails now*"]
    )
    assert path.read_bytes() == before
    assert not list((proj.path / "evidence").glob("demo-v1/*/results.json"))[1:]


def test_junit_xml_carries_falsifier_properties(proj):
    proj.write_contract(entry("F-PASS-001", "test_value", params={"value": 3}))
    proj.runpytest("--junitxml=out.xml")
    xml = (proj.path / "out.xml").read_text()
    assert 'name="falsifier" value="F-PASS-001"' in xml
    assert 'name="outcome" value="passed"' in xml
    assert 'name="measurement:value" value="3.0"' in xml


def test_params_not_accepted_by_the_test_error_out(proj):
    path = proj.write_contract(entry("F-PASS-001", "test_value", params={"value": 3, "typo": 1}))
    result = proj.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*params ?'typo'? are not accepted*"])
    assert statuses(path)["F-PASS-001"] is None


def test_plugin_is_inert_without_contracts(pytester):
    pytester.makepyfile(test_plain="def test_a():\n    pass\n")
    result = pytester.runpytest()
    result.assert_outcomes(passed=1)
    assert "harness:" not in result.stdout.str()


def test_selecting_an_invalid_contract_names_its_first_finding(proj):
    (proj.path / "contracts" / "broken-v1.yaml").write_text("metadata:\n  version: 1.0\n")
    result = proj.runpytest("--contract=broken-v1")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*broken-v1 does not validate: contracts/broken-v1.yaml:2:12:*wrong-type*"])
