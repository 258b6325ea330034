"""The ``harness`` command: thin glue from the terminal to the pure core.

Exit codes: 0 clean, 1 findings (or a refuted contract, for gate), 2 usage error or unreadable
input. ``--json`` everywhere for machines; rich tables for people.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from harness.cli import contracts, demo, evidence, gate, init, probe, report

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # usage errors: one line, exit 2
        self.print_usage(sys.stderr)
        print(f"harness: error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def build_parser() -> argparse.ArgumentParser:
    from harness import __version__

    parser = _Parser(prog="harness", description="Contract-driven falsifiers for ML training pipelines.")
    parser.add_argument("--version", action="version", version=f"harness {__version__}")
    parser.add_argument("--root", default=None, help="project root (default: nearest ancestor with pyproject.toml or .git)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    def add(name: str, help_text: str):
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("--json", action="store_true", help="machine-readable output")
        return p

    for module in (contracts, probe, gate, report, demo, init, evidence):
        module.register(sub, add)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(list(argv) if argv is not None else None)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("harness: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return EXIT_OK
