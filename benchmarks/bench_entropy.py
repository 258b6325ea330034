"""Entropy histogram throughput, as ratios against a plain pass over the same ids, every
comparison warmed and alternated (``_pairs.paired``: median and spread over ≥ 5 rounds).

CPU: one thread's ``np.sum`` over N uint32 ids in memory is the baseline; against it the harness's
histogram on every usable core (numpy and torch backends) and on one thread; then whole processes:
``harness probe shards`` against a ``np.memmap(...).sum()`` process over the same shard file.
CUDA (when available), per distribution (Zipf: a few hot ids, as token streams are; the incident's
stream: 99.99% one id; uniform): ``torch.sum`` over the same resident tensor is the baseline;
``torch.bincount`` and every kernel variant (counts checked against numpy's first) as GB/s of ids
read and as a share of the card's HBM peak (memory clock × bus width). Then ids that start on the
host: an in-memory array and a memory-mapped shard (copied out of the mapping, or read with
``preadv`` into the pinned buffers; 2 or 3 buffers) against a pinned host→device copy.

    python benchmarks/bench_entropy.py [--tokens 300000000] [--vocab 151646] [--pairs 7] [--skip-cpu]
        [--cuda-distributions zipf,incident,uniform]
"""

from __future__ import annotations

import argparse

import numpy as np

# the tuned kernel's warp-merge variants (``agg`` in cuda_histogram._SOURCE_TUNED), by name
MERGES = {0: "none", 1: "all", 2: "hot", 3: "runs", 4: "registers"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=100_000_000)
    parser.add_argument("--vocab", type=int, default=151_646)
    parser.add_argument("--pairs", type=int, default=7, help="alternated rounds per CUDA comparison (at least 5)")
    parser.add_argument("--cuda-distributions", default="zipf,incident", help="comma-separated: zipf, incident, uniform")
    parser.add_argument("--skip-cpu", action="store_true", help="only the CUDA comparisons")
    parser.add_argument(
        "--distribution", choices=("zipf", "uniform"), default="zipf", help="zipf is what token streams look like (a few hot ids); uniform has no hot ids"
    )
    args = parser.parse_args()
    ids = make_ids(args.distribution, args.tokens, args.vocab)
    print(f"{args.tokens:,} uint32 ids ({ids.nbytes / 1e9:.2f} GB, {args.distribution}), vocab {args.vocab:,}")
    if not args.skip_cpu:
        cpu(ids, args.vocab, args.pairs)
        processes(ids, args.vocab, args.pairs)
    try:
        import torch
    except ImportError:
        return
    if not torch.cuda.is_available():
        print("CUDA: not available here")
        return
    for distribution in args.cuda_distributions.split(","):
        cuda_kernels(make_ids(distribution, args.tokens, args.vocab), args.vocab, distribution, args.pairs)
    cuda_from_host(ids, args.vocab, args.pairs)


def cpu(ids, vocab: int, pairs: int) -> None:
    """The harness's CPU histogram on every usable core against one thread's ``np.sum`` over the
    same ids in memory (a memory-bound pass: what counting cannot beat on one core)."""
    from _pairs import paired

    from harness.checks.entropy import _histogram_cpu, histogram, usable_cores

    cores = usable_cores()
    gb = ids.nbytes / 1e9
    times = paired(
        {
            "np.sum, one thread (baseline)": lambda: ids.sum(dtype=np.uint64),
            f"harness histogram, numpy backend, {cores} threads": lambda: _histogram_cpu(ids, vocab, use_torch=False),
            f"harness histogram, torch backend, {cores} threads": lambda: _histogram_cpu(ids, vocab, use_torch=True),
            "harness histogram, numpy backend, 1 thread": lambda: _histogram_cpu(ids, vocab, workers=1, use_torch=False),
        },
        pairs=pairs,
    )
    base = times["np.sum, one thread (baseline)"].median
    print(f"CPU ({cores} usable cores), median of {max(pairs, 5)} alternated rounds:")
    for name, timing in times.items():
        print(f"  {name:58s} {timing.describe()}  {gb / timing.median:6.2f} GB/s  {base / timing.median:5.2f}× of np.sum's rate")
    assert np.array_equal(histogram(ids, vocab), np.bincount(ids, minlength=vocab + 1))


def make_ids(distribution: str, tokens: int, vocab: int):
    """Ids as token streams look (zipf: a few hot ids), as the incident's stream looked (99.99% one
    id, the ``<unk>``, the rest spread), or with no hot ids at all (uniform)."""
    rng = np.random.default_rng(0)
    if distribution == "zipf":
        return (rng.zipf(1.2, size=tokens) % vocab).astype(np.uint32)
    if distribution == "incident":
        ids = np.full(tokens, vocab - 1, dtype=np.uint32)
        spread = rng.random(tokens) < 1e-4
        ids[spread] = rng.integers(0, vocab, size=int(spread.sum()), dtype=np.uint32)
        return ids
    return rng.integers(0, vocab, size=tokens, dtype=np.uint32)


def peak_bandwidth() -> float | None:
    """The card's HBM peak in bytes/s, from its memory clock and bus width (CUDA device
    attributes 36 and 37: double data rate × bus bytes), or None where they cannot be read."""
    try:
        import cupy

        clock_khz = cupy.cuda.runtime.deviceGetAttribute(36, 0)
        bus_bits = cupy.cuda.runtime.deviceGetAttribute(37, 0)
        return 2 * clock_khz * 1e3 * bus_bits / 8
    except Exception:
        return None


# the kernels measured side by side: (int4 loads in flight, merge, register ids), blocks per SM
VARIANTS = [((1, 3), 4), ((2, 3), 4), ((1, 4, 4), 4), ((1, 4, 8), 4), ((2, 4, 8), 4), ((1, 4, 16), 4), ((1, 4, 8), 8), ((2, 4, 8), 8)]


def cuda_kernels(ids, vocab: int, distribution: str, pairs: int) -> None:
    """Resident ids on the card: ``torch.sum`` (the read-bound baseline), ``torch.bincount`` and each
    kernel variant, warmed and alternated; each row as GB/s of ids read and as a share of the card's
    HBM peak. Every variant's counts are checked against numpy's first."""
    import torch
    from _pairs import paired

    from harness.checks import cuda_histogram

    dev = torch.device("cuda")
    resident = torch.from_numpy(ids.view(np.int32)).to(dev)
    expected = np.bincount(ids, minlength=vocab + 1)
    gb = ids.nbytes / 1e9
    peak = peak_bandwidth()
    out = torch.zeros(vocab + 1, dtype=torch.int64, device=dev)
    sides = {"torch.sum (baseline)": lambda: resident.sum(dtype=torch.int64), "torch.bincount": lambda: torch.bincount(resident, minlength=vocab)}
    if cuda_histogram.available():
        sides["harness kernel, default tuning"] = lambda: cuda_histogram.bincount_cuda(resident, vocab, out=out.zero_())
        for tuned, per_sm in VARIANTS:
            got = cuda_histogram.bincount_cuda(resident, vocab, tuned=tuned, blocks_per_sm=per_sm).cpu().numpy()
            if not np.array_equal(got, expected):
                print(f"  variant {tuned} at {per_sm} blocks/SM: COUNTS DIFFER, left out")
                continue
            name = f"kernel {MERGES[tuned[1]]}{'/' + str(tuned[2]) if len(tuned) > 2 else ''}, {tuned[0]} int4 in flight, {per_sm} blocks/SM"
            sides[name] = lambda t=tuned, b=per_sm: cuda_histogram.bincount_cuda(resident, vocab, out=out.zero_(), tuned=t, blocks_per_sm=b)
    times = paired(sides, pairs=pairs, sync=torch.cuda.synchronize)
    base = times["torch.sum (baseline)"].median
    peak_text = f"HBM peak {peak / 1e9:,.0f} GB/s" if peak else "HBM peak unknown"
    print(f"CUDA ({torch.cuda.get_device_name(0)}, {peak_text}), {ids.size:,} resident ids, {distribution}; median of {max(pairs, 5)} alternated rounds:")
    for name, timing in sorted(times.items(), key=lambda kv: kv[1].median):
        rate = gb / timing.median
        share = f"{rate * 1e9 / peak:6.1%} of peak" if peak else ""
        print(f"  {name:58s} {timing.describe()}  {rate:7.1f} GB/s {share}  {timing.median / base:5.2f}× torch.sum's time")


def cuda_from_host(ids, vocab: int, pairs: int) -> None:
    """Counting ids that start on the host: from an in-memory array and from a memory-mapped
    shard, against a pinned host→device copy of the same bytes (what any path must at least do)."""
    import tempfile
    from pathlib import Path

    import torch
    from _pairs import paired

    from harness.checks.entropy import _histogram_cuda, histogram
    from harness.checks.shards import describe_shard, write_shard

    dev = torch.device("cuda")
    gb = ids.nbytes / 1e9
    pinned = torch.from_numpy(ids.view(np.int32)).pin_memory()
    with tempfile.TemporaryDirectory() as tmp:
        mapped = describe_shard(write_shard(Path(tmp) / "s.bin", ids, vocab))[0].open()
        times = paired(
            {
                "pinned host→device copy (baseline)": lambda: pinned.to(dev, non_blocking=True),
                "histogram(device='cuda'), in-memory array": lambda: histogram(ids, vocab, device="cuda"),
                "histogram(device='cuda'), memory-mapped shard (default)": lambda: histogram(mapped, vocab, device="cuda"),
                "  mapped shard, copied out of the mapping, 2 buffers": lambda: _histogram_cuda(mapped, vocab, "cuda", reader="copy"),
                "  mapped shard, preadv into pinned buffers, 2 buffers": lambda: _histogram_cuda(mapped, vocab, "cuda", reader="pread"),
                "  mapped shard, preadv into pinned buffers, 3 buffers": lambda: _histogram_cuda(mapped, vocab, "cuda", reader="pread", depth=3),
                "  mapped shard, preadv, 3 buffers of 2^24 ids": lambda: _histogram_cuda(mapped, vocab, "cuda", reader="pread", depth=3, chunk=1 << 24),
            },
            pairs=pairs,
            sync=torch.cuda.synchronize,
        )
        assert np.array_equal(histogram(mapped, vocab, device="cuda"), histogram(ids, vocab))
    base = times["pinned host→device copy (baseline)"].median
    print(f"CUDA from the host ({ids.size:,} ids, {gb:.2f} GB; page cache warm):")
    for name, timing in times.items():
        print(f"  {name:58s} {timing.describe()}  {gb / timing.median:6.1f} GB/s  {base / timing.median:5.2f}× of the pinned copy's rate")
    print("  same counts on CPU and CUDA paths: yes")


def processes(ids, vocab: int, pairs: int) -> None:
    """Whole processes, as a user runs them: ``harness probe shards`` on a shard file against a
    Python process that memory-maps the same file and sums it with numpy (imports included)."""
    import subprocess
    import sys
    import tempfile
    from pathlib import Path

    from _pairs import paired

    from harness.checks.shards import write_shard

    with tempfile.TemporaryDirectory() as tmp:
        shard = write_shard(Path(tmp) / "s.bin", ids, vocab)
        summer = f"import numpy as np; print(int(np.memmap({str(shard)!r}, dtype=np.uint32, mode='r').sum(dtype=np.uint64)))"
        probe = [sys.executable, "-m", "harness", "probe", "shards", str(shard), "--vocab-size", str(vocab), "--json"]
        times = paired(
            {
                "python -c np.memmap(...).sum() (baseline)": lambda: subprocess.run([sys.executable, "-c", summer], check=True, capture_output=True),
                "harness probe shards --json": lambda: subprocess.run(probe, check=True, capture_output=True),
            },
            pairs=pairs,
        )
    base = times["python -c np.memmap(...).sum() (baseline)"].median
    print(f"Processes ({ids.size:,} ids in a .bin shard, page cache warm), median of {max(pairs, 5)} alternated rounds:")
    for name, timing in times.items():
        print(f"  {name:58s} {timing.describe('s')}  {base / timing.median:5.2f}× of the np.sum process's rate")


if __name__ == "__main__":
    main()
