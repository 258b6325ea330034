"""The built-in falsifiers: stable references a contract binds with ``test: builtin:<name>``.

The names here are the public, versioned interface: a contract written against ``builtin:shard-
entropy`` keeps working when the test function behind it moves or is renamed. Each entry says
which kind of subject it drives (``data``, ``trainer``, ``batches`` or ``run``: see
``harness.subjects.protocols``)
and the modules whose code decides its verdict (they enter its fingerprint).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

PREFIX = "builtin:"
TRAINING_RUN = "training_run"  # the subject of a falsifier judged only inside a training run, by a tripwire
PACKAGE_DIR = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Builtin:
    name: str
    module: str  # dotted module inside the package
    func: str
    subject_kind: str  # data | trainer | batches | run
    catches: str
    tripwire: bool = False  # also judged inside a training run, on its live objects (docs/tripwires.md)

    @property
    def reference(self) -> str:
        return PREFIX + self.name

    @property
    def path(self) -> Path:
        return PACKAGE_DIR.parent / (self.module.replace(".", "/") + ".py")


BUILTINS: dict[str, Builtin] = {
    b.name: b
    for b in (
        Builtin(
            "vocab-format",
            "harness.falsifiers.vocab",
            "test_vocab_format_matches_encoder",
            "data",
            "encoder/vocab format mismatch (hex-byte vs byte-level)",
            tripwire=True,
        ),
        Builtin("tokenizer-roundtrip", "harness.falsifiers.vocab", "test_roundtrip_and_unk_share", "data", "lossy encoding, <unk> floods", tripwire=True),
        Builtin("vocab-id-agreement", "harness.falsifiers.vocab", "test_vocab_id_agreement", "data", "shards made by another tokenizer than the declared one"),
        Builtin("shard-integrity", "harness.falsifiers.shards", "test_shard_integrity", "data", "dtype too small, ids >= V, truncated or empty shards"),
        Builtin("shard-entropy", "harness.falsifiers.shards", "test_entropy_floor", "data", "degenerate corpora (entropy floor, top-1 share)", tripwire=True),
        Builtin("eval-sanity-bound", "harness.falsifiers.eval_batch", "test_sanity_bound", "trainer", "eval loss outside [0.5, 1.5 ln V] at init"),
        Builtin("train-pollution", "harness.falsifiers.eval_batch", "test_train_pollution", "trainer", "train state leaking into eval"),
        Builtin("eval-purity", "harness.falsifiers.eval_batch", "test_eval_purity", "trainer", "eval mutating weights, optimizer, RNG or mode"),
        Builtin("label-alignment", "harness.falsifiers.eval_batch", "test_label_alignment", "trainer", "labels equal to inputs (no shift)"),
        Builtin(
            "document-boundaries",
            "harness.falsifiers.documents",
            "test_document_boundaries",
            "data",
            "documents run together: a separator missing, or encoded as the ordinary tokens of its text",
        ),
        Builtin(
            "duplicate-documents",
            "harness.falsifiers.documents",
            "test_duplicate_documents",
            "data",
            "documents written more than once (exact duplicates, hashed)",
        ),
        Builtin(
            "document-lengths",
            "harness.falsifiers.documents",
            "test_document_lengths",
            "data",
            "empty documents; documents silently truncated at a maximum length",
        ),
        Builtin(
            "documents-intact",
            "harness.falsifiers.documents",
            "test_documents_intact",
            "data",
            "declared documents missing from the shards (a dropped last buffer, a filter) or altered (indentation stripped, text normalised)",
        ),
        Builtin(
            "benchmark-contamination",
            "harness.falsifiers.contamination",
            "test_benchmark_contamination",
            "data",
            "benchmark items (HumanEval, …) inside the training shards, verbatim or re-indented, CRLF, re-cased",
        ),
        Builtin(
            "overfit-one-batch",
            "harness.falsifiers.eval_batch",
            "test_overfit_one_batch",
            "trainer",
            "a model that does not learn (an optimizer step that changes nothing)",
        ),
        Builtin(
            "causal-mask", "harness.falsifiers.eval_batch", "test_causal_mask", "trainer", "a model that sees future tokens (no causal mask)", tripwire=True
        ),
        Builtin("metric-plausibility", "harness.falsifiers.metrics", "test_metric_plausibility", "run", "impossible val/train losses", tripwire=True),
        Builtin(
            "learns-beyond-unigram",
            "harness.falsifiers.metrics",
            "test_learns_beyond_unigram",
            "run",
            "a run whose held-out loss is no better than the data's own token frequencies (targets apart from their inputs, a model that learns nothing)",
        ),
        Builtin(
            "learning-curve",
            "harness.falsifiers.metrics",
            "test_learning_curve",
            "run",
            "a training loss that never moves (lr 0, frozen weights, gradients zeroed before the step), rises, or starts far from ln V",
        ),
        Builtin("split-overlap", "harness.falsifiers.batches", "test_split_overlap", "batches", "validation windows drawn from training data", tripwire=True),
        Builtin(
            "eval-coverage",
            "harness.falsifiers.batches",
            "test_eval_coverage",
            "batches",
            "an eval set that repeats itself or scores too few tokens",
            tripwire=True,
        ),
        Builtin(
            "train-coverage",
            "harness.falsifiers.batches",
            "test_train_coverage",
            "batches",
            "a training stream that re-reads one batch (an iterator re-created every step)",
        ),
        Builtin(
            "target-alignment",
            "harness.falsifiers.batches",
            "test_target_alignment",
            "batches",
            "labels not shifted, or shifted twice (loader and model, or loader and the model's own loss)",
            tripwire=True,
        ),
        Builtin(
            "loss-mask",
            "harness.falsifiers.batches",
            "test_loss_mask",
            "batches",
            "padding positions counted in the loss; the end-of-text id masked out of it",
            tripwire=True,
        ),
        Builtin(
            "model-vocab-fit",
            "harness.falsifiers.batches",
            "test_model_vocab_fit",
            "batches",
            "ids at or above the model's vocab, ids clamped into it",
            tripwire=True,
        ),
    )
}


def parse_builtin(test: str) -> Builtin | None:
    """The built-in a ``test:`` text names, or None when it names none (or an unknown one)."""
    text = test.strip()
    if not text.startswith(PREFIX):
        return None
    return BUILTINS.get(text[len(PREFIX) :])


def tripwire_builtins() -> tuple[str, ...]:
    """The built-ins a tripwire judges on a live training run."""
    return tuple(name for name, b in BUILTINS.items() if b.tripwire)
