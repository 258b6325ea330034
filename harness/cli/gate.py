"""``harness gate``: the pre-merge gate."""

from __future__ import annotations

import sys

from harness.cli.common import EXIT_FINDINGS, EXIT_OK, EXIT_USAGE, project_root
from harness.cli.render import console, print_json


def register(sub, add) -> None:
    p = sub.add_parser(
        "gate",
        help="Pre-merge gate: fail when a contract claims more than the evidence shows (writes nothing).",
        description="Pre-merge gate: validate, lint, CUDA evidence, CPU falsifiers read-only.",
    )
    p.add_argument("--contract", action="append", default=[], metavar="NAME", help="gate only this contract (repeatable)")
    p.add_argument("--no-run", action="store_true", help="skip re-running the CPU falsifiers")
    p.add_argument("--junitxml", default=None, metavar="PATH", help="JUnit XML of the falsifier run, for CI systems")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_gate)


def failure_summary(result) -> str:
    """What failed, by kind: invalid contracts and lint findings are not 'claims not backed'."""
    from collections import Counter

    kinds = Counter(p.check for p in result.problems)
    words = {
        "validate": "invalid contract finding(s)",
        "lint": "lint finding(s)",
        "cuda-evidence": "CUDA claim(s) without verified evidence",
        "run": "claim(s) not backed by the gate's own run",
    }
    return "; ".join(f"{count} {words.get(kind, kind)}" for kind, count in kinds.items())


def cmd_gate(args) -> int:
    from harness.gate import run_gate

    root = project_root(args)
    try:
        result = run_gate(root, args.contract or None, run_falsifiers=not args.no_run, junitxml=args.junitxml)
    except ValueError as exc:
        print(f"harness gate: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.json:
        print_json(result.as_json())
        return EXIT_OK if result.passed else EXIT_FINDINGS
    from rich.table import Table

    con = console()
    con.print(f"harness gate — {result.contracts} contract(s)", soft_wrap=True)  # a title line, never wrapped to the table's width
    table = Table()
    table.add_column("check")
    table.add_column("result")
    for check, state in result.checks.items():
        table.add_row(check, {"pass": "[green]pass[/]", "fail": "[bold red]FAIL[/]"}.get(state, state))
    con.print(table)
    for problem in result.problems:
        print(problem.render())
    verdict = "PASSED: every claim on disk is backed by this run and its evidence" if result.passed else f"FAILED: {failure_summary(result)}"
    con.print(f"[bold green]{verdict}[/]" if result.passed else f"[bold red]{verdict}[/]")
    return EXIT_OK if result.passed else EXIT_FINDINGS
