"""``harness init``: a first contract for a user's own pipeline, binding every built-in falsifier
that applies to the artifacts given, so that ``pytest`` right after runs them with no conftest.

Pure: it returns the contract text; the CLI writes it (never over an existing file).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from harness.contract.subjects import ENCODER_KINDS


class ScaffoldError(ValueError):
    """The arguments do not describe a pipeline the harness can bind (says which and why)."""


@dataclass(frozen=True)
class Artifacts:
    vocab: str | None = None
    encoder: str | None = None
    shards: tuple[str, ...] = ()
    documents: tuple[str, ...] = ()
    run: str | None = None
    splits: tuple[tuple[str, str], ...] = ()  # (split name, shard glob), in the order given
    tripwire: str | None = None  # hf | lightning | loop: also bind the tripwire built-ins to the live run
    format: str | None = None  # the shards' format: declared (--format), else recognised from the files
    dtype: str | None = None  # a raw memmap's id dtype
    column: str | None = None  # the token column when not input_ids
    vocab_size: int | None = None  # --vocab-size: the ids' bound, where no vocab file says it (or a char-level meta.pkl)
    benchmarks: tuple[str, ...] = ()  # --benchmark FILE[:field+field]: eval sets that must not be in the shards

    @property
    def char_level(self) -> bool:
        """nanoGPT's char-level ``meta.pkl`` (vocab_size, stoi, itos): sizes, no BPE encoder."""
        return bool(self.vocab) and self.vocab.endswith(".pkl")

    @property
    def empty(self) -> bool:
        return not (self.vocab or self.shards or self.documents or self.run or self.splits or self.tripwire)

    def split_globs(self) -> dict[str, tuple[str, ...]]:
        out: dict[str, tuple[str, ...]] = {}
        for name, pattern in self.splits:
            out[name] = (*out.get(name, ()), pattern)
        return out


EVAL_SPLIT_NAMES = ("val", "validation", "valid", "eval", "dev", "test")  # the first one declared is the eval split


def parse_split(value: str) -> tuple[str, str]:
    """``--split NAME=GLOB`` → (name, glob)."""
    name, sep, pattern = value.partition("=")
    if not sep or not name.strip() or not pattern.strip():
        raise ScaffoldError(f"--split {value}: expected NAME=GLOB, e.g. --split train='data/train-*.bin'")
    if not all(c.isalnum() or c in "-_" for c in name.strip()):
        raise ScaffoldError(f"--split {value}: a split name is letters, digits, - and _")
    return name.strip(), pattern.strip()


def relative_to_root(value: str, root: Path, what: str) -> str:
    """A path or glob given on the command line, as the contract stores it: relative, inside root."""
    path = Path(value)
    absolute = path if path.is_absolute() else (Path.cwd() / path)
    try:
        rel = Path(os.path.relpath(absolute, root))
    except ValueError:
        rel = Path("..")
    if rel.parts and rel.parts[0] == "..":
        raise ScaffoldError(f"--{what} {value}: outside the project root {root}; artifacts must live inside it (or list a root in $HARNESS_ARTIFACT_ROOTS)")
    return rel.as_posix()


def validate(artifacts: Artifacts, root: Path) -> list[str]:
    from harness.contract.subjects import expand

    problems = []
    if artifacts.encoder and artifacts.encoder not in ENCODER_KINDS and ":" not in artifacts.encoder:
        problems.append(f"--encoder {artifacts.encoder}: not one of {', '.join(ENCODER_KINDS)} or 'package.module:factory'")
    if artifacts.vocab and not (root / artifacts.vocab).exists():
        problems.append(f"--vocab {artifacts.vocab}: no such file")
    if (artifacts.vocab or artifacts.documents) and not artifacts.encoder and not artifacts.char_level:
        problems.append("--encoder is needed with --vocab (the format the pipeline's encoder emits)")
    if artifacts.documents and not artifacts.vocab:
        problems.append("--documents needs --vocab and --encoder (they are encoded to check the round trip)")
    for flag, patterns in (("shards", artifacts.shards), ("documents", artifacts.documents)):
        for pattern in patterns:
            if not expand(root, [pattern], folders=flag == "shards"):
                problems.append(f"--{flag} {pattern}: matches no file")
    for name, pattern in artifacts.splits:
        if not expand(root, [pattern], folders=True):
            problems.append(f"--split {name}={pattern}: matches no file")
    if artifacts.run and not (root / artifacts.run).exists():
        problems.append(f"--run {artifacts.run}: no such folder or file")
    if artifacts.shards and not artifacts.vocab and not artifacts.vocab_size:
        problems.append("--shards needs --vocab or --vocab-size (ids are checked against the vocab size)")
    if artifacts.vocab_size is not None and artifacts.vocab_size < 1:
        problems.append(f"--vocab-size {artifacts.vocab_size}: a vocab holds at least one id")
    if artifacts.format == "raw" and not artifacts.dtype:
        problems.append("--format raw needs --dtype (the ids' width: nanoGPT writes uint16)")
    for spec in artifacts.benchmarks:
        path = spec.rpartition(":")[0] if ":" in spec else spec
        if not (root / path).exists():
            problems.append(f"--benchmark {spec}: no such file or folder {path}")
    if artifacts.benchmarks and not (artifacts.shards and artifacts.vocab):
        problems.append("--benchmark needs --shards and --vocab (the benchmark is encoded with the shards' tokenizer and looked for in them)")
    if artifacts.splits and not artifacts.vocab and not artifacts.vocab_size:
        problems.append("--split needs --vocab (batch ids are checked against the vocab, and a split's subject is built from it)")
    return problems


def shard_format(artifacts: Artifacts, root: Path) -> tuple[str | None, list[str]]:
    """The one format the ``--shards`` files are in, recognised from their bytes (or the declared
    ``--format``), and the problems: files no rule recognises, or several formats under one
    subject — each named, never guessed."""
    from harness.checks import ArtifactError
    from harness.checks.formats import detect, undetected_hint
    from harness.checks.shards import shard_files
    from harness.contract.subjects import SubjectError, expand

    if not artifacts.shards:
        return None, []
    try:
        files = shard_files(expand(root, list(artifacts.shards), folders=True))
    except (ArtifactError, SubjectError) as exc:
        return None, [str(exc)]
    if artifacts.format:
        return artifacts.format, []
    found: dict[str, list[str]] = {}
    problems = []
    for path in files:
        kind = detect(path)
        if kind is None:
            problems.append(undetected_hint(path).replace("declare format: raw and its dtype: in the subject", "give --format raw --dtype") + " (or --format)")
        else:
            found.setdefault(kind, []).append(path.name)
    if len(found) > 1:
        listed = "; ".join(f"{kind}: {', '.join(names[:3])}" for kind, names in found.items())
        problems.append(f"--shards matches shards in {len(found)} formats ({listed}); one subject reads one format — narrow the glob")
    return (next(iter(found)) if len(found) == 1 and not problems else None), problems


def unbuildable(artifacts: Artifacts, root: Path) -> dict[str, str]:
    """Built-ins the declared artifacts cannot run, with what to add: a byte-level encoder needs
    ``tokenizer.json``, ``vocab.json`` with ``merges.txt`` beside it, a ``.tiktoken`` file or a
    SentencePiece model; the document built-ins need documents — a format that records them, or
    an end-of-text token in the vocab to split a flat stream at. ``init`` binds only what can run
    (an unrunnable binding only errors or stays METHODOLOGY_SUSPECT)."""
    out: dict[str, str] = {}
    if artifacts.char_level:
        why = f"{artifacts.vocab} is a char-level meta.pkl: ids map to characters, there is no BPE encoder to check (the size checks run)"
        return dict.fromkeys(
            ("vocab-format", "tokenizer-roundtrip", "vocab-id-agreement", "document-boundaries", "duplicate-documents", "document-lengths", "documents-intact"),
            why,
        )
    if artifacts.shards and artifacts.vocab:
        why = _no_documents(artifacts, root)
        if why:
            out |= dict.fromkeys(("document-boundaries", "duplicate-documents", "document-lengths"), why)
    if not artifacts.vocab or artifacts.encoder not in ("byte_level", "byte_fallback"):
        return out
    vocab = root / artifacts.vocab
    if vocab.name.endswith(".json") and vocab.name != "tokenizer.json" and not (vocab.parent / "merges.txt").is_file():
        why = f"{artifacts.vocab} has no merges.txt beside it, so no {artifacts.encoder} encoder can be built; add merges.txt (or give tokenizer.json)"
        needs = ["tokenizer-roundtrip"] + (["documents-intact"] if artifacts.shards else []) if artifacts.documents else []
        needs += ["vocab-id-agreement", "document-boundaries", "duplicate-documents", "document-lengths"] if artifacts.shards else []
        out |= dict.fromkeys(needs, why)
    return out


RECORDS_DOCUMENTS = ("megatron", "hf-datasets", "parquet", "mds", "litdata")
END_OF_TEXT_TOKENS = ("<|endoftext|>", "<|end_of_text|>", "</s>", "<eos>", "<|eot_id|>")  # as harness.subjects.encoders


def _no_documents(artifacts: Artifacts, root: Path) -> str | None:
    """Why the document built-ins cannot judge these shards (None when they can)."""
    if artifacts.format in RECORDS_DOCUMENTS:
        return None
    from harness.checks import ArtifactError
    from harness.checks.vocab import load_vocab

    try:
        tokens = load_vocab(root / artifacts.vocab).tokens
    except (ArtifactError, OSError, ValueError):
        return None  # the vocab's own falsifiers report it
    if any(t in tokens for t in END_OF_TEXT_TOKENS):
        return None
    return (
        f"{artifacts.format or 'these'} shards are a flat stream of ids and {artifacts.vocab} names no end-of-text token to split it into documents; "
        "bind it by hand with params: separator_id"
    )


def _yaml_str(value: str) -> str:
    import json

    return value if all(c.isalnum() or c in "-_./:" for c in value) and not value[:1].isdigit() else json.dumps(value)


def _flow(values: tuple[str, ...]) -> str:
    return "[" + ", ".join(_yaml_str(v) for v in values) + "]"


def _list(values: tuple[str, ...]) -> str:
    return _yaml_str(values[0]) if len(values) == 1 else "[" + ", ".join(_yaml_str(v) for v in values) + "]"


TEMPLATE = """\
# A contract for your pipeline: claims, each with a falsifier that can refute it on your real
# artifacts. `pytest` runs the bound falsifiers and rewrites status, fingerprint, evidence and
# digest (machine-written: do not edit them by hand). Everything else is yours.
# Quick start instead of this template: harness init --vocab PATH --shards GLOB --encoder KIND
metadata:
  id: {name}
  version: 1.0.0
  status: DRAFT
  description: >
    What this pipeline promises, in one paragraph.

# Subjects are the artifacts the falsifiers read, declared by name (paths relative to the root).
subjects:
  pipeline:
    vocab: tokenizer/tokenizer.json   # or vocab.json (+ merges.txt beside it), a .tiktoken file
    encoder: byte_level               # byte_level | hex_byte | byte_fallback | package.module:factory
    shards: data/shards/*.npy         # .npy, or .bin with a JSON sidecar
    documents: data/raw/**/*.txt      # the text the shards were made from
  # finetune:
  #   run: runs/finetune-01           # epoch-NNN.metadata.json, trainer_state.json or metrics.csv

falsification_tests: []
# Bind built-in falsifiers (docs/subjects.md lists them with their params), for example:
# - id: FALSIFY-VOCAB-FORMAT-001
#   rule: the vocab is in the format the encoder emits
#   test: builtin:vocab-format
#   subject: pipeline
# - id: FALSIFY-SHARD-ENTROPY-001
#   rule: the training shards carry real text
#   test: builtin:shard-entropy
#   subject: pipeline
#   params:
#     min_bits: 4.0
"""


def _subject_lines(artifacts: Artifacts, splits: dict, evaluation: str | None) -> list[str]:
    """The subjects section: the pipeline's data, the run, and (given ``evaluation``) the run beside the splits it trained on."""
    lines: list[str] = []
    data = bool(artifacts.vocab or artifacts.shards or artifacts.splits)
    if data:
        lines.append("  pipeline:")
        if artifacts.vocab:
            lines.append(f"    vocab: {_yaml_str(artifacts.vocab)}")
        if artifacts.encoder:
            lines.append(f"    encoder: {_yaml_str(artifacts.encoder)}")
        if artifacts.vocab_size:
            lines.append(f"    vocab_size: {int(artifacts.vocab_size)}")
        if artifacts.shards:
            lines.append(f"    shards: {_list(artifacts.shards)}")
            if artifacts.format:
                lines.append(f"    format: {_yaml_str(artifacts.format)}")
            for key in ("dtype", "column"):
                if getattr(artifacts, key):
                    lines.append(f"    {key}: {_yaml_str(getattr(artifacts, key))}")
        if artifacts.documents:
            lines.append(f"    documents: {_list(artifacts.documents)}")
        if splits:
            lines.append("    splits:                 # the batches the model sees, per split (packed windows; seq_len 512, batch_size 8)")
            lines += [f"      {_yaml_str(name)}: {_list(globs)}" for name, globs in splits.items()]
    if artifacts.run:
        lines += ["  run:", f"    run: {_yaml_str(artifacts.run)}"]
    if evaluation:  # the run beside the splits it trained on: its held-out loss against the data's own baseline
        lines += ["  trained:", f"    run: {_yaml_str(artifacts.run)}", f"    vocab: {_yaml_str(artifacts.vocab)}"]
        if artifacts.encoder:
            lines.append(f"    encoder: {_yaml_str(artifacts.encoder)}")
        lines.append("    splits:")
        lines += [f"      {_yaml_str(name)}: {_list(globs)}" for name, globs in splits.items() if name in ("train", evaluation)]
    return lines


def contract_text(name: str, artifacts: Artifacts, skip: set[str] | frozenset[str] = frozenset()) -> str:
    """The contract for these artifacts, or the commented template when none is given."""
    if artifacts.empty:
        return TEMPLATE.format(name=name)
    lines = [
        "# Written by `harness init`. `pytest` runs the bound falsifiers and rewrites status,",
        "# fingerprint, evidence and digest (machine-written). Everything else is yours to edit;",
        "# docs/subjects.md lists every built-in falsifier with its params and defaults.",
        "metadata:",
        f"  id: {_yaml_str(name)}",
        "  version: 1.0.0",
        "  status: DRAFT",
        "  description: >",
        "    Claims about this repository's data pipeline and training run, falsified on its",
        "    real artifacts by the harness's built-in falsifiers.",
        "",
        "subjects:",
    ]
    splits = artifacts.split_globs()
    evaluation = next((n for n in EVAL_SPLIT_NAMES if n in splits), None)
    learned = bool(artifacts.run and artifacts.vocab and "train" in splits and evaluation)
    lines += _subject_lines(artifacts, splits, evaluation if learned else None)
    if lines[-1] == "subjects:":  # a tripwire-only contract: the live run is its subject
        lines.pop()
    lines += ["", "falsification_tests:"]

    def bind(fid: str, rule: str, builtin: str, subject: str, params: dict | None = None) -> None:
        if builtin in skip:
            return
        lines.extend([f"- id: {fid}", f"  rule: {rule}", f"  test: builtin:{builtin}", f"  subject: {subject}"])
        if params:
            lines.append("  params:")
            lines.extend(f"    {key}: {_flow(value) if isinstance(value, tuple) else _yaml_str(value)}" for key, value in params.items())

    if artifacts.vocab and artifacts.encoder:
        bind("FALSIFY-VOCAB-FORMAT-001", "the vocab is in the format the encoder emits", "vocab-format", "pipeline")
    if artifacts.documents and artifacts.vocab:
        bind("FALSIFY-TOKENIZER-ROUNDTRIP-001", "encoding the source documents round-trips with almost no <unk>", "tokenizer-roundtrip", "pipeline")
    if artifacts.shards:
        bind("FALSIFY-SHARD-INTEGRITY-001", "the shards are whole and every id fits the vocab", "shard-integrity", "pipeline")
        bind("FALSIFY-SHARD-ENTROPY-001", "the shards carry real text, not a degenerate stream", "shard-entropy", "pipeline")
    if artifacts.shards and artifacts.vocab:
        bind("FALSIFY-VOCAB-ID-AGREEMENT-001", "the shards' ids are the declared tokenizer's", "vocab-id-agreement", "pipeline")
        bind("FALSIFY-DOCUMENT-BOUNDARIES-001", "documents are separated by the end-of-text id, never by its text", "document-boundaries", "pipeline")
        bind("FALSIFY-DUPLICATE-DOCUMENTS-001", "no document was written more than once", "duplicate-documents", "pipeline")
        bind("FALSIFY-DOCUMENT-LENGTHS-001", "no document is empty or cut at a maximum length", "document-lengths", "pipeline")
    if artifacts.shards and artifacts.vocab and artifacts.benchmarks:
        bind(
            "FALSIFY-BENCHMARK-CONTAMINATION-001",
            "no item of the benchmarks we report on is in the training shards",
            "benchmark-contamination",
            "pipeline",
            {"benchmarks": artifacts.benchmarks},
        )
    if artifacts.shards and artifacts.vocab and artifacts.documents:
        bind("FALSIFY-DOCUMENTS-INTACT-001", "every source document reaches the shards, whole and unaltered", "documents-intact", "pipeline")
    if splits:
        _bind_batches(bind, splits)
    if artifacts.run:
        bind("FALSIFY-METRIC-PLAUSIBILITY-001", "the run's reported losses are ones a real model can have", "metric-plausibility", "run")
        bind("FALSIFY-LEARNING-CURVE-001", "the training loss starts near ln V and falls", "learning-curve", "run")
    if learned:
        bind(
            "FALSIFY-LEARNS-BEYOND-UNIGRAM-001",
            "the held-out loss beats the data's own unigram baseline",
            "learns-beyond-unigram",
            "trained",
            {"train_split": "train", "val_split": evaluation},
        )
    if artifacts.tripwire:
        _bind_tripwires(bind, lines)
    return "\n".join(lines) + "\n"


TRIPWIRE_RULES = {
    "vocab-format": "the ids the loader yields are the tokenizer's text tokens, not <unk> or hex strings",
    "shard-entropy": "the training data carries real text",
    "loss-mask": "padding never enters the loss",
    "model-vocab-fit": "every id the loader yields fits the model's embedding",
    "causal-mask": "the model cannot see future tokens",
    "target-alignment": "the loss scores each position's next token, once shifted",
    "split-overlap": "the eval set holds no training data",
    "eval-coverage": "the eval scores many different rows",
    "metric-plausibility": "the logged losses are finite, move, and are ones a real model can have",
}


def _bind_tripwires(bind, lines: list[str]) -> None:
    """The built-ins a tripwire judges on the live run, for those the artifacts did not bind
    already (a tripwire runs every bound one of them, whatever its subject)."""
    from harness.builtins import TRAINING_RUN

    bound = {line.split("builtin:", 1)[1] for line in lines if line.startswith("  test: builtin:")}
    for n, (builtin, rule) in enumerate(TRIPWIRE_RULES.items(), 1):
        if builtin not in bound:
            bind(f"FALSIFY-LIVE-{builtin.upper()}-{n:03d}", rule, builtin, TRAINING_RUN)


TRIPWIRE_SNIPPETS = {
    "hf": """\
from harness.tripwires.hf import HarnessCallback

trainer = Trainer(..., callbacks=[HarnessCallback("{contract}")])  # processing_class=tokenizer gives it the tokenizer
""",
    "lightning": """\
from harness.tripwires.lightning import HarnessCallback

trainer = L.Trainer(..., callbacks=[HarnessCallback("{contract}", tokenizer=tokenizer)])
""",
    "loop": """\
from harness.tripwires import Tripwire

tripwire = Tripwire("{contract}")
# a generator or iterator as loader: share it, train_loader = tripwire.watch(train_loader)
tripwire.before_training(model=model, tokenizer=tokenizer, train_loader=train_loader, eval_loader=val_loader)
for step, batch in enumerate(train_loader):
    if tripwire.should_stop:
        break
    loss = train_step(batch)           # your step
    tripwire.on_loss(step, loss.item())
    # after each eval: tripwire.on_eval(step, {{"eval_loss": val_loss}})
tripwire.finish()                      # writes a FALSIFIED verdict to the contract and evidence/
""",
}


STOP_NOTE = """\
# A falsified claim stops the run at once, before anything is saved as if trained: the verdict is
# written to {contract} and evidence/, and the process ends with exit status 1 and this last line:
#   harness tripwire FALSIFIED at step 0 (pipeline-v1): FALSIFY-LIVE-SHARD-ENTROPY-003: 0.0009 bits/token ... — the run was stopped (exit status 1)
# on_falsified="raise" raises TripwireFalsified instead; "warn" only warns. A healthy run prints one line
# at step 0 (checks passed, ids read, seconds) and one at the end.
"""


def tripwire_snippet(framework: str, contract: str) -> str:
    return TRIPWIRE_SNIPPETS[framework].format(contract=contract) + STOP_NOTE.format(contract=contract)


def _bind_batches(bind, splits: dict[str, tuple[str, ...]]) -> None:
    """The batch falsifiers that apply to the declared splits: every split's padding and ids, the
    eval split's coverage, and — with a ``train`` split beside it — the overlap between the two."""
    names = tuple(splits)
    evaluation = next((n for n in EVAL_SPLIT_NAMES if n in splits), None)
    all_splits = names
    bind("FALSIFY-LOSS-MASK-001", "padding is never scored by the loss", "loss-mask", "pipeline", {"splits": all_splits})
    bind("FALSIFY-MODEL-VOCAB-FIT-001", "every batch id fits the model's vocab, none clamped into it", "model-vocab-fit", "pipeline", {"splits": all_splits})
    if evaluation is not None:
        bind("FALSIFY-EVAL-COVERAGE-001", "the eval scores enough distinct rows", "eval-coverage", "pipeline", {"split": evaluation})
    if "train" in splits:
        bind("FALSIFY-TRAIN-COVERAGE-001", "the training stream reads as many distinct rows as it draws", "train-coverage", "pipeline", {"split": "train"})
    if evaluation is not None and "train" in splits:
        bind(
            "FALSIFY-SPLIT-OVERLAP-001",
            "the eval data is not drawn from the training data",
            "split-overlap",
            "pipeline",
            {"train_split": "train", "val_split": evaluation},
        )
