"""Whole documents in token shards, streamed: where the format records them (a Megatron document
index, an Arrow or parquet row, an MDS sample, a LitData item) those are the documents; in a
flat stream (``.npy``, raw, a sidecar ``.bin``) they are the runs ending in the separator id.

A format's samples are not always documents: a packing writer (llm-foundry's ``concat_tokens``)
writes fixed-length samples that each hold several separator-ended documents. Such samples are
recognised — most of one length, the separator inside them — and split at the separator, so a
packed window is never judged as a document cut at a maximum length.

``document_stats`` makes one pass and keeps only a 16-byte hash and a length per document."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

SPLIT_CHUNK = 1 << 22


def _separator_bounds(ids, count: int, separator: int) -> Iterator[tuple[int, int]]:
    """(start, end) of each run of ``ids`` ending in ``separator`` (the separator included), and
    the tail after the last one."""
    import numpy as np

    start = 0
    for base in range(0, count, SPLIT_CHUNK):
        chunk = np.asarray(ids[base : base + SPLIT_CHUNK])
        for pos in np.flatnonzero(chunk == separator):
            end = base + int(pos) + 1
            yield start, end
            start = end
    if start < count:
        yield start, count


def looks_packed(shard, separator: int | None, probe: int = 256) -> bool:
    """A format's samples are packed windows, not documents: most of the first ``probe`` samples
    have one length and hold the separator before their last id."""
    import numpy as np

    if separator is None:
        return False
    bounds = shard.document_bounds()
    if bounds is None:
        return False
    ids = shard.open()
    lengths, inner = [], 0
    for k, (s, e) in enumerate(bounds):
        if k >= probe:
            break
        lengths.append(e - s)
        inner += bool(e - s > 1 and (np.asarray(ids[s : e - 1]) == separator).any())
    if len(lengths) < 2:
        return False
    common = np.bincount(np.asarray(lengths)).max()
    return common >= 0.9 * len(lengths) and inner >= 0.5 * len(lengths)


def document_bounds(shard, separator: int | None) -> tuple[Iterator[tuple[int, int]], str]:
    """The shard's documents as (start, end) offsets, and where they came from."""
    recorded = shard.document_bounds()
    if recorded is not None and not looks_packed(shard, separator):
        return recorded, f"the {shard.format} format's own documents"
    if separator is None:
        raise ValueError(f"{shard.path}: a flat stream of ids has no documents without a separator id")
    why = "packed samples split at the separator" if recorded is not None else "runs ending in the separator"
    return _separator_bounds(shard.open(), shard.count, separator), f"{why} (id {separator})"


@dataclass
class DocumentStats:
    documents: int = 0
    empty: int = 0  # no id but the separator
    lengths: list = field(default_factory=list)  # per document, separator excluded
    hashes: list = field(default_factory=list)  # 16-byte digests of non-empty documents
    sources: set = field(default_factory=set)

    def length_array(self):
        import numpy as np

        return np.concatenate(self.lengths) if self.lengths else np.zeros(0, dtype=np.int64)


def document_stats(shards, separator: int | None, max_tokens: int | None = None, hash_documents: bool = True) -> tuple[DocumentStats, int]:
    """Length and hash of every document across the shards (up to ``max_tokens`` ids read), and the
    ids read. The separator is not part of a document's text: a trailing one is dropped before its
    length and hash are taken."""
    import hashlib

    import numpy as np

    stats = DocumentStats()
    read = 0
    for shard in shards:
        ids = shard.open()
        bounds, source = document_bounds(shard, separator)
        stats.sources.add(source)
        lengths = []
        for s, e in bounds:
            if max_tokens is not None and read + (e - s) > max_tokens:
                break
            read += e - s
            doc = np.asarray(ids[s:e])
            n = e - s
            if n and separator is not None and int(doc[-1]) == separator:
                n -= 1
                doc = doc[:-1]
            lengths.append(n)
            if n == 0:
                stats.empty += 1
            elif hash_documents:
                stats.hashes.append(hashlib.blake2b(np.ascontiguousarray(doc).astype("<i8", copy=False).tobytes(), digest_size=16).digest())
        stats.documents += len(lengths)
        stats.lengths.append(np.asarray(lengths, dtype=np.int64))
        if max_tokens is not None and read >= max_tokens:
            break
    return stats, read


def duplicate_summary(hashes: list[bytes]) -> tuple[int, int]:
    """(documents that repeat one seen before, the count of the most repeated one)."""
    if not hashes:
        return 0, 0
    from collections import Counter

    counts = Counter(hashes)
    return len(hashes) - len(counts), max(counts.values())
