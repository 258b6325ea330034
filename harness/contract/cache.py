"""A content-addressed cache of schema-valid contract data, so a steady-state run does not parse
and schema-check hundreds of unchanged contracts again.

Keyed by the SHA-256 of the contract text, the schema and the harness version; only data that
passed the schema is stored. Structure checks that depend on the file system (paths, symlinks)
still run on every load, and the writer always re-parses the real text. ``HARNESS_NO_CACHE=1``
turns it off.
"""

from __future__ import annotations

import hashlib
import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Any


def enabled() -> bool:
    return os.environ.get("HARNESS_NO_CACHE", "") in ("", "0")


@lru_cache(maxsize=1)
def _directory() -> Path | None:
    from harness.subjects.cache import cache_dir

    try:
        path = cache_dir() / "contracts"
        path.mkdir(parents=True, exist_ok=True)
        return path
    except OSError:
        return None


@lru_cache(maxsize=1)
def _salt() -> bytes:
    from harness import __version__
    from harness.contract.schema import contract_schema

    return hashlib.sha256((__version__ + json.dumps(contract_schema(), sort_keys=True)).encode()).digest()


def key_for(text: str) -> str:
    return hashlib.sha256(_salt() + text.encode("utf-8")).hexdigest()


def get(key: str) -> Any | None:
    directory = _directory()
    if directory is None or not enabled():
        return None
    try:
        data = json.loads((directory / f"{key}.json").read_text("utf-8"))
    except (OSError, ValueError):
        return None
    return data.get("plain") if isinstance(data, dict) and data.get("key") == key else None


def put(key: str, plain: Any) -> None:
    directory = _directory()
    if directory is None or not enabled():
        return
    try:
        from harness.writer import write_atomic

        write_atomic(directory / f"{key}.json", json.dumps({"key": key, "plain": plain}, allow_nan=True))
    except Exception:  # a cache that cannot be written is just a slower run
        return
