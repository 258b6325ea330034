"""Where built subjects live: ``$HARNESS_CACHE_DIR``, else ``~/.cache/falsifier-harness``."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    base = os.environ.get("HARNESS_CACHE_DIR") or os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "falsifier-harness")
    path = Path(base)
    path.mkdir(parents=True, exist_ok=True)
    return path


def build_lock(name: str):
    """A cross-process lock for building one cached subject: parallel workers (pytest-xdist) on a
    cold cache wait for the first builder instead of writing the same files at once."""
    from filelock import FileLock

    return FileLock(str(cache_dir() / f".{name}.lock"), timeout=1800)
