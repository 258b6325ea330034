"""What the built-in falsifiers need of a subject, as typed Protocols — and a check that names the
missing member when a subject is bound, instead of an AttributeError deep inside a falsifier.

Three kinds, one per family of built-ins (``harness.builtins`` says which falsifier takes which):

* ``DataSubject`` — a tokenization pipeline: its vocab, its encoder, its token shards, and the
  documents the shards were made from.
* ``TrainerSubject`` — a model with its training step: raw logits, eval and train steps on given
  batches, a snapshot of state for purity checks.
* ``BatchSubject`` — a data loader: the (inputs, targets) batches of each split, as the model sees them.
* ``RunSubject`` — a finished training run: its per-epoch losses.

Declarative subjects (``harness.subjects.declarative``) implement the data, batches and run
protocols from files; ``harness.subjects.adapters`` turns a plain ``torch.nn.Module`` or a Hugging Face causal LM
into a ``TrainerSubject``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class Encoder(Protocol):
    name: str  # the format it emits: byte_level | hex_byte | byte_fallback | ...
    unk_id: int | None

    def encode_batch(self, texts: list[str]) -> list[list[int]]: ...
    def decode(self, ids: Sequence[int]) -> str: ...


@runtime_checkable
class DataSubject(Protocol):
    encoder_name: str  # the vocab format the encoder expects
    vocab_path: Path  # tokenizer.json, vocab.json (+ merges.txt), a tiktoken rank file
    vocab_size: int
    unk_id: int | None

    def shard_paths(self) -> list[Path]: ...
    def encoder(self) -> Encoder: ...
    def documents(self) -> Iterable[tuple[str, str]]: ...  # (name, text) the shards were made from


@runtime_checkable
class TrainerSubject(Protocol):
    vocab_size: int
    device: str
    model: Any  # torch.nn.Module: model(inputs (B, T) long) -> raw logits (B, T, V)

    def reset(self, seed: int) -> None: ...
    def make_batch(self, tokens: Any, batch: int, seq_len: int, offset: int = 0) -> tuple[Any, Any]: ...
    def eval_batch(self, inputs: Any, targets: Any) -> float: ...
    def train_batch(self, inputs: Any, targets: Any) -> float: ...
    def state_snapshot(self) -> dict[str, Any]: ...


@runtime_checkable
class BatchSubject(Protocol):
    """What the loader hands the model: the batches of a split, as (inputs, targets) of shape (B, T)
    — torch tensors or numpy arrays, or Hugging Face style mappings with ``input_ids`` and
    ``labels``. Optional members: ``pad_id`` (the padding token, when the loader pads),
    ``ignore_index`` (targets the loss skips; -100 when absent), ``shard_paths()`` (the token shards
    the batches come from, to compare what the model sees with what was tokenized), ``model`` (the
    module the batches feed, called as its loop calls it: the targets its own loss scores are read)."""

    vocab_size: int  # the ids the model can embed (its embedding rows), not the tokenizer's

    def batches(self, split: str) -> Iterable[Any]: ...


@runtime_checkable
class RunSubject(Protocol):
    def epochs(self) -> list[dict[str, Any]]: ...  # each with train_loss and val_loss, in order


PROTOCOLS: dict[str, type] = {"data": DataSubject, "trainer": TrainerSubject, "run": RunSubject, "batches": BatchSubject}
_MEMBERS = {
    "data": ("encoder_name", "vocab_path", "vocab_size", "unk_id", "shard_paths", "encoder", "documents"),
    "trainer": ("vocab_size", "device", "model", "reset", "make_batch", "eval_batch", "train_batch", "state_snapshot"),
    "run": ("epochs",),
    "batches": ("vocab_size", "batches"),
}
# What each built-in reads of its subject: a falsifier requires only these, so a member added for
# one built-in (``documents`` for the round trip) never breaks subjects bound to the others.
NEEDS: dict[str, tuple[str, ...]] = {
    "vocab-format": ("vocab_path", "encoder_name"),
    "tokenizer-roundtrip": ("documents", "encoder"),
    "vocab-id-agreement": ("encoder", "shard_paths", "vocab_path"),  # documents: used when present
    "shard-integrity": ("shard_paths", "vocab_size"),
    "shard-entropy": ("shard_paths", "vocab_size"),  # unk_id: used when present
    "document-boundaries": ("shard_paths", "encoder"),  # documents: used when present
    "duplicate-documents": ("shard_paths",),  # encoder: its end-of-text id, used when present
    "document-lengths": ("shard_paths",),  # encoder: its end-of-text id, used when present
    "documents-intact": ("shard_paths", "documents", "encoder"),
    "benchmark-contamination": ("shard_paths", "encoder"),
    "learns-beyond-unigram": ("epochs", "split_stream"),  # vocab_size: used when present
}
# Optional members a built-in reads when present: only these (and what it needs) must be of the right kind.
OPTIONAL: dict[str, tuple[str, ...]] = {
    "vocab-id-agreement": ("documents",),
    "shard-entropy": ("unk_id",),
    "document-boundaries": ("documents",),
    "duplicate-documents": ("encoder",),
    "document-lengths": ("encoder",),
    "model-vocab-fit": ("shard_paths",),
    "split-overlap": ("split_stream",),
    "target-alignment": ("model",),
}
CALLABLE = frozenset(
    {"model", "split_stream", "shard_paths", "encoder", "documents", "batches", "epochs", "reset", "make_batch", "eval_batch", "train_batch", "state_snapshot"}
)


def missing_members(subject: Any, kind: str, builtin: str | None = None) -> list[str]:
    """The members ``builtin`` (else protocol ``kind``) needs that ``subject`` lacks, or has in the
    wrong kind — ``shard_paths`` a list where a method is read — each named (empty when it
    satisfies it). Optional members present in the wrong kind are refused too: a silent fallback
    would turn a comparison off."""
    if kind == "run" and isinstance(subject, (str, Path)):
        return []  # a run folder is read as a declarative run
    needed = NEEDS.get(builtin or "", _MEMBERS[kind])
    problems = [name for name in needed if not hasattr(subject, name)]
    # a member of the wrong kind is refused only where it is read: a loader with a shard_paths list
    # is a fine subject for the batch built-ins that never read it
    read = set(needed) | set(OPTIONAL.get(builtin or "", ())) if builtin else set(_MEMBERS[kind] + ("shard_paths",))
    for name in sorted(CALLABLE & read):
        if getattr(subject, name, None) is not None and not callable(getattr(subject, name)):  # None: not given
            problems.append(f"{name} (a {type(getattr(subject, name)).__name__}, where a method is called)")
    return problems


def as_run(subject: Any) -> RunSubject:
    """A run subject, or a folder / file path read as one."""
    if isinstance(subject, (str, Path)):
        from harness.subjects.runs import RunFolder

        return RunFolder(Path(subject))
    return subject
