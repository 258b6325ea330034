"""Unigram statistics of token shards, streamed shard by shard with bounded memory.

Measurements: Shannon entropy (bits/token, plug-in and Miller–Madow corrected), top-1 token and
its share, unk share, out-of-vocab share, distinct tokens, max id. The histogram is the hot loop:
on CPU it runs ``np.bincount`` (or ``torch.bincount`` in a process that has torch loaded, or
before a pass long enough to repay importing it) over cache-sized chunks on every usable core; on
CUDA it runs a warp-aggregated kernel (or ``torch.bincount``) on the device. Both paths give
identical counts. Every id outside [0, V) — a stray 2^27, a uint32 above 2^31 — lands in one
out-of-vocab bin: memory is bounded by V whatever the ids, and nothing wraps.

How much data the estimate needs: the plug-in estimator reads low by about (K − 1) / (2 N ln 2)
bits for K distinct tokens over N tokens. With N ≥ 20·K the bias is under 0.04 bits; the
default ``min_tokens`` of 100,000 keeps it small for the vocabularies seen in practice.
"""

from __future__ import annotations

import math
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass

from harness.checks.parallel import DECODE_BUDGET, block_edges, block_workers, chunk_spans, usable_cores  # noqa: F401  (usable_cores: part of this module's interface)
from harness.checks.shards import CHUNK

DEFAULT_MIN_BITS = 4.0  # passes GPT-2 (6.5) and Qwen2.5 (9.9) code; refutes the incident (0.001)
DEFAULT_MIN_TOKENS = 100_000


@dataclass
class TokenStats:
    tokens: int
    distinct: int
    entropy_bits: float
    entropy_bits_mm: float  # Miller–Madow bias-corrected
    top1_id: int
    top1_share: float
    unk_share: float
    max_id: int  # the largest in-vocab id seen
    vocab_size: int
    oov_share: float = 0.0  # share of ids outside [0, vocab_size): data the model cannot embed

    def as_json(self) -> dict:
        return asdict(self)


def in_vocab_or_oov(chunk, vocab_size: int):
    """The ids of ``chunk`` as int64, every id outside [0, vocab_size) mapped to ``vocab_size`` (the
    out-of-vocab bin): memory stays bounded by the vocab whatever the ids, and no id wraps."""
    import numpy as np

    ids = np.asarray(chunk)
    if ids.dtype.kind == "u" and ids.dtype.itemsize == 8:
        ids = np.minimum(ids, vocab_size).astype(np.int64)  # before the cast: 2^63 and up would wrap
    else:
        ids = ids.astype(np.int64)
        np.minimum(ids, vocab_size, out=ids)
    if ids.size and int(ids.min()) < 0:
        ids[ids < 0] = vocab_size
    return ids


COUNT_CHUNK = 1 << 20  # ids per bincount: its intp copy (8 MiB) stays in cache


def _fold_into(chunk, vocab_size: int, buf):
    """``chunk`` as intp bincount input in ``buf``, every id outside [0, vocab_size) folded into the
    out-of-vocab bin — in one pass that is also the cast bincount would make anyway. Signed ids are
    read as unsigned of the same width, so negatives land above the vocab too."""
    import numpy as np

    arr = np.asarray(chunk)
    if arr.dtype.itemsize > 4:
        return in_vocab_or_oov(arr, vocab_size)
    if arr.dtype.kind == "i":
        arr = arr.view(f"u{arr.dtype.itemsize}")
    out = buf[: arr.shape[0]]
    if vocab_size > np.iinfo(arr.dtype).max:  # a width narrower than the vocab: no id can reach it (numpy 2 refuses the bound)
        np.copyto(out, arr, casting="unsafe")
        return out
    np.minimum(arr, vocab_size, out=out, casting="unsafe")
    return out


def _int32_view(chunk, vocab_size: int):
    """For torch: a zero-copy int32 view when every id is in the vocab (``torch.bincount`` counts
    int32 twice as fast as int64), else the ids with out-of-vocab ones folded."""
    import numpy as np

    arr = np.asarray(chunk)
    if arr.size and vocab_size <= 2**31 and int(arr.max()) < vocab_size and (arr.dtype.kind == "u" or int(arr.min()) >= 0):
        return arr.view(np.int32) if arr.dtype in (np.dtype(np.uint32), np.dtype(np.int32)) else arr.astype(np.int32)
    return in_vocab_or_oov(arr, vocab_size)


TORCH_WORTH_IDS = 1 << 30  # a pass this long saves more with torch (≈1 s per 10⁹ ids) than importing it costs


def torch_pays(ids_in_pass: int) -> bool:
    """Whether a CPU pass over ``ids_in_pass`` ids should count with ``torch.bincount``: always
    where torch is already imported; otherwise only when the pass is long enough to repay the
    import (about a second) and torch is installed. ``torch.bincount`` counts int32 ids without
    numpy's cast to intp: about 0.9 ns an id against 1.6 on one core."""
    import importlib.util
    import sys

    if "torch" in sys.modules:
        return True
    if ids_in_pass < TORCH_WORTH_IDS or importlib.util.find_spec("torch") is None:
        return False
    try:
        import torch  # noqa: F401  (imported for the pass's histograms, which look for it)
    except Exception:  # a broken torch install: numpy counts the same
        return False
    return True


def _histogram_cpu(ids, vocab_size: int, workers: int | None = None, use_torch: bool | None = None):
    """Counts of every id in [0, vocab_size) plus the out-of-vocab bin, over a 1-D array, in
    cache-sized chunks spread over every usable core (both ``torch.bincount`` and numpy's release
    the GIL). torch is used when it is already imported (or asked for): a process that has not
    paid for importing torch counts with numpy, which finishes first (``torch_pays`` imports it
    before a pass long enough to repay that)."""
    import sys

    import numpy as np

    workers = workers or usable_cores()
    bins = vocab_size + 1
    if use_torch is None:
        use_torch = "torch" in sys.modules
    torch = None
    if use_torch:
        try:
            import warnings

            import torch

            # bincount only reads: a zero-copy view of a read-only memory map is safe
            warnings.filterwarnings("ignore", message="The given NumPy array is not writable", category=UserWarning)
        except ImportError:
            torch = None
    step = CHUNK if torch is not None else COUNT_CHUNK

    def count(array, spans, into=None) -> object:
        """Counts of ``array[lo:hi]`` for every span, added to ``into`` where given."""
        if torch is not None:
            total = torch.zeros(bins, dtype=torch.int64) if into is None else torch.from_numpy(into)
            for lo, hi in spans:
                total += torch.bincount(torch.from_numpy(_int32_view(array[lo:hi], vocab_size)), minlength=bins)
            return total.numpy()
        total = np.zeros(bins, dtype=np.int64) if into is None else into
        buf = np.empty(COUNT_CHUNK, dtype=np.intp)
        for lo, hi in spans:
            total += np.bincount(_fold_into(array[lo:hi], vocab_size, buf), minlength=bins)
        return total

    if torch is not None:
        previous = torch.get_num_threads()
        torch.set_num_threads(1)  # one thread per worker: the workers are the parallelism
    try:
        if getattr(ids, "lazy", False):  # decoded blocks (parquet row groups): each worker decodes its own

            def count_pieces(pieces):
                total = np.zeros(bins, dtype=np.int64)
                for piece in pieces:
                    count(piece, chunk_spans([0, int(piece.shape[0])], step), into=total)
                return total

            return _histogram_blocks(ids, vocab_size, workers, count_block=count_pieces)
        # a mapped view of several blocks (Arrow record batches, MDS samples): long blocks are cut
        # inside (a slice across an edge would be a copy), short ones gathered into one span
        spans = chunk_spans(block_edges(ids), step)
        workers = min(workers, len(spans))
        if workers <= 1:
            return count(ids, spans)
        take = _shared_queue(spans)
        with ThreadPoolExecutor(workers) as pool:
            return sum(pool.map(lambda _: count(ids, take()), range(workers)))
    finally:
        if torch is not None:
            torch.set_num_threads(previous)


def _shared_queue(items):
    """A function giving each caller a generator that draws from one shared queue of ``items``:
    workers take the next span as they finish the last, so spans of unequal length (a block's
    tail, a short record batch) balance out. Dealt round-robin instead, one worker drew every full
    span of an Arrow file and the other every tail, and two cores counted at the speed of one."""
    lock = threading.Lock()
    queue = iter(items)

    def take():
        while True:
            with lock:
                item = next(queue, None)
            if item is None:
                return
            yield item

    return take


def _histogram_blocks(view, vocab_size: int, workers: int, count_block):
    """Counts over an ``IdView`` whose blocks are decoded (not mapped): one block per task, read in
    the pieces its reader streams, as many at once as ``DECODE_BUDGET`` allows, so memory stays
    bounded by what a worker holds reading one block (for parquet, one record batch)."""
    import numpy as np

    workers = block_workers(view, workers)
    total = np.zeros(vocab_size + 1, dtype=np.int64)
    blocks = range(view.lengths.size)
    if workers <= 1:
        for i in blocks:
            total += count_block(view.stream_block(i))
        return total
    with ThreadPoolExecutor(workers) as pool:
        pending = []
        for i in blocks:
            pending.append(pool.submit(lambda k: count_block(view.stream_block(k)), i))
            if len(pending) >= workers * 2:
                total += pending.pop(0).result()
        for future in pending:
            total += future.result()
    return total


def histogram(ids, vocab_size: int, device: str = "cpu"):
    """Counts per id as a numpy int64 array of ``vocab_size + 1`` bins, the last one counting every
    id outside the vocab; ``device='cuda'`` counts on the GPU."""
    if device.startswith("cuda"):
        return _histogram_cuda(ids, vocab_size, device)
    return _histogram_cpu(ids, vocab_size)


def _histogram_cuda(ids, vocab_size: int, device: str, chunk: int = 1 << 26, reader: str = "copy", depth: int = 2):
    """Stream ids through two pinned host buffers to the GPU and count them there; the copy of one
    chunk overlaps the count of the previous one. Ids wider than 32 bits are clipped on the host
    first (an unsafe cast could wrap one into the vocab); narrower ones out of range land in the
    out-of-vocab bin on the device. ``reader='pread'`` reads a memory-mapped shard of 4-byte ids into
    the pinned buffers with ``preadv`` on several threads instead of copying it out of the mapping
    (a page fault per page touched); it, a third buffer (``depth``) and smaller chunks are measured
    beside the default by benchmarks/bench_entropy.py and become the default when a GPU host shows
    them faster."""
    import numpy as np
    import torch

    n = int(ids.shape[0])
    bins = vocab_size + 1
    if not isinstance(ids, np.ndarray):  # an IdView: a slice across blocks is a copy, keep it small
        chunk = min(chunk, 1 << 24)
    total = torch.zeros(bins, dtype=torch.int64, device=device)
    if n == 0:
        return total.cpu().numpy()
    from harness.checks import cuda_histogram

    fast = cuda_histogram.available()
    wide = np.dtype(ids.dtype).itemsize > 4 or (np.dtype(ids.dtype).kind == "u" and np.dtype(ids.dtype).itemsize == 4 and vocab_size > 2**31)
    size = min(chunk, n)
    pool = ThreadPoolExecutor(min(16, usable_cores()))
    source = _file_range(ids) if reader == "pread" and not wide else None
    staging = [torch.empty(size, dtype=torch.int32, pin_memory=True) for _ in range(depth)]
    ready = [torch.cuda.Event() for _ in range(depth)]
    copy_stream = torch.cuda.Stream(device=device)
    try:
        for i, s in enumerate(range(0, n, size)):
            part = ids[s : s + size]
            buf = staging[i % depth]
            ready[i % depth].synchronize()  # the buffer's previous copy has finished
            if source is not None:
                _parallel_pread(buf.numpy()[: part.shape[0]], source[0], source[1] + 4 * s, pool)
            else:
                _parallel_copy(buf.numpy()[: part.shape[0]], in_vocab_or_oov(part, vocab_size) if wide else part, pool)
            with torch.cuda.stream(copy_stream):
                on_device = buf[: part.shape[0]].to(device, non_blocking=True)
                ready[i % depth].record(copy_stream)
            torch.cuda.current_stream().wait_stream(copy_stream)
            on_device.record_stream(torch.cuda.current_stream())
            if fast:
                cuda_histogram.bincount_cuda(on_device, vocab_size, out=total)
            else:
                oov = (on_device < 0) | (on_device >= vocab_size)
                total += torch.bincount(torch.where(oov, vocab_size, on_device), minlength=bins)
    finally:
        pool.shutdown()
        if source is not None:
            os.close(source[0])
    return total.cpu().numpy()


def _file_range(ids):
    """``(fd, byte offset)`` of a C-contiguous ``np.memmap`` of 4-byte ids in its file, checked by
    reading its first ids back; None for anything else (an in-memory array, a narrower dtype, a
    view with strides), which is copied out of memory instead."""
    import mmap

    import numpy as np

    handle = getattr(ids, "_mmap", None)
    name = getattr(ids, "filename", None)
    if handle is None or name is None or getattr(ids, "mode", None) != "r" or ids.size == 0:
        return None
    if ids.dtype.kind not in "iu" or ids.dtype.itemsize != 4 or not ids.dtype.isnative or not ids.flags.c_contiguous:
        return None
    try:
        base = np.frombuffer(handle, dtype=np.uint8).ctypes.data
        start = int(getattr(ids, "offset", 0))
        offset = start - start % mmap.ALLOCATIONGRANULARITY + (ids.ctypes.data - base)
        fd = os.open(name, os.O_RDONLY)
    except (OSError, TypeError, ValueError):
        return None
    probe = min(ids.size, 16) * 4
    if os.pread(fd, probe, offset) != ids[: probe // 4].tobytes():
        os.close(fd)
        return None
    return fd, offset


def _parallel_pread(dst, fd: int, offset: int, pool: ThreadPoolExecutor) -> None:
    """Fill ``dst`` (4-byte ids) from the file at ``offset`` with ``preadv`` in slices on several
    threads (the read releases the GIL); a short read is an error, never a partial count."""
    view = memoryview(dst).cast("B")
    n = len(view)
    step = max(1 << 22, -(-n // pool._max_workers))

    def one(start: int) -> None:
        piece = view[start : start + step]
        done = 0
        while done < len(piece):
            got = os.preadv(fd, [piece[done:]], offset + start + done)
            if got <= 0:
                raise OSError(f"short read at byte {offset + start + done}: the shard changed while it was read")
            done += got

    list(pool.map(one, range(0, n, step)))


def _parallel_copy(dst, src, pool: ThreadPoolExecutor) -> None:
    """``dst[:] = src`` (cast to int32) in slices on several threads: one thread's memcpy out of a
    memory-mapped shard runs at a fraction of what the pinned host→device copy takes."""
    import numpy as np

    n = int(src.shape[0])
    step = max(1 << 20, -(-n // pool._max_workers))

    def one(start: int) -> None:
        np.copyto(dst[start : start + step], src[start : start + step], casting="unsafe")

    list(pool.map(one, range(0, n, step)))


def stats_from_counts(counts, unk_id: int | None = None, oov: int = 0):
    """Statistics of in-vocab ``counts``; ``oov`` ids outside the vocab count as one more symbol
    (they are data the model is fed) and as the out-of-vocab share."""
    import numpy as np

    if oov:
        counts = np.append(counts, oov)
    total = int(counts.sum())
    if total == 0:
        raise ValueError("no tokens")
    nz = counts[counts > 0].astype(np.float64)
    p = nz / total
    entropy = float(-(p * np.log2(p)).sum()) + 0.0
    distinct = int(nz.size)
    mm = entropy + (distinct - 1) / (2 * total * math.log(2))
    top = int(counts.argmax())
    return TokenStats(
        tokens=total,
        distinct=distinct,
        entropy_bits=entropy,
        entropy_bits_mm=mm,
        top1_id=top,
        top1_share=float(counts[top]) / total,
        unk_share=(float(counts[unk_id]) / total) if unk_id is not None and unk_id < counts.size else 0.0,
        max_id=int(np.flatnonzero(counts[: counts.size - (1 if oov else 0)])[-1]) if counts[: counts.size - (1 if oov else 0)].any() else -1,
        vocab_size=int(counts.size - (1 if oov else 0)),
        oov_share=float(oov) / total,
    )
