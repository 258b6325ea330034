"""``harness demo``: the incident reproduced and refuted on the embedded data."""

from __future__ import annotations

from harness.cli.common import EXIT_FINDINGS, EXIT_OK, fail, quiet_console
from harness.cli.render import console, print_json


def register(sub, add) -> None:
    p = sub.add_parser(
        "demo",
        help="Reproduce the incident on the embedded data, then refute it (a scratch workspace).",
        description="Reproduce the incident on the embedded data, then refute it.",
    )
    p.add_argument("--workspace", default="harness-demo", help="scratch directory for the demo's contract and evidence (default: ./harness-demo)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_demo)


def cmd_demo(args) -> int:
    from pathlib import Path

    from harness.demo.runner import run_demo

    try:
        acts = run_demo(Path(args.workspace).absolute(), console=console() if not args.json else quiet_console())
    except (FileExistsError, FileNotFoundError) as exc:
        return fail("demo", str(exc))
    if args.json:
        print_json(
            {a.name: {"contract_status": a.contract_status, "falsifiers": a.falsifiers, "hypotheses": a.hypotheses, "evidence": a.evidence} for a in acts}
        )
    broken, fixed = acts
    ok = broken.contract_status == "FALSIFIED" and all(f["status"] == "DISCHARGED" for f in fixed.falsifiers.values())
    return EXIT_OK if ok else EXIT_FINDINGS
