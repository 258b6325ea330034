"""Token data as Megatron writes it (``.bin`` + ``.idx``), read by the harness from the bytes and
judged by the built-ins. The files are written by Megatron's own ``IndexedDatasetBuilder`` over a
real corpus (the standard library's source, the real Qwen2.5 tokenizer, EOS after each document);
the harness's reader must yield exactly what Megatron's ``IndexedDataset`` yields."""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from harness.checks.megatron import read_index
from harness.checks.passes import check_shards
from harness.checks.shards import describe_shard
from harness.snapshot import load_contract

torch = pytest.importorskip("torch")
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    indexed = pytest.importorskip("megatron.core.datasets.indexed_dataset")

EOS = 151643


def documents():
    from harness.demo.corpus import stdlib_documents

    return [text for _, text in stdlib_documents(max_bytes=400_000)]


def qwen_ids(texts):
    from tokenizers import Tokenizer

    from harness.demo.pipeline import vocab_dir

    tok = Tokenizer.from_file(str(vocab_dir() / "tokenizer.json"))
    return [[*e.ids, EOS] for e in tok.encode_batch(texts, add_special_tokens=False)]


def hex_byte_ids(texts):
    """The incident's encoder: hex-byte strings looked up in the byte-level Qwen vocab."""
    import json

    from harness.demo.pipeline import vocab_dir

    vocab = json.loads((vocab_dir() / "tokenizer.json").read_text())["model"]["vocab"]
    return [[vocab.get(f"{b:02x}", EOS) for b in text.encode()] + [EOS] for text in texts]


def write_megatron(prefix: Path, docs: list[list[int]], dtype=np.int32) -> Path:
    """Megatron's own writer: one document per item, as its preprocess_data does."""
    prefix.parent.mkdir(parents=True, exist_ok=True)
    builder = indexed.IndexedDatasetBuilder(f"{prefix}.bin", dtype=dtype)
    for ids in docs:
        builder.add_document(torch.tensor(ids, dtype=torch.int64), [len(ids)])
    builder.finalize(f"{prefix}.idx")
    return Path(f"{prefix}.bin")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("megatron")
    texts = documents()
    docs = qwen_ids(texts)
    return root, texts, docs, write_megatron(root / "data" / "stdlib_text_document", docs)


def test_our_reader_yields_what_megatrons_reader_yields(corpus):
    _, _, docs, path = corpus
    theirs = indexed.IndexedDataset(str(path.with_suffix("")))
    shard, problems = describe_shard(path)
    assert problems == [] and shard.dtype == "int32" and shard.count == sum(len(d) for d in docs)
    ours = np.asarray(shard.open())
    assert np.array_equal(ours, np.concatenate([np.asarray(theirs[i]) for i in range(len(theirs))]))
    bounds = list(shard.index.document_bounds())
    assert len(bounds) == len(docs) == len(theirs.document_indices) - 1
    assert all(np.array_equal(ours[s:e], np.asarray(d)) for (s, e), d in zip(bounds, docs))


def test_the_builtins_discharge_on_a_healthy_megatron_corpus_and_falsify_the_incidents(corpus, tmp_path):
    _, texts, _, _ = corpus
    (tmp_path / "pyproject.toml").write_text("[project]\nname='p'\n")
    write_megatron(tmp_path / "data" / "healthy_text_document", qwen_ids(texts))
    write_megatron(tmp_path / "data" / "incident_text_document", hex_byte_ids(texts))
    from harness.demo.pipeline import vocab_dir

    (tmp_path / "vocab").mkdir()
    (tmp_path / "vocab" / "tokenizer.json").write_bytes((vocab_dir() / "tokenizer.json").read_bytes())
    (tmp_path / "contracts").mkdir()
    builtins = ["shard-integrity", "shard-entropy", "vocab-id-agreement", "document-boundaries"]
    for name in ("healthy", "incident"):
        entries = "".join(f"- id: F-{name.upper()}-{i}\n  rule: r\n  test: builtin:{b}\n  subject: corpus\n" for i, b in enumerate(builtins))
        (tmp_path / "contracts" / f"{name}.yaml").write_text(
            f"metadata:\n  id: {name}\n  version: 1.0.0\n  status: DRAFT\nsubjects:\n  corpus:\n    vocab: vocab/tokenizer.json\n"
            f"    shards: data/{name}_text_document\nfalsification_tests:\n{entries}"
        )
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=tmp_path, capture_output=True, text=True, check=False)
    got = {}
    for name in ("healthy", "incident"):
        contract, findings = load_contract(tmp_path / "contracts" / f"{name}.yaml", root=tmp_path)
        assert contract is not None, findings
        got |= {f.id: f.status for f in contract.falsifiers}
    assert all(got[f"F-HEALTHY-{i}"] == "DISCHARGED" for i in range(4)), (got, run.stdout[-3000:])
    assert got["F-INCIDENT-1"] == "FALSIFIED", run.stdout[-3000:]  # entropy: 99.99% one id


@pytest.mark.parametrize("damage", ["truncated-idx", "short-bin", "not-an-index"])
def test_a_damaged_megatron_pair_is_a_finding_naming_the_file(corpus, tmp_path, damage):
    _, _, docs, _ = corpus
    path = write_megatron(tmp_path / "bad_text_document", docs[:20])
    idx = path.with_suffix(".idx")
    if damage == "truncated-idx":
        idx.write_bytes(idx.read_bytes()[:40])
    elif damage == "short-bin":
        path.write_bytes(path.read_bytes()[:-100])
    else:
        idx.write_bytes(b"not an index at all")
    shards, problems = check_shards([path], 151_646)
    assert shards == [] and len(problems) == 1
    assert ("truncated" in problems[0] or "MMIDIDX" in problems[0]) and str(tmp_path) in problems[0], problems
    probe = subprocess.run([sys.executable, "-m", "harness", "probe", "shards", str(path)], capture_output=True, text=True, check=False)
    assert "Traceback" not in probe.stderr and probe.returncode != 0 and path.name in (probe.stdout + probe.stderr)


def test_the_index_reader_reads_every_integer_dtype_megatron_writes(tmp_path):
    for dtype in (np.uint16, np.int32, np.int64):
        path = write_megatron(tmp_path / f"d_{dtype.__name__}", [[1, 2, 3], [4, 5], [6]], dtype=dtype)
        index = read_index(path.with_suffix(".idx"))
        assert index.dtype == dtype.__name__ and index.count == 6
        assert list(index.document_bounds()) == [(0, 3), (3, 5), (5, 6)]
