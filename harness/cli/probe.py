"""``harness probe vocab | shards | contamination``: for people debugging a pipeline by hand."""

from __future__ import annotations

from harness.cli.common import EXIT_FINDINGS, EXIT_OK, fail
from harness.cli.render import console, print_json
from harness.contract.subjects import ID_DTYPES, SHARD_FORMATS
from harness.engines import ENGINES


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
    p.add_argument("paths", nargs="+", help="shards, their folders or globs, in any format docs/subjects.md lists")
    p.add_argument("--vocab-size", type=int, default=None)
    p.add_argument("--unk-id", type=int, default=None)
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--format", choices=SHARD_FORMATS, help="the shards' format where the files cannot say it (raw)")
    p.add_argument("--dtype", choices=ID_DTYPES, help="a raw memmap's id dtype")
    p.add_argument("--column", help="the token column when it is not input_ids")
    p.add_argument("--engine", choices=ENGINES, default=None, help="where the pass runs: local (this process, every core) or ray (Ray tasks)")
    p.add_argument("--address", default=None, help="with --engine ray: the cluster to join (auto, ray://host:10001); default: start one here")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_probe_shards)
    p = kinds.add_parser("contamination", help="benchmark items inside token shards: per benchmark, per item (shard and id offset), per shard")
    p.add_argument("paths", nargs="+", help="the training shards, their folders or globs, in any format docs/subjects.md lists")
    p.add_argument("--tokenizer", required=True, help="the tokenizer the shards were made with: tokenizer.json, vocab.json beside merges.txt, a .tiktoken file")
    p.add_argument(
        "--benchmark",
        action="append",
        required=True,
        metavar="FILE[:FIELD+FIELD]",
        help="a benchmark (JSONL, JSON, parquet, a datasets folder) and the fields of one item's text; repeat for more",
    )
    p.add_argument("--ngram", type=int, default=13)
    p.add_argument("--min-share", type=float, default=0.2, help="share of an item's n-grams that must be found")
    p.add_argument("--min-hits", type=int, default=3)
    p.add_argument("--format", choices=SHARD_FORMATS, help="the shards' format where the files cannot say it (raw)")
    p.add_argument("--dtype", choices=ID_DTYPES, help="a raw memmap's id dtype")
    p.add_argument("--column", help="the token column when it is not input_ids")
    p.add_argument(
        "--engine", choices=ENGINES, default=None, help="where the scan runs: local or ray (the same exact scan; no sampled mode: a sample cannot show absence)"
    )
    p.add_argument("--address", default=None, help="with --engine ray: the cluster to join")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_probe_contamination)


def cmd_probe_vocab(args) -> int:
    from harness.checks import ArtifactError
    from harness.checks.vocab import fingerprint_vocab, load_vocab

    try:
        fp = fingerprint_vocab(load_vocab(args.path), args.min_hex_pairs)
    except ArtifactError as exc:
        return fail("probe", str(exc))
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
    from harness.checks.formats import ShardOptions
    from harness.checks.passes import NoTokens, shard_stats
    from harness.cli.render import ProgressBar
    from harness.engines import EngineError

    options = ShardOptions(args.format, args.dtype, args.column)
    try:
        with ProgressBar("ids") as bar:
            stats, problems = shard_stats(
                args.paths,
                args.vocab_size,
                unk_id=args.unk_id,
                device=args.device,
                options=options,
                engine=args.engine,
                address=args.address,
                progress=bar,
                partial=True,
            )
    except (ArtifactError, EngineError) as exc:
        return fail("probe", str(exc))
    except NoTokens as exc:
        if args.json:
            print_json({"problems": exc.problems})
        else:
            for problem in exc.problems:
                print(problem)
        return EXIT_FINDINGS
    except ValueError as exc:
        return fail("probe", f"{' '.join(args.paths)}: {exc}")
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


def cmd_probe_contamination(args) -> int:
    """Exit 0 when no item is found, 1 when some are (they are listed), 2 on bad input."""
    from pathlib import Path

    from harness.checks import ArtifactError
    from harness.checks.contamination import contamination, parse_benchmark
    from harness.checks.formats import ShardOptions
    from harness.checks.shards import describe_shards
    from harness.cli.render import ProgressBar
    from harness.contract.subjects import SubjectError
    from harness.engines import EngineError
    from harness.subjects.declarative import ArtifactSubject

    root = Path.cwd()
    try:
        subject = ArtifactSubject("probe", root, {"vocab": str(Path(args.tokenizer).absolute()), "encoder": "byte_level"})
        encoder = subject.encoder()
        shards, problems, _ = describe_shards(args.paths, None, ShardOptions(args.format, args.dtype, args.column))
        if problems or not shards:
            return fail("probe", "; ".join(problems) or f"{' '.join(args.paths)}: no shard")
        sources = [parse_benchmark(spec) for spec in args.benchmark]
        with ProgressBar("ids") as bar:
            report = contamination(
                shards,
                encoder,
                int(encoder.vocab_size),
                sources,
                root,
                ngram=args.ngram,
                min_hits=args.min_hits,
                min_share=args.min_share,
                engine=args.engine,
                address=args.address,
                progress=bar,
            )
    except (ArtifactError, SubjectError, EngineError) as exc:
        return fail("probe", str(exc))
    found = bool(report.items or report.failures)
    if args.json:
        print_json(report.as_json())
        return EXIT_FINDINGS if found else EXIT_OK
    from rich.table import Table

    table = Table(title=f"contamination: {report.ids_scanned:,} ids of {len(shards)} shard(s)", title_justify="left")
    for column in ("benchmark", "items", "contaminated", "n-grams found"):
        table.add_column(column)
    for label, figures in report.per_benchmark.items():
        table.add_row(label, f"{int(figures['items']):,}", f"{int(figures['contaminated']):,}", f"{figures['ngram_share']:.2%}")
    console().print(table)
    if report.items:
        hits = Table(title="items found (drop the documents that hold them)", title_justify="left")
        for column in ("benchmark", "item", "n-grams found", "shard", "first id offset"):
            hits.add_column(column)
        for f in report.items:
            hits.add_row(f.benchmark, f.item, f"{f.found} of {f.grams}", f.shard, f"{f.offset:,}")
        console().print(hits)
        for shard, count in sorted(report.per_shard().items()):
            print(f"{shard}: {count} item(s)")
    if report.unindexed:
        print(
            f"{len(report.unindexed)} item(s) shorter than {args.ngram + 2} canonical ids, not looked for (lower --ngram): "
            + ", ".join(i for _, i in report.unindexed[:10])
        )
    for failure in report.failures:
        print(failure)
    return EXIT_FINDINGS if found else EXIT_OK
