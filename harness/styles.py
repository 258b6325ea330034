"""How a status looks in a terminal (rich markup): one table for the CLI, the demo and reports."""

from __future__ import annotations

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


def styled(status: str | None) -> str:
    text = status or "—"
    style = STATUS_STYLE.get(text)
    return f"[{style}]{text}[/]" if style else text
