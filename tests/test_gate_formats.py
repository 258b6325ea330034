"""The gate where CI lives (issue #42): annotations on the diff (GitHub workflow commands, GitLab
Code Quality), SARIF 2.1.0 validated against the official schema, and the Markdown run summary —
on one project holding a refuted claim, an unbacked claim and a lint finding."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_gate import CONTRACT, make_value_repo

SCHEMA = Path(__file__).parent / "data" / "sarif" / "sarif-schema-2.1.0.json"

UNBACKED = """\
metadata:
  version: 1.0.0
  status: DRAFT_PARTIAL_DISCHARGE
falsification_tests:
- id: F-UNBACKED-001
  test: falsifiers/test_value.py::test_value
  params:
    limit: 10
  status: DISCHARGED
"""

MISSING = """\
metadata:
  version: 1.0.0
  status: DRAFT
falsification_tests:
- id: F-GONE-001
  test: falsifiers/test_gone.py::test_gone
"""


def gate(repo: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in ("GITHUB_ACTIONS", "GITHUB_STEP_SUMMARY", "GITLAB_CI")}
    return subprocess.run(
        [sys.executable, "-m", "harness", "--root", str(repo), "gate", *args], cwd=repo, capture_output=True, text=True, env={**clean, **(env or {})}
    )


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    repo = make_value_repo(tmp_path_factory.mktemp("gatefmt"), CONTRACT)
    (repo / "data" / "value.txt").write_text("30")  # the claim is refuted
    subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "falsifiers"], cwd=repo, capture_output=True, check=False)
    (repo / "contracts" / "d-v1.yaml").write_text(UNBACKED)  # DISCHARGED by hand: no fingerprint, no evidence, fails now
    (repo / "contracts" / "e-v1.yaml").write_text(MISSING)  # bound to a test that does not exist
    return repo


def line_of(path: Path, fid: str) -> int:
    return next(n for n, text in enumerate(path.read_text().splitlines(), 1) if f"id: {fid}" in text)


def test_github_annotations_point_at_each_problems_file_and_line(repo):
    proc = gate(repo, "--format", "github")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    commands = [line for line in proc.stdout.splitlines() if line.startswith("::error ")]
    refuted = f"::error file=contracts/c-v1.yaml,line={line_of(repo / 'contracts' / 'c-v1.yaml', 'F-VALUE-001')},title=harness/F-VALUE-001"
    unbacked = f"file=contracts/d-v1.yaml,line={line_of(repo / 'contracts' / 'd-v1.yaml', 'F-UNBACKED-001')}"
    assert any(c.startswith(refuted) and "FALSIFIED" in c for c in commands), commands
    assert any(unbacked in c for c in commands), commands
    assert any("file=contracts/e-v1.yaml" in c and "missing-test" in c for c in commands), commands
    assert "FAILED" in proc.stdout  # the table and the verdict stay for people reading the log
    auto = gate(repo, env={"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(repo.parent / "summary.md")})
    assert any(line.startswith("::error ") for line in auto.stdout.splitlines())


def test_sarif_validates_against_the_official_schema_with_stable_rule_ids(repo, tmp_path):
    import jsonschema

    out = tmp_path / "gate.sarif"
    proc = gate(repo, "--sarif", str(out))
    assert proc.returncode == 1
    log = json.loads(out.read_text())
    jsonschema.Draft4Validator(json.loads(SCHEMA.read_text())).validate(log)
    results = log["runs"][0]["results"]
    rule_ids = {r["ruleId"] for r in results}
    assert {"harness/F-VALUE-001", "harness/F-UNBACKED-001", "harness/missing-test"} <= rule_ids, rule_ids
    refuted = next(r for r in results if r["ruleId"] == "harness/F-VALUE-001")
    location = refuted["locations"][0]["physicalLocation"]
    assert location["artifactLocation"]["uri"] == "contracts/c-v1.yaml"
    assert location["region"]["startLine"] == line_of(repo / "contracts" / "c-v1.yaml", "F-VALUE-001")
    again = tmp_path / "again.sarif"
    gate(repo, "--sarif", str(again))
    assert [r["partialFingerprints"] for r in json.loads(again.read_text())["runs"][0]["results"]] == [r["partialFingerprints"] for r in results]
    lint = tmp_path / "lint.sarif"
    subprocess.run([sys.executable, "-m", "harness", "--root", str(repo), "lint", "--sarif", str(lint)], cwd=repo, capture_output=True)
    jsonschema.Draft4Validator(json.loads(SCHEMA.read_text())).validate(json.loads(lint.read_text()))
    assert any(r["ruleId"] == "harness/missing-test" for r in json.loads(lint.read_text())["runs"][0]["results"])


def test_gitlab_code_quality_and_the_summary_name_all_three(repo, tmp_path):
    proc = gate(repo, "--format", "gitlab")
    report = json.loads(proc.stdout)
    paths = {(item["location"]["path"], item["check_name"]) for item in report}
    assert ("contracts/c-v1.yaml", "harness/F-VALUE-001") in paths and ("contracts/e-v1.yaml", "harness/missing-test") in paths, paths
    assert all({"description", "check_name", "fingerprint", "severity", "location"} <= set(item) for item in report)
    summary = tmp_path / "summary.md"
    gate(repo, "--summary", str(summary))
    text = summary.read_text()
    assert "harness gate failed" in text and "F-VALUE-001" in text and "F-UNBACKED-001" in text and "missing-test" in text


def test_the_json_output_keeps_its_shape(repo):
    data = json.loads(gate(repo, "--json").stdout)
    assert set(data) == {"passed", "contracts", "checks", "problems", "pytest_exit"}
    assert all(set(p) == {"contract", "falsifier", "reason", "check"} for p in data["problems"])


def test_the_summary_says_what_changed_against_the_base_branch_and_the_refuted_measurements(tmp_path):
    (tmp_path / "r").mkdir()
    repo = make_value_repo(tmp_path / "r", CONTRACT)  # run once: DISCHARGED
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "base"], ["branch", "base"]):
        subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, env=env)
    (repo / "data" / "value.txt").write_text("30")  # the claim is refuted on this branch
    subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "falsifiers"], cwd=repo, capture_output=True, check=False)
    (repo / "contracts" / "e-v1.yaml").write_text(MISSING)  # and a contract the base does not have
    summary = tmp_path / "summary.md"
    gate(repo, "--summary", str(summary), "--base", "base")
    text = summary.read_text()
    assert "**Changed since `base`**" in text
    assert "`c-v1::F-VALUE-001`: DISCHARGED → **FALSIFIED**" in text, text
    assert "`e-v1`: new contract" in text
    refuted = text.split("**Refuted claims**")[1]
    assert "F-VALUE-001" in refuted and "value = 30" in refuted, refuted  # its measurement, from the evidence
    gate(repo, "--summary", str(summary), env={"GITHUB_BASE_REF": "no-such-branch"})
    assert "not compared — no such revision 'origin/no-such-branch'" in summary.read_text()
