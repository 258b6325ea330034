"""Subcommands beyond validate/lint/status: probes for people debugging a pipeline by hand."""

from __future__ import annotations

import sys

from harness.cli.render import console, print_json

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2


def register(sub, add) -> None:
    probe = sub.add_parser("probe", help="Inspect a vocab or token shards: format, entropy, unk share.", description="Inspect a vocab or token shards.")
    kinds = probe.add_subparsers(dest="probe_kind", metavar="KIND")
    kinds.required = True
    p = kinds.add_parser("vocab", help="fingerprint a vocab: format, hex pairs, byte alphabet, byte fallback")
    p.add_argument("path", help="tokenizer.json, vocab.json, a tiktoken rank file or a {token: id} JSON")
    p.add_argument("--min-hex-pairs", type=int, default=200)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_probe_vocab)
    p = kinds.add_parser("shards", help="token statistics of shards: entropy, top-1 share, unk share")
    p.add_argument("paths", nargs="+", help=".bin (with JSON sidecar) or .npy shards, directories or globs")
    p.add_argument("--vocab-size", type=int, default=None)
    p.add_argument("--unk-id", type=int, default=None)
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_probe_shards)

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

    p = sub.add_parser(
        "report",
        help="Write a self-contained HTML page and markdown from contracts + evidence.",
        description="Write a status report from contracts and evidence.",
    )
    p.add_argument("--out", default="report", help="output directory (default: ./report)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser(
        "demo",
        help="Reproduce the incident on the embedded data, then refute it (a scratch workspace).",
        description="Reproduce the incident on the embedded data, then refute it.",
    )
    p.add_argument("--workspace", default="harness-demo", help="scratch directory for the demo's contract and evidence (default: ./harness-demo)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_demo)


def cmd_gate(args) -> int:
    from harness.cli.commands import project_root
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
    table = Table(title=f"harness gate — {result.contracts} contract(s)", title_justify="left")
    table.add_column("check")
    table.add_column("result")
    for check, state in result.checks.items():
        table.add_row(check, {"pass": "[green]pass[/]", "fail": "[bold red]FAIL[/]"}.get(state, state))
    con.print(table)
    for problem in result.problems:
        print(problem.render())
    verdict = "PASSED: every claim on disk is backed by this run and its evidence" if result.passed else f"FAILED: {len(result.problems)} claim(s) not backed"
    con.print(f"[bold green]{verdict}[/]" if result.passed else f"[bold red]{verdict}[/]")
    return EXIT_OK if result.passed else EXIT_FINDINGS


def cmd_report(args) -> int:
    from pathlib import Path

    from harness.cli.commands import project_root
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


def cmd_demo(args) -> int:
    from pathlib import Path

    from harness.demo import run_demo

    try:
        acts = run_demo(Path(args.workspace).absolute(), console=None if not args.json else _quiet_console())
    except (FileExistsError, FileNotFoundError) as exc:
        return _fail(str(exc).replace("harness probe", "harness demo"))
    if args.json:
        print_json(
            {a.name: {"contract_status": a.contract_status, "falsifiers": a.falsifiers, "hypotheses": a.hypotheses, "evidence": a.evidence} for a in acts}
        )
    broken, fixed = acts
    ok = broken.contract_status == "FALSIFIED" and all(f["status"] == "DISCHARGED" for f in fixed.falsifiers.values())
    return EXIT_OK if ok else EXIT_FINDINGS


def _quiet_console():
    import io

    from rich.console import Console

    return Console(file=io.StringIO())


def _fail(message: str) -> int:
    print(f"harness probe: {message}", file=sys.stderr)
    return EXIT_USAGE


def cmd_probe_vocab(args) -> int:
    from harness.checks import ArtifactError
    from harness.checks.vocab import fingerprint_vocab, load_vocab

    try:
        fp = fingerprint_vocab(load_vocab(args.path), args.min_hex_pairs)
    except ArtifactError as exc:
        return _fail(str(exc))
    if args.json:
        print_json(fp.as_json())
        return EXIT_OK
    from rich.table import Table

    table = Table(title=f"vocab {args.path}", show_header=False, title_justify="left")
    for key, value in fp.as_json().items():
        if key == "special_tokens":
            value = ", ".join(value[:12]) + (" …" if len(value) > 12 else "")
        table.add_row(key, f"[bold]{value}[/]" if key == "format" else str(value))
    console().print(table)
    return EXIT_OK


def cmd_probe_shards(args) -> int:
    from harness.checks import ArtifactError
    from harness.checks.entropy import shard_stats

    try:
        stats, problems = shard_stats(args.paths, args.vocab_size, unk_id=args.unk_id, device=args.device)
    except ArtifactError as exc:
        return _fail(str(exc))
    except ValueError as exc:
        return _fail(f"{' '.join(args.paths)}: {exc}")
    if args.json:
        print_json({**stats.as_json(), "problems": problems})
        return EXIT_FINDINGS if problems else EXIT_OK
    from rich.table import Table

    table = Table(title="shards " + " ".join(args.paths), show_header=False, title_justify="left")
    for key, value in stats.as_json().items():
        table.add_row(key, f"{value:.6g}" if isinstance(value, float) else str(value))
    console().print(table)
    for problem in problems:
        print(problem)
    return EXIT_FINDINGS if problems else EXIT_OK
