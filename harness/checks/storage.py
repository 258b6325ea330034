"""Where a shard lives: a local path, or an fsspec URL (``s3://``, ``gs://``, ``hf://``,
``memory://``, ``file://``, …) opened as a ``upath.UPath`` — the pathlib interface over fsspec
(the ``[remote]`` extra), so the readers use one API for both. A local file is memory-mapped; a
remote one is read in byte ranges and never copied whole to local disk (``harness.checks.remote``)."""

from __future__ import annotations

from harness.checks import ArtifactError
from harness.urls import UrlError, is_remote
from harness.urls import location as _location
from harness.urls import stamp as _stamp


def location(where):
    """``where`` as a ``Path``, or a ``UPath`` for a URL; a finding naming it when it cannot be."""
    try:
        return _location(where)
    except UrlError as exc:
        raise ArtifactError(str(exc)) from None


def stamp(path) -> tuple:
    try:
        return _stamp(path)
    except UrlError as exc:
        raise ArtifactError(str(exc)) from None


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

    return IdView(
        dtype,
        lengths,
        fetch,
        documents=False,
        lazy=True,
        head=lambda n: typed_region(path, dtype, offset, n),
        peek=lambda s, n: typed_region(path, dtype, offset + s * item, n),
    )


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
