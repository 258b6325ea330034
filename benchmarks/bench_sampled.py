"""A sampled entropy verdict against the full scan, on a corpus of ``--tokens`` ids on disk
(default 4·10⁹ uint32 = 16 GB, the stdlib's Qwen2.5 ids tiled), same run, same machine.

The sampled verdict draws ``--sample`` ids uniformly over the shards (positions sorted, gathered
from the memory maps) and judges them with the confidence bounds of ``harness.checks.bounds``; the
full scan is the entropy falsifier's histogram over every id.

    python benchmarks/bench_sampled.py [--tokens 4000000000] [--sample 100000 1000000 10000000] [--dir PATH]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

VOCAB = 151_646
EOS = 151_643
SHARD = 500_000_000  # ids per shard file (2 GB)


def corpus(tokens: int, folder: Path) -> list[Path]:
    from tokenizers import Tokenizer

    from harness.demo.corpus import stdlib_documents
    from harness.demo.pipeline import vocab_dir

    tok = Tokenizer.from_file(str(vocab_dir() / "tokenizer.json"))
    texts = [t for _, t in stdlib_documents(max_bytes=4_000_000)]
    seed = np.concatenate([np.asarray([*e.ids, EOS], dtype=np.uint32) for e in tok.encode_batch(texts, add_special_tokens=False)])
    paths = []
    for k, start in enumerate(range(0, tokens, SHARD)):
        n = min(SHARD, tokens - start)
        path = folder / f"shard-{k:03d}.npy"
        out = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint32, shape=(n,))
        for at in range(0, n, seed.size):
            out[at : at + seed.size] = seed[: n - at]
        out.flush()
        del out
        paths.append(path)
    return paths


def main() -> None:
    from harness.checks.bounds import entropy_interval
    from harness.checks.entropy import in_vocab_or_oov, stats_from_counts
    from harness.checks.passes import shard_stats
    from harness.checks.sampling import sample_ids
    from harness.checks.shards import describe_shards

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=4_000_000_000)
    parser.add_argument("--sample", type=int, nargs="+", default=[100_000, 1_000_000, 10_000_000])
    parser.add_argument("--dir", default=None)
    args = parser.parse_args()
    if args.dir:  # a named folder is made, as a user pointing at fast scratch space expects
        Path(args.dir).mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        folder = Path(tmp)
        start = time.perf_counter()
        paths = corpus(args.tokens, folder)
        size = sum(p.stat().st_size for p in paths)
        print(f"{args.tokens:,} ids, {size / 1e9:.1f} GB in {len(paths)} shards (written in {time.perf_counter() - start:.0f} s)")
        start = time.perf_counter()
        stats, _ = shard_stats([str(folder)], VOCAB)
        full = time.perf_counter() - start
        print(f"  full scan                 {full:8.2f} s  entropy {stats.entropy_bits:.3f} bits (1.00×)")
        for n in args.sample:
            start = time.perf_counter()
            shards, _, _ = describe_shards([str(folder)], VOCAB)
            ids, _ = sample_ids(shards, n, seed=0)
            counts = np.bincount(in_vocab_or_oov(ids, VOCAB), minlength=VOCAB + 1)
            sampled = stats_from_counts(counts[:VOCAB], None, oov=int(counts[VOCAB]))
            low, high = entropy_interval(sampled.entropy_bits, ids.size, VOCAB + 1, 0.001 / 3)
            took = time.perf_counter() - start
            print(f"  sampled verdict, {n:>10,} ids {took:8.3f} s  entropy in [{low:.3f}, {high:.3f}] ({full / took:,.0f}× faster)")


if __name__ == "__main__":
    main()
