"""The pre-commit hooks (issue #42, item 4), run as a user runs them: ``pre-commit try-repo`` on a
throwaway repository, which installs this package into pre-commit's own environment from the
working tree. Green on a valid contract, red on a broken one with its file and line named."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("pre_commit")

ROOT = Path(__file__).resolve().parents[1]

GOOD = """metadata:
  version: 1.0.0
  status: DRAFT
falsification_tests:
- id: F-1
  rule: the shards carry real text
  test: builtin:shard-entropy
  subject: data
subjects:
  data:
    vocab: vocab/tokenizer.json
    shards: data/*.npy
"""


def git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", *args],
        cwd=repo,
        check=True,
        capture_output=True,
        env={**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"},
    )


def try_repo(repo: Path, hook: str, home: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PRE_COMMIT_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-m", "pre_commit", "try-repo", str(ROOT), hook, "--all-files"], cwd=repo, capture_output=True, text=True, env=env, timeout=900
    )


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("git") is None, reason="pre-commit needs git")
def test_pre_commit_hooks_pass_a_valid_contract_and_name_a_broken_one(tmp_path):
    repo = tmp_path / "repo"
    (repo / "contracts").mkdir(parents=True)
    (repo / "contracts" / "ok.yaml").write_text(GOOD)
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "a contract")
    home = tmp_path / "pre-commit-home"
    validate = try_repo(repo, "harness-validate", home)
    assert validate.returncode == 0, validate.stdout + validate.stderr
    assert "harness validate" in validate.stdout and "Passed" in validate.stdout
    lint = try_repo(repo, "harness-lint", home)
    assert "harness lint" in lint.stdout and "Traceback" not in lint.stdout, lint.stdout + lint.stderr

    (repo / "contracts" / "broken.yaml").write_text(GOOD.replace("falsification_tests:\n- id: F-1", "falsification_tests:\n- id: F-1\n  status: [oops"))
    git(repo, "add", "-A")
    broken = try_repo(repo, "harness-validate", home)
    assert broken.returncode == 1, broken.stdout + broken.stderr
    assert "Failed" in broken.stdout and "contracts/broken.yaml" in broken.stdout and "Traceback" not in broken.stdout, broken.stdout
