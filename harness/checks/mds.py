"""MosaicML streaming MDS shards (``index.json`` + ``shard.NNNNN.mds``, written by
``streaming.MDSWriter``), read from the bytes with numpy — no ``streaming`` install needed. One
sample is one document.

A shard is ``uint32 samples``, ``uint32 offsets[samples + 1]`` (byte offsets in the file), the
writer's JSON config, then the samples. A sample starts with a ``uint32`` size for each column of
variable size, then each column's bytes, in the index's column order. Token ids are an
``ndarray`` column (its dtype static, ``ndarray:int32``, or one leading dtype byte per sample) or
a ``bytes`` column with a declared ``dtype``. ``tests/test_formats.py`` checks that this reader
yields exactly what streaming's own ``MDSReader`` yields on files its writer wrote."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harness.checks import ArtifactError
from harness.checks.columns import pick_column
from harness.checks.framing import check_fields, field_sizes, record_offsets

NDARRAY_DTYPES = {8: "uint8", 9: "int8", 16: "uint16", 17: "int16", 32: "uint32", 33: "int32", 64: "uint64", 65: "int64"}
SCALAR_DTYPES = {"uint8", "uint16", "uint32", "uint64", "int8", "int16", "int32", "int64"}


@dataclass(frozen=True)
class MDSShard:
    path: Path
    entry: dict  # the shard's entry in index.json


def is_mds_index(data: object) -> bool:
    return isinstance(data, dict) and isinstance(data.get("shards"), list) and all(isinstance(e, dict) and e.get("format") == "mds" for e in data["shards"])


def open_mds(shard: MDSShard, column: str | None = None, dtype: str | None = None):
    """An ``IdView`` over the token column of one MDS shard, memory-mapped: one block per sample."""
    import numpy as np

    from harness.checks.idview import IdView
    from harness.checks.storage import byte_array

    path, entry = shard.path, shard.entry
    if entry.get("zip_data"):
        raise ArtifactError(f"{path}: compressed MDS shard ({entry.get('compression')}); this reader takes uncompressed shards — write with compression=None")
    if not path.is_file():
        raise ArtifactError(f"{path}: the MDS index lists this shard, but the file is missing")
    names, encodings, sizes = entry.get("column_names", []), entry.get("column_encodings", []), entry.get("column_sizes", [])
    name = pick_column(path, names, column)
    j = names.index(name)
    encoding = encodings[j]
    raw = byte_array(path)  # a plain uint8 view (slicing a memmap subclass costs µs each), or a remote shard's bytes
    offsets = record_offsets(raw, path, "an MDS", "samples", entry.get("samples"))
    samples = offsets.size - 1
    variable = [k for k, s in enumerate(sizes) if s is None]
    head = 4 * len(variable)
    var_sizes = field_sizes(raw, offsets, len(variable))
    col_sizes = (
        np.stack([var_sizes[:, variable.index(k)] if sizes[k] is None else np.full(samples, sizes[k], dtype=np.int64) for k in range(len(names))], axis=1)
        if names
        else np.zeros((samples, 0))
    )
    starts = offsets[:-1] + head + col_sizes[:, :j].sum(axis=1)
    nbytes = col_sizes[:, j].astype(np.int64)
    check_fields(path, "sample", offsets, starts, nbytes)
    id_dtype, skip = _layout(path, name, encoding, dtype, raw, starts, nbytes)
    starts = starts + skip
    nbytes = nbytes - skip
    check_fields(path, "sample", offsets, starts, nbytes)
    item = np.dtype(id_dtype).itemsize
    if (nbytes % item).any():
        raise ArtifactError(f"{path}: column {name!r}: a sample's {int(nbytes[(nbytes % item) != 0][0])} bytes are not whole {id_dtype} ids")
    lengths = nbytes // item
    typed = np.dtype(id_dtype).newbyteorder("<")

    def fetch(i: int):
        s = int(starts[i])
        return raw[s : s + int(nbytes[i])].view(typed), (int(lengths[i]),)

    return IdView(id_dtype, lengths, fetch), name


def _layout(path: Path, name: str, encoding: str, declared: str | None, raw, starts, nbytes):
    """(the ids' dtype, bytes to skip at the start of each sample's column: a dynamic dtype's
    code byte, a dynamic shape's ``ndim | width`` byte and its dims)."""
    import numpy as np

    kind, _, rest = encoding.partition(":")
    if kind == "ndarray":
        parts = rest.split(":") if rest else []
        static = parts[0] if parts else None
        shaped = len(parts) >= 2
        if static:
            if static not in NDARRAY_DTYPES.values():
                raise ArtifactError(f"{path}: column {name!r} is ndarray of {static}, not integer token ids")
            dtype, skip = static, 0
        else:
            codes = np.unique(raw[starts]) if starts.size else np.zeros(0, dtype=np.uint8)
            if codes.size > 1 or (codes.size and int(codes[0]) not in NDARRAY_DTYPES):
                raise ArtifactError(f"{path}: column {name!r}: samples hold dtype codes {codes.tolist()}, not one integer id dtype")
            dtype, skip = (NDARRAY_DTYPES[int(codes[0])] if codes.size else "int64"), 1
        if not shaped and starts.size:
            byte = raw[starts + skip].astype(np.int64)
            ndims, width = byte >> 2, 2 ** (byte % 4)
            if (ndims != 1).any():
                raise ArtifactError(f"{path}: column {name!r} holds arrays of {int(ndims.max())} dimensions, not 1-D token ids")
            return dtype, skip + 1 + width
        return dtype, skip
    if kind in SCALAR_DTYPES:
        return kind, 0
    if kind == "bytes":
        if declared is None:
            raise ArtifactError(f"{path}: column {name!r} is raw bytes; declare dtype: (e.g. uint32) in the subject")
        return declared, 0
    raise ArtifactError(f"{path}: column {name!r} is encoded as {encoding!r}, not token ids (ndarray, bytes with a dtype, or an integer type)")
