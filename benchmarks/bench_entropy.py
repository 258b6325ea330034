"""Entropy histogram throughput, as ratios against a plain sum over the same resident ids.

CPU: ``np.sum`` streaming over N uint32 ids in memory is the baseline (1.00×); we report the
harness's histogram (chunked ``torch.bincount`` on both cores), chunked and whole-array
``np.bincount``. CUDA (when available): ``torch.sum`` over the same resident tensor is the
baseline; we report ``torch.bincount`` on device, and the harness's CUDA path including the
host→device copy. Ids follow a Zipf law, as real token streams do.

    python benchmarks/bench_entropy.py [--tokens 100000000] [--vocab 151646]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

# the tuned kernel's warp-merge variants (``agg`` in cuda_histogram._SOURCE_TUNED), by name
MERGES = {0: "none", 1: "all", 2: "hot", 3: "runs"}


def best_of(fn, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    from harness.checks.entropy import histogram

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=100_000_000)
    parser.add_argument("--vocab", type=int, default=151_646)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--distribution", choices=("zipf", "uniform"), default="zipf", help="zipf is what token streams look like (a few hot ids); uniform has no hot ids"
    )
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    if args.distribution == "zipf":
        ids = (rng.zipf(1.2, size=args.tokens) % args.vocab).astype(np.uint32)
    else:
        ids = rng.integers(0, args.vocab, size=args.tokens, dtype=np.uint32)
    gb = ids.nbytes / 1e9
    print(f"{args.tokens:,} uint32 ids ({gb:.2f} GB, {args.distribution}), vocab {args.vocab:,}")
    from harness.checks.entropy import _histogram_cpu, usable_cores

    cores = usable_cores()
    base = best_of(lambda: ids.sum(dtype=np.uint64), args.repeat)
    rows = [("np.sum, one thread (baseline)", base)]
    rows.append((f"harness histogram, numpy backend, {cores} threads", best_of(lambda: _histogram_cpu(ids, args.vocab, use_torch=False), args.repeat)))
    rows.append((f"harness histogram, torch backend, {cores} threads", best_of(lambda: _histogram_cpu(ids, args.vocab, use_torch=True), args.repeat)))
    rows.append(("harness histogram, numpy backend, 1 thread", best_of(lambda: _histogram_cpu(ids, args.vocab, workers=1, use_torch=False), args.repeat)))
    rows.append(("np.bincount, whole array", best_of(lambda: np.bincount(ids, minlength=args.vocab), 1)))
    print(f"CPU ({cores} usable cores):")
    for name, t in rows:
        print(f"  {name:60s} {t * 1e3:9.1f} ms  {gb / t:6.2f} GB/s  {base / t:5.2f}× of np.sum")
    assert np.array_equal(histogram(ids, args.vocab), np.bincount(ids, minlength=args.vocab + 1))
    processes(ids, args.vocab)
    try:
        import torch
    except ImportError:
        return
    if not torch.cuda.is_available():
        print("CUDA: not available here")
        return
    dev = torch.device("cuda")
    resident = torch.from_numpy(ids.view(np.int32)).to(dev)

    def timed(fn):
        fn()
        torch.cuda.synchronize()
        best = float("inf")
        for _ in range(max(args.repeat, 5)):
            torch.cuda.synchronize()
            start = time.perf_counter()
            fn()
            torch.cuda.synchronize()
            best = min(best, time.perf_counter() - start)
        return best

    tsum = timed(lambda: resident.sum(dtype=torch.int64))
    tbin = timed(lambda: torch.bincount(resident, minlength=args.vocab))
    from harness.checks import cuda_histogram

    tpath = timed(lambda: histogram(ids, args.vocab, device="cuda"))
    tkern = None
    if cuda_histogram.available():
        out = torch.zeros(args.vocab + 1, dtype=torch.int64, device=dev)
        tkern = timed(lambda: cuda_histogram.bincount_cuda(resident, args.vocab, out=out.zero_()))
        scalar = {}
        for per_sm in (2, 4, 8, 16):  # one id per load: what unaligned data gets
            scalar[per_sm] = timed(lambda b=per_sm: cuda_histogram.bincount_cuda(resident, args.vocab, out=out.zero_(), vector=False, blocks_per_sm=b))
            got = cuda_histogram.bincount_cuda(resident, args.vocab, vector=False, blocks_per_sm=per_sm).cpu().numpy()
            assert np.array_equal(got, np.bincount(ids, minlength=args.vocab + 1)), f"scalar kernel at {per_sm} blocks/SM counts differ"
        for per_sm, t in sorted(scalar.items(), key=lambda kv: kv[1]):
            print(f"  scalar kernel (int loads, warp-merged), {per_sm:2d} blocks/SM   {t * 1e3:8.2f} ms  {tsum / t:5.2f}× of torch.sum")
        tuned = {}
        for quads in (1, 2, 4):
            for agg in MERGES:
                for per_sm in (2, 4, 8):

                    def go(q=quads, a=agg, b=per_sm):
                        return cuda_histogram.bincount_cuda(resident, args.vocab, out=out.zero_(), vector=True, blocks_per_sm=b, tuned=(q, a))

                    tuned[(quads, agg, per_sm)] = timed(go)
                    got = cuda_histogram.bincount_cuda(resident, args.vocab, vector=True, blocks_per_sm=per_sm, tuned=(quads, agg)).cpu().numpy()
                    assert np.array_equal(got, np.bincount(ids, minlength=args.vocab + 1)), f"tuned variant {quads, agg, per_sm} counts differ"
        for (quads, agg, per_sm), t in sorted(tuned.items(), key=lambda kv: kv[1])[:8]:
            print(f"  tuned: {quads} int4 loads in flight, merge={MERGES[agg]}, {per_sm} blocks/SM   {t * 1e3:8.2f} ms  {tsum / t:5.2f}× of torch.sum")
        check = cuda_histogram.bincount_cuda(resident, args.vocab).cpu().numpy()
        assert np.array_equal(check, np.bincount(ids, minlength=args.vocab + 1)), "kernel counts differ"
    print(f"CUDA ({torch.cuda.get_device_name(0)}):")
    rows = [("torch.sum, resident (baseline)", tsum), ("torch.bincount, resident", tbin)]
    if tkern is not None:
        rows.append(("harness kernel (default tuning), resident", tkern))
    rows.append(("harness histogram(device='cuda'), incl. host→device", tpath))
    pinned = torch.from_numpy(ids.view(np.int32)).pin_memory()
    th2d = timed(lambda: pinned.to(dev, non_blocking=True))
    import tempfile
    from pathlib import Path

    from harness.checks.shards import describe_shard, write_shard

    with tempfile.TemporaryDirectory() as tmp:
        shard = describe_shard(write_shard(Path(tmp) / "s.bin", ids, args.vocab))[0]
        mapped = shard.open()
        tfile = timed(lambda: histogram(mapped, args.vocab, device="cuda"))
    print(f"  pinned host→device copy of the same ids: {th2d * 1e3:.1f} ms ({gb / th2d:.1f} GB/s)")
    print(
        f"  harness histogram(device='cuda') from a memory-mapped shard: {tfile * 1e3:.1f} ms ({gb / tfile:.1f} GB/s, {th2d / tfile:.2f}× of the pinned copy)"
    )
    for name, t in rows:
        print(f"  {name:60s} {t * 1e3:9.2f} ms  {gb / t:6.1f} GB/s  {tsum / t:5.2f}× of torch.sum")
    assert np.array_equal(histogram(ids, args.vocab, device="cuda"), histogram(ids, args.vocab))
    print("  same counts on CPU and CUDA paths: yes")


def processes(ids, vocab: int) -> None:
    """Whole processes, as a user runs them: ``harness probe shards`` on a shard file against a
    Python process that memory-maps the same file and sums it with numpy (imports included)."""
    import subprocess
    import sys
    import tempfile
    from pathlib import Path

    from harness.checks.shards import write_shard

    with tempfile.TemporaryDirectory() as tmp:
        shard = write_shard(Path(tmp) / "s.bin", ids, vocab)
        summer = f"import numpy as np; print(int(np.memmap({str(shard)!r}, dtype=np.uint32, mode='r').sum(dtype=np.uint64)))"

        def run(cmd):
            start = time.perf_counter()
            subprocess.run(cmd, check=True, capture_output=True)
            return time.perf_counter() - start

        run([sys.executable, "-c", summer])  # page cache warm for both
        base = min(run([sys.executable, "-c", summer]) for _ in range(3))
        probe = min(run([sys.executable, "-m", "harness", "probe", "shards", str(shard), "--vocab-size", str(vocab), "--json"]) for _ in range(3))
        print(f"Processes ({ids.size:,} ids in a .bin shard, page cache warm):")
        print(f"  {'python -c np.memmap(...).sum() (baseline)':60s} {base:9.2f} s")
        print(f"  {'harness probe shards --json':60s} {probe:9.2f} s  {base / probe:5.2f}× of the np.sum process")


if __name__ == "__main__":
    main()
