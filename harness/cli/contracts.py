"""``harness validate | lint | status``: the contracts, read against the schema and the repository."""

from __future__ import annotations

from harness.cli.common import EXIT_FINDINGS, EXIT_OK, EXIT_USAGE, load_paths, usage
from harness.cli.render import console, print_findings, print_json, styled
from harness.findings import has_errors


def register(sub, add) -> None:
    p = add("validate", "Check contracts against the schema and their own structure.")
    p.add_argument("paths", nargs="*", help="contract files or directories (default: contracts/)")
    p.set_defaults(func=cmd_validate)

    p = add("lint", "Check contracts against the repository: tests, params, statuses, evidence.")
    p.add_argument("paths", nargs="*", help="contract files or directories (default: contracts/)")
    p.add_argument("--update-baseline", action="store_true", help="accept every current finding as known")
    p.add_argument("--no-baseline", action="store_true", help="report known findings as failures too")
    p.add_argument("--sarif", metavar="FILE", help="also write the new findings as SARIF 2.1.0 (code scanning)")
    p.add_argument("--format", choices=("auto", "text", "github"), default="auto", help="github: workflow-command annotations too (auto under GitHub Actions)")
    p.set_defaults(func=cmd_lint)

    p = add("status", "One row per contract and per falsifier: status, last evidence, stale or not.")
    p.add_argument("paths", nargs="*", help="contract files or directories (default: contracts/)")
    p.set_defaults(func=cmd_status)


def cmd_validate(args) -> int:
    loaded = load_paths(args)
    if loaded.usage_error:
        return usage(loaded.usage_error)
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
    from harness.lint import lint_contract, split_new

    loaded = load_paths(args, evidence=True, sources=True)
    if loaded.usage_error:
        return usage(loaded.usage_error)
    findings = [f for f in loaded.findings if f.is_error]
    for contract in loaded.contracts:
        findings.extend(lint_contract(contract, loaded.snapshot))
    if args.update_baseline:
        path = save_baseline(loaded.root, findings)
        print(f"baseline: {len(findings)} finding(s) recorded in {path.relative_to(loaded.root)}")
        from harness.pv_baseline import PV_STATE, write_pv_baseline

        contracts_dir = loaded.snapshot.layout.contracts_dir
        if (contracts_dir.parent / PV_STATE).is_dir():  # a repository pv lints too: one baseline for both
            pv = write_pv_baseline(contracts_dir, findings)
            print(f"baseline: the same finding(s) recorded in pv's {pv.relative_to(loaded.root) if pv.is_relative_to(loaded.root) else pv} (pv's own kept)")
        return EXIT_OK
    baseline = set() if args.no_baseline else loaded.snapshot.baseline
    new, known = split_new(findings, baseline)
    _annotate(args, new)
    if args.json:
        print_json({"new": [f.as_json() for f in new], "known": [f.as_json() for f in known]})
    else:
        print_findings(new)
        print(f"linted {loaded.files} contract file(s): {len(new)} new finding(s), {len(known)} known (baseline)")
    if loaded.unreadable:
        return EXIT_USAGE
    return EXIT_FINDINGS if has_errors(new) else EXIT_OK


def _annotate(args, findings) -> None:
    """lint's findings as SARIF (``--sarif``) and GitHub annotations (``--format github``)."""
    import os

    from harness.cli.annotations import github_commands, sarif_log, write_json
    from harness.gate import GateProblem

    problems = [GateProblem(f.path, None, f.message, check="lint", path=f.path, line=f.line, rule=f"harness/{f.rule}") for f in findings]
    if getattr(args, "sarif", None):
        write_json(args.sarif, sarif_log(problems, tool="harness lint"))
    fmt = getattr(args, "format", "auto")
    if not args.json and (fmt == "github" or (fmt == "auto" and os.environ.get("GITHUB_ACTIONS") == "true")):
        for line in github_commands(problems):
            print(line)


def cmd_status(args) -> int:
    from harness.evidence import falsifier_record
    from harness.lint import falsifier_state
    from harness.status import derive_contract_status, falsifier_statuses

    loaded = load_paths(args, evidence=True, sources=True)
    if loaded.usage_error:
        return usage(loaded.usage_error)
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
            state = falsifier_state(f, loaded.snapshot, contract)
            record = falsifier_record(loaded.snapshot.store, f.evidence, f.id) if f.evidence else None  # shown, not trusted: lint verifies
            entry["falsifiers"].append(
                {
                    "id": f.id,
                    "bound": f.bound,
                    "shape": f.shape,
                    "line": contract.line_of(f),
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
            if f.get("shape") not in (None, "falsification_tests"):
                kind += f" · {f['shape']}:"
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


def save_baseline(root, findings) -> object:
    """Record every current finding as known (``harness lint --update-baseline``)."""
    import json
    from pathlib import Path

    from harness.atomic import write_atomic
    from harness.lint import baseline_key
    from harness.snapshot import BASELINE_FILE

    path = Path(root) / BASELINE_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    keys = sorted({baseline_key(f) for f in findings})
    write_atomic(path, json.dumps({"version": 1, "findings": keys}, indent=2) + "\n")
    return path
