"""The contract model: a pv contract seen through what the harness needs of it.

The ruamel document stays the source of truth (the writer edits it in place); these dataclasses
are read-only views built once by the loader.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

FALSIFIER_STATUSES = ("OPEN", "DISCHARGED", "FALSIFIED", "METHODOLOGY_SUSPECT")
MANAGED_CONTRACT_STATUSES = ("DRAFT", "DRAFT_PARTIAL_DISCHARGE", "ACTIVE_RUNTIME", "FALSIFIED")
# Statuses seen in real pv contracts that the harness reads but never derives or rewrites.
KNOWN_FOREIGN_STATUSES = (
    "PARTIAL_ALGORITHM_LEVEL",
    "FUNCTIONAL",
    "ACTIVE",
    "ACTIVE_ALGORITHM_LEVEL",
    "PROPOSED",
    "STABLE",
    "DEPRECATED",
    "SUPERSEDED",
    "EXPERIMENTAL",
    "DISCHARGED",
    "RETIRED",
)

NODE_ID = re.compile(r"^(?P<file>[A-Za-z0-9_][A-Za-z0-9_./-]*\.py)::(?P<func>[A-Za-z_][A-Za-z0-9_]*)$")


@lru_cache(maxsize=8192)  # the same few tests are bound from hundreds of contracts
def parse_node_id(test: str) -> tuple[str, str] | None:
    """``falsifiers/test_x.py::test_y`` → (file, function); None for any other text."""
    match = NODE_ID.match(test.strip())
    if not match:
        return None
    return match["file"], match["func"]


@dataclass(frozen=True)
class Falsifier:
    id: str
    test: str
    index: int  # position in falsification_tests
    line: int
    bound: bool
    test_file: str | None = None  # relative to the repository root, posix
    test_func: str | None = None
    subject: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    requires: tuple[str, ...] = ()
    full_scan: bool = False  # the claim needs every id read: a sampled verdict (params: sample) cannot back it
    plausible: dict[str, tuple[float, float]] = field(default_factory=dict)
    status: str | None = None
    fingerprint: str | None = None
    evidence: str | None = None
    digest: str | None = None  # sha256 of the evidence's results.json, written with the pointer
    ship_blocking: bool = False
    builtin: str | None = None  # the built-in's name when ``test`` is ``builtin:<name>``
    shape: str = "falsification_tests"  # where the contract keeps it (pv shapes: falsification, gates, invariants)
    entry_key: str | None = None  # its key when the shape is a mapping of entries (``falsifiers: {F-A: …}``)

    @property
    def needs_cuda(self) -> bool:
        return "cuda" in self.requires

    @property
    def effective_status(self) -> str:
        return self.status or "OPEN"


_FALSIFIER_FIELDS = frozenset(Falsifier.__dataclass_fields__)
_FALSIFIER_DEFAULTS = {"shape": "falsification_tests", "entry_key": None, "full_scan": False}


def new_falsifier(**values: Any) -> Falsifier:
    """``Falsifier(**values)`` for the loader, which builds thousands per session: the frozen
    dataclass's ``__init__`` pays an ``object.__setattr__`` per field. Every field but ``shape``,
    ``entry_key`` and ``full_scan`` must be given; an unknown or missing name is a TypeError, as it
    would be."""
    state = {**_FALSIFIER_DEFAULTS, **values}
    if state.keys() != _FALSIFIER_FIELDS:
        raise TypeError(f"new_falsifier: unknown {sorted(state.keys() - _FALSIFIER_FIELDS)}, missing {sorted(_FALSIFIER_FIELDS - state.keys())}")
    falsifier = object.__new__(Falsifier)
    falsifier.__dict__.update(state)
    return falsifier


@dataclass(frozen=True)
class Hypothesis:
    id: str
    statement: str
    refuted_by: tuple[str, ...] = ()
    supported_by: tuple[str, ...] = ()
    status: str | None = None
    index: int = 0
    line: int = 0


@dataclass(frozen=True)
class Promotion:
    to: str = "ACTIVE_RUNTIME"
    require_all_discharged: bool = True
    # measurement name (optionally "FALSIFIER-ID:name") → inclusive range
    measurements: dict[str, tuple[float, float]] = field(default_factory=dict)


@dataclass
class Contract:
    path: Path
    display_path: str
    text: str
    _doc: Any  # ruamel CommentedMap (the source of truth), or None until first needed
    key: str  # path under the contracts folder, no suffix: unique; names results and evidence folders
    id: str  # metadata.id, or the key when absent
    status: str | None
    status_location: str  # "metadata" or "top"
    falsifiers: list[Falsifier] = field(default_factory=list)
    hypotheses: list[Hypothesis] = field(default_factory=list)
    promotion: Promotion | None = None
    subjects: dict[str, Any] = field(default_factory=dict)  # declared artifact subjects, by name
    stat_signature: tuple[int, int] | None = None  # (mtime_ns, size) when loaded

    @property
    def doc(self) -> Any:
        """The round-trip document, parsed on first use (the fast load path does not need it)."""
        if self._doc is None:
            from harness.contract.yamlio import load_roundtrip

            self._doc = load_roundtrip(self.text)
        return self._doc

    def line_of(self, falsifier: Falsifier) -> int:
        from harness.contract.positions import line_of

        where = falsifier.entry_key if falsifier.entry_key is not None else falsifier.index
        return falsifier.line or line_of(self.doc, [falsifier.shape, where])

    @property
    def bound_falsifiers(self) -> list[Falsifier]:
        return [f for f in self.falsifiers if f.bound]

    def falsifier(self, falsifier_id: str) -> Falsifier | None:
        for f in self.falsifiers:
            if f.id == falsifier_id:
                return f
        return None

    def names(self) -> set[str]:
        return {self.key, self.id}
