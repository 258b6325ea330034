"""Paths a contract names, judged as text and as places: inside the project (or an allowed root),
never through a symlink that leads out, shown relative to the root. The bottom layer: nothing here
imports another harness module but the built-ins' prefix."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from harness.builtins import PREFIX as BUILTIN_PREFIX


def display_path(path: Path, root: Path | None) -> str:
    text = os.fspath(path)
    if root is not None and os.path.isabs(text):
        base = os.fspath(root).rstrip(os.sep) + os.sep
        if text.startswith(base) and os.path.normpath(text) == text:  # the common case, without relpath
            return text[len(base) :].replace(os.sep, "/")
        try:
            return Path(os.path.relpath(text, root)).as_posix()
        except ValueError:
            pass
    return Path(text).as_posix()


def check_artifact_path(value: str, root: Path, allowed_roots: tuple[Path, ...] = ()) -> str | None:
    """Why ``value`` may not be used as an artifact path, or None when it is safe."""
    if value.startswith(BUILTIN_PREFIX):
        return None
    if "\x00" in value:
        return "contains a NUL byte"
    candidate = Path(value)
    roots = (root, *allowed_roots)
    if candidate.is_absolute():
        absolute = candidate
    else:
        absolute = root / candidate
    normal = Path(os.path.normpath(absolute))
    if not any(_is_within(normal, r) for r in roots):
        return "escapes the repository (and every allowed artifact root)"
    try:
        real = Path(os.path.realpath(absolute))
    except (OSError, ValueError):
        return "cannot be resolved"
    if not any(_is_within(real, Path(os.path.realpath(r))) for r in roots):
        return "resolves through a symlink to a place outside the repository"
    return None


def _is_within(path: Path, root: Path) -> bool:
    try:
        path.relative_to(os.path.normpath(root))
        return True
    except ValueError:
        return False


def remote_roots_from_env() -> tuple[str, ...]:
    """URL prefixes a contract may read shards under (``$HARNESS_REMOTE_ROOTS``, space- or
    comma-separated: ``s3://bucket/tokens/ gs://other/``)."""
    raw = os.environ.get("HARNESS_REMOTE_ROOTS", "")
    return tuple(p for p in raw.replace(",", " ").split() if p)


def check_url(value: str, root: Path, allowed_roots: tuple[Path, ...] = ()) -> str | None:
    """Why a contract may not read shards at URL ``value``, or None. A contract is untrusted
    data: a ``file://`` URL obeys the rules of a local path (inside the project or an allowed
    root), ``memory://`` is this process's own, and any other store (``s3://``, ``gs://``, ``hf://``)
    only under a prefix the runner allows in ``$HARNESS_REMOTE_ROOTS`` — a pull request must not
    point CI's credentials at a bucket of its choosing."""
    scheme, _, rest = value.partition("://")
    scheme = scheme.lower()
    if "\x00" in value:
        return "contains a NUL byte"
    if ".." in rest.split("/"):
        return "has a '..' part"
    if scheme == "file":
        return check_artifact_path(rest if rest.startswith("/") else "/" + rest, root, allowed_roots)
    if scheme == "memory":
        return None
    if any(value.startswith(prefix if prefix.endswith("/") else prefix + "/") or value == prefix for prefix in remote_roots_from_env()):
        return None
    return f"is a {scheme}:// URL outside every prefix in $HARNESS_REMOTE_ROOTS (the runner names the stores a contract may read)"


def artifact_roots_from_env() -> tuple[Path, ...]:
    raw = os.environ.get("HARNESS_ARTIFACT_ROOTS", "")
    return tuple(Path(p) for p in raw.split(os.pathsep) if p)


def is_under(relative: str, folder: str) -> bool:
    """Whether ``relative`` names a place strictly inside ``folder``, compared part by part
    (``evidence-forged/x`` is not under ``evidence``)."""
    if os.path.isabs(relative) or "\x00" in relative:
        return False
    parts = _parts(relative)
    base = _parts(folder)
    return len(parts) > len(base) and parts[: len(base)] == base and ".." not in parts


@lru_cache(maxsize=4096)
def _parts(path: str) -> tuple[str, ...]:
    return Path(os.path.normpath(path)).parts


def local_part(path) -> str | None:
    """The local file a path names: itself, or a ``file://`` URL's path; None for a remote object."""
    if isinstance(path, Path):
        return os.fspath(path)
    protocol = getattr(path, "protocol", None)
    if protocol in ("file", "local") or (isinstance(protocol, tuple) and {"file", "local"} & set(protocol)):
        return getattr(path, "path", None)
    return None


def confinement_problem(path, root: Path, allowed_roots: tuple[Path, ...] = ()) -> str | None:
    """Why a file a reader would open for a contract's subject may not be opened: it lies, after
    every symlink is resolved, outside the project and every allowed root. Checked on what the
    readers really open (a folder's files, an index's listed shards, a ``file://`` glob's matches),
    not only on the pattern the contract wrote."""
    local = local_part(path)
    if local is None:
        return None
    why = check_artifact_path(local, root, allowed_roots)
    return f"{local} {why}" if why else None
