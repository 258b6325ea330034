"""Rendering for the terminal: findings as compiler-style lines, tables through rich."""

from __future__ import annotations

import json
import sys
from typing import Any

from harness.findings import Finding

STATUS_STYLE = {
    "DISCHARGED": "green",
    "ACTIVE_RUNTIME": "bold green",
    "FALSIFIED": "bold red",
    "METHODOLOGY_SUSPECT": "bold yellow",
    "DRAFT_PARTIAL_DISCHARGE": "yellow",
    "OPEN": "dim",
    "DRAFT": "dim",
    "NOT RUN": "magenta",
}


def console(stderr: bool = False):
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    width = None if stream.isatty() else 200
    return Console(stderr=stderr, highlight=False, width=width)


def styled(status: str | None) -> str:
    text = status or "—"
    style = STATUS_STYLE.get(text)
    return f"[{style}]{text}[/]" if style else text


def print_findings(findings: list[Finding], out=None) -> None:
    out = out or sys.stdout
    for f in findings:
        print(f.render(), file=out)


def print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, sort_keys=True, default=str))
