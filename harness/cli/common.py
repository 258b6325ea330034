"""What every subcommand shares: exit codes, the project root, loading contracts, one-line errors."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

from harness.contract import Contract
from harness.findings import Finding
from harness.snapshot import find_project_root

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2
UNREADABLE_RULES = {"unreadable"}


@dataclass
class ContractSet:
    root: Path
    layout: object = None  # harness.snapshot.Layout
    snapshot: object = None  # harness.snapshot.Snapshot
    contracts: list[Contract] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    files: int = 0
    usage_error: str | None = None

    @property
    def unreadable(self) -> bool:
        return any(f.rule in UNREADABLE_RULES for f in self.findings)


def project_root(args) -> Path:
    return Path(args.root).absolute() if getattr(args, "root", None) else find_project_root()


def load_paths(args, *, evidence: bool = False, sources: bool = False) -> ContractSet:
    """The contracts the command's paths name (default: the contracts folder), read once into a
    snapshot with, as the command needs, their evidence and sources."""
    from harness.snapshot import read_layout, read_snapshot

    root = project_root(args)
    layout = read_layout(root)
    raw = [Path(p) for p in (args.paths or [])] or [layout.contracts_dir]
    missing = [p for p in raw if not p.exists()]
    if missing:
        loaded = ContractSet(root=root, layout=layout)
        loaded.usage_error = "no such file or directory: " + ", ".join(str(m) for m in missing)
        return loaded
    snapshot = read_snapshot(layout, raw, evidence=evidence, sources=sources)
    return ContractSet(
        root=root,
        layout=layout,
        snapshot=snapshot,
        contracts=list(snapshot.contracts),
        findings=list(snapshot.findings),
        files=len(snapshot.files),
    )


def usage(message: str) -> int:
    print(f"harness: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def fail(command: str, message: str) -> int:
    """A one-line error for bad input (a file, an artifact): exit 2, never a traceback."""
    print(f"harness {command}: {message}", file=sys.stderr)
    return EXIT_USAGE


def quiet_console():
    import io

    from rich.console import Console

    return Console(file=io.StringIO())
