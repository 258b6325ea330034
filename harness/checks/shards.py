"""Token shards on disk: ``.npy`` arrays, or raw little-endian ``.bin`` files with a JSON sidecar
(``NAME.json`` or ``NAME.bin.json``: ``{"dtype": "uint32", "vocab_size": V, "count": N}``).

Integrity is checked without loading a shard whole: sizes from metadata, ids streamed in chunks.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from harness.checks import ArtifactError

CHUNK = 1 << 22  # ids per streamed chunk (16 MiB of uint32): bounded memory, cache-friendly work
ALLOWED_DTYPES = ("uint8", "uint16", "uint32", "uint64", "int32", "int64")


@dataclass
class Shard:
    path: Path
    dtype: str
    count: int
    vocab_size: int | None
    sidecar: dict | None
    index: object = None  # a Megatron index (``harness.checks.megatron``): dtype, count, documents

    def open(self):
        """A read-only memory map of the ids (never a full in-memory load)."""
        import numpy as np

        if self.path.suffix == ".npy":
            return np.load(self.path, mmap_mode="r", allow_pickle=False)
        if self.count == 0:
            return np.zeros(0, dtype=np.dtype(self.dtype).newbyteorder("<"))
        return np.memmap(self.path, dtype=np.dtype(self.dtype).newbyteorder("<"), mode="r", shape=(self.count,))


def _sidecar_for(path: Path) -> Path | None:
    for candidate in (path.with_suffix(".json"), path.with_name(path.name + ".json")):
        if candidate.exists():
            return candidate
    return None


def expand_shard_paths(paths: list[str | Path]) -> list[Path]:
    """Files, directories (their *.bin / *.npy) and globs, sorted; unknown names are an error."""
    out: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.suffix in (".bin", ".npy"))
            if not found:
                raise ArtifactError(f"{path}: no .bin or .npy shards in this directory")
            out.extend(found)
        elif any(ch in str(raw) for ch in "*?["):
            found = sorted(Path(p) for p in __import__("glob").glob(str(raw)))
            if not found:
                raise ArtifactError(f"{raw}: the glob matches no shard")
            out.extend(found)
        elif path.exists():
            out.append(path)
        elif Path(f"{path}.bin").exists() and Path(f"{path}.idx").exists():  # a Megatron data prefix, as its configs name one
            out.append(Path(f"{path}.bin"))
        else:
            raise ArtifactError(f"{path}: no such shard")
    return shard_files(out)


def shard_files(paths: list[Path]) -> list[Path]:
    """The shards among files a glob matched: a Megatron ``.idx`` stands for its ``.bin``, and a
    sidecar is read with its shard, never as one."""
    named = [p.with_suffix(".bin") if p.suffix == ".idx" and p.with_suffix(".bin").exists() else p for p in paths]
    return [p for p in dict.fromkeys(named) if not (p.suffix == ".json" and (p.with_suffix(".bin").exists() or p.with_suffix(".npy").exists()))]


def describe_shard(path: Path, vocab_size: int | None = None) -> tuple[Shard | None, list[str]]:
    """Metadata of one shard and the problems visible without reading its ids."""
    import numpy as np

    problems: list[str] = []
    try:
        size = path.stat().st_size
    except OSError as exc:
        return None, [f"{path}: cannot stat ({exc.strerror or exc})"]
    if path.suffix == ".bin" and path.with_suffix(".idx").exists():
        return _describe_megatron(path, size, vocab_size)
    if path.suffix == ".npy":
        try:
            array = np.load(path, mmap_mode="r", allow_pickle=False)
        except (ValueError, OSError, EOFError) as exc:
            return None, [f"{path}: not a readable .npy array ({exc})"]
        dtype = str(array.dtype.newbyteorder("=") if array.dtype.byteorder == ">" else array.dtype)
        if array.ndim != 1:
            problems.append(f"{path}: a shard is 1-D, this array has shape {array.shape}")
        shard = Shard(path, dtype, int(array.size), vocab_size, None)
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
    if shard.count == 0:
        problems.append(f"{path}: empty shard")
    if vocab_size is not None:
        info = np.iinfo(np.dtype(shard.dtype))
        if info.max < vocab_size - 1:
            problems.append(f"{path}: dtype {shard.dtype} holds ids up to {info.max}, but the vocab has {vocab_size} ids")
    return shard, problems


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
    end = int((np.asarray(index.pointers[-1:], dtype=np.int64) + np.asarray(index.lengths[-1:], dtype=np.int64) * itemsize).sum()) if index.lengths.size else 0
    if size < end:
        problems.append(f"{path}: {size} bytes, but its index {index.path.name} says the ids run to byte {end} (truncated .bin)")
        return None, problems
    shard = Shard(path, index.dtype, index.count, vocab_size, None, index)
    if shard.count == 0:
        problems.append(f"{path}: empty shard")
    if vocab_size is not None and np.iinfo(np.dtype(index.dtype)).max < vocab_size - 1:
        problems.append(f"{path}: dtype {index.dtype} holds ids up to {np.iinfo(np.dtype(index.dtype)).max}, but the vocab has {vocab_size} ids")
    return shard, problems


def describe_shards(paths: list[str | Path], vocab_size: int | None = None) -> tuple[list[Shard], list[str], set[Path]]:
    """Every shard's metadata and the problems visible without scanning its ids (sizes, sidecars,
    dtypes, a wider dtype's byte pattern in the first chunk); also the shards whose ids cannot be
    trusted as read (truncated, or read at the wrong width)."""
    shards: list[Shard] = []
    problems: list[str] = []
    unreadable: set[Path] = set()
    for path in expand_shard_paths(paths):
        shard, found = describe_shard(path, vocab_size)
        problems.extend(found)
        if shard is None:
            continue
        shards.append(shard)
        if any("trailing bytes" in p for p in found):
            unreadable.add(path)
            continue
        if shard.count:
            wider = width_mismatch(shard.open()[: min(shard.count, CHUNK)])
            if wider:
                problems.append(f"{path}: read as {shard.dtype}, {wider} (the sidecar's dtype or the writer's is wrong)")
                unreadable.add(path)
    return shards, problems, unreadable


def check_shards(paths: list[str | Path], vocab_size: int | None = None) -> tuple[list[Shard], list[str]]:
    """Every integrity problem across the shards (empty list: healthy), streamed chunk by chunk."""
    shards, problems, unreadable = describe_shards(paths, vocab_size)
    for shard in shards:
        path = shard.path
        limit = vocab_size or shard.vocab_size
        if limit is None or shard.count == 0 or path in unreadable:
            if limit is None:
                problems.append(f"{path}: no vocab_size given or in a sidecar; ids cannot be checked")
            continue
        ids = shard.open()
        for start in range(0, shard.count, CHUNK):
            chunk = ids[start : start + CHUNK]
            top = int(chunk.max())
            if top >= limit:
                where = start + int((chunk >= limit).argmax())
                problems.append(f"{path}: id {top} ≥ vocab size {limit} (first at position {where})")
                break
            if chunk.dtype.kind == "i" and int(chunk.min()) < 0:
                problems.append(f"{path}: negative id {int(chunk.min())}")
                break
    return shards, problems


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
