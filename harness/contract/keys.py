"""Contract identity: the key of a contract is its path under the contracts folder without the
suffix (``a/c`` for ``contracts/a/c.yaml``), unique by construction except for ``c.yaml`` beside
``c.yml`` — a clash reported as a finding. Evidence folders are named by these keys, and run
folders by ``RUN_ID``; ``--contract`` selects by key, metadata id or a unique stem."""

from __future__ import annotations

import os
import re
from functools import lru_cache
from pathlib import Path

from harness.findings import Finding

RUN_ID = re.compile(r"^[0-9]{8}T[0-9]{6}Z-[0-9a-f]{6}$")


def contract_key(path: Path, contracts_dir: Path | None) -> str:
    """``a/c`` for ``<contracts>/a/c.yaml``; the bare stem for a file outside the contracts folder."""
    path, folder = os.fspath(path), None if contracts_dir is None else os.fspath(contracts_dir)
    # the cache is keyed by absolute paths: a relative one means something else after a chdir
    if not os.path.isabs(path):
        path = os.path.abspath(path)
    if folder is not None and not os.path.isabs(folder):
        folder = os.path.abspath(folder)
    return _contract_key(path, folder)


@lru_cache(maxsize=65536)
def _contract_key(path: str, contracts_dir: str | None) -> str:
    stem = os.path.basename(path).rsplit(".", 1)[0]
    if contracts_dir is None:
        return stem
    absolute, base = os.path.normpath(path), os.path.normpath(contracts_dir)
    if absolute.startswith(base.rstrip(os.sep) + os.sep):  # the common case, without relpath
        parts = absolute[len(base.rstrip(os.sep)) + 1 :].split(os.sep)
    else:
        try:
            parts = list(Path(os.path.relpath(absolute, base)).parts)
        except ValueError:
            return stem
    if parts and parts[0] == "..":
        return stem
    return "/".join([*parts[:-1], stem])


def key_clashes(paths: list[Path], contracts_dir: Path | None, display) -> tuple[list[Path], list[Finding]]:
    """Drop every file whose key another file also has (``c.yaml`` + ``c.yml``): neither may take
    the other's verdict or evidence. Returns (kept files, one finding per clashing file)."""
    by_key: dict[str, list[Path]] = {}
    for path in paths:
        by_key.setdefault(contract_key(path, contracts_dir), []).append(path)
    kept, findings = [], []

    for path in paths:
        key = contract_key(path, contracts_dir)
        same = by_key[key]
        reserved = [part for part in key.split("/")[1:] if part == "LATEST" or RUN_ID.match(part)]
        if reserved:  # evidence/<a>/LATEST is contract a's pointer file; a/LATEST's folder would collide
            findings.append(
                Finding(
                    display(path),
                    0,
                    0,
                    "reserved-name",
                    f"its contract key {key!r} has a folder part {reserved[0]!r}, a name evidence folders reserve (LATEST, run ids); rename the file",
                )
            )
            continue
        if len(same) == 1:
            kept.append(path)
            continue
        others = ", ".join(display(p) for p in same if p != path)
        findings.append(
            Finding(
                display(path),
                0,
                0,
                "duplicate-contract",
                f"has the same contract key {contract_key(path, contracts_dir)!r} as {others}; rename one (results and evidence are keyed by it)",
            )
        )
    return kept, findings


class SelectionError(ValueError):
    """A ``--contract`` name that names no contract, or several (an ambiguous stem)."""


def select_contracts(contracts: list, names: list[str], refused: dict | None = None) -> list:
    """The contracts ``names`` select, by key (``a/c``), metadata.id, or file stem when that stem is
    unique. One rule for the plugin, the gate and the summary. ``refused`` maps the stems of files
    that did not validate to their first finding, so naming one says why."""
    chosen: list = []
    for name in names:
        exact = [c for c in contracts if name in (c.key, c.id)]
        by_stem = [c for c in contracts if c.key.rsplit("/", 1)[-1] == name]
        if not exact and len(by_stem) > 1:
            raise SelectionError(f"{name} is ambiguous; it is the stem of {', '.join(sorted(c.key for c in by_stem))}: name one by its key")
        found = exact or by_stem
        if not found:
            if refused and name in refused:
                raise SelectionError(f"{name} does not validate: {refused[name].render()}")
            raise SelectionError(f"unknown contract {name}; known contracts: {', '.join(sorted(c.key for c in contracts)) or '(none found)'}")
        chosen.extend(c for c in found if c not in chosen)
    return chosen
