"""Benchmark contamination, judged on the token ids a model trains on: is any item of the
benchmarks a team reports on inside its training shards?

The benchmark's items are encoded with the subject's own tokenizer and cut into ``n``-grams of a
*canonical* id view: each vocabulary id maps to its decoded text, NFKC-normalised, stripped of
whitespace and lower-cased; ids that decode to whitespace alone are dropped. Two spellings of the
same text that differ in indentation, line endings, runs of spaces or casing map to the same
canonical sequence wherever the tokenizer cut them alike — and an item copied into a larger file
keeps its interior n-grams whatever BPE merged across its edges (n-grams touching the item's first
or last canonical token are not indexed). The shards are streamed past the index: a rolling hash of
every canonical ``n``-gram, a bitmap that lets almost none through, and a binary search for the
few that pass. Memory is the index's, never the corpus's.

Frequency-aware: an n-gram that occurs in more than ``stop_items`` items of the benchmarks is a
stock phrase of the benchmark (``from typing import List``) and is not indexed; an item counts as
found only when ``min_hits`` of its distinct n-grams *and* ``min_share`` of them occur in the
corpus — a licence header or ``if __name__ == "__main__":`` shares a few n-grams with many items
and all of none.
"""

from __future__ import annotations

import gzip
import json
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.checks import ArtifactError

PRIME = 0x9E3779B97F4A7C15  # the rolling hash's multiplier (odd: a bijection mod 2⁶⁴)
BITMAP_BITS = 22  # the prefilter: at least 4 Mi flags indexed by a hash's top bits


def bitmap_bits(grams: int) -> int:
    """Flags enough that about one in 32 is set (a corpus n-gram passes the prefilter that rarely),
    between 4 Mi and 64 Mi (64 MiB): HumanEval's 23k n-grams set 0.5% of 4 Mi."""
    return min(26, max(BITMAP_BITS, (max(grams, 1) * 32 - 1).bit_length()))


ID_KEYS = ("task_id", "id", "_id", "question_id", "problem_id", "uid")


@dataclass(frozen=True)
class BenchmarkSource:
    """A benchmark as a contract declares it: a local file or folder and the fields that make one
    item's text (joined in order)."""

    path: str
    fields: tuple[str, ...] = ()
    name: str = ""

    @property
    def label(self) -> str:
        return self.name or Path(self.path).name.split(".")[0]


def parse_benchmark(spec: Any) -> BenchmarkSource:
    """``"path"``, ``"path:field+field"`` or a mapping ``{path, fields, name}``."""
    if isinstance(spec, dict):
        fields = spec.get("fields") or ()
        fields = tuple(fields.split("+")) if isinstance(fields, str) else tuple(fields)
        if not isinstance(spec.get("path"), str) or not all(isinstance(f, str) for f in fields):
            raise ArtifactError(f"benchmark {spec!r}: needs a path (a string) and fields (names)")
        return BenchmarkSource(spec["path"], fields, str(spec.get("name") or ""))
    if not isinstance(spec, str) or not spec:
        raise ArtifactError(f"benchmark {spec!r}: a path, 'path:field+field', or a mapping with path and fields")
    path, _, fields = spec.rpartition(":") if ":" in spec and not spec.rpartition(":")[2].startswith(("/", "\\")) else (spec, "", "")
    return BenchmarkSource(path or spec, tuple(f for f in fields.split("+") if f), "")


def _records(path: Path):
    """(line or row number, record) of a JSONL (``.gz`` too), JSON list, parquet file, or a
    ``datasets.save_to_disk`` folder (its Arrow files, read with pyarrow)."""
    name = path.name
    if path.is_dir():
        arrows = sorted(path.glob("*.arrow"))
        if not arrows:
            raise ArtifactError(f"{path}: a folder benchmark is a datasets.save_to_disk folder; it holds no .arrow file")
        import pyarrow as pa

        n = 0
        for arrow in arrows:
            with pa.memory_map(str(arrow)) as source:
                try:
                    table = pa.ipc.open_stream(source).read_all()
                except pa.ArrowInvalid:
                    table = pa.ipc.open_file(source).read_all()
            for row in table.to_pylist():
                n += 1
                yield n, row
        return
    if name.endswith(".parquet"):
        import pyarrow.parquet as pq

        for n, row in enumerate(pq.read_table(str(path)).to_pylist(), 1):
            yield n, row
        return
    opener = gzip.open if name.endswith(".gz") else open
    try:
        with opener(path, "rt", encoding="utf-8") as handle:
            if name.endswith((".json", ".json.gz")):
                data = json.load(handle)
                if not isinstance(data, list):
                    raise ArtifactError(f"{path}: a .json benchmark is a list of records")
                yield from enumerate(data, 1)
                return
            for n, line in enumerate(handle, 1):
                if line.strip():
                    try:
                        yield n, json.loads(line)
                    except json.JSONDecodeError as exc:
                        raise ArtifactError(f"{path}:{n}: not a JSON record ({exc.msg})") from None
    except (OSError, UnicodeDecodeError, EOFError) as exc:
        raise ArtifactError(f"{path}: unreadable benchmark ({exc})") from None
    except json.JSONDecodeError as exc:
        raise ArtifactError(f"{path}:{exc.lineno}: invalid JSON ({exc.msg})") from None


def read_items(source: BenchmarkSource, root: Path) -> list[tuple[str, str]]:
    """(item id, text) of every record: the declared fields joined (all string fields when none
    are declared). A record lacking a declared field is named with its line."""
    path = Path(source.path)
    path = path if path.is_absolute() else root / path
    if not path.exists():
        raise ArtifactError(f"{path}: no such benchmark file or folder")
    items = []
    for n, record in _records(path):
        if not isinstance(record, dict):
            raise ArtifactError(f"{path}:{n}: a benchmark record is a JSON object")
        fields = source.fields or tuple(k for k, v in record.items() if isinstance(v, str) and k not in ID_KEYS)
        missing = [f for f in fields if not isinstance(record.get(f), str)]
        if missing:
            raise ArtifactError(f"{path}:{n}: the record has no text field {', '.join(map(repr, missing))} (it has {', '.join(record)})")
        key = next((str(record[k]) for k in ID_KEYS if record.get(k) is not None), f"{source.label}:{n}")
        items.append((key, "".join(record[f] for f in fields)))
    if not items:
        raise ArtifactError(f"{path}: the benchmark holds no item")
    return items


def canonical_table(encoder, vocab_size: int):
    """Each id's canonical token: its decoded text, NFKC, whitespace stripped, lower-cased, as a
    small int (−1: the id decodes to whitespace alone and is dropped). An id that decodes to part of
    a UTF-8 character keeps an identity of its own."""
    import numpy as np

    inner = getattr(encoder, "_tok", None)
    ids = [[i] for i in range(vocab_size)]
    if inner is not None and hasattr(inner, "decode_batch"):
        texts = inner.decode_batch(ids, skip_special_tokens=False)
    else:
        texts = []
        for (i,) in ids:
            try:
                texts.append(encoder.decode([i]))
            except Exception:  # an id the decoder has no text for (a gap in the vocab): its own identity
                texts.append(f"\ufffd{i}")
    table = np.empty(vocab_size, dtype=np.int64)
    seen: dict[str, int] = {}
    for i, text in enumerate(texts):
        canon = unicodedata.normalize("NFKC", text).strip().lower()
        if not canon:
            table[i] = -1
            continue
        if "\ufffd" in text:
            canon = f"\x00{i}"
        table[i] = seen.setdefault(canon, len(seen))
    return table


def gram_hashes(canon, n: int):
    """The rolling hash of every ``n``-gram of a canonical sequence (uint64, wrapping)."""
    import numpy as np

    m = canon.size - n + 1
    if m <= 0:
        return np.zeros(0, dtype=np.uint64)
    x = canon.astype(np.uint64) + np.uint64(1)
    acc = np.zeros(m, dtype=np.uint64)
    prime = np.uint64(PRIME)
    with np.errstate(over="ignore"):
        for k in range(n):
            acc *= prime
            acc += x[k : k + m]
    return acc


def canonical(ids, table):
    """(canonical ids with whitespace dropped, the raw position of each)."""
    import numpy as np

    ids = np.asarray(ids, dtype=np.int64)
    inside = (ids >= 0) & (ids < table.size)
    canon = np.full(ids.shape, -1, dtype=np.int64)
    canon[inside] = table[ids[inside]]
    keep = np.flatnonzero(canon >= 0)
    return canon[keep], keep


@dataclass
class ContaminationIndex:
    """The benchmarks' n-grams, sorted, with the item each belongs to; what a scan task carries."""

    n: int
    table: Any  # id → canonical id
    hashes: Any  # sorted unique uint64
    owners_start: Any  # CSR: grams → items
    owners: Any
    items: list[tuple[str, str, int]]  # (benchmark, item id, its indexed n-grams)
    stop_grams: int = 0
    bitmap: Any = None
    bits: int = BITMAP_BITS

    @classmethod
    def build(cls, benchmarks: list[tuple[str, list[tuple[str, str]]]], encoder, table, n: int, stop_items: int) -> ContaminationIndex:
        import numpy as np

        items: list[tuple[str, str]] = []
        per_item = []
        for label, records in benchmarks:
            texts = [text for _, text in records]
            encode = getattr(encoder, "encode_batch", None)
            encoded = encode(texts) if encode is not None else [encoder.encode(t) for t in texts]
            for (key, _), ids in zip(records, encoded):
                canon, _ = canonical(ids, table)
                interior = canon[1:-1] if canon.size > 2 else canon[:0]  # an item's edges merge with its context
                per_item.append(np.unique(gram_hashes(interior, n)))
                items.append((label, key))
        all_hashes = np.concatenate(per_item) if per_item else np.zeros(0, dtype=np.uint64)
        owner = np.concatenate([np.full(h.size, k, dtype=np.int64) for k, h in enumerate(per_item)]) if per_item else np.zeros(0, dtype=np.int64)
        uniq, inverse, counts = np.unique(all_hashes, return_inverse=True, return_counts=True)
        stock = counts > stop_items
        keep = ~stock[inverse]
        order = np.argsort(inverse[keep], kind="stable")
        grams, owners = inverse[keep][order], owner[keep][order]
        kept = np.flatnonzero(~stock)
        remap = np.full(uniq.size, -1, dtype=np.int64)
        remap[kept] = np.arange(kept.size)
        grams = remap[grams]
        starts = np.searchsorted(grams, np.arange(kept.size + 1))
        sizes = np.bincount(owners, minlength=len(items)) if owners.size else np.zeros(len(items), dtype=np.int64)
        index = cls(
            n,
            table,
            uniq[kept],
            starts,
            owners,
            [(label, key, int(sizes[k])) for k, (label, key) in enumerate(items)],
            stop_grams=int(stock.sum()),
        )
        index.bits = bitmap_bits(int(index.hashes.size))
        index.bitmap = np.zeros(1 << index.bits, dtype=bool)
        index.bitmap[(index.hashes >> np.uint64(64 - index.bits)).astype(np.int64)] = True
        return index

    def unindexed(self) -> list[tuple[str, str]]:
        """(benchmark, item) of the items too short to hold one interior n-gram: not looked for."""
        return [(label, key) for label, key, grams in self.items if not grams]

    def find(self, ids, offset: int, stop: int | None = None):
        """(gram numbers found, the raw id offset of each) in one stretch of ids starting at
        ``offset``; grams starting at or past ``stop`` (the stretch's overlap) are left to the next."""
        import numpy as np

        canon, where = canonical(ids, self.table)
        h = gram_hashes(canon, self.n)
        if not h.size or not self.hashes.size:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        maybe = np.flatnonzero(self.bitmap[(h >> np.uint64(64 - self.bits)).astype(np.int64)])
        at = np.searchsorted(self.hashes, h[maybe])
        at[at == self.hashes.size] = 0
        hit = self.hashes[at] == h[maybe]
        grams, positions = at[hit], where[maybe[hit]] + offset
        if stop is not None:
            inside = positions < stop
            grams, positions = grams[inside], positions[inside]
        return grams, positions


@dataclass
class ItemFinding:
    benchmark: str
    item: str
    grams: int
    found: int
    shard: str
    offset: int

    @property
    def share(self) -> float:
        return self.found / self.grams if self.grams else 0.0


@dataclass
class ContaminationReport:
    items: list[ItemFinding] = field(default_factory=list)  # the contaminated ones
    per_benchmark: dict[str, dict[str, float]] = field(default_factory=dict)
    ids_scanned: int = 0
    grams_indexed: int = 0
    stop_grams: int = 0
    items_total: int = 0
    failures: list[str] = field(default_factory=list)  # shards not read, each named
    unindexed: list[tuple[str, str]] = field(default_factory=list)  # items too short to look for

    def per_shard(self) -> dict[str, int]:
        """Contaminated items by the shard their first n-gram is in."""
        out: dict[str, int] = {}
        for f in self.items:
            out[f.shard] = out.get(f.shard, 0) + 1
        return out

    def as_json(self) -> dict:
        return {
            "contaminated": len(self.items),
            "items": self.items_total,
            "ids_scanned": self.ids_scanned,
            "ngrams_indexed": self.grams_indexed,
            "stop_grams": self.stop_grams,
            "benchmarks": self.per_benchmark,
            "shards": self.per_shard(),
            "hits": [{"benchmark": f.benchmark, "item": f.item, "shard": f.shard, "offset": f.offset, "ngrams": f.grams, "found": f.found} for f in self.items],
            "failures": self.failures,
            "not_looked_for": [{"benchmark": b, "item": i} for b, i in self.unindexed],
        }


def judge(index: ContaminationIndex, found_first: dict[int, tuple[int, int]], shard_names: list[str], min_hits: int, min_share: float) -> ContaminationReport:
    """Per item: the distinct n-grams found (``found_first``: gram → (shard, first offset)) against
    those indexed; contaminated at ``min_hits`` and ``min_share`` both."""
    import numpy as np

    counts = np.zeros(len(index.items), dtype=np.int64)
    first: dict[int, tuple[int, int]] = {}
    for gram, where in found_first.items():
        for owner in index.owners[index.owners_start[gram] : index.owners_start[gram + 1]].tolist():
            counts[owner] += 1
            if owner not in first or where < first[owner]:
                first[owner] = where
    report = ContaminationReport(grams_indexed=int(index.hashes.size), stop_grams=index.stop_grams, items_total=len(index.items))
    totals: dict[str, list[int]] = {}
    for k, (label, key, grams) in enumerate(index.items):
        entry = totals.setdefault(label, [0, 0, 0, 0])
        entry[0] += 1
        entry[1] += grams
        entry[2] += int(counts[k])
        if grams and counts[k] >= min_hits and counts[k] / grams >= min_share:
            shard, offset = first[k]
            report.items.append(ItemFinding(label, key, grams, int(counts[k]), shard_names[shard], offset))
            entry[3] += 1
    for label, (n_items, grams, found, hit) in totals.items():
        report.per_benchmark[label] = {"items": n_items, "contaminated": hit, "ngram_share": found / grams if grams else 0.0}
    return report


def scan_task(task, index: ContaminationIndex, shard=None):
    """One engine task: the grams found in its ids (and ``overlap`` ids past its end, so no gram is
    lost at a task's edge; a gram starting past the end is the next task's). Returns
    (gram numbers, their first raw offset in the shard, ids read)."""
    import numpy as np

    from harness.checks.scan import reopen

    shard = shard if shard is not None else reopen(task)
    ids = shard.open()
    if task.blocks:
        lo, hi = int(ids.starts[task.start]), int(ids.starts[task.stop])
    else:
        lo, hi = task.start, task.stop
    overlap = 8 * index.n  # raw ids enough for n canonical ones: whitespace runs are single ids
    grams, first = [], []
    step = 1 << 22
    for start in range(lo, hi, step):
        stop = min(hi, start + step)
        chunk = np.asarray(ids[start : min(shard.count, stop + overlap)])
        g, at = index.find(chunk, start, stop)
        if g.size:
            grams.append(g)
            first.append(at)
    if not grams:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), hi - lo
    g, at = np.concatenate(grams), np.concatenate(first)
    order = np.lexsort((at, g))
    g, at = g[order], at[order]
    head = np.concatenate([[True], g[1:] != g[:-1]])
    return g[head], at[head], hi - lo


def contamination(
    shards,
    encoder,
    vocab_size: int,
    sources: list[BenchmarkSource],
    root: Path,
    *,
    ngram: int = 13,
    stop_items: int = 2,
    min_hits: int = 3,
    min_share: float = 0.2,
    engine: str | None = None,
    address: str | None = None,
    progress=None,
    task_ids: int | None = None,
) -> ContaminationReport:
    """The whole judgement: read the benchmarks, index them with ``encoder``, scan every id of
    ``shards``, and say which items are in them (the falsifier and ``harness probe contamination``)."""
    table = canonical_table(encoder, vocab_size)
    benchmarks = [(source.label, read_items(source, root)) for source in sources]
    index = ContaminationIndex.build(benchmarks, encoder, table, ngram, stop_items)
    if progress is not None:  # a bar or a log: start(total ids), advance(ids)
        progress.start(sum(s.count for s in shards))
    found, scanned, failures = scan_shards(shards, index, engine, address, getattr(progress, "advance", None), task_ids)
    report = judge(index, found, [str(s.path) for s in shards], min_hits, min_share)
    report.ids_scanned, report.failures, report.unindexed = scanned, failures, index.unindexed()
    return report


def scan_shards(shards, index: ContaminationIndex, engine: str | None = None, address: str | None = None, progress=None, task_ids: int | None = None):
    """Every id of every shard, exactly (no sampling: a sample cannot show absence), on the local
    engine or Ray: (gram → (shard number, first offset), ids scanned, failures naming the shard)."""
    from harness.checks.scan import default_task_ids, failure, plan
    from harness.engines import resolve, run_tasks

    on_ray = resolve(engine, address)[0] == "ray"
    tasks = plan(shards, task_ids or min(default_task_ids(on_ray), 1 << 26))
    found: dict[int, tuple[int, int]] = {}
    failures: list[str] = []
    scanned = 0
    for task, got in run_tasks(scan_task, tasks, (index,), engine, address, local=lambda t: scan_task(t, index, shards[t.shard])):
        if isinstance(got, BaseException):
            failures.append(failure(task, got))
            continue
        grams, first, read = got
        scanned += read
        for gram, offset in zip(grams.tolist(), first.tolist()):
            where = (task.shard, offset)
            if gram not in found or where < found[gram]:
                found[gram] = where
        if progress is not None:
            progress(task.ids)
    return found, scanned, failures
