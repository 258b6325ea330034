"""A full scan (id histogram, the entropy falsifier's pass) on Ray against the single-process
pass at the same total cores, same run, same machine; counts checked identical.

``--workers W --cores K``: the single-process pass uses W·K cores (``$HARNESS_CORES``); the Ray
engine runs W tasks at once of K cores each (``HARNESS_RAY_CPUS_PER_TASK``) on a Ray cluster of
W·K CPUs started on this machine (its start-up is reported apart: a nightly job joins a running
cluster). The corpus is ``--tokens`` uint32 ids — the stdlib's Qwen2.5 ids, tiled — in ``.npy``
shards of ``--shard`` ids, read warm from the page cache; best of ``--repeat``.

    python benchmarks/bench_ray.py [--tokens 500000000] [--workers 2 --cores 1]
    python benchmarks/bench_ray.py --tokens 2000000000 --workers 4 --cores 4   # a 16-core host
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.bench_entropy import best_of
from benchmarks.bench_sampled import corpus

VOCAB = 151_646


def main() -> None:
    from harness.checks.scan import TASK_IDS, count_shards, default_task_ids
    from harness.checks.shards import describe_shards

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=500_000_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--cores", type=int, default=1, help="cores per Ray task (and per worker)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--dir", default=None)
    args = parser.parse_args()
    total = args.workers * args.cores
    if args.dir:  # a named folder is made, as a user pointing at fast scratch space expects
        Path(args.dir).mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        paths = corpus(args.tokens, Path(tmp))
        shards, problems, _ = describe_shards([str(p) for p in paths], VOCAB)
        assert not problems, problems
        os.environ["HARNESS_CORES"] = str(total)
        local, _ = count_shards(shards, VOCAB, engine="local")
        t_local = best_of(lambda: count_shards(shards, VOCAB, engine="local"), args.repeat)
        t_whole = best_of(lambda: count_shards(shards, VOCAB, engine="local", task_ids=1 << 40), args.repeat)  # one task per shard
        t_fixed = best_of(lambda: count_shards(shards, VOCAB, engine="local", task_ids=TASK_IDS), args.repeat)  # 64 Mi ids whatever the cores

        import ray

        os.environ["HARNESS_RAY_CPUS_PER_TASK"] = str(args.cores)
        start = time.perf_counter()
        ray.init(num_cpus=total, include_dashboard=False, log_to_driver=False, configure_logging=False)
        t_start = time.perf_counter() - start
        on_ray, failed = count_shards(shards, VOCAB, engine="ray")  # warms the workers (imports, page cache)
        assert not failed and all(np.array_equal(a, b) for a, b in zip(local, on_ray)), "Ray's counts differ from the single-process pass"
        t_ray = best_of(lambda: count_shards(shards, VOCAB, engine="ray"), args.repeat)
        ray.shutdown()
    gb = args.tokens * 4 / 1e9
    print(f"{args.tokens:,} ids ({gb:.1f} GB) in {len(paths)} shards, {total} cores ({os.cpu_count()} on the machine)")
    print(
        f"single process, {total} threads: {t_local:.2f} s ({gb / t_local:.1f} GB/s) in tasks of {default_task_ids(False) >> 20} Mi ids; "
        f"in tasks of {TASK_IDS >> 20} Mi ids {t_fixed:.2f} s; one task per shard {t_whole:.2f} s"
    )
    print(
        f"Ray, {args.workers} tasks × {args.cores} cores:   {t_ray:.2f} s ({gb / t_ray:.1f} GB/s) in tasks of {default_task_ids(True) >> 20} Mi ids; cluster start-up {t_start:.1f} s"
    )
    print(f"ratio (single / Ray): {t_local / t_ray:.2f}×  (counts identical)")


if __name__ == "__main__":
    main()
