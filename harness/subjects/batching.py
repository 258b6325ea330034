"""Batches as the model sees them, read the same way whatever the loader hands over.

A loader may yield ``(inputs, targets)`` pairs of torch tensors or numpy arrays, or Hugging Face
style mappings (``input_ids`` with ``labels`` that the model shifts itself). ``as_rows`` turns each
into two int64 numpy arrays of shape (B, T): the ids the model embeds and the ids its loss scores
(``ignore_index`` where it scores nothing). ``packed_batches`` is the loader a declared subject
gets for free: consecutive windows of ``seq_len + 1`` ids over the split's shards.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

DEFAULT_IGNORE_INDEX = -100


def _array(value: Any):
    import numpy as np

    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    arr = np.asarray(value)
    if arr.ndim == 1:
        arr = arr[None, :]
    return arr.astype(np.int64, copy=False)


def as_rows(batch: Any, ignore_index: int = DEFAULT_IGNORE_INDEX):
    """(inputs, targets) of one batch as int64 arrays (B, T); HF ``labels`` are shifted here the way
    the model shifts them, so targets always align with the position that predicts them."""
    inputs, targets, _ = as_rows_with_padding(batch, ignore_index)
    return inputs, targets


def as_rows_with_padding(batch: Any, ignore_index: int = DEFAULT_IGNORE_INDEX):
    """(inputs, targets, target_is_padding): the third is a boolean (B, T) array aligned with the
    targets — True where the target position is one the batch's ``attention_mask`` leaves out — or
    None when the batch carries no attention mask."""
    import numpy as np

    if isinstance(batch, dict):
        inputs = _array(batch["input_ids"])
        mask = batch.get("attention_mask")
        padding = None
        if mask is not None:
            mask = _array(mask)
            padding = np.zeros(inputs.shape, dtype=bool)
            padding[:, :-1] = mask[:, 1:] == 0
        labels = batch.get("labels")
        if labels is None:
            return inputs, np.full_like(inputs, ignore_index), padding
        labels = _array(labels)
        targets = np.full_like(inputs, ignore_index)
        targets[:, :-1] = labels[:, 1:]
        return inputs, targets, padding
    inputs, targets = batch[0], batch[1]
    return _array(inputs), _array(targets), None


class Scan:
    """What a capped scan read: ``truncated`` once it stopped at its cap with batches left."""

    def __init__(self) -> None:
        self.truncated: list[str] = []  # the splits cut short
        self.tokens = 0
        self.batches: dict[str, int] = {}  # batches read per split

    def require_every_split(self, falsifier_id: str, splits) -> None:
        """Zero batches is never a pass: every split the claim names must yield one (a loader
        that drops every shard shorter than a window judges nothing of them)."""
        empty = [s for s in splits if not self.batches.get(s)]
        assert not empty, f"{falsifier_id}: the {', '.join(map(repr, empty))} split(s) yield no batch: nothing the model would see there was judged"

    def report(self, falsifier, cap_name: str, cap: int | None) -> None:
        """A scan that did not read everything may falsify, never discharge: say so."""
        if self.truncated:
            falsifier.suspect(
                f"sampled: read the first {self.tokens:,} input ids ({cap_name}={cap:,}) and stopped with batches of "
                f"{', '.join(self.truncated)} unread; a pass does not cover them (raise or remove {cap_name})"
            )


_END = object()


def iter_rows(subject: Any, split: str, max_tokens: int | None = None, scan: Scan | None = None, *, padding: bool = False) -> Iterator[tuple[Any, ...]]:
    """The batches of ``split`` as (inputs, targets) arrays — with ``padding``, (inputs, targets,
    target_is_padding or None) — until ``max_tokens`` inputs were seen (``None``: all of them);
    ``scan`` learns whether the cap cut the split short."""
    ignore = getattr(subject, "ignore_index", DEFAULT_IGNORE_INDEX)
    seen = 0
    batches = iter(subject.batches(split))
    if scan is not None:
        scan.batches.setdefault(split, 0)
    for batch in batches:
        inputs, targets, pads = as_rows_with_padding(batch, ignore)
        if scan is not None:
            scan.batches[split] += 1
        yield (inputs, targets, pads) if padding else (inputs, targets)
        seen += inputs.size
        if scan is not None:
            scan.tokens += inputs.size
        if max_tokens is not None and seen >= max_tokens:
            if scan is not None and next(batches, _END) is not _END:
                scan.truncated.append(split)
            return


def packed_batches(paths: Iterable[Path], seq_len: int, batch_size: int, options=None) -> Iterator[tuple[Any, Any]]:
    """Consecutive windows of ``seq_len + 1`` ids over the shards (a window never spans two shards),
    ``batch_size`` windows a batch; targets are the inputs shifted by one."""
    import numpy as np

    from harness.checks.formats import NO_OPTIONS
    from harness.checks.shards import describe_shard, shard_files

    span = seq_len + 1
    rows: list[Any] = []
    for path in shard_files([Path(p) for p in paths]):
        shard, problems = describe_shard(path, options=options or NO_OPTIONS)
        if shard is None:  # a loader would crash here too: batches of the other shards are not the split
            from harness.checks import ArtifactError

            raise ArtifactError("; ".join(problems) or f"{path}: unreadable")
        if shard.count < span:
            continue
        ids = shard.open()
        for start in range(0, shard.count - span + 1, span):
            rows.append(np.asarray(ids[start : start + span], dtype=np.int64))
            if len(rows) == batch_size:
                window = np.stack(rows)
                rows = []
                yield window[:, :-1], window[:, 1:]
    if rows:
        window = np.stack(rows)
        yield window[:, :-1], window[:, 1:]
