"""A shard the harness cannot read is a shard nobody judged: a data falsifier that judges "the
corpus" from the shards it could read — and leaves the broken one out — would pass on the part
that is healthy. The broken shard is often the one with the bug (a writer that crashed mid-shard
wrote it). So every whole-corpus data falsifier errors, naming the shard, when any shard of its
subject could not be read; shard-integrity falsifies on it. Red on 1af478f (the commit before the
fix): shard-entropy and duplicate-documents were DISCHARGED on the readable shard alone.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from harness.snapshot import load_contract
from tests import format_writers as fw

EOS = 151_643


@pytest.fixture(scope="module")
def documents():
    from tokenizers import Tokenizer

    from harness.demo.corpus import stdlib_documents
    from harness.demo.pipeline import vocab_dir

    tok = Tokenizer.from_file(str(vocab_dir() / "tokenizer.json"))
    texts, size = [], 0
    for _, text in stdlib_documents(max_bytes=6_000_000):
        if len(text) < 12_000 and size < 700_000 and text not in texts:
            texts.append(text)
            size += len(text)
    return [[*e.ids, EOS] for e in tok.encode_batch(texts, add_special_tokens=False)]


def _statuses(root: Path) -> tuple[dict, str]:
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-k", "not cuda"], cwd=root, capture_output=True, text=True, check=False, timeout=600
    )
    contract, findings = load_contract(root / "contracts" / "corpus.yaml", root=root)
    assert contract is not None, findings
    return {f.test.removeprefix("builtin:"): f.status for f in contract.falsifiers}, run.stdout[-4000:]


def test_a_shard_that_cannot_be_read_is_never_left_out_of_a_pass(documents, tmp_path):
    """A project bound by ``harness init`` to a healthy shard; the pipeline then writes a second
    shard that is degenerate (one document, written 400 times: entropy, top-1 share and duplicates
    all fail on it) and cut short by a crash (3 bytes missing: the .npy cannot be mapped)."""
    from harness.demo.pipeline import vocab_dir

    root = tmp_path / "project"
    (root / "vocab").mkdir(parents=True)
    (root / "pyproject.toml").write_text("[project]\nname = 'users-pipeline'\n")
    shutil.copy(vocab_dir() / "tokenizer.json", root / "vocab" / "tokenizer.json")
    folder = root / "data"
    fw.write_npy(folder, documents)
    init = fw.harness_init(root, "corpus", "byte_level", "data/*.npy")
    assert init.returncode == 0, init.stdout + init.stderr
    healthy, log = _statuses(root)
    assert {healthy[k] for k in ("shard-entropy", "duplicate-documents", "shard-integrity")} == {"DISCHARGED"}, log

    broken = folder / "part-1.npy"
    np.save(broken, np.tile(np.asarray(documents[0], dtype=np.uint32), 400))
    broken.write_bytes(broken.read_bytes()[:-3])
    found, log = _statuses(root)
    assert found["shard-integrity"] == "FALSIFIED", log
    ids = {"shard-entropy": "SHARD-ENTROPY", "duplicate-documents": "DUPLICATE-DOCUMENTS", "document-lengths": "DOCUMENT-LENGTHS"}
    for name, fid in ids.items():
        line = next(line for line in log.splitlines() if f"FALSIFY-{fid}-001:" in line)
        assert "ERROR" in line and "part-1.npy" in line, f"{name} was judged without reading part-1.npy\n{log}"
    # the error leaves the last real verdict in the file, but it no longer stands: the gate says so
    gate = subprocess.run([sys.executable, "-m", "harness", "gate"], cwd=root, capture_output=True, text=True, check=False)
    assert gate.returncode != 0, gate.stdout + gate.stderr
    assert "FALSIFY-SHARD-ENTROPY-001" in gate.stdout + gate.stderr, gate.stdout + gate.stderr
