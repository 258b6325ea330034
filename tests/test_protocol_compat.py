"""A protocol that does not break its users (#24, items 10–11): a falsifier requires only the
subject members it reads, and a member present in the wrong kind is refused by name instead of
silently turning a comparison off."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from harness.snapshot import load_contract
from harness.subjects.protocols import missing_members

pytest.importorskip("numpy")

SHARDS_ONLY = '''\
import numpy as np
import pytest


@pytest.fixture
def corpus(tmp_path_factory):
    """A user's data subject from before documents() existed: shards and a vocab size, no text."""
    folder = tmp_path_factory.mktemp("shards")
    ids = np.random.default_rng(0).zipf(1.3, 200_000) % 5000
    np.save(folder / "train-000.npy", ids.astype(np.uint16))

    class Corpus:
        vocab_size = 5000
        unk_id = None
        SHARD_PATHS = sorted(folder.glob("*.npy"))

        def shard_paths(self):
            return self.SHARD_PATHS

    return Corpus()
'''

CONTRACT = """\
metadata:
  id: c
  version: 1.0.0
  status: DRAFT
falsification_tests:
- id: F-INTEGRITY-001
  rule: whole shards
  test: builtin:shard-integrity
  subject: corpus
- id: F-ENTROPY-002
  rule: real text
  test: builtin:shard-entropy
  subject: corpus
  params:
    min_bits: 3.0
"""


def make(tmp_path: Path, conftest: str) -> Path:
    (tmp_path / "pyproject.toml").write_text("[project]\nname='p'\n")
    (tmp_path / "conftest.py").write_text(conftest)
    (tmp_path / "contracts").mkdir()
    (tmp_path / "contracts" / "c.yaml").write_text(CONTRACT)
    return tmp_path


def statuses(root: Path) -> dict:
    contract, _ = load_contract(root / "contracts" / "c.yaml", root=root)
    return {f.id: f.status for f in contract.falsifiers}


def test_a_data_subject_without_documents_still_serves_the_shard_builtins(tmp_path):
    root = make(tmp_path, SHARDS_ONLY)
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=root, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout[-2000:]
    assert statuses(root) == {"F-INTEGRITY-001": "DISCHARGED", "F-ENTROPY-002": "DISCHARGED"}


def test_shard_paths_as_a_list_is_refused_by_name(tmp_path):
    conftest = SHARDS_ONLY.replace("        def shard_paths(self):\n            return self.SHARD_PATHS\n", "        shard_paths = SHARD_PATHS\n")
    root = make(tmp_path, conftest)
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-rE", "-p", "no:cacheprovider"], cwd=root, capture_output=True, text=True, check=False)
    assert proc.returncode == 1
    assert "shard_paths (a list, where a method is called)" in proc.stdout, proc.stdout[-2000:]
    assert statuses(root) == {"F-INTEGRITY-001": None, "F-ENTROPY-002": None}  # an error is no verdict


def test_each_builtin_names_only_what_it_reads():
    class OnlyShards:
        vocab_size = 10

        def shard_paths(self):
            return []

    assert missing_members(OnlyShards(), "data", "shard-entropy") == []
    assert missing_members(OnlyShards(), "data", "tokenizer-roundtrip") == ["documents", "encoder"]
    assert missing_members(OnlyShards(), "data") == ["encoder_name", "vocab_path", "unk_id", "encoder", "documents"]

    class WrongKind(OnlyShards):
        batches = (1, 2)

    assert missing_members(WrongKind(), "batches") == ["batches (a tuple, where a method is called)"]


def test_lint_knows_fixtures_from_pytest_plugins_and_fixture_name(tmp_path):
    """#24 item 12: ``[unknown-subject]`` only for names no fixture provides — a fixture registered
    with ``@pytest.fixture(name=...)`` or shipped by a module the conftest names in
    ``pytest_plugins`` is known."""
    (tmp_path / "pyproject.toml").write_text("[project]\nname='p'\n")
    (tmp_path / "conftest.py").write_text(
        'import pytest\n\npytest_plugins = ["myfixtures"]\n\n\n@pytest.fixture(name="renamed")\ndef _renamed_impl():\n    return 1\n'
    )
    (tmp_path / "myfixtures.py").write_text("import pytest\n\n\n@pytest.fixture\ndef from_plugin():\n    return 2\n")
    (tmp_path / "contracts").mkdir()
    entries = "".join(
        f"- id: F-{i}\n  rule: r\n  test: builtin:shard-entropy\n  subject: {name}\n" for i, name in enumerate(["renamed", "from_plugin", "nowhere"])
    )
    (tmp_path / "contracts" / "c.yaml").write_text("metadata:\n  id: c\n  version: 1.0.0\n  status: DRAFT\nfalsification_tests:\n" + entries)
    lint = subprocess.run([sys.executable, "-m", "harness", "lint"], cwd=tmp_path, capture_output=True, text=True, check=False)
    unknown = [line for line in lint.stdout.splitlines() if "[unknown-subject]" in line]
    assert len(unknown) == 1 and "'nowhere'" in unknown[0], lint.stdout
