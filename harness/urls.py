"""Shards at fsspec URLs (``s3://``, ``gs://``, ``hf://``, ``memory://``, ``file://``, …), named
as ``upath.UPath`` s — the pathlib interface over fsspec (the ``[remote]`` extra) — so a reader
uses one API for a local path and a remote object. What a URL is, how one is expanded, and what
stands for a remote object's version (a fingerprint cannot hash terabytes); the reading itself is
``harness.checks.storage``'s."""

from __future__ import annotations

import re
from pathlib import Path


class UrlError(ValueError):
    """A URL that cannot be opened here: the extra missing, an unknown protocol, a store refusing."""


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
        raise UrlError(f"{where}: reading shards from a URL needs universal-pathlib: pip install 'falsifier-harness[remote]'") from None
    try:
        return UPath(where)
    except (ValueError, ImportError) as exc:  # an unknown protocol, or its fsspec backend not installed
        raise UrlError(f"{where}: {exc}") from None


# What a store reports that changes when an object is rewritten: every one of them is kept, not
# the first found — S3's LastModified has one-second resolution, its ETag follows the content;
# GCS has a generation, versioned buckets a version id.
VERSION_KEYS = ("mtime", "LastModified", "last_modified", "ETag", "etag", "md5Hash", "crc32c", "generation", "VersionId", "version_id", "oid", "created")


def stamp(path) -> tuple:
    """What changes when the file is rewritten: (size, modification time) — for a remote object,
    its size and every version its store reports (``VERSION_KEYS``)."""
    try:
        if not is_remote(path):
            info = path.stat()
            return (info.st_size, info.st_mtime_ns)
        info = path.fs.info(path.path)
        return (info.get("size"), "|".join(f"{key}={info[key]}" for key in VERSION_KEYS if info.get(key) not in (None, "")))
    except (OSError, FileNotFoundError) as exc:
        raise UrlError(f"{path}: cannot stat ({exc})") from None


def expand_url(pattern: str) -> list:
    """The objects a URL glob (or a URL) names, as ``UPath`` s, sorted; a folder URL stands for
    the folder (its index names the shards)."""
    base = location(pattern)
    try:
        if not any(ch in pattern for ch in "*?["):
            return [base] if base.exists() else []
        found = base.fs.glob(base.path)
    except OSError as exc:
        raise UrlError(f"{pattern}: {exc}") from None
    return sorted((location(base.fs.unstrip_protocol(p)) for p in found), key=str)
