"""Token shards on disk, in every format ``harness.checks.formats`` recognises: ``.npy`` arrays,
raw little-endian ``.bin`` files with a JSON sidecar (``NAME.json`` or ``NAME.bin.json``:
``{"dtype": "uint32", "vocab_size": V, "count": N}``), declared raw memmaps, Megatron indexed
datasets, Hugging Face ``datasets`` Arrow files, parquet, MDS and LitData.

Every shard is described from its metadata and opened as something a reader slices like a 1-D
array (a memory map, or an ``IdView`` over blocks); integrity is checked without loading a shard
whole: sizes from metadata, ids streamed in chunks.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from harness.checks import ArtifactError
from harness.checks.formats import NO_OPTIONS, ShardOptions
from harness.contract.subjects import ID_DTYPES

CHUNK = 1 << 22  # ids per streamed chunk (16 MiB of uint32): bounded memory, cache-friendly work
WIDTH_PROBE = 1 << 16  # ids read to see a wider dtype read narrow (its period shows in any stretch of ids)
ALLOWED_DTYPES = ID_DTYPES


@dataclass
class Shard:
    path: Path
    dtype: str
    count: int
    vocab_size: int | None
    sidecar: dict | None
    index: object = None  # a Megatron index (``harness.checks.megatron``): dtype, count, documents
    format: str = "sidecar"
    view: object = None  # an ``IdView`` (Arrow, parquet, MDS, LitData)
    options: ShardOptions = NO_OPTIONS  # what the subject declared (an engine's worker re-opens it with them)
    offset: int = 0  # byte offset of the first id (a .npy header)

    def open(self):
        """The ids as a read-only 1-D sliceable: a memory map or an ``IdView`` (never a full
        in-memory load)."""
        import numpy as np

        from harness.checks.storage import id_map, is_remote

        if self.view is not None:
            return self.view
        if self.format == "npy" and not is_remote(self.path):
            return np.load(self.path, mmap_mode="r", allow_pickle=False)
        if self.index is not None:
            runs = self.index.runs()
            if len(runs) > 1 or (runs and runs[0][0] != 0):
                return _runs_view(self.path, self.dtype, runs)
        return id_map(self.path, self.dtype, self.offset, self.count)

    def document_bounds(self):
        """(start, end) offsets of each document the format records, in order; None when the
        format records none (a flat stream: documents are told apart by a separator id)."""
        if self.index is not None:
            return self.index.document_bounds()
        if self.view is not None and self.view.has_documents:
            return _consecutive(self.view.document_ends())
        return None


def _runs_view(path, dtype, runs):
    """A Megatron ``.bin`` as training reads it when its sequences are not one run from byte 0:
    each run of consecutive sequences a block, read where its pointers say."""
    import numpy as np

    from harness.checks.idview import IdView
    from harness.checks.storage import id_map

    item = np.dtype(dtype).itemsize

    def fetch(i: int):
        start, count = runs[i]
        return id_map(path, dtype, start * item, count), None

    return IdView(dtype, [count for _, count in runs], fetch, documents=False)


def _consecutive(ends):
    start = 0
    for end in ends:
        yield start, end
        start = end


def _sidecar_for(path: Path) -> Path | None:
    for candidate in (path.with_suffix(".json"), path.with_name(path.name + ".json")):
        if candidate.exists():
            return candidate
    return None


def expand_shard_paths(paths: list[str | Path]) -> list[Path]:
    """Files, directories (their shards, ``harness.checks.formats.directory_shards``) and globs, in
    order; a name that matches nothing is an error."""
    import glob

    from harness.urls import UrlError, expand_url, is_url

    out: list[Path] = []
    for raw in paths:
        if is_url(str(raw)):
            try:
                found = expand_url(str(raw))
            except UrlError as exc:
                raise ArtifactError(str(exc)) from None
            if not found:
                raise ArtifactError(f"{raw}: matches no shard")
            out.extend(found)
            continue
        path = Path(raw)
        if path.is_dir() or path.exists():
            out.append(path)
        elif any(ch in str(raw) for ch in "*?["):
            found = sorted(Path(p) for p in glob.glob(str(raw)))
            if not found:
                raise ArtifactError(f"{raw}: the glob matches no shard")
            out.extend(found)
        elif Path(f"{path}.bin").exists() and Path(f"{path}.idx").exists():  # a Megatron data prefix, as its configs name one
            out.append(Path(f"{path}.bin"))
        else:
            raise ArtifactError(f"{path}: no such shard")
    return shard_files(out)


def shard_files(paths: list[Path]) -> list[Path]:
    """The shards among files (and folders) a glob matched: an ``index.json`` stands for the shards
    it lists, a Megatron ``.idx`` for its ``.bin``, and a sidecar is read with its shard, never as
    one (``harness.checks.formats.fold_metadata``)."""
    from harness.checks.formats import fold_metadata

    return fold_metadata(paths)


def describe_shard(path: Path, vocab_size: int | None = None, options: ShardOptions = NO_OPTIONS) -> tuple[Shard | None, list[str]]:
    """Metadata of one shard and the problems visible without reading its ids. The format is the
    subject's declared one, else recognised from the file (``harness.checks.formats.detect``)."""
    shard, problems = _describe(path, vocab_size, options)
    if shard is not None:
        shard.options = options
    return shard, problems


def _describe(path: Path, vocab_size: int | None, options: ShardOptions) -> tuple[Shard | None, list[str]]:
    import numpy as np

    from harness.checks.formats import FORMATS, detect, undetected_hint

    problems: list[str] = []
    kind = options.format
    if kind is not None and kind not in FORMATS:
        return None, [f"{path}: format {kind!r} is not one of {', '.join(FORMATS)}"]
    kind = kind or detect(path)
    if kind in ("mds", "litdata", "hf-datasets", "parquet"):
        shard, problems = _describe_blocks(path, kind, options)
        return _finish(shard, problems, vocab_size) if shard is not None else (None, problems)
    from harness.checks.storage import is_remote, npy_header, size_of

    try:
        size = size_of(path)
    except OSError as exc:
        return None, [f"{path}: cannot stat ({exc.strerror or exc})"]
    if kind == "megatron":
        return _describe_megatron(path, size, vocab_size)
    if kind == "raw":
        dtype = options.dtype
        if dtype not in ALLOWED_DTYPES:
            return None, [f"{path}: format raw needs dtype: one of {', '.join(ALLOWED_DTYPES)} (declared: {dtype!r})"]
        itemsize = np.dtype(dtype).itemsize
        if size % itemsize:
            problems.append(f"{path}: {size} bytes is not a whole number of {dtype} items ({size % itemsize} trailing bytes: truncated, or not {dtype}?)")
        return _finish(Shard(path, dtype, size // itemsize, vocab_size, None, format="raw"), problems, vocab_size)
    if kind is None:
        return None, [undetected_hint(path)]
    if kind == "npy" and is_remote(path):
        try:
            dtype, shape, offset = npy_header(path)
        except (ValueError, OSError, EOFError) as exc:
            return None, [f"{path}: not a readable .npy array ({exc})"]
        if dtype.kind not in "iu" or len(shape) != 1:
            return None, [f"{path}: a shard is a 1-D array of integer ids, this one is {dtype} of shape {shape}"]
        count = int(shape[0])
        if size < offset + count * dtype.itemsize:
            return None, [f"{path}: {size} bytes, but its header says {count} {dtype} ids from byte {offset} (truncated)"]
        shard = Shard(path, str(dtype.newbyteorder("=") if dtype.byteorder == ">" else dtype), count, vocab_size, None, format="npy", offset=offset)
    elif kind == "npy":
        try:
            array = np.load(path, mmap_mode="r", allow_pickle=False)
        except (ValueError, OSError, EOFError) as exc:
            return None, [f"{path}: not a readable .npy array ({exc})"]
        dtype = str(array.dtype.newbyteorder("=") if array.dtype.byteorder == ">" else array.dtype)
        if array.ndim != 1:
            problems.append(f"{path}: a shard is 1-D, this array has shape {array.shape}")
        shard = Shard(path, dtype, int(array.size), vocab_size, None, format="npy")
    else:
        sidecar_path = _sidecar_for(path)
        if sidecar_path is None:
            return None, [f"{path}: raw .bin shard without a JSON sidecar (dtype, vocab_size, count)"]
        try:
            sidecar = json.loads(sidecar_path.read_text("utf-8"))
        except (OSError, ValueError) as exc:
            return None, [f"{sidecar_path}: unreadable sidecar ({exc})"]
        if not isinstance(sidecar, dict):
            return None, [f"{sidecar_path}: the sidecar must be a JSON object"]
        dtype = sidecar.get("dtype")
        if dtype not in ALLOWED_DTYPES:
            return None, [f"{sidecar_path}: dtype {dtype!r} is not one of {', '.join(ALLOWED_DTYPES)}"]
        itemsize = np.dtype(dtype).itemsize
        if size % itemsize:
            problems.append(f"{path}: {size} bytes is not a whole number of {dtype} items ({size % itemsize} trailing bytes: truncated?)")
        count = size // itemsize
        declared = sidecar.get("count")
        if declared is not None and declared != count:
            problems.append(f"{path}: sidecar says {declared} tokens, the file holds {count}")
        if vocab_size is None and isinstance(sidecar.get("vocab_size"), int):
            vocab_size = sidecar["vocab_size"]
        elif isinstance(sidecar.get("vocab_size"), int) and vocab_size is not None and sidecar["vocab_size"] != vocab_size:
            problems.append(f"{path}: sidecar vocab_size {sidecar['vocab_size']} ≠ expected {vocab_size}")
        shard = Shard(path, dtype, count, vocab_size, sidecar)
    return _finish(shard, problems, vocab_size)


def subject_options(subject) -> ShardOptions:
    """What a subject declares about its shards (``shard_options``: a ``ShardOptions`` or a
    mapping with format, dtype, column); none when it declares nothing."""
    declared = getattr(subject, "shard_options", None)
    if declared is None:
        return NO_OPTIONS
    return declared if isinstance(declared, ShardOptions) else ShardOptions(**dict(declared))


def subject_shards(subject, min_count: int = 1) -> list[Shard]:
    """The subject's shards holding at least ``min_count`` ids, described with what the subject
    declares. A shard that cannot be read at all raises ``IncompleteScan`` naming it: a verdict on
    the others would be a verdict on part of the corpus (shard-integrity says what is wrong)."""
    from harness.checks import IncompleteScan
    from harness.checks.storage import location

    options = subject_options(subject)
    shards, unreadable = [], []
    for path in shard_files([location(p) for p in subject.shard_paths()]):
        shard, problems = describe_shard(path, options=options)
        if shard is None:
            unreadable.append(next(iter(problems), f"{path}: unreadable"))
        elif shard.count >= min_count:
            shards.append(shard)
    if unreadable:
        raise IncompleteScan(unreadable)
    return shards


def _finish(shard: Shard, problems: list[str], vocab_size: int | None) -> tuple[Shard, list[str]]:
    """The problems every format shares: an empty shard, a dtype too narrow for the vocab."""
    import numpy as np

    if shard.count == 0:
        problems.append(f"{shard.path}: empty shard")
    if vocab_size is not None:
        info = np.iinfo(np.dtype(shard.dtype))
        if info.max < vocab_size - 1:
            problems.append(f"{shard.path}: dtype {shard.dtype} holds ids up to {info.max}, but the vocab has {vocab_size} ids")
    return shard, problems


def _describe_blocks(path: Path, kind: str, options: ShardOptions) -> tuple[Shard | None, list[str]]:
    """A shard whose ids lie in blocks (rows, samples, items), opened as an ``IdView``."""
    from harness.checks import columnar, litdata, mds
    from harness.checks.formats import index_beside

    try:
        if kind == "hf-datasets":
            view, _ = columnar.open_arrow(path, options.column)
        elif kind == "parquet":
            view, _ = columnar.open_parquet(path, options.column)
        else:
            beside = index_beside(path)
            if beside is None or beside[0] != kind:
                return None, [f"{path}: format {kind} needs an index.json beside it that lists this file"]
            _, entry, data = beside
            if kind == "mds":
                view, _ = mds.open_mds(mds.MDSShard(path, entry), options.column, options.dtype)
            else:
                view = litdata.open_chunk(litdata.LitDataChunk(path, entry, data["config"]), options.column)
    except ArtifactError as exc:
        return None, [str(exc)]
    except OSError as exc:
        return None, [f"{path}: cannot read ({exc.strerror or exc})"]
    return Shard(path, str(view.dtype), len(view), None, None, format=kind, view=view), []


def _describe_megatron(path: Path, size: int, vocab_size: int | None) -> tuple[Shard | None, list[str]]:
    """A Megatron ``.bin`` read through its ``.idx``: the dtype, count and documents the index
    declares, checked against the ``.bin``'s size."""
    import numpy as np

    from harness.checks.megatron import IndexError_, read_index

    try:
        index = read_index(path.with_suffix(".idx"))
    except IndexError_ as exc:
        return None, [str(exc)]
    itemsize = np.dtype(index.dtype).itemsize
    problems = []
    end = int((np.asarray(index.pointers, dtype=np.int64) + np.asarray(index.lengths, dtype=np.int64) * itemsize).max()) if index.lengths.size else 0
    if size < end:
        problems.append(f"{path}: {size} bytes, but its index {index.path.name} says the ids run to byte {end} (truncated .bin)")
        return None, problems
    gaps = index.uncovered(size)
    if gaps:
        unread = sum(e - s for s, e in gaps)
        where = ", ".join(f"[{s}, {e})" for s, e in gaps[:3]) + (" …" if len(gaps) > 3 else "")
        problems.append(
            f"{path}: {unread:,} of its {size:,} bytes lie in no sequence of {index.path.name} (bytes {where}): "
            "training never reads them (sequences dropped from the index, or a .bin of another run)"
        )
    shard = Shard(path, index.dtype, index.count, vocab_size, None, index, format="megatron")
    if shard.count == 0:
        problems.append(f"{path}: empty shard")
    if vocab_size is not None and np.iinfo(np.dtype(index.dtype)).max < vocab_size - 1:
        problems.append(f"{path}: dtype {index.dtype} holds ids up to {np.iinfo(np.dtype(index.dtype)).max}, but the vocab has {vocab_size} ids")
    return shard, problems


def describe_shards(paths: list[str | Path], vocab_size: int | None = None, options: ShardOptions = NO_OPTIONS) -> tuple[list[Shard], list[str], set[Path]]:
    """Every shard's metadata and the problems visible without scanning its ids (sizes, sidecars,
    dtypes, a wider dtype's byte pattern in the first chunk); also the shards whose ids cannot be
    trusted as read (truncated, or read at the wrong width) or cannot be read at all (``unjudged``)."""
    shards: list[Shard] = []
    problems: list[str] = []
    unreadable: set[Path] = set()
    for path in expand_shard_paths(paths):
        shard, found = describe_shard(path, vocab_size, options)
        problems.extend(found)
        if shard is None:
            unreadable.add(path)
            continue
        shards.append(shard)
        if any("trailing bytes" in p for p in found):
            unreadable.add(path)
            continue
        if shard.count:
            wider = width_probe(shard)
            if wider:
                problems.append(f"{path}: read as {shard.dtype}, {wider} (the sidecar's dtype or the writer's is wrong)")
                unreadable.add(path)
    return shards, problems, unreadable


def unjudged(shards, problems: list[str], unreadable: set) -> list[str]:
    """The problems of the shards ``describe_shards`` could not open at all (each naming its file):
    a pass over the others would judge part of the corpus as all of it."""
    described = {s.path for s in shards}
    missing = sorted(str(p) for p in unreadable if p not in described)
    return [next((f for f in problems if f.startswith(where)), f"{where}: unreadable") for where in missing]


def range_problem(shard: Shard, limit: int, ids=None, offset: int = 0) -> str | None:
    """The first id outside [0, limit) in the shard (or in ``ids``, its part starting at id
    ``offset``), as a finding: chunks (or, for decoded blocks, blocks — as many at once as the
    decode budget allows) scanned on every core, reported in order."""
    from concurrent.futures import ThreadPoolExecutor

    from harness.checks.parallel import block_edges, block_workers, chunk_spans, usable_cores

    ids = shard.open() if ids is None else ids
    if getattr(ids, "lazy", False):
        tasks = [(int(ids.starts[i]), i) for i in range(ids.lengths.size)]
        workers = block_workers(ids)

        def read(task):
            return ids.stream_block(task[1])  # in the pieces its reader decodes (parquet: record batches)
    else:
        tasks = chunk_spans(block_edges(ids), CHUNK)  # long blocks cut inside (no copy), short ones gathered
        workers = usable_cores()

        def read(task):
            return (ids[task[0] : task[1]],)

    def scan(task) -> str | None:
        at = task[0]
        for chunk in read(task):
            if not chunk.size:
                continue
            top = int(chunk.max())
            if top >= limit:
                return f"{shard.path}: id {top} ≥ vocab size {limit} (first at position {offset + at + int((chunk >= limit).argmax())})"
            if chunk.dtype.kind == "i" and int(chunk.min()) < 0:
                return f"{shard.path}: negative id {int(chunk.min())}"
            at += int(chunk.size)
        return None

    with ThreadPoolExecutor(max(1, min(workers, len(tasks)))) as pool:
        return next((p for p in pool.map(scan, tasks) if p), None)


WIDTH_PROBES = 8  # stretches probed across a shard: a shard concatenated from two widths shows it wherever the second part starts


def width_probe(shard) -> str | None:
    """``width_mismatch`` over stretches spread across the whole shard (its head, then evenly to
    its end), not its head alone: a shard written at one width and appended at another is wrong
    wherever the second part lies. The first stretch that shows it, named with where it starts."""
    ids = shard.open()
    count = shard.count
    span = min(count, WIDTH_PROBE // WIDTH_PROBES if count > WIDTH_PROBE else WIDTH_PROBE)  # WIDTH_PROBE ids read in all
    starts = sorted({0, *(int(k * (count - span) / (WIDTH_PROBES - 1)) for k in range(1, WIDTH_PROBES))}) if count > span else [0]
    if getattr(ids, "lazy", False) and getattr(ids, "_peek", None) is None:
        starts = [0]  # decoded blocks (parquet): their width is the column's type, and a probe would decode a row group each
    for start in starts:
        part = ids.stretch(start, span) if hasattr(ids, "stretch") else ids[start : start + span]
        wider = width_mismatch(part)
        if wider:
            return wider if start == 0 else f"from id {start:,}: {wider}"
    return None


def width_mismatch(ids, min_ids: int = 64) -> str | None:
    """The signature of ids read at a narrower width than they were written, in the ids
    themselves (no sidecar needed): the high halves of little-endian ids are 0 — or, for ids above
    65,535 read as uint16, one of a few small values — so every 2nd (or 3 of every 4) id takes only
    those while the others vary. Real token streams never show such a period. None when the ids
    look like themselves."""
    import numpy as np

    ids = np.asarray(ids)
    if ids.size < min_ids or ids.dtype.itemsize > 4:
        return None
    found = None
    for period in (2, 4):
        usable = ids.size // period * period
        phases = ids[:usable].reshape(-1, period).T
        distinct = [np.unique(phase).size for phase in phases]
        narrow = [j for j, d in enumerate(distinct) if d <= 4]
        varied = max(distinct) >= min(64, usable // period // 2)
        if narrow and varied and len(narrow) < period and (found is None or len(narrow) == period - 1):
            values = sorted({int(v) for j in narrow for v in np.unique(phases[j])})
            wider = period if len(narrow) == period - 1 else 2
            kind = "u" if ids.dtype.kind == "u" else ""
            name = f"{kind}int{ids.dtype.itemsize * 8 * wider}"
            found = (
                f"{len(narrow)} of every {period} ids take only {values} while the others take {max(distinct)} values — "
                f"the bytes look like {name} ids (written {wider}× wider than they are read)"
            )
    return found


def write_shard(path: Path, ids, vocab_size: int) -> Path:
    """Write ``ids`` as a raw little-endian .bin with its sidecar (what a real pre-tokenizer emits)."""
    import numpy as np

    from harness.atomic import write_atomic

    ids = np.asarray(ids)
    dtype = ids.dtype.newbyteorder("<")
    write_atomic(path, ids.astype(dtype, copy=False).tobytes())
    write_atomic(path.with_suffix(".json"), json.dumps({"dtype": str(ids.dtype), "vocab_size": int(vocab_size), "count": int(ids.size)}) + "\n")
    return path
