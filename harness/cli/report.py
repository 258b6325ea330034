"""``harness report``: contracts and evidence rendered as HTML and markdown."""

from __future__ import annotations

import sys

from harness.cli.common import EXIT_OK, EXIT_USAGE, project_root
from harness.cli.render import print_json


def register(sub, add) -> None:
    p = sub.add_parser(
        "report",
        help="Write a self-contained HTML page and markdown from contracts + evidence.",
        description="Write a status report from contracts and evidence.",
    )
    p.add_argument("--out", default="report", help="output directory (default: ./report)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_report)


def cmd_report(args) -> int:
    from pathlib import Path

    from harness.report import write_report

    root = project_root(args)
    try:
        paths = write_report(root, Path(args.out).absolute())
    except ImportError as exc:
        print(f"harness report: needs matplotlib for plots ({exc}); pip install 'falsifier-harness[report]'", file=sys.stderr)
        return EXIT_USAGE
    if args.json:
        print_json({k: str(v) for k, v in paths.items()})
    else:
        print(f"report: {paths['html']} and {paths['markdown']}")
    return EXIT_OK
