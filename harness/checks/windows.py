"""Hashes of id windows: how split overlap, eval coverage and vocab-id agreement find the same
run of ids in two places without keeping the ids — one 64-bit hash per window, sorted and
binary-searched."""

from __future__ import annotations


def window_hashes(rows, n: int, stride: int = 1):
    """64-bit hashes of every ``n``-id window (at ``stride``) within each row: a fixed random linear
    hash, vectorised; a window never spans two rows (rows need not be contiguous)."""
    import numpy as np

    if rows.shape[1] < n:
        return np.zeros(0, dtype=np.uint64)
    weights = np.random.default_rng(0x5EED).integers(1, 2**63, size=n, dtype=np.uint64) | np.uint64(1)
    windows = np.lib.stride_tricks.sliding_window_view(rows.astype(np.uint64), n, axis=1)[:, ::stride]
    with np.errstate(over="ignore"):
        return (windows * weights).sum(axis=-1, dtype=np.uint64).reshape(-1)


def mark_found(wanted, hashes, found) -> None:
    """Set ``found[i]`` where the sorted ``wanted[i]`` occurs among ``hashes``: a binary search per
    hash, O(n log k) — a train split of millions of windows against a few thousand val ones."""
    import numpy as np

    if not wanted.size or not hashes.size:
        return
    at = np.searchsorted(wanted, hashes)
    at[at == wanted.size] = 0
    hit = wanted[at] == hashes
    found[at[hit]] = True


def top1_counts(rows, n: int, stride: int = 1):
    """For each ``n``-id window (at ``stride``, in ``window_hashes``'s order): how many of its ids are
    its most frequent id. A window filled by one id (padding, a run of zeros from ids read at the
    wrong width) is no evidence that two splits share text."""
    import numpy as np

    if rows.shape[1] < n:
        return np.zeros(0, dtype=np.int64)
    windows = np.sort(np.lib.stride_tricks.sliding_window_view(rows, n, axis=1)[:, ::stride].reshape(-1, n), axis=1)
    count = windows.shape[0]
    if not count:
        return np.zeros(0, dtype=np.int64)
    change = np.ones((count, n + 1), dtype=bool)
    change[:, 1:n] = windows[:, 1:] != windows[:, :-1]
    row, col = np.nonzero(change)
    runs = np.where(row[1:] == row[:-1], np.diff(col), 0)
    top = np.zeros(count, dtype=np.int64)
    np.maximum.at(top, row[1:], runs)
    return top
