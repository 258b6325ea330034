"""``harness init``: scaffold a contract for your own pipeline (never overwrites)."""

from __future__ import annotations

from harness.cli.common import EXIT_OK, fail, project_root
from harness.contract.subjects import ID_DTYPES, SHARD_FORMATS


def register(sub, add) -> None:
    p = add("init", "Write contracts/<name>.yaml binding the built-in falsifiers to your artifacts (a commented template without arguments).")
    p.add_argument("--vocab", help="tokenizer.json, vocab.json (+ merges.txt beside it), a .tiktoken rank file, or nanoGPT's char-level meta.pkl")
    p.add_argument("--vocab-size", type=int, metavar="N", help="the vocab's size where no vocab file gives it (nanoGPT's meta.pkl does: --vocab data/meta.pkl)")
    p.add_argument("--encoder", help="the format your encoder emits: byte_level, hex_byte, byte_fallback, or package.module:factory")
    p.add_argument(
        "--shards",
        action="append",
        default=[],
        metavar="GLOB",
        help="token shards or their folder: .npy, .bin + sidecar, Megatron .bin/.idx, datasets Arrow, parquet, MDS, LitData (recognised from the files); repeatable",
    )
    p.add_argument("--format", choices=SHARD_FORMATS, help="the shards' format, where the files cannot say it (raw memmaps)")
    p.add_argument("--dtype", choices=ID_DTYPES, help="the ids' dtype of a raw memmap (nanoGPT writes uint16)")
    p.add_argument("--column", help="the token column (Arrow, parquet, MDS) or leaf (LitData) when it is not input_ids")
    p.add_argument("--documents", action="append", default=[], metavar="GLOB", help="the text the shards were made from; repeatable")
    p.add_argument(
        "--split",
        action="append",
        default=[],
        metavar="NAME=GLOB",
        help="the shards a split's batches are packed from (train=…, val=…); repeatable. Binds loss-mask, model-vocab-fit, eval-coverage and split-overlap",
    )
    p.add_argument(
        "--benchmark",
        action="append",
        default=[],
        metavar="FILE[:FIELD+FIELD]",
        help="an eval set you report on (JSONL, JSON, parquet, a datasets folder) and the fields of one item's text; repeatable. Binds benchmark-contamination",
    )
    p.add_argument("--run", help="a training run: a folder of epoch-NNN.metadata.json, a trainer_state.json or a metrics.csv")
    p.add_argument(
        "--tripwire",
        choices=("hf", "lightning", "loop"),
        help="also bind the built-ins a tripwire judges inside your training run, and print the lines to add to it "
        "(with an existing contract: only print them)",
    )
    p.add_argument("--name", default="pipeline-v1", help="contract id and file name (default: pipeline-v1)")
    p.set_defaults(func=cmd_init)


def cmd_init(args) -> int:
    import dataclasses

    from harness.cli.render import print_json
    from harness.scaffold import Artifacts, ScaffoldError, contract_text, parse_split, relative_to_root, shard_format, unbuildable, validate
    from harness.snapshot import load_contract, read_layout

    root = project_root(args)
    layout = read_layout(root)
    try:
        artifacts = Artifacts(
            vocab=relative_to_root(args.vocab, root, "vocab") if args.vocab else None,
            encoder=args.encoder,
            shards=tuple(relative_to_root(s, root, "shards") for s in args.shards),
            documents=tuple(relative_to_root(d, root, "documents") for d in args.documents),
            run=relative_to_root(args.run, root, "run") if args.run else None,
            splits=tuple((name, relative_to_root(pattern, root, "split")) for name, pattern in map(parse_split, args.split)),
            tripwire=args.tripwire,
            format=args.format,
            dtype=args.dtype,
            column=args.column,
            vocab_size=args.vocab_size,
            benchmarks=tuple(_benchmark_spec(b, root) for b in args.benchmark),
        )
    except ScaffoldError as exc:
        return fail("init", str(exc))
    problems = validate(artifacts, root)
    if not problems:
        kind, problems = shard_format(artifacts, root)
        artifacts = dataclasses.replace(artifacts, format=kind)
    if problems:
        return fail("init", "; ".join(problems))
    import os
    import re

    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}", args.name or "") or args.name in ("LATEST",):
        return fail("init", f"--name {args.name!r}: a contract name is letters, digits, '.', '_' and '-' (no folders, no '..')")
    real_root = os.path.realpath(root)
    real_dir = os.path.realpath(layout.contracts_dir)
    if real_dir != real_root and not real_dir.startswith(real_root + os.sep):
        return fail("init", f"{layout.contracts_dir}: resolves to {real_dir}, outside the project; harness init writes only inside it")
    path = layout.contracts_dir / f"{args.name}.yaml"
    if args.tripwire and path.is_file() and artifacts == Artifacts(tripwire=args.tripwire):
        return _print_tripwire(args, path.relative_to(root), written=False)
    if path.exists() or path.is_symlink() or path.with_suffix(".yml").exists():
        return fail("init", f"{path.relative_to(root)} exists; harness init never overwrites (pick another --name)")
    unbound = unbuildable(artifacts, root)
    text = contract_text(args.name, artifacts, skip=set(unbound))
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "x", encoding="utf-8") as handle:  # "x": never over a file that appeared meanwhile
        handle.write(text)
    contract, findings = load_contract(path, root=root, falsifiers_dir=layout.falsifiers, evidence_dir=layout.evidence, contracts_dir=layout.contracts_dir)
    bound = [f.builtin for f in contract.falsifiers] if contract is not None else []
    if args.json:
        print_json({"contract": str(path.relative_to(root)), "falsifiers": bound, "not_bound": unbound, "findings": [f.as_json() for f in findings]})
    else:
        print(f"wrote {path.relative_to(root)}" + (f" binding {', '.join('builtin:' + b for b in bound)}" if bound else " (a commented template)"))
        for builtin, why in unbound.items():
            print(f"not bound: builtin:{builtin} — {why}")
        if not args.tripwire:
            print("next: pytest            # runs them and records the verdicts in the contract")
    return _print_tripwire(args, path.relative_to(root), written=True) if args.tripwire else EXIT_OK


def _benchmark_spec(spec: str, root) -> str:
    """``FILE[:fields]`` with FILE made relative to the project root (as the other flags are)."""
    from harness.scaffold import relative_to_root

    path, sep, fields = spec.rpartition(":") if ":" in spec else (spec, "", "")
    return relative_to_root(path, root, "benchmark") + (sep + fields if sep else "")


def _print_tripwire(args, contract, *, written: bool) -> int:
    """The lines a user adds to their training script, for the contract at ``contract``."""
    from harness.cli.render import print_json
    from harness.scaffold import tripwire_snippet

    snippet = tripwire_snippet(args.tripwire, str(contract))
    if args.json and not written:
        print_json({"contract": str(contract), "tripwire": args.tripwire, "snippet": snippet})
    elif not args.json:
        print(f"\nadd to your training script ({args.tripwire}; docs/tripwires.md):\n")
        print(snippet)
    return EXIT_OK
