"""The token data real training stacks write — Megatron, Hugging Face ``datasets`` (Arrow),
parquet, MosaicML MDS, LitData, ``.npy`` and nanoGPT-style raw memmaps — each written by the
library's own writer (``tests/format_writers.py``) over one real corpus: the standard library's
source, encoded with the real Qwen2.5 tokenizer, EOS after each document.

For every format: the harness's reader yields exactly the ids and documents the library's own
reader yields; ``harness init --shards GLOB`` recognises the format and binds the data and
document built-ins; ``pytest`` discharges them on the healthy corpus and falsifies the planted
defects — the incident's hex-byte encoder (vocab-format, entropy), the separator encoded as text
(document-boundaries), every document written three times (duplicate-documents), every document
cut at 256 ids (document-lengths). Damaged files are findings naming the file."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from harness.checks.formats import ShardOptions, detect
from harness.checks.passes import check_shards
from harness.checks.shards import describe_shard, expand_shard_paths
from harness.snapshot import load_contract
from tests import format_writers as fw

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("formats-grid")]  # one worker builds the grid once (--dist loadgroup)

EOS = 151643
FORMATS = [k for k in fw.WRITERS if fw.available(k)]
VARIANTS = ("healthy", "incident", "eos-text", "duplicated", "truncated")
BUILTINS = ("vocab-format", "shard-integrity", "shard-entropy", "vocab-id-agreement", "document-boundaries", "duplicate-documents", "document-lengths")
EXPECTED_RED = {
    "incident": {"vocab-format", "shard-entropy"},
    "eos-text": {"document-boundaries"},
    "duplicated": {"duplicate-documents"},
    "truncated": {"document-lengths"},
}
SELECT = {  # pytest -k words naming those built-ins' test functions
    "incident": "(vocab_format or entropy_floor)",
    "eos-text": "document_boundaries",
    "duplicated": "duplicate_documents",
    "truncated": "document_lengths",
}


def _tokenizer():
    from tokenizers import Tokenizer

    from harness.demo.pipeline import vocab_dir

    return Tokenizer.from_file(str(vocab_dir() / "tokenizer.json"))


@pytest.fixture(scope="module")
def corpora():
    """Each variant's documents as id lists, the way its pipeline would write them."""
    from harness.demo.corpus import stdlib_documents

    texts, size = [], 0
    for _, text in stdlib_documents(max_bytes=6_000_000):  # many modules, not a few large ones
        if len(text) < 12_000 and size < 700_000:  # 1.7·10⁵ ids on 3.11; margin for 3.12's stdlib (shard-entropy needs 10⁵)
            texts.append(text)
            size += len(text)
    tok = _tokenizer()
    healthy = [[*e.ids, EOS] for e in tok.encode_batch(texts, add_special_tokens=False)]
    vocab = json.loads(tok.to_str())["model"]["vocab"]
    incident = [[vocab.get(f"{b:02x}", EOS) for b in text.encode()] + [EOS] for text in texts]
    tok.encode_special_tokens = True  # the bug: the separator string goes through as ordinary text
    eos_text = [e.ids for e in tok.encode_batch([t + "<|endoftext|>" for t in texts], add_special_tokens=False)]
    return {
        "healthy": healthy,
        "incident": incident,
        "eos-text": eos_text,
        "duplicated": [d for d in healthy for _ in range(3)],
        "truncated": [[*d[:256], EOS] if len(d) > 257 else d for d in healthy],
    }


def _write(kind: str, folder: Path, docs) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fw.WRITERS[kind](folder, docs)


@pytest.mark.parametrize("kind", FORMATS)
def test_our_reader_yields_what_the_formats_own_reader_yields(kind, corpora, tmp_path):
    docs = corpora["healthy"]
    glob = _write(kind, tmp_path / kind, docs)
    options = ShardOptions(**fw.DECLARED.get(kind, {}))
    paths = expand_shard_paths([str(tmp_path / glob)])
    assert all(detect(p) == kind for p in paths) or kind == "raw"
    shards = [describe_shard(p, options=options) for p in paths]
    assert [problems for _, problems in shards] == [[]] * len(paths)
    ours = np.concatenate([np.asarray(s.open()[0 : s.count]) for s, _ in shards])
    assert np.array_equal(ours, np.concatenate([np.asarray(d) for d in docs]))
    theirs = fw.their_documents(kind, tmp_path / kind)
    if theirs is None:  # a flat stream: the format records no documents
        assert all(s.document_bounds() is None for s, _ in shards)
        return
    bounds = [(s, b) for s, _ in shards for b in s.document_bounds()]
    assert len(bounds) == len(theirs) == len(docs)
    assert all(np.array_equal(np.asarray(s.open()[a:b]), t) for (s, (a, b)), t in zip(bounds, theirs))


@pytest.fixture(scope="module")
def project(corpora, tmp_path_factory):
    """One project holding every format × variant, each bound by ``harness init`` and judged by one
    ``pytest`` run: {(format, variant): {builtin: status}}, and the run's output."""
    from harness.demo.pipeline import vocab_dir

    root = tmp_path_factory.mktemp("formats")
    (root / "pyproject.toml").write_text("[project]\nname = 'users-pipeline'\n")
    (root / "vocab").mkdir()
    shutil.copy(vocab_dir() / "tokenizer.json", root / "vocab" / "tokenizer.json")
    inits = {}
    for kind in FORMATS:
        for variant in VARIANTS:
            folder = root / "data" / f"{kind}-{variant}"
            glob = _write(kind, folder, corpora[variant])
            encoder = "hex_byte" if variant == "incident" else "byte_level"
            extra = [f"--{k}={v}" for k, v in fw.DECLARED.get(kind, {}).items()]
            init = fw.harness_init(root, f"{kind}-{variant}", encoder, f"data/{glob}", *extra)
            inits[(kind, variant)] = init
    # every built-in on the healthy corpora; on each broken one, the built-ins its defect must turn red
    only = " or ".join(["healthy", *(f"({variant} and {ids.replace('-', '_')})" for variant, ids in SELECT.items())])
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "2", "--durations=5", "-k", only],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
        timeout=1500,
    )
    statuses = {}
    for (kind, variant), init in inits.items():
        assert init.returncode == 0, (kind, variant, init.stdout, init.stderr)
        contract, findings = load_contract(root / "contracts" / f"{kind}-{variant}.yaml", root=root)
        assert contract is not None, findings
        statuses[(kind, variant)] = {f.test.removeprefix("builtin:"): f.status for f in contract.falsifiers}
    return root, statuses, run


@pytest.mark.parametrize("kind", FORMATS)
def test_init_recognises_the_format_and_binds_the_document_builtins(kind, project):
    root, statuses, _ = project
    text = (root / "contracts" / f"{kind}-healthy.yaml").read_text()
    assert f"format: {kind}" in text
    assert set(statuses[(kind, "healthy")]) == set(BUILTINS)


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("kind", FORMATS)
def test_the_builtins_judge_every_format(kind, variant, project):
    _, statuses, run = project
    got = statuses[(kind, variant)]
    if variant == "healthy":
        # a flat stream bound without --documents has no documents to count separators against:
        # document-boundaries can still falsify (the separator written as text), never discharge
        flat = kind in ("npy", "raw")
        wrong = {b: s for b, s in got.items() if s != ("METHODOLOGY_SUSPECT" if flat and b == "document-boundaries" else "DISCHARGED")}
    else:
        # a cap seen in the ids alone is at most METHODOLOGY_SUSPECT (chunking writes one too);
        # the documents these contracts do not declare are what would show the text lost
        expected = "METHODOLOGY_SUSPECT" if variant == "truncated" else "FALSIFIED"
        wrong = {b: got[b] for b in EXPECTED_RED[variant] if got[b] != expected}
    assert not wrong, (kind, variant, got, run.stdout[-4000:])


@pytest.mark.parametrize(
    "kind, damage, expected",
    [
        ("mds", "missing-shard", "the file is missing"),
        ("litdata", "missing-chunk", "the file is missing"),
        ("hf-datasets", "float-column", "not integer token ids"),
        ("parquet", "string-column", "not a list of token ids"),
        ("raw", "odd-size", "not a whole number of uint32"),
        ("mds", "truncated", "truncated"),
    ],
)
def test_damaged_data_is_a_finding_naming_the_file_and_the_rest_is_judged(kind, damage, expected, corpora, tmp_path):
    if not fw.available(kind):
        pytest.skip(f"{kind} writer not installed")
    docs = corpora["healthy"]
    glob = _write(kind, tmp_path / kind, docs)
    folder = tmp_path / kind
    if damage == "missing-shard":
        sorted(folder.glob("*.mds"))[-1].unlink()
    elif damage == "missing-chunk":
        sorted(folder.glob("chunk-*.bin"))[-1].unlink()
    elif damage == "truncated":
        first = sorted(folder.glob("*.mds"))[0]
        first.write_bytes(first.read_bytes()[:-1000])
    elif damage == "odd-size":
        with open(folder / "train.bin", "ab") as handle:
            handle.write(b"\x01\x02")
    elif damage in ("float-column", "string-column"):
        import datasets

        shutil.rmtree(folder)
        values = {"float-column": [[0.5, 1.5]] * 10, "string-column": ["text"] * 10}[damage]
        data = datasets.Dataset.from_dict({"input_ids": values})
        if kind == "hf-datasets":
            data.save_to_disk(str(folder))
        else:
            folder.mkdir()
            data.to_parquet(str(folder / "bad.parquet"))
        glob = f"{kind}/*"
    options = ShardOptions(**fw.DECLARED.get(kind, {}))
    shards, problems = check_shards([str(tmp_path / glob)], 151_646, options)
    assert any(expected in p and str(folder) in p for p in problems), problems
    if damage in ("missing-shard", "missing-chunk", "truncated"):
        assert shards and sum(s.count for s in shards) > 0  # the other shards are still judged
    declared = [f"--{k}={v}" for k, v in fw.DECLARED.get(kind, {}).items()]
    probe = subprocess.run(
        [sys.executable, "-m", "harness", "probe", "shards", str(tmp_path / glob), "--vocab-size", "151646", *declared],
        capture_output=True,
        text=True,
        check=False,
    )
    assert probe.returncode == 1 and "Traceback" not in probe.stderr, (probe.stdout, probe.stderr)
    assert str(folder) in probe.stdout


def _one_builtin_project(root: Path, cases: dict[str, tuple[str, str, dict]]) -> None:
    """A project with one contract per case: (builtin, shards glob, params)."""
    from harness.demo.pipeline import vocab_dir

    (root / "pyproject.toml").write_text("[project]\nname = 'p'\n")
    (root / "vocab").mkdir(exist_ok=True)
    shutil.copy(vocab_dir() / "tokenizer.json", root / "vocab" / "tokenizer.json")
    (root / "contracts").mkdir(exist_ok=True)
    for case, (builtin, glob, params) in cases.items():
        lines = [f"    {k}: {v}" for k, v in params.items()]
        (root / "contracts" / f"{case}.yaml").write_text(
            f"metadata:\n  id: {case}\n  version: 1.0.0\n  status: DRAFT\nsubjects:\n  corpus:\n    vocab: vocab/tokenizer.json\n    shards: {glob}\n"
            f"falsification_tests:\n- id: F-{case.upper()}\n  rule: r\n  test: builtin:{builtin}\n  subject: corpus\n"
            + ("  params:\n" + "\n".join(lines) + "\n" if lines else "")
        )


def test_document_builtins_judge_documents_not_packed_windows_and_name_what_they_saw(corpora, tmp_path):
    """Packed MDS samples (llm-foundry's concat_tokens: 512-id windows, EOS inside) are split at the
    separator, not judged as 512-id documents cut at a maximum; empty documents in a flat stream
    (two separators in a row) are red; the measurements say what was seen."""
    from tests.redgreen import check, run_cases

    healthy = corpora["healthy"]
    stream = np.concatenate([np.asarray(d, dtype=np.uint32) for d in healthy])
    windows = [stream[i : i + 512] for i in range(0, stream.size - 512, 512)]
    packed = tmp_path / "data" / "packed"
    if fw.available("mds"):
        _write("mds", packed, windows)
    empty = tmp_path / "data" / "empty"
    fw.write_npy(empty, [d if k % 5 else [EOS] for k, d in enumerate(healthy)])
    duplicated = tmp_path / "data" / "dup"
    fw.write_npy(duplicated, corpora["duplicated"])
    cases = {
        "empty-docs": ("document-lengths", "data/empty/*", {}),
        "dup-flat": ("duplicate-documents", "data/dup/*", {}),
    }
    if fw.available("mds"):
        cases |= {"packed-lengths": ("document-lengths", "data/packed/*", {}), "packed-dups": ("duplicate-documents", "data/packed/*", {})}
    _one_builtin_project(tmp_path, cases)
    outcomes = run_cases(tmp_path, cases)
    empty_seen = check(outcomes, "empty-docs", "FALSIFIED", "hold no id but the separator")
    assert empty_seen["empty"] == len(healthy[::5]) and empty_seen["documents"] == len(healthy)
    dup_seen = check(outcomes, "dup-flat", "FALSIFIED", "repeat an earlier one exactly")
    assert dup_seen["top_repeat"] >= 3 and dup_seen["duplicate_share"] >= 2 / 3  # the healthy corpus holds one pair of equal modules
    if fw.available("mds"):
        packed_seen = check(outcomes, "packed-lengths", "DISCHARGED")
        assert abs(packed_seen["documents"] - len(healthy)) <= 2  # a document across a shard boundary counts in each; the tail window is dropped
        check(outcomes, "packed-dups", "DISCHARGED")


@pytest.mark.parametrize("kind", [k for k in ("mds", "hf-datasets", "litdata") if fw.available(k)])
def test_split_overlap_reads_splits_in_any_format(kind, corpora, tmp_path):
    """``splits:`` name folders of any format: a validation split carved out of the training data is
    red, a held-out one green."""
    from tests.redgreen import check, run_cases

    docs = corpora["healthy"]
    train, held_out = docs[:80], docs[80:]
    _write(kind, tmp_path / "data" / "train", train)
    _write(kind, tmp_path / "data" / "val-held-out", held_out)
    _write(kind, tmp_path / "data" / "val-leaked", train[10:30])
    _one_builtin_project(tmp_path, {})
    for case in ("val-held-out", "val-leaked"):
        (tmp_path / "contracts" / f"{case}.yaml").write_text(
            f"metadata:\n  id: {case}\n  version: 1.0.0\n  status: DRAFT\nsubjects:\n  corpus:\n    vocab: vocab/tokenizer.json\n"
            f"    splits:\n      train: data/train\n      val: data/{case}\n    seq_len: 128\n"
            f"falsification_tests:\n- id: F-{case.upper()}\n  rule: r\n  test: builtin:split-overlap\n  subject: corpus\n"
        )
    outcomes = run_cases(tmp_path, ["val-held-out", "val-leaked"])
    check(outcomes, "val-held-out", "DISCHARGED")
    check(outcomes, "val-leaked", "FALSIFIED")


@pytest.mark.skipif(not fw.available("parquet"), reason="needs the [datasets] extra")
def test_a_large_parquet_row_group_is_read_in_record_batches(corpora, tmp_path, monkeypatch):
    """A writer's row group can hold 10⁸ ids; decoding it whole held several times its ids in
    pyarrow's builders per worker. The passes read it a record batch at a time, and what they
    find — counts, the position of a stray id — is what a whole read finds."""
    import datasets

    from harness.checks import columnar
    from harness.checks.entropy import _histogram_cpu
    from harness.checks.shards import range_problem

    docs = [list(d) for d in corpora["healthy"]]
    stray_doc, stray_at = len(docs) * 2 // 3, 5
    docs[stray_doc][stray_at] = 200_000  # an id past the vocabulary, deep in the group
    features = datasets.Features({"input_ids": datasets.Sequence(datasets.Value("uint32"))})
    path = tmp_path / "one-group.parquet"
    datasets.Dataset.from_dict({"input_ids": docs}, features=features).to_parquet(str(path), batch_size=len(docs))
    monkeypatch.setattr(columnar, "PIECE_IDS", 1 << 13)
    shard, problems = describe_shard(path)
    assert problems == [] and shard.view.lengths.size == 1  # one row group
    view = shard.open()
    pieces = list(view.stream_block(0))
    flat = np.concatenate([np.asarray(d, dtype=np.uint32) for d in docs])
    assert len(pieces) > 10 and max(p.size for p in pieces) < 4 * (1 << 13)
    assert np.array_equal(np.concatenate(pieces), flat) and np.array_equal(view.fetch_block(0), flat)
    assert view.worker_bytes < int(view.lengths[0]) * 8  # the budget counts a batch, not the group
    assert np.array_equal(_histogram_cpu(view, 151646, workers=2), np.bincount(np.minimum(flat, 151646), minlength=151647))
    where = sum(len(d) for d in docs[:stray_doc]) + stray_at
    assert range_problem(shard, 151646) == f"{path}: id 200000 ≥ vocab size 151646 (first at position {where})"
