"""How much of the machine a pass over token ids may use: the cores this process may run on, and
how many decoded blocks (parquet row groups) may be held at once."""

from __future__ import annotations

import itertools
import os

DECODE_BUDGET = 256 << 20  # bytes of decoded blocks held at once across workers


CORES_ENV = "HARNESS_CORES"  # a cap on the cores a pass uses: a shared CI runner, or a Ray task's share


def usable_cores() -> int:
    """The cores this process may run on (its affinity mask, not the machine's count), at most
    ``$HARNESS_CORES`` where that is set (the Ray engine sets it to the CPUs Ray gave a task)."""
    try:
        cores = max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        cores = max(1, os.cpu_count() or 1)
    cap = os.environ.get(CORES_ENV, "")
    return max(1, min(cores, int(cap))) if cap.isdigit() and int(cap) > 0 else cores


def block_workers(view, workers: int | None = None) -> int:
    """Workers decoding ``view``'s blocks at once: every core, as far as ``DECODE_BUDGET`` holds
    what one worker holds while it reads a block (``view.worker_bytes``: the largest block as
    int64, or less for a reader that streams a block in pieces) once per worker."""
    return max(1, min(workers or usable_cores(), view.lengths.size or 1, DECODE_BUDGET // max(1, view.worker_bytes)))


def block_edges(ids) -> list[int]:
    """Where ``ids``' blocks begin and end (an ``IdView`` of Arrow record batches or MDS samples),
    or its two ends for a plain array: what ``chunk_spans`` cuts chunks by."""
    return ids.starts.tolist() if hasattr(ids, "starts") else [0, int(ids.shape[0])]


def chunk_spans(edges: list[int], step: int) -> list[tuple[int, int]]:
    """[lo, hi) ranges of at most ``step`` ids covering ``edges[0]`` to ``edges[-1]``.

    A long block (an Arrow record batch of 10⁶ ids) is cut into spans inside it: a span across
    its edge would be a copy of up to ``step`` ids. Short blocks (one MDS or LitData sample of a
    few thousand ids) are gathered, neighbours together, into spans of up to ``step`` ids: copying
    them costs less than a count per block, which would allocate a vocabulary-sized histogram for
    every sample."""
    short = max(1, step // 16)
    spans: list[tuple[int, int]] = []
    group = None  # where the pending run of short blocks began
    for a, b in itertools.pairwise(edges):
        if b - a < short:
            if group is None:
                group = a
            elif b - group > step:
                spans.append((group, a))
                group = a
            continue
        if group is not None:
            spans.append((group, a))
            group = None
        spans.extend((lo, min(lo + step, b)) for lo in range(a, b, step))
    if group is not None:
        spans.append((group, edges[-1]))
    return [(lo, hi) for lo, hi in spans if hi > lo]
