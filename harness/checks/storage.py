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
