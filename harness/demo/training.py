"""A short real training run of the tiny LM on the embedded corpus shards, writing per-epoch
metadata JSON the way the incident's trainer did (``epoch-000.metadata.json``: train_loss,
val_loss, val_perplexity). The metric-plausibility falsifier reads those files through
``harness.subjects.runs``, as it reads a real run's.

The tiny model's vocabulary is the corpus's own ids, renumbered compactly (17,953 on the embedded
corpus): every id keeps a row of its own. (It used to keep the 999 most frequent and map the rest
to one shared id — a quarter of the targets on the standard library's source, exactly the clamped
sink ``model-vocab-fit`` exists to catch; the demo must be healthy by its own built-ins.) The eval
scores 8 batches of 8 × 64 targets (4,096), enough for ``eval-coverage``'s precision.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from harness.demo.models import TinyConfig, tiny_trainer


def remap_to_tiny_vocab(ids):
    """(the ids renumbered 0..k-1 in order of first id value, k): one row per distinct corpus id."""
    import numpy as np

    present, compact = np.unique(ids, return_inverse=True)
    return compact.astype(np.int64).reshape(ids.shape), max(int(present.size), 2)


class TrainingBatches:
    """The batches ``run_training`` feeds its model, as a batch subject (``BatchSubject``): train
    windows drawn at seeded random offsets, the eval batches it scores, the model's vocab. The
    demo binds the batch built-ins to it, so the demo is judged by the harness it demonstrates."""

    ignore_index = -100
    pads = False  # packed windows: nothing is padding

    def __init__(self, shard_paths, steps: int = 300, batch: int = 8, seq_len: int = 64, seed: int = 0, eval_batches: int = 8) -> None:
        import numpy as np

        from harness.checks.shards import describe_shard

        ids = np.concatenate([np.asarray(describe_shard(Path(p))[0].open()) for p in shard_paths]).astype(np.int64)
        tokens, self.vocab_size = remap_to_tiny_vocab(ids)
        split = int(tokens.size * 0.9)
        self.train, self.heldout = tokens[:split], tokens[split:]
        self.steps, self.batch, self.seq_len, self.seed, self.eval_batches = steps, batch, seq_len, seed, eval_batches

    def windows(self, split: str):
        """Each batch's windows of ``seq_len + 1`` ids, in the order training reads them."""
        import numpy as np

        span = self.seq_len + 1
        if split == "train":
            rng = np.random.default_rng(self.seed)
            for _ in range(self.steps):
                starts = rng.integers(0, self.train.size - span, size=self.batch)
                yield np.stack([self.train[s : s + span] for s in starts])
            return
        for i in range(self.eval_batches):
            if (i + 1) * self.batch * span <= self.heldout.size:
                yield self.heldout[i * self.batch * span : (i + 1) * self.batch * span].reshape(self.batch, span)

    def batches(self, split: str):
        for window in self.windows(split):
            yield window[:, :-1], window[:, 1:]


def run_training(
    shard_paths: list[Path],
    out_dir: Path,
    steps: int = 300,
    epochs: int = 3,
    batch: int = 8,
    seq_len: int = 64,
    seed: int = 0,
    kind: str = "healthy",
    eval_batches: int = 8,
) -> Path:
    """Train, evaluate every ``steps/epochs`` steps on held-out data, write metadata per epoch."""
    import torch

    torch.manual_seed(seed)
    data = TrainingBatches(shard_paths, steps, batch, seq_len, seed, eval_batches)
    vocab = data.vocab_size
    trainer = tiny_trainer(kind, TinyConfig(vocab_size=vocab, dropout=0.0))
    trainer.reset(seed)
    val_batches = [(torch.as_tensor(w[:, :-1]).to(trainer.device), trainer.make_targets(torch.as_tensor(w).to(trainer.device))) for w in data.windows("val")]
    out_dir.mkdir(parents=True, exist_ok=True)
    per_epoch = max(1, steps // epochs)
    losses: list[float] = []
    for step, train_window in enumerate(data.windows("train")):
        window = torch.as_tensor(train_window)
        losses.append(trainer.train_batch(window[:, :-1], trainer.make_targets(window)))
        if (step + 1) % per_epoch == 0:
            epoch = (step + 1) // per_epoch - 1
            val = sum(trainer.eval_batch(x, y) for x, y in val_batches) / len(val_batches)
            meta = {
                "epoch": epoch,
                "step": step + 1,
                "train_loss": sum(losses[-per_epoch:]) / per_epoch,
                "val_loss": val,
                "val_perplexity": math.exp(min(val, 50.0)),
                "vocab_size": vocab,
                "batch": batch,
                "seq_len": seq_len,
                "seed": seed,
            }
            (out_dir / f"epoch-{epoch:03d}.metadata.json").write_text(json.dumps(meta, indent=2) + "\n")
    return out_dir


class TrainedRun:
    """A finished demo run with the data it trained on: its epochs (``RunSubject``) and the id
    streams of its splits (``split_stream``), so a built-in can compare what the model reached with
    what the data alone allows (``learns-beyond-unigram``)."""

    def __init__(self, run_dir: Path, data: TrainingBatches) -> None:
        self.run_dir, self.data = Path(run_dir), data
        self.vocab_size = data.vocab_size

    def epochs(self) -> list[dict]:
        from harness.subjects.runs import read_run

        return read_run(self.run_dir)

    def split_stream(self, split: str):
        """The train stream, and for val exactly the targets the run's val_loss scores."""
        import numpy as np

        if split == "train":
            return self.data.train
        return np.concatenate([w[:, 1:].reshape(-1) for w in self.data.windows("val")])

    def __str__(self) -> str:
        return str(self.run_dir)
