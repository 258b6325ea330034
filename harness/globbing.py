"""Expand a contract's artifact globs without trusting them.

A contract is untrusted data, and its globs are the one place where it makes the harness walk the
file system. ``glob.glob`` is the wrong tool for that: it is exponential in the number of ``**``
parts (``**/**/**/**/*.npy`` on a deep tree ran for minutes), it follows ``..`` and symlinks out
of the project, and only the literal part before the first ``*`` could be checked. Here a pattern
is split into parts, ``..`` is refused, repeated ``**`` collapse into one, the tree under the
literal prefix is walked once (linear, at most ``MAX_GLOB_ENTRIES`` entries), each path is matched
part by part, and every match is resolved and must lie inside the project or an allowed root.
"""

from __future__ import annotations

import fnmatch
import os
from functools import cache
from pathlib import Path

MAX_GLOB_ENTRIES = 200_000  # files and folders one pattern may make the harness look at
MAX_RECURSIVE_PARTS = 2  # ``**`` parts in one pattern (after collapsing ``**/**``)
_MAGIC = frozenset("*?[")


class GlobError(ValueError):
    """A pattern the harness refuses to expand, or a match that leads out of the project."""


def pattern_parts(pattern: str) -> list[str]:
    """The parts of a glob, ``.`` dropped and ``**/**`` collapsed; ``..`` anywhere is refused."""
    if "\x00" in pattern:
        raise GlobError("contains a NUL byte")
    parts: list[str] = []
    for part in pattern.replace("\\", "/").split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            raise GlobError("has a '..' part (a glob may not climb out of the folder it names)")
        if part == "**" and parts and parts[-1] == "**":
            continue
        parts.append(part)
    if sum(part == "**" for part in parts) > MAX_RECURSIVE_PARTS:
        raise GlobError(f"has more than {MAX_RECURSIVE_PARTS} '**' parts")
    return parts


def _is_magic(part: str) -> bool:
    return any(ch in _MAGIC for ch in part)


def _part_matches(name: str, part: str) -> bool:
    """``glob`` semantics for one part: a leading dot is matched only by a pattern that has one."""
    if name.startswith(".") and not part.startswith("."):
        return False
    return fnmatch.fnmatchcase(name, part)


def _matches(names: tuple[str, ...], parts: tuple[str, ...]) -> bool:
    """Whether the relative path ``names`` matches ``parts`` (``**``: zero or more folders)."""

    @cache
    def match(i: int, j: int) -> bool:
        if j == len(parts):
            return i == len(names)
        if parts[j] == "**":
            if match(i, j + 1):
                return True
            return i < len(names) - 1 and not names[i].startswith(".") and match(i + 1, j)
        return i < len(names) and _part_matches(names[i], parts[j]) and match(i + 1, j + 1)

    return match(0, 0)


def _inside(real: str, roots: tuple[str, ...]) -> bool:
    return any(real == r or real.startswith(r.rstrip(os.sep) + os.sep) for r in roots)


def expand_glob(root: Path, pattern: str, allowed_roots: tuple[Path, ...] = ()) -> list[Path]:
    """Files matching ``pattern`` under ``root`` (``**`` allowed), sorted; ``GlobError`` when the
    pattern is refused, the walk is too large, or a match resolves outside the project."""
    root = Path(root)
    parts = pattern_parts(pattern)
    absolute = pattern.startswith("/")
    literal: list[str] = []
    for part in parts:
        if _is_magic(part):
            break
        literal.append(part)
    rest = tuple(parts[len(literal) :])
    base = Path("/", *literal) if absolute else root.joinpath(*literal)
    roots = tuple(os.path.realpath(r) for r in (root, *allowed_roots))
    if not _inside(os.path.normpath(base), tuple(os.path.normpath(r) for r in (root, *allowed_roots))):
        raise GlobError("escapes the repository (and every allowed artifact root)")
    if not rest:
        return [_checked(base, roots)] if base.is_file() else []
    found: list[Path] = []
    seen_dirs: set[str] = set()
    visited = 0
    depth_limit = None if "**" in rest else len(rest)
    dotted = any(part.startswith(".") for part in rest)
    stack: list[tuple[Path, tuple[str, ...]]] = [(base, ())]
    while stack:
        folder, names = stack.pop()
        real_folder = os.path.realpath(folder)
        if real_folder in seen_dirs or not _inside(real_folder, roots):
            continue  # a folder symlink leading out (or back in a loop) is not walked
        seen_dirs.add(real_folder)
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        visited += len(entries)
        if visited > MAX_GLOB_ENTRIES:
            raise GlobError(f"makes the harness look at more than {MAX_GLOB_ENTRIES:,} files and folders under {base}; name a narrower folder")
        for entry in entries:
            relative = (*names, entry.name)
            try:
                is_dir = entry.is_dir()
            except OSError:
                continue
            if is_dir:
                if entry.name.startswith(".") and not dotted:
                    continue  # like glob: hidden folders only for a pattern that names one
                if depth_limit is None or len(relative) < depth_limit:
                    stack.append((Path(entry.path), relative))
            elif _matches(relative, rest):
                path = Path(entry.path)
                if path.is_file():
                    found.append(_checked(path, roots))
    return sorted(set(found))


def _checked(path: Path, roots: tuple[str, ...]) -> Path:
    real = os.path.realpath(path)
    if not _inside(real, roots):
        raise GlobError(f"matches {path}, which resolves to {real}, outside the project")
    return path
