"""A content-addressed cache of schema-valid contract data, so a steady-state run does not parse
and schema-check hundreds of unchanged contracts again.

Entries are keyed by the SHA-256 of the contract text, the schema and the harness version; only
data that passed the schema is stored. Structure checks that depend on the file system (paths,
symlinks) still run on every load, and the writer always re-parses the real text.

The cache is used inside ``batch(folder)`` — one load of a project's contracts — and keeps one
file per contracts folder: a session reads one file, not one per contract, and writes it back
only when it learnt something new. Loads outside a batch parse. ``HARNESS_NO_CACHE=1`` turns it
off. An unreadable or foreign cache file is ignored: it can make a run slower, never different.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

FORMAT = 1


def enabled() -> bool:
    return os.environ.get("HARNESS_NO_CACHE", "") in ("", "0")


@lru_cache(maxsize=1)
def _directory() -> Path | None:
    from harness.cachedir import cache_dir

    try:
        path = cache_dir() / "contracts"
        path.mkdir(parents=True, exist_ok=True)
        return path
    except OSError:
        return None


@lru_cache(maxsize=1)
def _salt() -> bytes:
    """The version, the schema and the source of the checks a cached entry passed: a changed
    check (even in a development checkout, where the version stays) misses every entry. The
    checks' sources are read as files beside this one, never imported: the cache sits below the
    loader that uses it."""
    from harness import __version__

    here = Path(__file__).resolve().parent
    package = here.parent
    digest = hashlib.sha256(__version__.encode())
    for source in (
        package / "schema" / "contract.schema.json",
        here / "loader.py",
        here / "pv_rules.py",
        here / "schema.py",
        here / "subjects.py",
        package / "builtins.py",
        package / "paths.py",
    ):
        try:
            digest.update(source.read_bytes())
        except OSError:
            digest.update(b"unreadable")
    return digest.digest()


def key_for(text: str, *layout: str) -> str:
    """The entry of ``text`` loaded under ``layout`` (falsifiers folder, evidence folder, pv rules)."""
    return hashlib.sha256(_salt() + json.dumps(layout).encode() + b"\0" + text.encode("utf-8")).hexdigest()


class _Bundle:
    """The entries of one contracts folder, read once and written back once."""

    def __init__(self, file: Path) -> None:
        self.file = file
        self.entries = _read(file)
        self.used: set[str] = set()
        self.added = False

    def get(self, key: str) -> Any | None:
        plain = self.entries.get(key)
        if isinstance(plain, dict):
            self.used.add(key)
            return plain
        return None

    def put(self, key: str, plain: Any) -> None:
        self.entries[key] = plain
        self.used.add(key)
        self.added = True

    def flush(self) -> None:
        stale = len(self.entries) - len(self.used)
        if not self.added and stale <= len(self.used) + 64:
            return  # nothing new, and old versions have not piled up
        keep = self.entries if stale <= len(self.used) + 64 else {k: self.entries[k] for k in self.used}
        try:
            from harness.atomic import write_atomic

            write_atomic(self.file, json.dumps({"format": FORMAT, "salt": _salt().hex(), "entries": keep}, allow_nan=True))
        except Exception:  # a cache that cannot be written is just a slower run
            return
        _remove_legacy_entries(self.file.parent)


_LEGACY = re.compile(r"[0-9a-f]{64}\.json")  # 0.1's one file per contract text


def _remove_legacy_entries(directory: Path) -> None:
    """Drop the per-text files of the first cache format (never read again), once a bundle is written."""
    try:
        with os.scandir(directory) as entries:
            for entry in entries:
                if _LEGACY.fullmatch(entry.name) and entry.is_file(follow_symlinks=False):
                    with contextlib.suppress(OSError):
                        os.unlink(entry.path)
    except OSError:
        return


def _read(file: Path) -> dict[str, Any]:
    try:
        data = json.loads(file.read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    ok = isinstance(data, dict) and data.get("format") == FORMAT and data.get("salt") == _salt().hex() and isinstance(data.get("entries"), dict)
    return dict(data["entries"]) if ok else {}


_current: _Bundle | None = None


@contextmanager
def batch(folder: Path):
    """Use (and afterwards update) the cache of ``folder``'s contracts for the loads inside."""
    global _current
    directory = _directory() if enabled() else None
    if directory is None or _current is not None:
        yield
        return
    name = hashlib.sha256(os.fsencode(os.path.abspath(folder))).hexdigest()[:24]
    _current = _Bundle(directory / f"{name}.json")
    try:
        yield
        _current.flush()
    finally:
        _current = None


def get(key: str) -> Any | None:
    return _current.get(key) if _current is not None else None


def put(key: str, plain: Any) -> None:
    if _current is not None:
        _current.put(key, plain)
