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


class ProgressBar:
    """A rich progress bar on stderr for a pass over ids (``harness.progress``'s interface:
    ``start(total)``, ``advance(ids)``); silent where stderr is not a terminal."""

    def __init__(self, label: str):
        self.label = label
        self._bar = None
        self._task = None

    def __enter__(self) -> ProgressBar:
        return self

    def start(self, total: int) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self._bar = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=console(stderr=True), transient=True
        )
        self._task = self._bar.add_task(self.label, total=total)
        self._bar.start()

    def advance(self, ids: int) -> None:
        if self._bar is not None:
            self._bar.advance(self._task, ids)

    def __exit__(self, *exc) -> None:
        if self._bar is not None:
            self._bar.stop()
