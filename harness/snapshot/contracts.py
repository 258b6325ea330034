"""Read contract files from disk into the model: the only place (with the directory scan beside it)
that opens a contract file. ``harness.contract.loader`` turns text into a model; this module gives
it the bytes, once per file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harness.contract.keys import key_clashes
from harness.contract.loader import DEFAULT_EVIDENCE_DIR, DEFAULT_FALSIFIERS_DIR, _absolute_root, load_contract_text
from harness.contract.model import Contract
from harness.contract.yamlio import decode as decode_bytes
from harness.findings import Finding
from harness.paths import artifact_roots_from_env, display_path
from harness.snapshot.layout import Layout


def load_contract(
    path: Path,
    *,
    root: Path | None = None,
    falsifiers_dir: str = DEFAULT_FALSIFIERS_DIR,
    allowed_roots: tuple[Path, ...] | None = None,
    evidence_dir: str = DEFAULT_EVIDENCE_DIR,
    contracts_dir: Path | None = None,
    pv_rules: str = "auto",
    source: tuple[tuple[int, int], bytes] | None = None,
) -> tuple[Contract | None, list[Finding]]:
    """Load and validate one contract file. Returns (contract or None, findings).

    ``contracts_dir`` gives the contract its key (its path under that folder, no suffix).
    ``source`` is the file as a directory scan already read it (``discovery.read_source``)."""
    from harness.snapshot.discovery import read_source

    root = _absolute_root(root)
    path = path if isinstance(path, Path) else Path(path)
    display = display_path(path, root)
    if source is None:
        try:
            if path.is_dir():
                return None, [Finding(display, 0, 0, "unreadable", "is a directory, not a contract file")]
            source = read_source(path)
        except OSError as exc:
            return None, [Finding(display, 0, 0, "unreadable", exc.strerror or str(exc))]
    signature, data = source
    text, findings = decode_bytes(data, display)
    if text is None:
        return None, findings
    contract, findings = load_contract_text(
        text,
        path,
        root=root,
        falsifiers_dir=falsifiers_dir,
        allowed_roots=allowed_roots,
        evidence_dir=evidence_dir,
        contracts_dir=contracts_dir,
        pv_rules=pv_rules,
    )
    if contract is not None:
        contract.stat_signature = signature
    return contract, findings


@dataclass
class ProjectContracts:
    """Every contract of a project, loaded once: the valid ones and the findings of the rest."""

    layout: Layout
    files: list[Path]
    contracts: list = None  # list[Contract]
    findings: list[Finding] = None


def load_contracts(layout: Layout, paths: list[Path] | None = None) -> ProjectContracts:
    """Load the contracts under the layout's folder (or the given files and folders), with the
    layout's falsifier and evidence folders and contract keys; clashing keys are findings."""
    from harness.contract import cache
    from harness.snapshot.discovery import discover

    sources: dict = {}  # each file read once: the scan's bytes are the ones loaded
    if paths is None:
        files = discover([layout.contracts_dir], layout.skip, sources)[0] if layout.contracts_dir.is_dir() else []
    else:
        files = discover(paths, layout.skip, sources)[0]
    root = layout.root.absolute()
    allowed_roots = artifact_roots_from_env()
    kept, findings = key_clashes(files, layout.contracts_dir, lambda p: display_path(Path(p), root))
    contracts = []
    with cache.batch(layout.contracts_dir):
        for path in kept:
            contract, found = load_contract(
                path,
                root=root,
                falsifiers_dir=layout.falsifiers,
                evidence_dir=layout.evidence,
                contracts_dir=layout.contracts_dir,
                pv_rules=layout.pv_rules,
                allowed_roots=allowed_roots,
                source=sources.get(path),
            )
            findings.extend(found)
            if contract is not None:
                contracts.append(contract)
    return ProjectContracts(layout, files, contracts, findings)
