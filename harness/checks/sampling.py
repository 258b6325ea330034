"""Ids drawn uniformly at random over every shard, with a recorded seed, for verdicts that a
confidence bound can give from a sample instead of every id (``harness.checks.bounds``).

Each id of the corpus is equally likely (positions are drawn over the concatenation of the shards,
with replacement, so the draws are independent — what the binomial and McDiarmid bounds assume).
Positions are sorted per shard before reading, so a memory map is read forwards and a decoded
block (a parquet row group) is decoded once however many draws fall in it."""

from __future__ import annotations


def sample_ids(shards, n: int, seed: int):
    """``n`` ids drawn uniformly with replacement over the shards' ids (an int64 array, in shard
    order), and the corpus size they were drawn from."""
    import numpy as np

    counts = np.asarray([s.count for s in shards], dtype=np.int64)
    total = int(counts.sum())
    if total == 0 or n <= 0:
        return np.zeros(0, dtype=np.int64), total
    rng = np.random.default_rng(seed)
    positions = np.sort(rng.integers(0, total, size=n, dtype=np.int64))
    edges = np.concatenate([[0], np.cumsum(counts)])
    out = []
    for k, shard in enumerate(shards):
        lo, hi = np.searchsorted(positions, [edges[k], edges[k + 1]])
        if hi > lo:
            out.append(_gather(shard.open(), positions[lo:hi] - edges[k]))
    return np.concatenate(out).astype(np.int64, copy=False), total


def _gather(ids, where):
    """``ids[where]`` for sorted ``where``: one fancy index on a memory map, block by block on a
    reader of blocks (each block read once)."""
    import numpy as np

    if isinstance(ids, np.ndarray):
        return np.asarray(ids[where]).astype(np.int64)
    blocks = np.searchsorted(ids.starts, where, side="right") - 1
    out = np.empty(where.size, dtype=np.int64)
    for b in np.unique(blocks):
        mask = blocks == b
        out[mask] = np.asarray(ids.block(int(b)))[where[mask] - ids.starts[b]]
    return out
