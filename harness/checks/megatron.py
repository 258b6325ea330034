"""Megatron-style indexed datasets (``.bin`` + ``.idx``: Megatron-LM, NeMo, GPT-NeoX and the
tools built on ``megatron.core.datasets.indexed_dataset``), read from the bytes with numpy — no
Megatron install needed. The ``.idx`` holds ``MMIDIDX\\0\\0``, a version (1), the ids' dtype
code, the sequence and document counts, each sequence's length (int32) and byte offset (int64),
and the sequence index at which each document ends. ``tests/test_formats.py`` checks that this
reader yields exactly what Megatron's own ``IndexedDataset`` yields on files its
``IndexedDatasetBuilder`` wrote."""

from __future__ import annotations

import itertools
import struct
from dataclasses import dataclass
from pathlib import Path

MAGIC = b"MMIDIDX\x00\x00"
DTYPES = {1: "uint8", 2: "int8", 3: "int16", 4: "int32", 5: "int64", 8: "uint16"}  # 6, 7: floats, never token ids


class IndexError_(ValueError):
    """The ``.idx`` cannot be read as a Megatron index (names the file and what is wrong)."""


@dataclass(frozen=True)
class MegatronIndex:
    path: Path
    dtype: str
    lengths: object  # int32 per sequence
    pointers: object  # int64 byte offset per sequence
    document_ends: object  # int64: sequence index ending each document (Megatron's document_indices)

    @property
    def count(self) -> int:
        return int(self.lengths.sum())

    def sequence_starts(self):
        """Where each sequence starts in the stream training reads: the sequences in index order,
        each ``lengths[i]`` ids read from byte ``pointers[i]`` (what ``IndexedDataset`` yields)."""
        import numpy as np

        lengths = np.asarray(self.lengths, dtype=np.int64)
        return np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64) if lengths.size else np.zeros(0, dtype=np.int64)

    def runs(self) -> list[tuple[int, int]]:
        """The byte ranges training reads, as (first id's offset in the ``.bin`` in ids, id count):
        consecutive sequences whose bytes follow each other are one run. One run from offset 0 is
        the common case (Megatron's builder writes sequences back to back)."""
        import numpy as np

        itemsize = np.dtype(self.dtype).itemsize
        starts = np.asarray(self.pointers, dtype=np.int64) // itemsize
        lengths = np.asarray(self.lengths, dtype=np.int64)
        if not lengths.size:
            return []
        breaks = np.flatnonzero(starts[1:] != starts[:-1] + lengths[:-1]) + 1
        edges = np.concatenate([[0], breaks, [lengths.size]])
        csum = np.concatenate([[0], np.cumsum(lengths)])
        return [(int(starts[a]), int(csum[b] - csum[a])) for a, b in itertools.pairwise(edges) if csum[b] > csum[a]]

    def uncovered(self, file_bytes: int) -> list[tuple[int, int]]:
        """Byte ranges ``[start, end)`` of the ``.bin`` that no sequence covers: bytes training never
        reads (sequences filtered out of the index, or a ``.bin`` from another run)."""
        import numpy as np

        itemsize = np.dtype(self.dtype).itemsize
        starts = np.asarray(self.pointers, dtype=np.int64)
        ends = starts + np.asarray(self.lengths, dtype=np.int64) * itemsize
        order = np.argsort(starts, kind="stable")
        gaps, at = [], 0
        for s, e in zip(starts[order].tolist(), ends[order].tolist()):
            if s > at:
                gaps.append((at, s))
            at = max(at, e)
        if at < file_bytes:
            gaps.append((at, file_bytes))
        return gaps

    def document_bounds(self):
        """(start, end) offsets of each document in the stream training reads (``sequence_starts``),
        in order."""
        import numpy as np

        starts = self.sequence_starts()
        ends = starts + np.asarray(self.lengths, dtype=np.int64)
        docs = np.asarray(self.document_ends, dtype=np.int64)
        for first, last in itertools.pairwise(docs):
            if last > first:
                yield int(starts[first]), int(ends[last - 1])


def is_megatron_index(path: Path) -> bool:
    from harness.checks.storage import read_range

    try:
        return read_range(path, 0, len(MAGIC)) == MAGIC
    except OSError:
        return False


def read_index(path: Path) -> MegatronIndex:
    """The index at ``path``, memory-mapped; a clear ``IndexError_`` for any malformed part."""
    from harness.checks.storage import location, read_range, size_of, typed_region

    path = location(path)
    try:
        size = size_of(path)
        head = read_range(path, 0, len(MAGIC) + 8 + 1 + 8 + 8)
    except OSError as exc:
        raise IndexError_(f"{path}: cannot read ({exc.strerror or exc})") from exc
    if head[: len(MAGIC)] != MAGIC:
        raise IndexError_(f"{path}: not a Megatron index (no MMIDIDX magic)")
    if len(head) < len(MAGIC) + 25:
        raise IndexError_(f"{path}: truncated: {size} bytes, shorter than the index header")
    version, code, sequences, documents = struct.unpack("<QBQQ", head[len(MAGIC) :])
    if version != 1:
        raise IndexError_(f"{path}: index version {version}, this reader knows version 1")
    if code not in DTYPES:
        raise IndexError_(f"{path}: dtype code {code} is not an integer id dtype ({', '.join(f'{k}={v}' for k, v in DTYPES.items())})")
    offset = len(head)
    need = offset + sequences * 4 + sequences * 8 + documents * 8
    if size < need:
        raise IndexError_(f"{path}: truncated: {size} bytes, but {sequences} sequences and {documents} documents need {need}")
    lengths = typed_region(path, "<i4", offset, sequences)
    pointers = typed_region(path, "<i8", offset + sequences * 4, sequences)
    ends = typed_region(path, "<i8", offset + sequences * 12, documents)
    return MegatronIndex(path, DTYPES[code], lengths, pointers, ends)
