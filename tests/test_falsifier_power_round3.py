"""Falsifier power, round 3 (issue #40): healthy real pipelines stay green, the cause is named.

One pytest session over a project of one contract per case (``tests.redgreen``), on the real
Qwen2.5 vocab and the standard library's source as documents.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from tests.redgreen import check, run_cases, write_documents

EOS = 151643


def contract(subject: dict, builtin: str, params: dict | None = None) -> str:
    lines = ["metadata:", "  version: 1.0.0", "  status: DRAFT", "subjects:", "  data:"]
    lines += [f"    {k}: {json.dumps(v)}" for k, v in subject.items()]
    lines += ["falsification_tests:", "- id: F-1", f"  test: builtin:{builtin}", "  subject: data"]
    if params:
        lines.append(f"  params: {json.dumps(params)}")
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory):
    from tokenizers import Tokenizer

    from harness.demo.pipeline import vocab_dir

    root = tmp_path_factory.mktemp("power3") / "p"
    (root / "contracts").mkdir(parents=True)
    (root / "pyproject.toml").write_text("[tool.pytest.ini_options]\naddopts = '-p no:cacheprovider'\ntestpaths = ['contracts']\n")
    (root / "vocab").mkdir()
    shutil.copy(vocab_dir() / "tokenizer.json", root / "vocab" / "tokenizer.json")
    tok = Tokenizer.from_file(str(root / "vocab" / "tokenizer.json"))
    docs = write_documents(root, 500_000)
    encoded = [e.ids for e in tok.encode_batch([t for _, t in docs], add_special_tokens=False)]
    cases = {}

    def chunked(ids, size):
        return [i for k in range(0, len(ids), size) for i in [*ids[k : k + size], EOS]]

    (root / "chunked").mkdir()
    np.save(root / "chunked" / "a.npy", np.asarray([i for ids in encoded for i in chunked(ids, 512)], dtype=np.uint32))
    (root / "truncated").mkdir()
    np.save(root / "truncated" / "a.npy", np.asarray([i for ids in encoded for i in [*ids[:256], EOS]], dtype=np.uint32))
    with_docs = {"vocab": "vocab/tokenizer.json", "encoder": "byte_level", "documents": "docs/**/*.py"}
    cases["chunked-green"] = contract({**with_docs, "shards": "chunked/*.npy"}, "document-lengths")
    cases["truncated-red"] = contract({**with_docs, "shards": "truncated/*.npy"}, "document-lengths")
    cases["chunked-no-docs"] = contract({"vocab": "vocab/tokenizer.json", "encoder": "byte_level", "shards": "chunked/*.npy"}, "document-lengths")
    for name, text in cases.items():
        (root / "contracts" / f"{name}.yaml").write_text(text)
    return run_cases(root, list(cases))


# 2 ----------------------------------------------------------------- chunking is not truncation
def test_chunked_documents_are_not_truncation(outcomes):
    check(outcomes, "chunked-green", "DISCHARGED")


def test_truncation_is_text_lost_against_the_documents(outcomes):
    check(outcomes, "truncated-red", "FALSIFIED", "lost")


def test_a_cap_seen_in_ids_alone_is_at_most_suspect_and_counts_are_whole(outcomes):
    check(outcomes, "chunked-no-docs", "METHODOLOGY_SUSPECT")
    assert ".0 of" not in outcomes["<stdout>"]


# 7 ----------------------------------------------------------------- a member refused only where read
def test_a_shard_paths_list_is_refused_only_by_the_builtin_that_reads_it():
    from harness.subjects.protocols import missing_members

    class Loader:
        vocab_size = 100

        def __init__(self):
            self.shard_paths = [Path("a.npy")]  # a list, where model-vocab-fit calls a method

        def batches(self, split):
            return []

    for builtin in ("split-overlap", "eval-coverage", "loss-mask", "target-alignment"):
        assert missing_members(Loader(), "batches", builtin) == [], builtin
    assert missing_members(Loader(), "batches", "model-vocab-fit") == ["shard_paths (a list, where a method is called)"]
