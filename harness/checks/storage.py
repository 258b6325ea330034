"""Where a shard lives: a local path, or an fsspec URL (``s3://``, ``gs://``, ``hf://``,
``memory://``, ``file://``, …) opened as a ``upath.UPath`` — the pathlib interface over fsspec
(the ``[remote]`` extra), so the readers use one API for both. A local file is memory-mapped; a
remote one is read in byte ranges and never copied whole to local disk (``harness.checks.remote``)."""

from __future__ import annotations

import re
from pathlib import Path

from harness.checks import ArtifactError

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")


def is_url(where) -> bool:
    return isinstance(where, str) and bool(_URL.match(where))


def is_remote(path) -> bool:
    """A shard read through fsspec (any ``UPath``), not memory-mapped from a local file."""
    return not isinstance(path, Path)


def location(where):
    """``where`` as a ``Path``, or a ``UPath`` for a URL (a clear error when the extra is missing)."""
    if isinstance(where, Path) or hasattr(where, "fs"):
        return where
    if not is_url(str(where)):
        return Path(where)
    try:
        from upath import UPath
    except ImportError:
        raise ArtifactError(f"{where}: reading shards from a URL needs universal-pathlib: pip install 'falsifier-harness[remote]'") from None
    try:
        return UPath(where)
    except (ValueError, ImportError) as exc:  # an unknown protocol, or its fsspec backend not installed
        raise ArtifactError(f"{where}: {exc}") from None


def stamp(path) -> tuple:
    """What changes when the file is rewritten: (size, modification time) — for a remote object,
    its size and whatever version its store reports (mtime, ETag)."""
    try:
        if not is_remote(path):
            info = path.stat()
            return (info.st_size, info.st_mtime_ns)
        info = path.fs.info(path.path)
        return (info.get("size"), str(info.get("mtime") or info.get("LastModified") or info.get("ETag") or info.get("created") or ""))
    except (OSError, FileNotFoundError) as exc:
        raise ArtifactError(f"{path}: cannot stat ({exc})") from None


RANGE_IDS = 1 << 22  # ids per ranged read of a remote shard: 16 MiB of uint32 per request


def read_range(path, start: int, end: int) -> bytes:
    """Bytes ``[start, end)`` of a file: one ranged request for a remote object."""
    if not is_remote(path):
        with open(path, "rb") as handle:
            handle.seek(start)
            return handle.read(end - start)
    return path.fs.cat_file(path.path, start=start, end=end)


def size_of(path) -> int:
    return path.stat().st_size if not is_remote(path) else int(path.fs.size(path.path))


def byte_array(path):
    """A file's bytes as a uint8 array: a memory map of a local file; a remote object read whole
    into memory (the MDS / LitData framings point anywhere in a shard; their writers cap a shard
    at 64 MiB-ish, so one shard per worker bounds memory)."""
    import numpy as np

    if not is_remote(path):
        return np.asarray(np.memmap(path, dtype=np.uint8, mode="r")) if size_of(path) else np.zeros(0, dtype=np.uint8)
    return np.frombuffer(path.read_bytes(), dtype=np.uint8)


def typed_region(path, dtype, offset: int, count: int):
    """``count`` items of ``dtype`` at byte ``offset``: memory-mapped, or one ranged read."""
    import numpy as np

    dtype = np.dtype(dtype)
    if not count:
        return np.zeros(0, dtype=dtype)
    if not is_remote(path):
        return np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=(count,))
    return np.frombuffer(read_range(path, offset, offset + count * dtype.itemsize), dtype=dtype)


def id_map(path, dtype, offset: int, count: int):
    """A shard's ``count`` ids at byte ``offset`` as a 1-D sliceable: a memory map of a local file;
    for a remote object an ``IdView`` of ``RANGE_IDS``-id blocks, each one ranged read when first
    touched (the last two kept), so a pass streams the object and holds a few blocks at most."""
    import numpy as np

    dtype = np.dtype(dtype).newbyteorder("<")
    if not is_remote(path) or not count:
        return typed_region(path, dtype, offset, count)
    from harness.checks.idview import IdView

    lengths = [min(RANGE_IDS, count - s) for s in range(0, count, RANGE_IDS)]
    item = dtype.itemsize

    def fetch(i: int):
        start = offset + i * RANGE_IDS * item
        data = read_range(path, start, start + lengths[i] * item)
        if len(data) != lengths[i] * item:
            raise ArtifactError(f"{path}: a read of {lengths[i] * item} bytes at {start} returned {len(data)} (the object changed or was cut)")
        return np.frombuffer(data, dtype=dtype), None

    return IdView(dtype, lengths, fetch, documents=False, lazy=True)


def npy_header(path) -> tuple[str, tuple, int]:
    """(dtype, shape, byte offset of the data) of a ``.npy`` file, read from its header alone."""
    import numpy as np

    with path.open("rb") as handle:
        version = np.lib.format.read_magic(handle)
        read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran, dtype = read(handle)
        if fortran and len(shape) > 1:
            raise ValueError("Fortran-ordered array")
        return dtype, shape, handle.tell()


def expand_url(pattern: str) -> list:
    """The objects a URL glob (or a URL) names, as ``UPath`` s, sorted; a folder URL stands for
    the folder (its index names the shards)."""
    base = location(pattern)
    if not any(ch in pattern for ch in "*?["):
        return [base] if base.exists() else []
    found = base.fs.glob(base.path)
    return sorted((location(base.fs.unstrip_protocol(p)) for p in found), key=str)
