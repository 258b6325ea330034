"""Loader subjects over the embedded pipeline's shards (``harness.subjects.protocols.BatchSubject``):
a packed loader and a per-document padded loader, healthy, and planted defects that each change one
real code path — the loader bugs the batch falsifiers exist for.

Splits: the last shard is validation, the others training (shards are whole documents joined by
the end-of-text id, so no document straddles the split but the one at the boundary).
"""

from __future__ import annotations

from functools import cached_property


class PackedLoader:
    """Consecutive windows of ``seq_len + 1`` ids; targets are the inputs shifted by one."""

    pad_id = None
    ignore_index = -100

    def __init__(self, pipeline, seq_len: int = 128, batch_size: int = 8, model_vocab_size: int | None = None) -> None:
        self.pipeline = pipeline
        self.seq_len = seq_len
        self.batch_size = batch_size
        self.vocab_size = model_vocab_size or pipeline.vocab_size

    def shard_paths(self):
        return self.pipeline.shard_paths()

    def split_ids(self, split: str):
        import numpy as np

        from harness.checks.shards import describe_shard

        paths = self.shard_paths()
        chosen = paths[:-1] if split == "train" else paths[-1:]
        return np.concatenate([np.asarray(describe_shard(p)[0].open(), dtype=np.int64) for p in chosen])

    def to_model(self, ids):
        """The ids as the model receives them (the hook a clamping loader overrides)."""
        return ids

    def windows(self, split: str):
        import numpy as np

        ids = self.split_ids(split)
        span = self.seq_len + 1
        usable = (ids.size // span) * span
        return self.to_model(ids[:usable].reshape(-1, span)) if usable else np.zeros((0, span), dtype=np.int64)

    def batches(self, split: str):
        import torch

        windows = self.windows(split)
        for start in range(0, len(windows), self.batch_size):
            window = torch.as_tensor(windows[start : start + self.batch_size])
            yield window[:, :-1], window[:, 1:]


class ValFromTrainLoader(PackedLoader):
    """Defect: the validation split is carved from the training windows' tail (``train[-n:]``)
    instead of the held-out shard — the model is judged on text it trains on."""

    def windows(self, split: str):
        train = super().windows("train")
        if split == "train":
            return train
        return train[-max(1, len(super().windows("val"))) :]


class RandomRowsLoader(PackedLoader):
    """nanoGPT's ``get_batch``: each train row is ``seq_len + 1`` ids at a random offset of the
    training stream (seeded), drawn until the rows cover ``draws`` of it (a short run); val is
    read in order. ``split_stream(split)`` gives the stream the rows are drawn from."""

    draws = 0.3

    def split_stream(self, split: str):
        return self.split_ids(split)

    def windows(self, split: str):
        import numpy as np

        if split != "train":
            return super().windows(split)
        ids = self.split_ids(split)
        span = self.seq_len + 1
        starts = np.random.default_rng(0).integers(0, ids.size - span, max(1, int(self.draws * ids.size / span)))
        return self.to_model(np.stack([ids[s : s + span] for s in starts]))


class RandomRowsValFromTrainLoader(RandomRowsLoader):
    """Defect: validation is the training stream's tail, read in order, while training draws its
    rows from the whole stream — val carved from train, where random rows seldom hold a whole
    val window (#40 item 5)."""

    def split_ids(self, split: str):
        train = super().split_ids("train")
        return train if split == "train" else train[-min(train.size // 10, super().split_ids("val").size) :]


class RepeatedEvalLoader(PackedLoader):
    """Defect: eval re-creates its iterator every step and so sees the first batch over and over."""

    def batches(self, split: str):
        if split == "train":
            yield from super().batches(split)
            return
        steps = max(1, len(self.windows(split)) // self.batch_size)
        for _ in range(steps):
            yield next(iter(super().batches(split)))


class ClampingLoader(PackedLoader):
    """Defect: the tokenizer's ids are squeezed into a smaller model vocab with ``clamp`` (the
    model's vocab was set from another config): every id above it becomes the last row."""

    def to_model(self, ids):
        import numpy as np

        return np.minimum(ids, self.vocab_size - 1)


class DocumentLoader(PackedLoader):
    """One document per row, its end-of-text id kept (the model learns to end a document), cut to
    ``seq_len + 1`` ids and padded with ``pad_id`` = the end-of-text id (Qwen2.5's own choice);
    targets past each document's length are ``ignore_index``, so the loss never scores padding."""

    def __init__(self, pipeline, seq_len: int = 128, batch_size: int = 8, model_vocab_size: int | None = None) -> None:
        super().__init__(pipeline, seq_len, batch_size, model_vocab_size)
        self.pad_id = self.eos_id = pipeline.eos_id

    @cached_property
    def _docs(self):
        return {split: self._split_docs(split) for split in ("train", "val")}

    def _split_docs(self, split: str):
        import numpy as np

        ids = self.split_ids(split)
        ends = np.flatnonzero(ids == self.eos_id) + 1  # each document with its end-of-text id
        starts = np.concatenate([[0], ends])
        return [ids[s:e] for s, e in zip(starts, np.concatenate([ends, [ids.size]])) if e - s > 2]

    def mask(self, targets, lengths):
        import numpy as np

        positions = np.arange(targets.shape[1])[None, :]
        return np.where(positions >= (lengths[:, None] - 1), self.ignore_index, targets)

    def batches(self, split: str):
        import numpy as np
        import torch

        span = self.seq_len + 1
        docs = self._docs[split]
        for start in range(0, len(docs), self.batch_size):
            chunk = docs[start : start + self.batch_size]
            window = np.full((len(chunk), span), self.pad_id, dtype=np.int64)
            lengths = np.array([min(len(d), span) for d in chunk])
            for row, doc in enumerate(chunk):
                window[row, : lengths[row]] = doc[:span]
            yield torch.as_tensor(window[:, :-1]), torch.as_tensor(self.mask(window[:, 1:], lengths))


class UnmaskedPaddingLoader(DocumentLoader):
    """Defect: padded targets keep the pad id (no ``ignore_index``): the loss learns to predict padding."""

    def mask(self, targets, lengths):
        return targets


class EosMaskedLoader(DocumentLoader):
    """Defect: every label equal to the pad id is masked — Hugging Face's
    ``DataCollatorForLanguageModeling`` with ``pad_token = eos_token`` — so each document's real end
    goes out of the loss with its padding: the model never learns to stop."""

    def mask(self, targets, lengths):
        import numpy as np

        return np.where(targets == self.pad_id, self.ignore_index, super().mask(targets, lengths))


class RepeatedTrainLoader(PackedLoader):
    """Defect: the training loop re-creates its iterator every step (``next(iter(loader))``), so
    every step trains on the first batch: the run draws many windows and reads one batch's worth."""

    def batches(self, split: str):
        if split != "train":
            yield from super().batches(split)
            return
        steps = max(1, len(self.windows(split)) // self.batch_size)
        for _ in range(steps):
            yield next(iter(super().batches(split)))


class ModelFedLoader(PackedLoader):
    """The packed loader with the model its batches feed (``model``): a nanoGPT-style GPT whose
    ``forward(idx, targets)`` returns ``(logits, loss)``, the targets already shifted by the loader."""

    shift_in_loss = False

    @cached_property
    def model(self):
        from harness.demo.models import TinyConfig, build_gpt_with_loss

        config = TinyConfig(vocab_size=self.vocab_size, hidden=32, layers=1, heads=2, max_seq=self.seq_len, dropout=0.0)
        return build_gpt_with_loss(config, seed=0, shift_in_loss=self.shift_in_loss)


class ShiftInLossLoader(ModelFedLoader):
    """Defect: the same loader (its batches right) feeding a model whose loss shifts the targets
    again, Hugging Face style (``logits[:, :-1]`` against ``targets[:, 1:]``): the run trains on
    the token after next."""

    shift_in_loss = True


LOADERS = {
    "packed": PackedLoader,
    "documents": DocumentLoader,
    "val_from_train": ValFromTrainLoader,
    "random_rows": RandomRowsLoader,
    "random_rows_val_from_train": RandomRowsValFromTrainLoader,
    "repeated_eval": RepeatedEvalLoader,
    "clamping": ClampingLoader,
    "unmasked_padding": UnmaskedPaddingLoader,
    "eos_masked": EosMaskedLoader,
    "repeated_train": RepeatedTrainLoader,
    "model_fed": ModelFedLoader,
    "shift_in_loss": ShiftInLossLoader,
}


def loader(kind: str, pipeline, **kwargs):
    if kind == "clamping":
        kwargs.setdefault("model_vocab_size", 32_000)
    return LOADERS[kind](pipeline, **kwargs)
