"""The embedded corpus: real Python source, the interpreter's own standard library.

Deterministic: files in sorted order, UTF-8 only, up to a byte budget; no network.
"""

from __future__ import annotations

import sysconfig
from pathlib import Path

DEFAULT_CORPUS_BYTES = 3_000_000


def stdlib_root() -> Path:
    return Path(sysconfig.get_paths()["stdlib"])


def stdlib_documents(max_bytes: int = DEFAULT_CORPUS_BYTES, skip_tests: bool = True) -> list[tuple[str, str]]:
    """(relative name, text) of stdlib modules in sorted order until ``max_bytes`` of source."""
    root = stdlib_root()
    docs: list[tuple[str, str]] = []
    total = 0
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        if "site-packages" in rel or (skip_tests and ("/test" in rel or rel.startswith("test") or "idlelib" in rel)):
            continue
        try:
            text = path.read_text("utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        if not text.strip():
            continue
        docs.append((rel, text))
        total += len(text.encode("utf-8"))
        if total >= max_bytes:
            break
    return docs
