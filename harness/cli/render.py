"""Rendering for the terminal: findings as compiler-style lines, tables through rich."""

from __future__ import annotations

import json
import sys
from typing import Any

from harness.findings import Finding
from harness.styles import STATUS_STYLE, styled  # noqa: F401  (re-exported for the commands)


def console(stderr: bool = False):
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    width = None if stream.isatty() else 200
    return Console(stderr=stderr, highlight=False, width=width)


def print_findings(findings: list[Finding], out=None) -> None:
    out = out or sys.stdout
    for f in findings:
        print(f.render(), file=out)


def print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, sort_keys=True, default=str))
