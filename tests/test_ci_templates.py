"""The CI templates (issue #42, item 6) are checked by the linters their hosts' users run: the
composite action and the workflow by actionlint and the published GitHub schemas, the GitLab
include by GitLab's CI schema (both vendored by check-jsonschema, offline). Each check is shown to
fail on a broken copy, and every harness flag the templates pass is one the CLI takes."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ACTION, WORKFLOW, GITLAB = ROOT / "action.yml", ROOT / "ci" / "github" / "contracts.yml", ROOT / "ci" / "gitlab" / "harness.gitlab-ci.yml"


def actionlint(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    exe = shutil.which("actionlint") or str(Path(sys.executable).parent / "actionlint")
    if not Path(exe).exists():
        pytest.skip("actionlint is installed with the test extra on linux x86_64 only")
    return subprocess.run([exe, "-no-color", *args], cwd=cwd, capture_output=True, text=True)


def schema_check(schema: str, path: Path) -> subprocess.CompletedProcess:
    pytest.importorskip("check_jsonschema")
    return subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema", schema, str(path)], capture_output=True, text=True)


def test_the_workflow_template_passes_actionlint_and_a_broken_one_does_not(tmp_path):
    ok = actionlint("-config-file", "ci/github/actionlint.yaml", str(WORKFLOW.relative_to(ROOT)))
    assert ok.returncode == 0, ok.stdout + ok.stderr
    broken = tmp_path / "contracts.yml"
    broken.write_text(WORKFLOW.read_text().replace("${{ steps.harness.outputs.sarif }}", "${{ steps.harnes.outputs.sarif }}"))
    bad = actionlint("-config-file", str(ROOT / "ci" / "github" / "actionlint.yaml"), str(broken))
    assert bad.returncode == 1 and "harnes" in bad.stdout, bad.stdout


@pytest.mark.parametrize(("schema", "path"), [("vendor.github-actions", ACTION), ("vendor.github-workflows", WORKFLOW), ("vendor.gitlab-ci", GITLAB)])
def test_each_template_is_valid_against_its_hosts_schema(schema, path, tmp_path):
    ok = schema_check(schema, path)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    broken = tmp_path / path.name
    text = path.read_text()
    broken.write_text(
        text.replace("runs:\n  using: composite", "runs:\n  using: compose")
        if path == ACTION
        else text.replace("script:", "scripts:", 1)
        if path == GITLAB
        else text.replace("runs-on:", "run-on:", 1)
    )
    assert schema_check(schema, broken).returncode == 1


def test_every_harness_flag_in_the_templates_is_one_the_cli_takes():
    used = []
    for path in (ACTION, WORKFLOW, GITLAB):
        for line in path.read_text().splitlines():
            m = re.search(r"\bharness (gate|lint)\b(.*)", line)
            if m and not line.lstrip().startswith("#"):
                used += [(m.group(1), flag) for flag in re.findall(r"(--[a-z][a-z-]*)", re.split(r"&&|;|\|", m.group(2))[0])]
    assert used, "the templates run no harness command"
    for command, flag in used:
        helptext = subprocess.run([sys.executable, "-m", "harness", command, "--help"], capture_output=True, text=True).stdout
        assert flag in helptext, f"harness {command} takes no {flag}"
