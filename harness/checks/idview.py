"""One token stream read from many blocks — Arrow record batches, parquet row groups, MDS or
LitData samples — as if it were one 1-D array: ``len``, ``dtype``, ``shape`` and slices, which is
all the falsifiers and the histogram ask of an ``.npy`` memory map. A slice inside one block is a
zero-copy view; one across blocks is copied, so a reader never holds more than the slice asked
for plus the blocks it was cut from. Blocks that must be decoded (parquet) are fetched lazily and
the last two kept, so a sequential reader decodes each block once.

Where the format knows documents (one Arrow row, one MDS or LitData sample), the view carries each
document's end offset in the stream, so document built-ins judge the documents the writer wrote."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator


class IdView:
    """``lengths[i]`` ids in block ``i``; ``fetch(i)`` gives them as a 1-D numpy array (a view
    where the format allows) with the block-local end offset of each document in it (None when
    the format has no documents: ``documents=False``)."""

    def __init__(
        self,
        dtype,
        lengths,
        fetch: Callable[[int], tuple[object, object]],
        documents: bool = True,
        lazy: bool = False,
        head: Callable[[int], object] | None = None,
        stream: Callable[[int], Iterator[object]] | None = None,
        worker_bytes: int | None = None,
        peek: Callable[[int, int], object] | None = None,
    ):
        import numpy as np

        self.dtype = np.dtype(dtype)
        self.lengths = np.asarray(lengths, dtype=np.int64)
        self.starts = np.concatenate([[0], np.cumsum(self.lengths)]).astype(np.int64)
        self.shape = (int(self.starts[-1]),)
        self.ndim = 1
        self.size = self.shape[0]
        self.lazy = lazy  # blocks are decoded, not mapped: read them in order
        self._fetch = fetch
        self._head = head
        self._peek = peek
        self._stream = stream
        # what one worker holds while it reads a block: the block's ids (as int64) unless the
        # reader says less (a parquet group read in record batches)
        widest = int(self.lengths.max()) if self.lengths.size else 0
        self.worker_bytes = worker_bytes if worker_bytes is not None else widest * 8
        self.has_documents = documents
        self._cache: OrderedDict[int, object] = OrderedDict()
        self._lock = threading.Lock()
        self._starts: list[int] | None = None

    def _starts_list(self) -> list[int]:
        """``starts`` as Python ints, made once: a slice across a thousand short blocks (MDS
        samples) would otherwise pay for numpy scalars at every block."""
        if self._starts is None:
            self._starts = self.starts.tolist()
        return self._starts

    def __len__(self) -> int:
        return self.shape[0]

    def head(self, n: int):
        """The first ``n`` ids, read apart where the reader can (one short ranged read of a remote
        object) so that a probe of a few ids does not fetch, and the scan fetch again, a whole block."""
        n = min(int(n), self.shape[0])
        return self._head(n) if self._head is not None else self[0:n]

    def stretch(self, start: int, n: int):
        """Ids ``start`` to ``start + n``, read apart where the reader can (one short ranged read of
        a remote object, not its whole block): a probe across a shard costs what it reads."""
        start = max(0, min(int(start), self.shape[0]))
        n = min(int(n), self.shape[0] - start)
        return self._peek(start, n) if self._peek is not None else self[start : start + n]

    def block(self, i: int):
        return self._block(i)[0]

    def blocks(self, lo: int, hi: int) -> IdView:
        """The view of blocks ``lo`` to ``hi`` alone (still lazy, nothing read): one engine task's
        share of a shard, cut at block boundaries so no block is decoded twice."""
        stream = (lambda i: self._stream(lo + i)) if self._stream is not None else None
        return IdView(
            self.dtype, self.lengths[lo:hi], lambda i: self._fetch(lo + i), self.has_documents, self.lazy, stream=stream, worker_bytes=self.worker_bytes
        )

    def window(self, start: int, stop: int) -> IdView:
        """Ids ``start`` to ``stop`` as a view of the blocks they span, the first and last clipped:
        one engine task's share of a mapped shard. Nothing is copied (a plain slice across blocks
        would concatenate them: a whole shard's copy for a task that spans it), and the block
        edges stay, so a counter cuts its chunks at them. Documents cut by the window's ends are
        not documents of it."""
        import numpy as np

        start, stop, _ = slice(start, stop).indices(self.shape[0])
        if stop <= start:
            return IdView(self.dtype, [], self._fetch, documents=False)
        first = int(np.searchsorted(self.starts, start, side="right")) - 1
        last = int(np.searchsorted(self.starts, stop, side="left"))  # blocks first .. last-1
        head = start - int(self.starts[first])  # ids of the first block before the window
        tail = int(self.starts[last]) - stop  # ids of the last block after it
        lengths = self.lengths[first:last].copy()
        lengths[0] -= head
        lengths[-1] -= tail
        count = last - first

        def fetch(i: int):
            found = self._block(first + i)
            lo = head if i == 0 else 0
            cut = tail if i == count - 1 else 0
            if not lo and not cut:  # a whole block: as the shard gives it (most of a window's blocks)
                return found
            ids, ends = found
            hi = ids.shape[0] - cut
            if ends is not None:
                ends = np.asarray(ends)
                ends = ends[(ends > lo) & (ends <= hi)] - lo
            return ids[lo:hi], ends

        return IdView(self.dtype, lengths, fetch, self.has_documents, self.lazy)

    def fetch_block(self, i: int):
        """Block ``i``'s ids, fetched afresh (no cache): for workers that each read their own."""
        return self._fetch(i)[0]

    def stream_block(self, i: int) -> Iterator[object]:
        """Block ``i``'s ids in pieces, in order (no cache): a decoded block a worker reads without
        holding it whole where the reader streams (a parquet row group, a record batch at a time),
        else the block as one piece."""
        if self._stream is not None:
            yield from self._stream(i)
        else:
            yield self.fetch_block(i)

    def _block(self, i: int):
        if not self.lazy:
            return self._fetch(i)
        with self._lock:
            if i in self._cache:
                self._cache.move_to_end(i)
                return self._cache[i]
        found = self._fetch(i)
        with self._lock:
            self._cache[i] = found
            while len(self._cache) > 2:
                self._cache.popitem(last=False)
        return found

    def __getitem__(self, key):
        import numpy as np

        if not isinstance(key, slice):
            raise TypeError("an IdView is read by slices")
        start, stop, step = key.indices(self.shape[0])
        if step != 1:
            raise TypeError("an IdView is read by contiguous slices")
        if stop <= start:
            return np.zeros(0, dtype=self.dtype)
        first = int(np.searchsorted(self.starts, start, side="right")) - 1
        starts = self._starts_list()
        pieces = []
        i, blocks = first, len(starts) - 1
        while i < blocks and starts[i] < stop:
            if starts[i + 1] > starts[i]:
                pieces.append(self.block(i)[max(start, starts[i]) - starts[i] : min(stop, starts[i + 1]) - starts[i]])
            i += 1
        if len(pieces) == 1:
            return pieces[0]
        return np.concatenate(pieces) if pieces else np.zeros(0, dtype=self.dtype)

    def __array__(self, dtype=None, copy=None):
        import numpy as np

        out = self[0 : self.shape[0]]
        return np.asarray(out, dtype=dtype) if dtype is not None else np.asarray(out)

    def document_ends(self) -> Iterator[int]:
        """The end offset in the stream of each document, in order."""
        if not self.has_documents:
            return
        for i in range(self.lengths.size):
            base = int(self.starts[i])
            for end in self._block(i)[1]:
                yield base + int(end)
