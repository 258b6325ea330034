"""Token ids in a list-of-integers column: Hugging Face ``datasets`` saved to disk (Arrow IPC
files, ``data-00000-of-00001.arrow``) and parquet (``Dataset.to_parquet``, most hub datasets). One
row is one document. Read with ``pyarrow`` (the ``[datasets]`` extra), imported only here:

- Arrow files are memory-mapped and their column's value buffers used in place (zero copy);
- parquet is decoded one record batch of a row group at a time; its id count comes from the footer's statistics
  (leaf values less leaf nulls), so a shard is sized without decoding it.

The column is ``input_ids`` unless the subject declares ``column:``; a column that is not a list
of integers (floats, strings) is a finding naming it, never a guess."""

from __future__ import annotations

import threading
from pathlib import Path

from harness.checks import ArtifactError
from harness.checks.columns import pick_column

ARROW_STREAM_MAGIC = b"\xff\xff\xff\xff"
ARROW_FILE_MAGIC = b"ARROW1"
PARQUET_MAGIC = b"PAR1"


def _pyarrow():
    try:
        import pyarrow
        import pyarrow.ipc
        import pyarrow.parquet
    except ImportError:
        raise ArtifactError("reading Arrow and parquet shards needs pyarrow: pip install 'falsifier-harness[datasets]'") from None
    return pyarrow


def _numpy_dtype(path: Path, column: str, field_type) -> str:
    """The numpy dtype of the ids in a list-of-integers column; a clear error for anything else."""
    import numpy as np

    pa = _pyarrow()
    t = field_type
    if not (pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t)):
        raise ArtifactError(f"{path}: column {column!r} is {t}, not a list of token ids")
    value = t.value_type
    if not pa.types.is_integer(value):
        raise ArtifactError(f"{path}: column {column!r} holds {value} values, not integer token ids")
    return str(np.dtype(value.to_pandas_dtype()))


def _flat(path: Path, column: str, chunk):
    """(the ids of one list array as numpy — zero-copy where the buffers allow, the row offsets)."""
    import numpy as np

    pa = _pyarrow()
    if chunk.null_count:
        raise ArtifactError(f"{path}: column {column!r} has {chunk.null_count} null rows")
    values = chunk.flatten()
    if values.null_count:
        raise ArtifactError(f"{path}: column {column!r} has {values.null_count} null ids")
    if pa.types.is_fixed_size_list(chunk.type):
        width = chunk.type.list_size
        offsets = np.arange(len(chunk) + 1, dtype=np.int64) * width
    else:
        offsets = np.asarray(chunk.offsets, dtype=np.int64)
        offsets = offsets - offsets[0]
    return values.to_numpy(zero_copy_only=False), offsets


def is_arrow(head: bytes) -> bool:
    return head.startswith(ARROW_STREAM_MAGIC) or head.startswith(ARROW_FILE_MAGIC)


def open_arrow(path: Path, column: str | None = None):
    """An ``IdView`` over an Arrow IPC file (stream or file format), memory-mapped."""
    from harness.checks.idview import IdView
    from harness.checks.storage import is_remote, read_range

    pa = _pyarrow()
    try:  # a remote file is read whole into memory (datasets caps an Arrow file at 500 MB); a local one mapped
        source = pa.py_buffer(path.read_bytes()) if is_remote(path) else pa.memory_map(str(path), "r")
        head = read_range(path, 0, 8)
        reader = pa.ipc.open_file(source) if head.startswith(ARROW_FILE_MAGIC) else pa.ipc.open_stream(source)
        table = reader.read_all()
    except (pa.ArrowInvalid, OSError) as exc:
        raise ArtifactError(f"{path}: not a readable Arrow file ({exc})") from None
    name = pick_column(path, list(table.schema.names), column)
    dtype = _numpy_dtype(path, name, table.schema.field(name).type)
    chunks = [_flat(path, name, c) for c in table.column(name).chunks]
    lengths = [int(values.size) for values, _ in chunks]
    return IdView(dtype, lengths, lambda i: (chunks[i][0], chunks[i][1][1:])), name


PIECE_IDS = 1 << 18  # ids a parquet row group is decoded by at a time (its rows, batched to about this)


def open_parquet(path: Path, column: str | None = None):
    """An ``IdView`` over a parquet file, one block per row group, decoded when read: in record
    batches of about ``PIECE_IDS`` ids, so a pass holds a few MB per worker however large the
    writer made its row groups."""
    import numpy as np

    from harness.checks.idview import IdView
    from harness.checks.storage import is_remote

    pa = _pyarrow()
    try:
        parquet = pa.parquet.ParquetFile(path.open("rb") if is_remote(path) else str(path))  # remote: ranged reads per row group
    except (pa.ArrowInvalid, OSError) as exc:
        raise ArtifactError(f"{path}: not a readable parquet file ({exc})") from None
    schema = parquet.schema_arrow
    name = pick_column(path, list(schema.names), column)
    dtype = _numpy_dtype(path, name, schema.field(name).type)
    meta = parquet.metadata
    leaf = next((j for j in range(meta.num_columns) if meta.schema.column(j).path.split(".")[0] == name), None)
    lengths, rows, stored = [], [], []
    for g in range(meta.num_row_groups):
        group = meta.row_group(g)
        stats = group.column(leaf).statistics if leaf is not None else None
        if stats is not None and stats.has_null_count:
            lengths.append(group.column(leaf).num_values - stats.null_count)
        else:  # no statistics: decode the row group once to size it
            lengths.append(int(_row_group(parquet, path, name, g, min(group.num_rows, 1024) or 1)[0].size))
        rows.append(max(1, group.num_rows))
        stored.append(group.column(leaf).total_compressed_size if leaf is not None else 0)
    # rows per record batch: about PIECE_IDS ids at the group's mean row length (at least one row)
    batch_rows = [max(1, min(r, PIECE_IDS * r // max(1, n))) for r, n in zip(rows, lengths)]
    piece = max((-(-n // r) * b for n, r, b in zip(lengths, rows, batch_rows)), default=0)

    per_thread = threading.local()
    per_thread.parquet = parquet

    def reader():
        # one ParquetFile per thread: pyarrow's reader is not safe to share across threads (two
        # workers decoding row groups of one shared reader deadlocked in its read cache)
        found = getattr(per_thread, "parquet", None)
        if found is None:
            found = per_thread.parquet = pa.parquet.ParquetFile(path.open("rb") if is_remote(path) else str(path))
        return found

    def fetch(g: int):
        values, offsets = _row_group(reader(), path, name, g, batch_rows[g], lengths[g])
        if values.size != lengths[g]:
            raise ArtifactError(f"{path}: row group {g} holds {values.size} ids, its footer says {lengths[g]}")
        return values, offsets[1:]

    def stream(g: int):
        held = 0
        for ids, _ in _batches(reader(), path, name, g, batch_rows[g]):
            held += ids.size
            if held > lengths[g]:
                raise ArtifactError(f"{path}: row group {g} holds more than the {lengths[g]} ids its footer says")
            yield ids
        if held != lengths[g]:
            raise ArtifactError(f"{path}: row group {g} holds {held} ids, its footer says {lengths[g]}")

    # what one worker holds while it reads a group: the group's stored column chunk, read whole,
    # and the decoding of one record batch (pyarrow's list builders peak near 6x its ids)
    worker_bytes = max(stored, default=0) + 8 * piece * max(4, np.dtype(dtype).itemsize) if lengths else 0
    return IdView(dtype, lengths, fetch, lazy=True, stream=stream, worker_bytes=worker_bytes), name


def _batches(parquet, path: Path, column: str, g: int, rows: int):
    """(ids, row offsets) of row group ``g``, ``rows`` rows at a time."""
    for batch in parquet.iter_batches(batch_size=rows, row_groups=[g], columns=[column], use_threads=False):
        yield _flat(path, column, batch.column(0))


def _row_group(parquet, path: Path, column: str, g: int, rows: int, expected: int | None = None):
    """(the ids of row group ``g``, its rows' offsets), decoded a record batch at a time into one
    array of the column's dtype.

    ``read_row_group`` builds the whole group's list array at once: on a group of 2·10⁷ ids it
    peaked at 3.8x the decoded ids in pyarrow's pool and took twice as long as batches of a few
    hundred thousand ids, which peak at the ids plus a few MB."""
    import numpy as np

    dtype = _numpy_dtype(path, column, parquet.schema_arrow.field(column).type)
    parts, ends, total = [], [np.zeros(1, dtype=np.int64)], 0
    values = None if expected is None else np.empty(expected, dtype=dtype)
    for ids, offsets in _batches(parquet, path, column, g, rows):
        if values is not None:
            if total + ids.size > expected:
                raise ArtifactError(f"{path}: row group {g} holds more than the {expected} ids its footer says")
            values[total : total + ids.size] = ids
        else:
            parts.append(ids)
        ends.append(offsets[1:] + total)
        total += ids.size
    if values is None:
        values = np.concatenate(parts) if parts else np.zeros(0, dtype=dtype)
    elif total != expected:
        values = values[:total]  # fewer than the footer says: the caller reports it
    return values, np.concatenate(ends)


def dataset_files(directory: Path) -> list[Path] | None:
    """The Arrow files of a ``datasets`` directory (``save_to_disk``: ``state.json`` lists them;
    a ``DatasetDict``: each split's directory), in order; None when it is not one."""
    import json

    if (directory / "dataset_dict.json").is_file():
        try:
            splits = json.loads((directory / "dataset_dict.json").read_text("utf-8")).get("splits") or []
        except (OSError, ValueError) as exc:
            raise ArtifactError(f"{directory / 'dataset_dict.json'}: unreadable ({exc})") from None
        if not isinstance(splits, list) or not all(_plain_name(v) for v in splits):
            raise ArtifactError(f"{directory / 'dataset_dict.json'}: splits must be folder names inside it, not {splits!r}")
        return [f for split in splits for f in (dataset_files(directory / split) or [])]
    state = directory / "state.json"
    if not state.is_file():
        return None
    try:
        files = [entry["filename"] for entry in json.loads(state.read_text("utf-8")).get("_data_files", [])]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ArtifactError(f"{state}: unreadable datasets state ({exc})") from None
    bad = [name for name in files if not _plain_name(name)]
    if bad:
        raise ArtifactError(f"{state}: a data file must be a file name inside its folder, not {bad[0]!r}")
    return [directory / name for name in files]


def _plain_name(name) -> bool:
    """One file or folder name inside a dataset's folder: no separator, not ``.`` or ``..``."""
    return isinstance(name, str) and name not in ("", ".", "..") and "/" not in name and "\\" not in name and "\x00" not in name
