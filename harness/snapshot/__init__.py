"""One read of a project as it is on disk, into one immutable value the judges share.

``read_snapshot`` reads, in one pass: the layout (pytest's ini), every contract file (bytes,
stat, parsed model, findings), the evidence of those contracts (run records, signatures,
``LATEST``), the bound tests' sources and what they import (``harness.sources``), the current
fingerprint of every verdict on disk, the declared subjects' artifacts as they stand, the
fixtures the project defines and the lint baseline. Validate, lint, status, gate, report and the
plugin's session judge this value; none of them opens a contract, evidence or ini file. Writers
(the contract rewrite, evidence) apply their edits at the end, re-reading a contract only under
the contracts lock, through this package (``load_contract``).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from harness.contract.model import Contract, Falsifier
from harness.findings import Finding
from harness.snapshot.contracts import ProjectContracts, load_contract, load_contracts
from harness.snapshot.discovery import discover, find_project_root
from harness.snapshot.evidence import EvidenceStore, empty_store, read_evidence
from harness.snapshot.layout import Layout, contract_root, read_layout
from harness.sources import TestInfo

BASELINE_FILE = ".harness/lint-baseline.json"

__all__ = [
    "BASELINE_FILE",
    "EvidenceStore",
    "Layout",
    "ProjectContracts",
    "Snapshot",
    "contract_root",
    "discover",
    "find_project_root",
    "load_contract",
    "load_contracts",
    "read_layout",
    "read_snapshot",
]

_EMPTY: Mapping = MappingProxyType({})


@dataclass(frozen=True)
class Snapshot:
    """A project at one moment. ``tests``, ``fingerprints``, ``subject_problems`` and ``fixtures``
    are filled by ``with_sources``; ``evidence`` by ``with_evidence`` (``read_snapshot`` does both
    unless asked not to)."""

    layout: Layout
    files: tuple[Path, ...] = ()
    contracts: tuple[Contract, ...] = ()
    findings: tuple[Finding, ...] = ()
    evidence: EvidenceStore | None = None
    tests: Mapping[tuple[str, str], TestInfo] = field(default_factory=lambda: _EMPTY)
    fingerprints: Mapping[tuple[str, str], str | None] = field(default_factory=lambda: _EMPTY)  # (contract key, falsifier id) → now
    subject_problems: Mapping[tuple[str, str], tuple] = field(default_factory=lambda: _EMPTY)  # (contract key, subject) → problems
    path_edits: Mapping[tuple[str, str], tuple[str, ...]] = field(default_factory=lambda: _EMPTY)  # (contract key, falsifier id) → "conftest.py:12", …
    fixtures: frozenset[str] | None = None  # fixture names the project defines (None: not read)
    baseline: frozenset[str] = frozenset()
    sources_read: bool = False

    @property
    def root(self) -> Path:
        return self.layout.root

    def test(self, falsifier: Falsifier) -> TestInfo:
        """What the source says about a bound falsifier's test (read by ``with_sources``)."""
        return self.tests[(falsifier.test_file, falsifier.test_func)]

    def current_fingerprint(self, contract: Contract, falsifier: Falsifier) -> str | None:
        """The fingerprint a verdict on ``falsifier`` would carry now; None when its test is gone."""
        return self.fingerprints.get((contract.key, falsifier.id))

    def select(self, contracts: Iterable[Contract]) -> Snapshot:
        return dataclasses.replace(self, contracts=tuple(contracts))

    def with_evidence(self, contracts: Iterable[Contract] | None = None) -> Snapshot:
        """This snapshot with the evidence of ``contracts`` (default: all of its contracts) read."""
        keys = [c.key for c in (self.contracts if contracts is None else contracts)]
        return dataclasses.replace(self, evidence=read_evidence(self.root, self.layout.evidence, keys))

    def with_sources(self, contracts: Iterable[Contract] | None = None) -> Snapshot:
        """This snapshot with the bound tests, current fingerprints, subject artifacts and fixtures
        of ``contracts`` (default: all of them) read."""
        return dataclasses.replace(self, **_read_sources(self, list(self.contracts if contracts is None else contracts)))

    @property
    def store(self) -> EvidenceStore:
        return self.evidence if self.evidence is not None else empty_store(self.root, self.layout.evidence)


def read_snapshot(root: Path | Layout, paths: list[Path] | None = None, *, evidence: bool = True, sources: bool = True, baseline: bool = True) -> Snapshot:
    """Read the project at ``root`` (or with this layout): its contracts (or those under
    ``paths``), and unless told otherwise their evidence and sources."""
    layout = root if isinstance(root, Layout) else read_layout(Path(root).absolute())
    project = load_contracts(layout, paths)
    snapshot = Snapshot(
        layout=layout,
        files=tuple(project.files),
        contracts=tuple(project.contracts),
        findings=tuple(project.findings),
        baseline=(read_baseline(layout.root) | read_pv_baseline(layout.contracts_dir)) if baseline else frozenset(),
    )
    if evidence:
        snapshot = snapshot.with_evidence()
    if sources:
        snapshot = snapshot.with_sources()
    return snapshot


def read_pv_baseline(contracts_dir: Path) -> frozenset[str]:
    """pv's ``.pv/lint-previous.json`` beside the contracts: its fingerprints count as known too."""
    from harness.pv_baseline import read_pv_baseline as read

    return read(contracts_dir)


def read_baseline(root: Path) -> frozenset[str]:
    """The lint findings a project accepted as known (``harness lint --update-baseline``)."""
    try:
        data = json.loads((Path(root) / BASELINE_FILE).read_text("utf-8"))
    except (OSError, ValueError):
        return frozenset()
    found = data.get("findings", []) if isinstance(data, dict) else []
    return frozenset(str(f) for f in found) if isinstance(found, list) else frozenset()


def _read_sources(snapshot: Snapshot, contracts: list[Contract]) -> dict:
    from harness.contract.subjects import artifact_problems
    from harness.fingerprint import current_fingerprint
    from harness.sources import conftest_files, find_test, known_fixtures, syspath_edits

    root = snapshot.root
    tests = dict(snapshot.tests)
    fingerprints = dict(snapshot.fingerprints)
    problems = dict(snapshot.subject_problems)
    edits = dict(snapshot.path_edits)
    wants_fixtures = False
    memo: dict = {}  # code closures shared by the falsifiers bound to one test
    for contract in contracts:
        for name, spec in contract.subjects.items():
            problems[(contract.key, name)] = tuple(artifact_problems(name, spec, root))
        for f in contract.bound_falsifiers:
            where = (f.test_file, f.test_func)
            if where not in tests:
                tests[where] = find_test(root, *where)
            if isinstance(f.subject, str) and f.subject not in contract.subjects:
                wants_fixtures = True
            test_dir = root if f.builtin or not tests[where].path else Path(tests[where].path).parent
            found = [f"{c.relative_to(root).as_posix()}:{line}" for c in conftest_files(root, test_dir) for line in syspath_edits(c)]
            if found:
                edits[(contract.key, f.id)] = tuple(found)
            if f.status not in (None, "OPEN"):  # only a verdict on disk needs its current fingerprint
                fingerprints[(contract.key, f.id)] = current_fingerprint(root, contract, f, tests[where], memo) if tests[where].exists else None
    fixtures = snapshot.fixtures
    if wants_fixtures and fixtures is None:
        fixtures = frozenset(known_fixtures(root, snapshot.layout.falsifiers))
    return {
        "tests": MappingProxyType(tests),
        "fingerprints": MappingProxyType(fingerprints),
        "subject_problems": MappingProxyType(problems),
        "path_edits": MappingProxyType(edits),
        "fixtures": fixtures,
        "sources_read": True,
    }
