"""Read a project's evidence folders once: every run folder of the contracts asked for, its
``results.json`` (bytes and sanitised data) and signature, and each contract's ``LATEST`` pointer.

The judges (lint, the gate, the ledger, status, report) ask the store; none of them opens an
evidence file. A file that resolves outside the project (a committed symlink) is not read: it is
absent from the store, which the judges report as unreadable evidence.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from harness.contract.keys import RUN_ID
from harness.evidence import RESULTS_FILE, SIGNATURE_FILE, sanitise


@dataclass(frozen=True)
class EvidenceRun:
    """One run folder as it was on disk: results.json's bytes and sanitised data, its signature."""

    run_id: str
    raw: bytes
    data: dict[str, Any]
    signature: str = ""


@dataclass(frozen=True)
class EvidenceStore:
    """The evidence of some contracts (``keys``), read at one moment."""

    root: Path
    folder: str  # the evidence folder, relative to the root, as the ini names it
    runs: Mapping[str, Mapping[str, EvidenceRun]] = field(default_factory=dict)  # contract key → run id → run
    latest: Mapping[str, str] = field(default_factory=dict)  # contract key → LATEST's run id
    run_dirs: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # contract key → every run folder name, readable or not

    def run(self, pointer: str | None) -> EvidenceRun | None:
        """The run an evidence pointer (``<evidence>/<contract key>/<run id>``) names, or None."""
        if not pointer or not isinstance(pointer, str):
            return None
        parts = Path(os.path.normpath(pointer)).parts
        base = Path(os.path.normpath(self.folder)).parts
        if len(parts) < len(base) + 2 or parts[: len(base)] != base:
            return None
        key = "/".join(parts[len(base) : -1])
        return self.runs.get(key, {}).get(parts[-1])

    def results(self, pointer: str | None) -> Mapping[str, Any] | None:
        found = self.run(pointer)
        return None if found is None else found.data

    def siblings(self, key: str) -> Mapping[str, EvidenceRun]:
        return self.runs.get(key, {})


def empty_store(root: Path, folder: str) -> EvidenceStore:
    return EvidenceStore(Path(root), folder)


def read_evidence(root: Path, folder: str, keys: Iterable[str]) -> EvidenceStore:
    """Read the evidence of the contracts with these keys (each file opened once)."""
    root = Path(root).absolute()
    root_real = os.path.realpath(root)
    runs: dict[str, Mapping[str, EvidenceRun]] = {}
    latest: dict[str, str] = {}
    run_dirs: dict[str, tuple[str, ...]] = {}
    wanted = frozenset(keys)
    for key in sorted(wanted):
        directory = root / folder / key
        names = _run_names(directory)
        run_dirs[key] = names
        found = {}
        for name in names:
            run = _read_run(directory / name, name, root_real)
            if run is not None:
                found[name] = run
        runs[key] = MappingProxyType(found)
        pointer = _read_text(directory / "LATEST", root_real)
        if pointer is not None:
            latest[key] = pointer.strip()
    return EvidenceStore(root, folder, MappingProxyType(runs), MappingProxyType(latest), MappingProxyType(run_dirs))


def _run_names(directory: Path) -> tuple[str, ...]:
    try:
        with os.scandir(directory) as entries:
            return tuple(sorted(e.name for e in entries if RUN_ID.match(e.name) and e.is_dir(follow_symlinks=False)))
    except OSError:
        return ()


def _inside(path: Path, root_real: str) -> str | None:
    real = os.path.realpath(path)
    return real if real.startswith(root_real + os.sep) else None


def _read_text(path: Path, root_real: str) -> str | None:
    real = _inside(path, root_real)
    if real is None:
        return None
    try:
        with open(real, "rb") as handle:
            return handle.read().decode("utf-8", "replace")
    except OSError:
        return None


def _read_run(directory: Path, name: str, root_real: str) -> EvidenceRun | None:
    real = _inside(directory / RESULTS_FILE, root_real)
    if real is None:
        return None
    try:
        with open(real, "rb") as handle:
            raw = handle.read()
        data = json.loads(raw.decode("utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    signature = _read_text(directory / SIGNATURE_FILE, root_real) if (directory / SIGNATURE_FILE).exists() else None
    return EvidenceRun(name, raw, sanitise(data), (signature or "").strip())
