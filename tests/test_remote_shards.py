"""Shards at fsspec URLs (``memory://``, ``file://``; ``s3://`` and the rest go through the same
``UPath``): every reader yields from a URL exactly what it yields from the plain path — ids,
counts, documents, samples, integrity findings — and a contract whose ``shards:`` are URLs gets
the same verdicts as one whose ``shards:`` are paths. A remote shard is read in ranges
(``harness.checks.storage``), never copied to local disk; a contract may not point at a store
the runner did not allow."""

from __future__ import annotations

import shutil
import subprocess
import sys
import uuid
import warnings
from pathlib import Path

import numpy as np
import pytest

from harness.checks.documents import document_stats
from harness.checks.formats import ShardOptions
from harness.checks.passes import check_shards, shard_stats
from harness.checks.sampling import sample_ids
from harness.checks.shards import WIDTH_PROBE, describe_shards
from harness.snapshot import load_contract
from tests import format_writers as fw

fsspec = pytest.importorskip("fsspec")
pytest.importorskip("upath", reason="the [remote] extra")
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("remote")]

V = 151_665
EOS = 151_643
FORMATS = [k for k in fw.WRITERS if fw.available(k)]


@pytest.fixture(scope="module")
def documents():
    from tokenizers import Tokenizer

    from harness.demo.corpus import stdlib_documents
    from harness.demo.pipeline import vocab_dir

    tok = Tokenizer.from_file(str(vocab_dir() / "tokenizer.json"))
    texts, size = [], 0
    for _, text in stdlib_documents(max_bytes=6_000_000):  # many modules (≥ 10⁵ ids, ≥ 20 documents), none repeated
        if len(text) < 12_000 and size < 700_000 and text not in texts:
            texts.append(text)
            size += len(text)
    docs = [[*e.ids, EOS] for e in tok.encode_batch(texts, add_special_tokens=False)]
    return [*docs, [17, V + 9, 3, EOS]]  # one id past the vocab: the integrity findings must match too


def _write(kind, folder, docs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fw.WRITERS[kind](folder, docs)


def _in_memory(local: Path) -> str:
    """The folder's files copied into fsspec's memory filesystem; its URL."""
    name = f"/t{uuid.uuid4().hex[:8]}"
    fsspec.filesystem("memory").put(str(local), name, recursive=True)
    return f"memory://{name}"


def _summary(glob: str, options: ShardOptions, prefix: str):
    shards, problems, _ = describe_shards([glob], V, options)
    stats, stat_problems = shard_stats([glob], V, options=options, partial=True)
    _, integrity = check_shards([glob], V, options)
    docs, _ = document_stats(shards, EOS)
    ids, total = sample_ids(shards, 5_000, seed=3)

    def local(text: str) -> str:  # UPath writes memory:///x as memory://x
        return text.replace("memory:///", "memory://").replace(prefix.replace("memory:///", "memory://"), "<root>")

    return {
        "shards": [(local(str(s.path)), s.dtype, s.count) for s in shards],
        "problems": [local(p) for p in problems + stat_problems + integrity],
        "stats": stats,
        "documents": (docs.documents, docs.empty, docs.length_array().tolist(), docs.hashes),
        "sample": (ids.tolist(), total),
    }


@pytest.mark.parametrize("kind", FORMATS)
def test_a_url_reads_exactly_what_the_path_reads(kind, documents, tmp_path):
    glob = _write(kind, tmp_path / "data" / kind, documents)
    options = ShardOptions(**fw.DECLARED.get(kind, {}))
    plain = _summary(str(tmp_path / "data" / glob), options, str(tmp_path / "data"))
    memory = _in_memory(tmp_path / "data")
    in_memory = _summary(f"{memory}/{glob}", options, memory)
    as_file_url = _summary(f"file://{tmp_path / 'data'}/{glob}", options, f"file://{tmp_path / 'data'}")
    assert plain["shards"] and plain["stats"].oov_share > 0 and len(plain["problems"]) >= 2
    assert in_memory == plain
    assert as_file_url == plain


def test_a_remote_shard_is_streamed_in_ranges_not_read_whole(tmp_path, monkeypatch):
    """A shard of 3·RANGE_IDS ids in memory:// is counted through ranged reads of at most RANGE_IDS ids."""
    from harness.checks import storage

    ids = np.random.default_rng(0).integers(0, V, 3 * storage.RANGE_IDS + 5, dtype=np.uint32)
    np.save(tmp_path / "big.npy", ids)
    url = _in_memory(tmp_path)
    reads = []
    real = storage.read_range

    def spy(path, start, end):
        reads.append(end - start)
        return real(path, start, end)

    monkeypatch.setattr(storage, "read_range", spy)
    stats, _ = shard_stats([f"{url}/big.npy"], V)
    assert stats.tokens == ids.size
    data = [r for r in reads if r > 1024]  # not the header's few bytes
    assert max(data) <= storage.RANGE_IDS * 4  # never more than one block per request
    assert ids.nbytes <= sum(data) <= ids.nbytes + WIDTH_PROBE * 4  # each block once; the width probe reads its few ids apart


def test_a_contract_may_not_point_at_a_store_the_runner_did_not_allow(tmp_path, monkeypatch):
    from harness.contract.subjects import SubjectError, expand

    with pytest.raises(SubjectError, match=r"HARNESS_REMOTE_ROOTS"):
        expand(tmp_path, ["s3://someone-elses-bucket/*.bin"])
    with pytest.raises(SubjectError, match=r"escapes"):
        expand(tmp_path, ["file:///etc/*.conf"])
    monkeypatch.setenv("HARNESS_REMOTE_ROOTS", "memory://allowed/")
    with pytest.raises(SubjectError, match=r"HARNESS_REMOTE_ROOTS"):
        expand(tmp_path, ["gs://allowed/x"])
    assert expand(tmp_path, ["memory://nothing-here/*.npy"]) == []


VERDICT_FORMATS = [k for k in ("megatron", "mds", "parquet") if k in FORMATS] or ["npy"]


def _project(root: Path, documents, incident_docs) -> None:
    from harness.demo.pipeline import vocab_dir

    (root / "vocab").mkdir(parents=True)
    (root / "pyproject.toml").write_text("[project]\nname = 'users-pipeline'\n")
    shutil.copy(vocab_dir() / "tokenizer.json", root / "vocab" / "tokenizer.json")
    for kind in VERDICT_FORMATS:
        for variant, docs, encoder in (("healthy", documents, "byte_level"), ("incident", incident_docs, "hex_byte")):
            glob = _write(kind, root / "data" / f"{kind}-{variant}", docs)
            init = fw.harness_init(root, f"{kind}-{variant}", encoder, f"data/{glob}")
            assert init.returncode == 0, init.stdout + init.stderr


def _verdicts(root: Path) -> dict:
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-k", "not cuda"], cwd=root, capture_output=True, text=True, check=False, timeout=900
    )
    out = {}
    for path in sorted((root / "contracts").glob("*.yaml")):
        contract, findings = load_contract(path, root=root)
        assert contract is not None, findings
        out[path.stem] = {f.test.removeprefix("builtin:"): f.status for f in contract.falsifiers}
    return out, run.stdout[-3000:]


def test_the_same_verdicts_from_memory_and_file_urls_as_from_paths(documents, tmp_path):
    from tokenizers import Tokenizer

    from harness.demo.pipeline import vocab_dir

    tok = Tokenizer.from_file(str(vocab_dir() / "tokenizer.json"))
    vocab = tok.get_vocab()
    healthy = documents[:-1]
    texts = tok.decode_batch([d[:-1] for d in healthy])
    incident = [[vocab.get(f"{b:02x}", EOS) for b in text.encode()] + [EOS] for text in texts]  # the incident's hex-byte ids
    plain = tmp_path / "plain"
    _project(plain, healthy, incident)
    as_file, in_memory = tmp_path / "file", tmp_path / "memory"
    for copy, scheme in ((as_file, "file"), (in_memory, "memory")):
        shutil.copytree(plain, copy)
        for contract in (copy / "contracts").glob("*.yaml"):
            text = contract.read_text()
            base = f"file://{copy}/data/" if scheme == "file" else "memory://project/data/"
            assert 'shards: "data/' in text
            contract.write_text(text.replace('shards: "data/', f'shards: "{base}'))
        if scheme == "memory":  # the user's conftest stages its shards in memory before the run, as a test would
            (copy / "conftest.py").write_text(
                "import fsspec\n\n\ndef pytest_configure(config):\n"
                "    fsspec.filesystem('memory').put(str(config.rootpath / 'data'), '/project/data', recursive=True)\n"
            )
    expected, log = _verdicts(plain)
    assert all(set(v.values()) == {"DISCHARGED"} for k, v in expected.items() if k.endswith("healthy")), log
    assert all({v["vocab-format"], v["shard-entropy"]} == {"FALSIFIED"} for k, v in expected.items() if k.endswith("incident")), log
    for copy in (as_file, in_memory):
        assert "://" in (copy / "contracts" / f"{VERDICT_FORMATS[0]}-healthy.yaml").read_text()
        found, log = _verdicts(copy)
        assert found == expected, log


def test_a_rewritten_object_changes_its_stamp_whatever_version_its_store_reports(monkeypatch):
    """S3's LastModified has one-second resolution: an object rewritten within that second, at the
    same size, differs only in its ETag. Every version the store reports is in the stamp (and so in
    the fingerprint and the per-process cache of open shards)."""
    import fsspec

    from harness.urls import location, stamp

    folder = f"stamps-{uuid.uuid4().hex}"
    fsspec.filesystem("memory").pipe(f"/{folder}/a.bin", b"1234")
    path = location(f"memory://{folder}/a.bin")
    infos = iter(
        [
            {"size": 4, "LastModified": "2026-12-04T10:00:00Z", "ETag": '"81dc9bdb"'},
            {"size": 4, "LastModified": "2026-12-04T10:00:00Z", "ETag": '"674f3c2c"'},
        ]
    )
    monkeypatch.setattr(type(path.fs), "info", lambda self, p, **kw: next(infos))
    assert stamp(path) != stamp(path)
