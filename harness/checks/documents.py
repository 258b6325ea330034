"""Whole documents in token shards, streamed: where the format records them (a Megatron document
index, an Arrow or parquet row, an MDS sample, a LitData item) those are the documents; in a
flat stream (``.npy``, raw, a sidecar ``.bin``) they are the runs ending in the separator id.

A format's samples are not always documents: a packing writer (llm-foundry's ``concat_tokens``)
writes fixed-length samples that each hold several separator-ended documents. Such samples are
recognised — most of one length, the separator inside them — and split at the separator, so a
packed window is never judged as a document cut at a maximum length.

``document_stats`` makes one pass and keeps only a 16-byte hash and a length per document."""

from __future__ import annotations

from dataclasses import dataclass, field

SPLIT_CHUNK = 1 << 22


def _separator_bounds(ids, count: int, separator: int):
    """(starts, ends) of each run of ``ids`` ending in ``separator`` (the separator included), and
    the tail after the last one, as int64 arrays (one pass, chunk by chunk)."""
    import numpy as np

    ends = [np.flatnonzero(np.asarray(ids[base : base + SPLIT_CHUNK]) == separator) + base + 1 for base in range(0, count, SPLIT_CHUNK)]
    ends = np.concatenate(ends) if ends else np.zeros(0, dtype=np.int64)
    if not ends.size or ends[-1] < count:
        ends = np.append(ends, count)
    ends = ends.astype(np.int64)
    return np.concatenate([[0], ends[:-1]]).astype(np.int64), ends


def _recorded_bounds(shard):
    """(starts, ends) arrays of the documents the format records: Megatron's index read whole
    (vectorised), else the reader's document ends."""
    import numpy as np

    if shard.index is not None:
        index = shard.index
        starts = index.sequence_starts()  # in the stream training reads, not the .bin's bytes
        ends = starts + np.asarray(index.lengths, dtype=np.int64)
        docs = np.asarray(index.document_ends, dtype=np.int64)
        first, last = docs[:-1], docs[1:]
        keep = last > first
        return starts[first[keep]], ends[last[keep] - 1]
    ends = np.fromiter(shard.view.document_ends(), dtype=np.int64)
    return np.concatenate([[0], ends[:-1]]).astype(np.int64), ends


def looks_packed(shard, separator: int | None, probe: int = 256) -> bool:
    """A format's samples are packed windows, not documents: nine in ten of the first ``probe``
    samples have one length, and the separator occurs inside some of them (a document holds its
    separator only at its end; a window cuts documents anywhere)."""
    import numpy as np

    if separator is None or shard.document_bounds() is None:
        return False
    ids = shard.open()
    lengths, inner = [], 0
    for k, (s, e) in enumerate(shard.document_bounds()):
        if k >= probe:
            break
        lengths.append(e - s)
        inner += bool(e - s > 1 and (np.asarray(ids[s : e - 1]) == separator).any())
    if len(lengths) < 2:
        return False
    common = np.bincount(np.asarray(lengths)).max()
    return common >= 0.9 * len(lengths) and inner > 0


def document_bounds(shard, separator: int | None):
    """The shard's documents as (starts, ends) int64 arrays, and where they came from."""
    if shard.document_bounds() is not None and not looks_packed(shard, separator):
        return _recorded_bounds(shard), f"the {shard.format} format's own documents"
    if separator is None:
        raise ValueError(f"{shard.path}: a flat stream of ids has no documents without a separator id")
    why = "packed samples split at the separator" if shard.document_bounds() is not None else "runs ending in the separator"
    return _separator_bounds(shard.open(), shard.count, separator), f"{why} (id {separator})"


@dataclass
class DocumentStats:
    documents: int = 0
    empty: int = 0  # no id but the separator
    lengths: list = field(default_factory=list)  # per document, separator excluded
    hashes: list = field(default_factory=list)  # 16-byte digests of non-empty documents
    sources: set = field(default_factory=set)
    untold: list = field(default_factory=list)  # shards of a flat stream holding no separator: one run, not documents

    def length_array(self):
        import numpy as np

        return np.concatenate(self.lengths) if self.lengths else np.zeros(0, dtype=np.int64)


def document_stats(
    shards,
    separator: int | None,
    max_tokens: int | None = None,
    hash_documents: bool = True,
    engine: str | None = None,
    address: str | None = None,
    progress=None,
) -> tuple[DocumentStats, int]:
    """Length and hash of every document across the shards (up to ``max_tokens`` ids read), and the
    ids read. The separator is not part of a document's text: a trailing one is dropped before its
    length and hash are taken. Lengths come from the bounds alone (vectorised); a hash reads the
    document's bytes in place (a memory-map view, no copy), seeded with their dtype.

    On an engine other than ``local`` (``harness.engines``) each shard is one task — a document
    never spans shards — and the results merge exactly; a budget (``max_tokens``) reads shards in
    order, so it always runs here. A shard that fails to read is an ``ArtifactError`` naming it:
    the documents of part of a corpus are never judged as the whole."""
    from harness.checks import ArtifactError
    from harness.checks.scan import IdRange, failure
    from harness.engines import resolve, run_tasks

    stats = DocumentStats()
    read = 0
    if progress is not None:
        progress.start(sum(s.count for s in shards))
    if max_tokens is not None or resolve(engine, address)[0] == "local":
        for shard in shards:
            found = shard_documents(shard, separator, hash_documents, None if max_tokens is None else max_tokens - read)
            read += _merge(stats, found)
            if progress is not None:
                progress.advance(shard.count)
            if max_tokens is not None and read >= max_tokens:
                break
        return stats, read
    tasks = [IdRange(k, str(s.path), s.options, 0, s.count, s.count) for k, s in enumerate(shards)]
    results, failures = {}, []
    for task, found in run_tasks(documents_of, tasks, (separator, hash_documents), engine, address):
        if isinstance(found, BaseException):
            failures.append(failure(task, found))
        else:
            results[task.shard] = found
        if progress is not None:
            progress.advance(task.ids)
    if failures:
        raise ArtifactError("; ".join(failures[:5]))
    for k in sorted(results):
        read += _merge(stats, results[k])
    return stats, read


@dataclass
class ShardDocuments:
    """One shard's documents: what ``document_stats`` merges (small: a length and a 16-byte hash each)."""

    lengths: object
    hashes: list
    source: str
    read: int
    untold: str | None = None  # the shard, when its documents cannot be told apart (a flat stream without a separator)


def shard_documents(shard, separator: int | None, hash_documents: bool = True, budget: int | None = None) -> ShardDocuments:
    """The lengths (and hashes) of one shard's documents, the first ``budget`` ids' worth at most."""
    import numpy as np

    ids = shard.open()
    (starts, ends), source = document_bounds(shard, separator)
    untold = None
    if source.startswith("runs ending") and ends.size <= 1 and shard.count and int(np.asarray(ids[shard.count - 1 : shard.count])[0]) != separator:
        untold = str(shard.path)  # no separator anywhere: the shard is one run of ids, not a document
    if budget is not None:
        keep = np.cumsum(ends - starts) <= budget
        starts, ends = starts[keep], ends[keep]
    lengths = ends - starts
    read = int(lengths.sum())
    if separator is not None and ends.size:
        lengths = lengths - (_last_ids(ids, ends, lengths) == separator)
    hashes = _hash_documents(ids, starts, lengths, np.dtype(shard.dtype).str) if hash_documents else []
    return ShardDocuments(lengths.astype(np.int64), hashes, source, read, untold)


def documents_of(task, separator: int | None, hash_documents: bool) -> ShardDocuments:
    """An engine task: the documents of the shard it names, re-opened where it runs."""
    from harness.checks.scan import reopen

    return shard_documents(reopen(task), separator, hash_documents)


def _merge(stats: DocumentStats, found: ShardDocuments) -> int:
    stats.sources.add(found.source)
    if found.untold is not None:
        stats.untold.append(found.untold)
    stats.documents += int(found.lengths.size)
    stats.empty += int((found.lengths == 0).sum())
    stats.lengths.append(found.lengths)
    stats.hashes.extend(found.hashes)
    return found.read


def _hash_documents(ids, starts, lengths, tag: str) -> list[bytes]:
    """A 128-bit digest of each non-empty document's bytes, read in place, seeded by their dtype
    (equal ids stored at another width are another document): xxHash's XXH3-128 (14 GB/s on one
    core), BLAKE2b where the ``xxhash`` wheel is missing. On a memory map the documents are slices
    of one byte view (no array object per document), so the pass costs the hashing and little
    else. 128 bits: a collision among 10⁹ documents has odds ~10⁻²¹."""
    import numpy as np

    try:
        import xxhash

        seed = int.from_bytes(tag.encode()[:8].ljust(8, b"\0"), "little")

        def digest(data):
            return xxhash.xxh3_128_digest(data, seed=seed)
    except ImportError:
        import hashlib

        person = tag.encode()[:16]

        def digest(data):
            return hashlib.blake2b(data, digest_size=16, person=person).digest()

    spans = [(s, n) for s, n in zip(starts.tolist(), lengths.tolist()) if n]
    if isinstance(ids, np.ndarray) and ids.flags.c_contiguous:
        item = ids.dtype.itemsize
        raw = memoryview(ids).cast("B")
        return [digest(raw[s * item : (s + n) * item]) for s, n in spans]
    return [digest(memoryview(np.ascontiguousarray(ids[s : s + n])).cast("B")) for s, n in spans]


def _last_ids(ids, ends, lengths):
    """The last id of each document (-1 for an empty one): gathered in one fancy index from a
    memory map, one slice per document from a reader of blocks."""
    import numpy as np

    if isinstance(ids, np.ndarray):
        return np.where(lengths > 0, ids[np.maximum(ends - 1, 0)].astype(np.int64), -1)
    return np.asarray([int(ids[e - 1 : e][0]) if n else -1 for e, n in zip(ends.tolist(), lengths.tolist())], dtype=np.int64)


def duplicate_summary(hashes: list[bytes]) -> tuple[int, int]:
    """(documents that repeat one seen before, the count of the most repeated one)."""
    if not hashes:
        return 0, 0
    from collections import Counter

    counts = Counter(hashes)
    return len(hashes) - len(counts), max(counts.values())
