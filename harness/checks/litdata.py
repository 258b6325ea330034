"""LitData optimized datasets (``index.json`` + ``chunk-R-N.bin``, written by ``litdata.optimize``),
read from the bytes with numpy — no ``litdata`` install needed. One item is one document.

A chunk is ``uint32 items``, ``uint32 offsets[items + 1]`` (byte offsets in the file), then the
items. With ``TokensLoader`` an item is the raw ids; with the default ``PyTreeLoader`` it starts
with a ``uint32`` byte size per leaf, then each leaf. The ids are a 1-D numpy array or tensor leaf
(``no_header_numpy:K`` / ``no_header_tensor:K``, K naming the dtype); for a dict sample, the leaf
named by ``column:`` (default ``input_ids``). ``tests/test_formats.py`` checks that this reader
yields exactly what LitData's own ``StreamingDataset`` yields on files ``optimize`` wrote."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from harness.checks import ArtifactError
from harness.checks.columns import pick_column
from harness.checks.framing import check_fields, field_sizes, record_offsets

# litdata.constants: _NUMPY_DTYPES_MAPPING (index into numpy's scalar types) and _TORCH_DTYPES_MAPPING
NUMPY_CODES = {0: "int8", 1: "int16", 2: "int32", 3: "int64", 4: "uint8", 5: "uint16", 6: "uint32", 7: "uint64"}
TORCH_CODES = {11: "uint8", 12: "int8", 13: "int16", 14: "int16", 15: "int32", 16: "int32", 17: "int64", 18: "int64", 20: "uint16"}


@dataclass(frozen=True)
class LitDataChunk:
    path: Path
    entry: dict  # the chunk's entry in index.json
    config: dict  # index.json's config


def is_litdata_index(data: object) -> bool:
    return isinstance(data, dict) and isinstance(data.get("chunks"), list) and isinstance(data.get("config"), dict)


def _leaf(chunk: LitDataChunk, column: str | None) -> tuple[int, int, str]:
    """(the token leaf's index, the number of leaves, its dtype)."""
    path, config = chunk.path, chunk.config
    formats = config.get("data_format") or []
    names: list[str] | None = None
    try:
        spec = json.loads(config.get("data_spec") or "null")
        context = spec[1].get("context") if isinstance(spec, list) and len(spec) > 1 and isinstance(spec[1], dict) else None
        names = json.loads(context) if isinstance(context, str) else None
    except (ValueError, TypeError):
        names = None
    if len(formats) == 1:
        j = 0
    else:
        if not names or len(names) != len(formats):
            raise ArtifactError(f"{path}: items of {len(formats)} leaves ({', '.join(formats)}) and no names for them in index.json")
        j = names.index(pick_column(path, names, column, what="leaf"))
    kind, _, code = formats[j].partition(":") if formats else ("", "", "")
    table = NUMPY_CODES if kind == "no_header_numpy" else TORCH_CODES if kind == "no_header_tensor" else None
    if table is None:
        raise ArtifactError(
            f"{path}: items are {formats[j] if formats else 'of no declared format'}, not 1-D token arrays (no_header_numpy / no_header_tensor)"
        )
    if not code.isdigit() or int(code) not in table:
        raise ArtifactError(f"{path}: {formats[j]} is not an integer id dtype")
    return j, len(formats), table[int(code)]


def open_chunk(chunk: LitDataChunk, column: str | None = None):
    """An ``IdView`` over the token leaf of one LitData chunk, memory-mapped: one block per item."""
    import numpy as np

    from harness.checks.idview import IdView
    from harness.checks.storage import byte_array

    path, config = chunk.path, chunk.config
    if config.get("compression") or config.get("encryption"):
        raise ArtifactError(f"{path}: compressed or encrypted LitData chunk; this reader takes chunks written with compression=None")
    if not path.is_file():
        raise ArtifactError(f"{path}: the LitData index lists this chunk, but the file is missing")
    j, leaves, dtype = _leaf(chunk, column)
    raw = byte_array(path)  # a plain uint8 view (slicing a memmap subclass costs µs each), or a remote shard's bytes
    offsets = record_offsets(raw, path, "a LitData chunk", "items", chunk.entry.get("chunk_size"))
    if config.get("item_loader") == "TokensLoader":
        starts, nbytes = offsets[:-1], np.diff(offsets)
    else:
        sizes = field_sizes(raw, offsets, leaves)
        starts = offsets[:-1] + 4 * leaves + sizes[:, :j].sum(axis=1)
        nbytes = sizes[:, j]
    check_fields(path, "item", offsets, starts, nbytes)
    item = np.dtype(dtype).itemsize
    if (nbytes % item).any():
        raise ArtifactError(f"{path}: an item's {int(nbytes[(nbytes % item) != 0][0])} bytes are not whole {dtype} ids")
    lengths = nbytes // item
    typed = np.dtype(dtype).newbyteorder("<")

    def fetch(i: int):
        s = int(starts[i])
        return raw[s : s + int(nbytes[i])].view(typed), (int(lengths[i]),)

    return IdView(dtype, lengths, fetch)
