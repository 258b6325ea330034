"""The framing MosaicML MDS shards and LitData chunks share (LitData's writer descends from
streaming's): ``uint32 n``, ``uint32 offsets[n + 1]`` (byte offsets of each record in the file),
then the records; a record of several variable-size fields starts with one ``uint32`` size per
field. Parsed here once, with the same findings for a truncated or miscounted file in both."""

from __future__ import annotations

from pathlib import Path

from harness.checks import ArtifactError


def record_offsets(raw, path: Path, kind: str, what: str, declared: int | None):
    """The ``n + 1`` record offsets of a framed file (``raw``: its bytes as uint8), checked against
    the file's size and the count its index declares."""
    import numpy as np

    if raw.size < 4:
        raise ArtifactError(f"{path}: {raw.size} bytes, shorter than {kind} header")
    n = int(raw[:4].view("<u4")[0])
    if declared is not None and n != declared:
        raise ArtifactError(f"{path}: holds {n} {what}, index.json says {declared}")
    if raw.size < 4 * (n + 2):
        raise ArtifactError(f"{path}: truncated: {raw.size} bytes, shorter than the offsets of {n} {what}")
    offsets = raw[4 : 4 * (n + 2)].view("<u4").astype(np.int64)
    if n and int(offsets[-1]) > raw.size:
        raise ArtifactError(f"{path}: truncated: {raw.size} bytes, its offsets run to byte {int(offsets[-1])}")
    if n and (np.diff(offsets) < 0).any():
        k = int(np.flatnonzero(np.diff(offsets) < 0)[0])
        raise ArtifactError(f"{path}: {what} {k} ends at byte {int(offsets[k + 1])}, before it starts at byte {int(offsets[k])}: the offsets are corrupt")
    return offsets


def check_fields(path: Path, what: str, offsets, starts, nbytes) -> None:
    """Each record's field lies inside the record: a size that runs past the record's end (or the
    file's) is corrupt, never clipped to what is there."""
    import numpy as np

    ends = offsets[1:]
    bad = (nbytes < 0) | (starts < offsets[:-1]) | (starts + nbytes > ends)
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        raise ArtifactError(
            f"{path}: {what} {k} says its ids run from byte {int(starts[k])} for {int(nbytes[k])} bytes, past the record's end at byte {int(ends[k])}: "
            "the sizes are corrupt (not clipped: the reader would read another record's bytes, or the file's end)"
        )


def field_sizes(raw, offsets, fields: int):
    """(records, fields) int64: the ``uint32`` sizes each record starts with."""
    import numpy as np

    n = int(offsets.size) - 1
    if not fields or not n:
        return np.zeros((n, fields), dtype=np.int64)
    pos = offsets[:-1, None] + 4 * np.arange(fields)[None, :]
    return raw[(pos[..., None] + np.arange(4)).reshape(-1)].view("<u4").reshape(n, fields).astype(np.int64)
