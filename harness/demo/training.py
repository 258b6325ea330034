"""A short real training run of the tiny LM on the embedded corpus shards, writing per-epoch
metadata JSON the way the incident's trainer did (``epoch-000.metadata.json``: train_loss,
val_loss, val_perplexity). The metric-plausibility falsifier reads those files through
``harness.subjects.runs``, as it reads a real run's.

The tiny model has 1000 ids: the 999 most frequent corpus ids keep their own, the rest share one
out-of-vocabulary id — the usual truncation for a small model on a large vocabulary.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from harness.demo.models import TinyConfig, tiny_trainer


def remap_to_tiny_vocab(ids, vocab: int = 1000):
    import numpy as np

    counts = np.bincount(ids)
    keep = np.argsort(counts)[::-1][: vocab - 1]
    table = np.full(counts.size, vocab - 1, dtype=np.int64)
    table[keep] = np.arange(keep.size)
    return table[ids]


def run_training(
    shard_paths: list[Path], out_dir: Path, steps: int = 300, epochs: int = 3, batch: int = 8, seq_len: int = 64, seed: int = 0, kind: str = "healthy"
) -> Path:
    """Train, evaluate every ``steps/epochs`` steps on held-out data, write metadata per epoch."""
    import numpy as np
    import torch

    from harness.checks.shards import describe_shard

    torch.manual_seed(seed)
    ids = np.concatenate([np.asarray(describe_shard(Path(p))[0].open()) for p in shard_paths]).astype(np.int64)
    tokens = remap_to_tiny_vocab(ids)
    split = int(tokens.size * 0.9)
    train, heldout = tokens[:split], tokens[split:]
    trainer = tiny_trainer(kind, TinyConfig(dropout=0.0))
    trainer.reset(seed)
    rng = np.random.default_rng(seed)
    span = seq_len + 1
    val_batches = [trainer.make_batch(heldout, batch, seq_len, offset=i * batch * span) for i in range(4) if (i + 1) * batch * span <= heldout.size]
    out_dir.mkdir(parents=True, exist_ok=True)
    per_epoch = max(1, steps // epochs)
    losses: list[float] = []
    for step in range(steps):
        starts = rng.integers(0, train.size - span, size=batch)
        window = torch.as_tensor(np.stack([train[s : s + span] for s in starts]))
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
                "vocab_size": 1000,
                "batch": batch,
                "seq_len": seq_len,
                "seed": seed,
            }
            (out_dir / f"epoch-{epoch:03d}.metadata.json").write_text(json.dumps(meta, indent=2) + "\n")
    return out_dir
