"""Reading token data in every format, as ratios against that format's own fastest plain pass over
the same ids, in the same run.

A corpus of real token ids (the standard library's source, encoded with the real Qwen2.5
tokenizer, EOS after each document; its documents repeated to ``--tokens`` ids) is written by each
library's own writer (``tests/format_writers.py``). Then, per format:

- baseline: a plain pass with the format's fastest reader — ``np.memmap(...).sum()`` for Megatron,
  raw and ``.npy``; a memory-mapped ``pyarrow`` read of the column, flattened and summed, for
  Arrow; ``pyarrow.parquet.read_table`` of the column, summed, for parquet; the library's own
  reader over every sample for MDS (streaming's ``MDSReader``) and LitData (``StreamingDataset``);
- the harness: ``shard_stats`` (the entropy falsifier's one pass: histogram, out-of-vocab bin,
  integrity findings) and ``check_shards`` (the integrity falsifier's pass), each format in a
  fresh process counting with numpy and in another with torch imported first (a process that has
  loaded a model, or a pass of ≥ 2^30 ids, counts with ``torch.bincount``).

The ratio is baseline time / harness time: ≥ 1 means the harness reads faster than the plain pass.

First, numpy's own ceiling on this machine: ``np.bincount`` alone over the corpus's ids, already
in memory and already cast to its own input type (intp), in 1 Mi-id chunks on every usable core —
the harness's numpy counting without any of its reading, casting or integrity work — against a
plain sum of the uint32 ids. ``bincount`` stops scaling at 2–4 threads (measured on a 16-core
host), so this ratio bounds every bincount-based counting pass from above, whatever its design.

``--documents``: the document built-ins over the Megatron corpus (``document_stats`` with hashes —
duplicate-documents — and without — document-lengths), against the entropy pass.

``--memory``: peak private memory (anonymous RSS, sampled every 5 ms in a fresh process; a memory
map's file pages are page cache the kernel reclaims, not the process's memory) of the entropy and
document passes over a corpus of ``--memory-tokens`` ids (default 1.1·10⁹ uint32 = 4.4 GB) in
Megatron and raw format.

    python benchmarks/bench_formats.py [--tokens 50000000] [--documents] [--memory]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_entropy import best_of

VOCAB = 151_646
EOS = 151_643


def corpus_documents(tokens: int) -> list[np.ndarray]:
    from tokenizers import Tokenizer

    from harness.demo.corpus import stdlib_documents
    from harness.demo.pipeline import vocab_dir

    tok = Tokenizer.from_file(str(vocab_dir() / "tokenizer.json"))
    texts = [t for _, t in stdlib_documents(max_bytes=4_000_000)]
    docs = [np.asarray([*e.ids, EOS], dtype=np.uint32) for e in tok.encode_batch(texts, add_special_tokens=False)]
    out, total, k = [], 0, 0
    while total < tokens:
        doc = docs[k % len(docs)]
        out.append(doc)
        total += doc.size
        k += 1
    return out


def write_arrow_dataset(folder: Path, docs) -> str:
    """``datasets.Dataset.save_to_disk`` from Arrow arrays (no Python lists of 10⁸ ints)."""
    import datasets
    import pyarrow as pa

    offsets = np.concatenate([[0], np.cumsum([d.size for d in docs])]).astype(np.int64)
    column = pa.LargeListArray.from_arrays(pa.array(offsets), pa.array(np.concatenate(docs)))
    datasets.Dataset(pa.table({"input_ids": column})).save_to_disk(str(folder), max_shard_size="256MB")
    return f"{folder.name}/*"


def write_parquet_dataset(folder: Path, docs) -> str:
    import datasets
    import pyarrow as pa

    folder.mkdir(parents=True, exist_ok=True)
    offsets = np.concatenate([[0], np.cumsum([d.size for d in docs])]).astype(np.int64)
    column = pa.LargeListArray.from_arrays(pa.array(offsets), pa.array(np.concatenate(docs)))
    datasets.Dataset(pa.table({"input_ids": column})).to_parquet(str(folder / "train.parquet"), batch_size=1000)
    return f"{folder.name}/*"


def baselines(kind: str, folder: Path):
    """The format's fastest plain pass: a function summing every id."""
    if kind in ("megatron", "raw"):
        path = next(folder.glob("*.bin"))
        return lambda: np.memmap(path, dtype=np.uint32 if kind == "raw" else np.int32, mode="r").sum(dtype=np.uint64)
    if kind == "npy":
        path = next(folder.glob("*.npy"))
        return lambda: np.load(path, mmap_mode="r").sum(dtype=np.uint64)
    if kind == "hf-datasets":
        import pyarrow as pa

        files = sorted(folder.glob("*.arrow"))

        def arrow():
            total = 0
            for f in files:
                table = pa.ipc.open_stream(pa.memory_map(str(f))).read_all()
                for chunk in table.column("input_ids").chunks:
                    total += int(chunk.flatten().to_numpy().sum(dtype=np.uint64))
            return total

        return arrow
    if kind == "parquet":
        import pyarrow.parquet as pq

        files = sorted(folder.glob("*.parquet"))
        return lambda: sum(int(c.flatten().to_numpy().sum(dtype=np.uint64)) for f in files for c in pq.read_table(f, columns=["input_ids"]).column(0).chunks)
    if kind == "mds":
        from tests import format_writers as fw

        _, reader = fw._streaming_writer()
        index = json.loads((folder / "index.json").read_text())

        def mds():
            total = 0
            for entry in index["shards"]:
                shard = reader.from_json(str(folder), None, entry)
                for i in range(shard.samples):
                    total += int(shard.get_item(i)["input_ids"].sum(dtype=np.uint64))
            return total

        return mds
    if kind == "litdata":
        from litdata import StreamingDataset

        def lit():
            data = StreamingDataset(str(folder))
            return sum(int(np.asarray(data[i]).sum(dtype=np.uint64)) for i in range(len(data)))

        return lit
    raise ValueError(kind)


def write(kind: str, folder: Path, docs) -> str:
    from tests import format_writers as fw

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if kind == "hf-datasets":
            return write_arrow_dataset(folder, docs)
        if kind == "parquet":
            return write_parquet_dataset(folder, docs)
        if kind == "mds":
            return fw.write_mds(folder, docs, size_limit="64mb")  # streaming's default shard size
        if kind == "litdata":
            return fw.write_litdata(folder, docs, chunk_bytes="64MB")
        return fw.WRITERS[kind](folder, docs)


def numpy_counting_ceiling(ids: np.ndarray, cores: int, repeat: int) -> tuple[float, float]:
    """(seconds of a plain sum of ``ids``, seconds of ``np.bincount`` alone over them, cast to
    intp beforehand, in 1 Mi-id chunks on ``cores`` threads): no bincount-based counting pass can
    go faster here."""
    from concurrent.futures import ThreadPoolExecutor

    chunk = 1 << 20
    as_intp = ids.astype(np.intp)
    starts = list(range(0, ids.size, chunk))

    def count(k: int) -> np.ndarray:
        total = np.zeros(VOCAB + 1, dtype=np.int64)
        for lo in starts[k::cores]:
            total += np.bincount(as_intp[lo : lo + chunk], minlength=VOCAB + 1)
        return total

    def counted() -> np.ndarray:
        with ThreadPoolExecutor(cores) as pool:
            return sum(pool.map(count, range(cores)))

    assert int(counted().sum()) == ids.size
    return best_of(lambda: ids.sum(dtype=np.uint64), repeat), best_of(counted, repeat)


def bench_formats(args, base: Path) -> None:
    """Each format written, then measured in fresh processes: one counting with numpy (torch not
    imported, as in a process that never loads it), one with torch imported first (as in a pytest
    session that loads a model, or a pass of ≥ 2^30 ids, which imports it: ``torch_pays``)."""
    import subprocess

    from harness.checks.entropy import usable_cores
    from tests import format_writers as fw

    docs = corpus_documents(args.tokens)
    n = sum(d.size for d in docs)
    print(f"corpus: {n:,} ids in {len(docs):,} documents, {usable_cores()} usable cores")
    summed, counted = numpy_counting_ceiling(np.concatenate(docs), usable_cores(), args.repeat)
    print(
        f"numpy's ceiling: np.bincount alone over these ids in memory as intp, {usable_cores()} threads, {counted:.3f} s "
        f"against a plain sum's {summed:.3f} s = {summed / counted:.2f}× (bounds every numpy-only ratio below)"
    )
    print(f"{'':<12} {'':>8} {'':>10} {'counting with numpy':^26} {'with torch':^15}")
    print(f"{'format':<12} {'write s':>8} {'baseline s':>10} {'stats s':>8} {'ratio':>6} {'integrity s':>11} {'ratio':>6} {'stats s':>8} {'ratio':>6}")
    for kind in args.formats:
        if not fw.available(kind):
            print(f"{kind:<12} (writer not installed)")
            continue
        folder = base / kind
        start = time.perf_counter()
        glob = write(kind, folder, docs)
        wrote = time.perf_counter() - start
        runs = {}
        for counting in ("numpy", "torch"):
            command = [sys.executable, __file__, "--measure-one", kind, str(base / glob), counting, str(n), "--repeat", str(args.repeat)]
            runs[counting] = json.loads(subprocess.run(command, capture_output=True, text=True, check=True).stdout.splitlines()[-1])
        base_t = min(r["baseline"] for r in runs.values())
        numpy_run, torch_run = runs["numpy"], runs["torch"]
        print(
            f"{kind:<12} {wrote:>8.1f} {base_t:>10.3f} {numpy_run['stats']:>8.3f} {base_t / numpy_run['stats']:>5.2f}× "
            f"{numpy_run['integrity']:>11.3f} {base_t / numpy_run['integrity']:>5.2f}× {torch_run['stats']:>8.3f} {base_t / torch_run['stats']:>5.2f}×"
        )


def measure_one(kind: str, glob: str, counting: str, n: int, repeat: int) -> dict:
    """One format's harness passes, then its baseline (the MDS and LitData readers import torch:
    the harness is timed first so that the numpy run counts without it)."""
    if counting == "torch":
        import torch  # noqa: F401

    from harness.checks.formats import ShardOptions
    from harness.checks.passes import check_shards, shard_stats
    from tests import format_writers as fw

    options = ShardOptions(**fw.DECLARED.get(kind, {}))
    paths = [glob]
    stats, problems = shard_stats(paths, VOCAB, options=options)
    assert stats.tokens == n and not problems, (kind, stats.tokens, problems)
    stats_t = best_of(lambda: shard_stats(paths, VOCAB, options=options), repeat)
    check_t = best_of(lambda: check_shards(paths, VOCAB, options), repeat)
    assert ("torch" in sys.modules) == (counting == "torch"), "the numpy run must count without torch"
    base_t = best_of(baselines(kind, Path(glob).parent), 1 if kind in ("mds", "litdata") else repeat)
    return {"stats": stats_t, "integrity": check_t, "baseline": base_t}


def bench_documents(args, base: Path) -> None:
    from harness.checks.documents import document_stats, duplicate_summary
    from harness.checks.passes import shard_stats
    from harness.checks.shards import describe_shards

    docs = corpus_documents(args.document_tokens)
    glob = write("megatron", base / "docs-megatron", docs)
    paths = [str(base / glob)]
    shards, _, _ = describe_shards(paths, VOCAB)
    n = sum(s.count for s in shards)
    entropy = best_of(lambda: shard_stats(paths, VOCAB), args.repeat)
    lengths = best_of(lambda: document_stats(shards, EOS, hash_documents=False), args.repeat)
    hashed = best_of(lambda: duplicate_summary(document_stats(shards, EOS)[0].hashes), args.repeat)
    print(f"document built-ins over {n:,} ids in {len(docs):,} Megatron documents:")
    print(f"  entropy pass (baseline)          {entropy:7.3f} s  1.00×")
    print(f"  document-lengths pass            {lengths:7.3f} s  {lengths / entropy:.2f}× the entropy pass")
    print(f"  duplicate-documents pass (hash)  {hashed:7.3f} s  {hashed / entropy:.2f}× the entropy pass")


MEASURE = """
import sys, threading, time
from pathlib import Path
sys.path.insert(0, {repo!r})

def anon():
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) * 1024
    return 0

peak = [anon()]
done = threading.Event()

def sample():
    while not done.is_set():
        peak[0] = max(peak[0], anon())
        time.sleep(0.005)

from harness.checks.documents import document_stats
from harness.checks.passes import shard_stats
from harness.checks.formats import ShardOptions
from harness.checks.shards import describe_shards
before = anon()
threading.Thread(target=sample, daemon=True).start()
start = time.perf_counter()
{code}
seconds = time.perf_counter() - start
done.set()
print(seconds, before, peak[0])
"""


def peak_private_memory(code: str) -> tuple[float, int, int]:
    """(seconds, anonymous RSS before, peak anonymous RSS) of ``code`` run in a fresh Python that
    imports only the harness's readers, sampled from /proc every 5 ms."""
    import subprocess

    repo = str(Path(__file__).resolve().parent.parent)
    out = subprocess.run([sys.executable, "-c", MEASURE.format(repo=repo, code=code)], capture_output=True, text=True, check=True).stdout.split()
    return float(out[0]), int(out[1]), int(out[2])


def bench_memory(args, base: Path) -> None:
    """A corpus of ≥ 4 GB: Megatron (written by its builder, 1 Mi-id documents) and raw."""
    import torch
    from megatron.core.datasets.indexed_dataset import IndexedDatasetBuilder

    seed = np.concatenate(corpus_documents(2_000_000)).astype(np.int32)
    n = args.memory_tokens
    doc = 1 << 20
    prefix = base / "big" / "corpus_text_document"
    prefix.parent.mkdir(parents=True)
    builder = IndexedDatasetBuilder(f"{prefix}.bin", dtype=np.int32)
    written = 0
    while written < n:
        start = written % (seed.size - doc)
        builder.add_document(torch.from_numpy(seed[start : start + doc]), [doc])
        written += doc
    builder.finalize(f"{prefix}.idx")
    raw = base / "big" / "train.raw"
    np.memmap(f"{prefix}.bin", dtype=np.int32, mode="r").view(np.uint32).tofile(raw)
    size = raw.stat().st_size
    print(f"memory: {written:,} ids, {size / 1e9:.1f} GB per copy; each pass in a fresh process (numpy + the harness)")
    bin_ = f"{prefix}.bin"
    runs = [
        ("entropy pass, Megatron", f"shard_stats([{bin_!r}], {VOCAB})"),
        ("entropy pass, raw", f"shard_stats([{str(raw)!r}], {VOCAB}, options=ShardOptions('raw', 'uint32'))"),
        ("document-lengths, Megatron", f"document_stats(describe_shards([{bin_!r}], {VOCAB})[0], {EOS}, hash_documents=False)"),
        ("duplicate-documents, Megatron", f"document_stats(describe_shards([{bin_!r}], {VOCAB})[0], {EOS})"),
    ]
    for name, code in runs:
        seconds, before, peak = peak_private_memory(code)
        print(f"  {name:<32} {seconds:6.2f} s  peak anonymous RSS {peak / 2**20:5.0f} MiB (at start {before / 2**20:.0f} MiB)")


def main() -> None:
    from tests import format_writers as fw

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=50_000_000)
    parser.add_argument("--formats", nargs="+", default=list(fw.WRITERS))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--documents", action="store_true", help="the document built-ins against the entropy pass")
    parser.add_argument("--document-tokens", type=int, default=100_000_000)
    parser.add_argument("--memory", action="store_true", help="peak memory over a ≥ 4 GB corpus")
    parser.add_argument("--memory-tokens", type=int, default=1_100_000_000)
    parser.add_argument("--skip-formats", action="store_true")
    parser.add_argument("--dir", default=None, help="where to write the corpora (default: a temporary folder)")
    parser.add_argument("--measure-one", nargs=4, metavar=("KIND", "GLOB", "COUNTING", "IDS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure_one:
        kind, glob, counting, n = args.measure_one
        print(json.dumps(measure_one(kind, glob, counting, int(n), args.repeat)))
        return
    if args.dir:  # a named folder is made, as a user pointing at fast scratch space expects
        Path(args.dir).mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        base = Path(tmp)
        if not args.skip_formats:
            bench_formats(args, base)
        if args.documents:
            bench_documents(args, base)
        if args.memory:
            bench_memory(args, base)


if __name__ == "__main__":
    main()
