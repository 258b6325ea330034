"""The CLI's subcommands. Each loads through the pure core and renders once."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

from harness.cli.render import console, print_findings, print_json, styled
from harness.contract import Contract, discover, find_project_root
from harness.findings import Finding, has_errors

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2
DEFAULT_CONTRACTS = "contracts"
UNREADABLE_RULES = {"unreadable"}


@dataclass
class ContractSet:
    root: Path
    layout: object = None  # harness.project.Layout
    contracts: list[Contract] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    files: int = 0
    usage_error: str | None = None

    @property
    def unreadable(self) -> bool:
        return any(f.rule in UNREADABLE_RULES for f in self.findings)


def project_root(args) -> Path:
    return Path(args.root).absolute() if getattr(args, "root", None) else find_project_root()


def load_paths(args) -> ContractSet:
    from harness.project import load_contracts, read_layout

    root = project_root(args)
    layout = read_layout(root)
    raw = [Path(p) for p in (args.paths or [])] or [layout.contracts_dir]
    _, missing = discover(raw)
    if missing:
        loaded = ContractSet(root=root, layout=layout)
        loaded.usage_error = "no such file or directory: " + ", ".join(str(m) for m in missing)
        return loaded
    project = load_contracts(layout, raw)
    return ContractSet(root=root, layout=layout, contracts=project.contracts, findings=project.findings, files=len(project.files))


def _usage(message: str) -> int:
    print(f"harness: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def cmd_validate(args) -> int:
    loaded = load_paths(args)
    if loaded.usage_error:
        return _usage(loaded.usage_error)
    errors = [f for f in loaded.findings if f.is_error]
    warnings = [f for f in loaded.findings if not f.is_error]
    if args.json:
        print_json({"files": loaded.files, "valid": loaded.files - len({f.path for f in errors}), "findings": [f.as_json() for f in loaded.findings]})
    else:
        print_findings(loaded.findings)
        bad = len({f.path for f in errors})
        print(f"validated {loaded.files} contract file(s): {loaded.files - bad} valid, {bad} with errors, {len(errors)} error(s), {len(warnings)} warning(s)")
    if loaded.unreadable:
        return EXIT_USAGE
    return EXIT_FINDINGS if errors else EXIT_OK


def cmd_lint(args) -> int:
    from harness.lint import lint_contract, load_baseline, save_baseline, split_new

    loaded = load_paths(args)
    if loaded.usage_error:
        return _usage(loaded.usage_error)
    findings = [f for f in loaded.findings if f.is_error]
    for contract in loaded.contracts:
        findings.extend(lint_contract(contract, loaded.root, loaded.layout))
    if args.update_baseline:
        path = save_baseline(loaded.root, findings)
        print(f"baseline: {len(findings)} finding(s) recorded in {path.relative_to(loaded.root)}")
        return EXIT_OK
    baseline = set() if args.no_baseline else load_baseline(loaded.root)
    new, known = split_new(findings, baseline)
    if args.json:
        print_json({"new": [f.as_json() for f in new], "known": [f.as_json() for f in known]})
    else:
        print_findings(new)
        print(f"linted {loaded.files} contract file(s): {len(new)} new finding(s), {len(known)} known (baseline)")
    if loaded.unreadable:
        return EXIT_USAGE
    return EXIT_FINDINGS if has_errors(new) else EXIT_OK


def cmd_status(args) -> int:
    from harness.evidence import falsifier_record
    from harness.lint import falsifier_state
    from harness.status import derive_contract_status, falsifier_statuses

    loaded = load_paths(args)
    if loaded.usage_error:
        return _usage(loaded.usage_error)
    rows = []
    for contract in loaded.contracts:
        derived = derive_contract_status(contract, falsifier_statuses(contract.falsifiers))
        entry = {
            "contract": contract.id,
            "key": contract.key,
            "path": contract.display_path,
            "status": contract.status,
            "derived": derived,
            "falsifiers": [],
        }
        for f in contract.falsifiers:
            state = falsifier_state(f, loaded.root)
            record = falsifier_record(loaded.root, f.evidence, f.id) if f.evidence else None  # shown, not trusted: lint verifies
            entry["falsifiers"].append(
                {
                    "id": f.id,
                    "bound": f.bound,
                    "requires": list(f.requires),
                    "status": f.effective_status if f.bound else None,
                    "evidence": f.evidence,
                    "last_outcome": record.get("outcome") if record else None,
                    "stale": state.stale,
                    "test_exists": state.test_exists,
                }
            )
        rows.append(entry)
    if args.json:
        print_json({"contracts": rows, "findings": [f.as_json() for f in loaded.findings]})
        return EXIT_FINDINGS if has_errors(loaded.findings) else EXIT_OK
    from rich.table import Table

    con = console()
    table = Table(title="Contracts", title_justify="left")
    for col in ("contract", "status", "falsifier", "kind", "falsifier status", "last evidence", "stale"):
        table.add_column(col)
    for entry in rows:
        status = styled(entry["status"])
        if entry["derived"] and entry["derived"] != entry["status"]:
            status += f" (falsifiers say {styled(entry['derived'])})"
        first = True
        for f in entry["falsifiers"] or [{"id": "—", "bound": False}]:
            kind = ("bound" + (" · cuda" if "cuda" in f.get("requires", []) else "")) if f["bound"] else "external"
            if f["bound"] and not f.get("test_exists"):
                kind += " · [red]test missing[/]"
            table.add_row(
                entry["contract"] if first else "",
                status if first else "",
                f["id"],
                kind,
                styled(f.get("status")) if f["bound"] else "[dim]external[/]",
                f.get("evidence") or "—",
                "[yellow]stale[/]" if f.get("stale") else "",
            )
            first = False
        table.add_section()
    con.print(table)
    print_findings([f for f in loaded.findings if f.is_error])
    return EXIT_FINDINGS if has_errors(loaded.findings) else EXIT_OK


def register_extra(sub, add) -> None:
    """Later subcommands (probe, gate, demo, report) hook in here."""
    try:
        from harness.cli import extra
    except ImportError:
        return
    extra.register(sub, add)
