"""``harness gate``: the pre-merge gate. Reads the project once (``harness.snapshot``), runs the
CPU falsifiers read-only in a pytest process, and lets ``harness.gate`` judge both."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

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
    p.add_argument(
        "--allow-falsified",
        action="store_true",
        help="pass with FALSIFIED claims on disk (known-broken contracts tracked on purpose; ini: harness_allow_falsified)",
    )
    p.add_argument("--junitxml", default=None, metavar="PATH", help="JUnit XML of the falsifier run, for CI systems")
    p.add_argument(
        "--format",
        choices=("auto", "table", "github", "gitlab"),
        default="auto",
        help="table (people), github (workflow-command annotations on the diff, then the table), gitlab (Code Quality JSON on stdout); "
        "auto: github under GitHub Actions, else table",
    )
    p.add_argument("--sarif", metavar="FILE", help="also write the problems as SARIF 2.1.0 (code scanning)")
    p.add_argument("--summary", metavar="FILE", help="also write a Markdown run summary (default under GitHub Actions: $GITHUB_STEP_SUMMARY)")
    p.add_argument(
        "--base", metavar="REF", help="in the summary, what changed against this revision's contracts (default: the pull / merge request's target branch)"
    )
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
        "falsified": "refuted claim(s) on disk",
    }
    return "; ".join(f"{count} {words.get(kind, kind)}" for kind, count in kinds.items())


def run_gate(root: Path, names: list[str] | None = None, run_falsifiers: bool = True, junitxml: str | None = None, allow_falsified: bool | None = None):
    """Every DISCHARGED claim must either run and pass in the gate's own run, or be backed by
    verified evidence a CUDA lane wrote for the current fingerprint; otherwise the gate fails
    naming it. Writes nothing in the repository."""
    from harness.contract.keys import select_contracts
    from harness.gate import claimed_on_cpu, judge_run, judge_static
    from harness.snapshot import read_snapshot

    whole = read_snapshot(Path(root), evidence=False, sources=False)
    contracts = select_contracts(list(whole.contracts), names) if names else list(whole.contracts)  # SelectionError: a usage error
    snapshot = whole.select(contracts).with_evidence().with_sources()
    if allow_falsified is None:
        allow_falsified = snapshot.layout.allow_falsified
    result = judge_static(snapshot, contracts, allow_falsified)
    if not run_falsifiers:
        result.checks["run"] = "skipped"
        return _locate(result, contracts, snapshot)
    report, exit_code, tail = _check_lane(snapshot.layout, [c.key for c in contracts] if names else [], junitxml)
    result.pytest_exit = exit_code
    problems = judge_run(claimed_on_cpu(contracts), report, exit_code, tail)
    result.problems.extend(problems)
    result.checks["run"] = "fail" if problems else "pass"
    return _locate(result, contracts, snapshot)


def _locate(result, contracts, snapshot):
    from harness.gate import located
    from harness.status import FALSIFIED

    result.problems = located(result.problems, contracts)
    result.judged = contracts
    store = snapshot.store
    for c in contracts:
        for f in c.bound_falsifiers:
            if f.status == FALSIFIED and f.evidence:
                record = ((store.results(f.evidence) or {}).get("falsifiers") or {}).get(f.id) or {}
                result.measurements[(c.key, f.id)] = record.get("measurements") or {}
    return result


def _check_lane(layout, keys: list[str], junitxml: str | None) -> tuple[dict | None, int, list[str]]:
    """Run the CPU falsifiers read-only (``pytest -m "not cuda" --harness-check``); returns its
    JSON report (None when it wrote none), its exit status and the last lines it printed."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "check.json"
        argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "not cuda", "--harness-check", f"--harness-check-report={report}"]
        argv += [f"--contract={key}" for key in keys]
        if junitxml:
            argv.append(f"--junitxml={junitxml}")
        argv += [str(layout.falsifiers_dir)] if layout.falsifiers_dir.is_dir() else []
        argv.append(str(layout.contracts_dir))  # reaches the contracts' builtin: falsifiers
        env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
        proc = subprocess.run(argv, cwd=layout.root, capture_output=True, text=True, check=False, env=env)
        try:
            data = json.loads(report.read_text()) if report.exists() else None
        except ValueError:
            data = None
    return data, proc.returncode, (proc.stdout + proc.stderr).strip().splitlines()[-5:]


def cmd_gate(args) -> int:
    root = project_root(args)
    try:
        result = run_gate(root, args.contract or None, run_falsifiers=not args.no_run, junitxml=args.junitxml, allow_falsified=args.allow_falsified or None)
    except ValueError as exc:
        print(f"harness gate: {exc}", file=sys.stderr)
        return EXIT_USAGE
    _write_reports(args, result)
    if args.json:
        print_json(result.as_json())
        return EXIT_OK if result.passed else EXIT_FINDINGS
    fmt = args.format if args.format != "auto" else ("github" if os.environ.get("GITHUB_ACTIONS") == "true" else "table")
    if fmt == "gitlab":
        from harness.cli.annotations import gitlab_code_quality

        print(json.dumps(gitlab_code_quality(result.problems), indent=2))
        return EXIT_OK if result.passed else EXIT_FINDINGS
    if fmt == "github":
        from harness.cli.annotations import github_commands

        for line in github_commands(result.problems):
            print(line)
    from rich.table import Table

    con = console()
    con.print(f"harness gate — {result.contracts} contract(s)", soft_wrap=True)  # a title line, never wrapped to the table's width
    table = Table()
    table.add_column("check")
    table.add_column("result")
    for check, state in result.checks.items():
        table.add_row(check, {"pass": "[green]pass[/]", "fail": "[bold red]FAIL[/]", "allowed": "[yellow]allowed[/]"}.get(state, state))
    con.print(table)
    for problem in result.problems:
        print(problem.render())
    verdict = "PASSED: every claim on disk is backed by this run and its evidence" if result.passed else f"FAILED: {failure_summary(result)}"
    con.print(f"[bold green]{verdict}[/]" if result.passed else f"[bold red]{verdict}[/]")
    return EXIT_OK if result.passed else EXIT_FINDINGS


def _write_reports(args, result) -> None:
    """SARIF (``--sarif``) and the Markdown summary (``--summary``, else ``$GITHUB_STEP_SUMMARY``
    under GitHub Actions), beside whatever is printed."""
    from harness.cli.annotations import sarif_log, summary_markdown, write_json

    if args.sarif:
        write_json(args.sarif, sarif_log(result.problems))
    summary = args.summary or (os.environ.get("GITHUB_STEP_SUMMARY") if os.environ.get("GITHUB_ACTIONS") == "true" else None)
    if summary:
        with open(summary, "a", encoding="utf-8") as out:  # GitHub's summary file is appended to by every step
            from harness.cli.annotations import base_ref_from_env

            out.write(summary_markdown(result, result.judged, args.base or base_ref_from_env()))
