"""Metric plausibility: a run's reported losses must be ones a real LM on real text can have."""

from __future__ import annotations

import math

from harness import accepts, records


@accepts(run_dir=None, min_val_loss=0.5, min_ratio=0.5, max_ratio=2.0, epoch="last")
@records("val_loss", "train_loss", "val_train_ratio", "val_perplexity")
def test_metric_plausibility(falsifier, subject):
    """Refute val/train ratios and perplexities no real model reaches (the incident: 0.00081 vs 1.20)."""
    from harness.subjects.protocols import as_run

    p = falsifier.params
    run = as_run(p.path("run_dir") if p["run_dir"] else subject)
    run_dir = str(run)
    epochs = run.epochs()
    chosen = epochs if p["epoch"] == "all" else [epochs[-1]]
    problems = []
    for meta in chosen:
        val, train = float(meta["val_loss"]), float(meta["train_loss"])
        ratio = val / train if train > 0 else math.inf
        where = f"epoch {meta.get('epoch', '?')}"
        if not (math.isfinite(val) and math.isfinite(train)):
            problems.append(f"{where}: non-finite losses (train {train}, val {val})")
        if val < p["min_val_loss"]:
            problems.append(f"{where}: val_loss {val:.6g} (perplexity {math.exp(val):.6g}) is below {p['min_val_loss']}: impossible for a real LM on real text")
        if not (p["min_ratio"] <= ratio <= p["max_ratio"]):
            problems.append(f"{where}: val/train = {val:.6g}/{train:.6g} = {ratio:.4g}, outside [{p['min_ratio']}, {p['max_ratio']}] at the same model state")
    falsifier.attach("epochs", [{k: meta.get(k) for k in ("epoch", "step", "train_loss", "val_loss")} for meta in epochs])
    last = chosen[-1]
    falsifier.record("val_loss", float(last["val_loss"]))
    falsifier.record("train_loss", float(last["train_loss"]))
    falsifier.record("val_train_ratio", float(last["val_loss"]) / float(last["train_loss"]) if float(last["train_loss"]) > 0 else math.inf)
    falsifier.record("val_perplexity", math.exp(min(float(last["val_loss"]), 50.0)))
    assert not problems, f"{falsifier.id}: {run_dir}: " + "; ".join(problems)


@accepts(train_split="train", val_split="val", min_steps=100, margin=0.0, alpha=1.0, max_tokens=None)
@records("val_loss", "unigram_loss", "gap", "steps", "val_tokens")
def test_learns_beyond_unigram(falsifier, subject):
    """A trained model's held-out loss must beat the data's own unigram baseline: the cross-entropy
    (nats per token) of the val stream under the train stream's id frequencies (add-``alpha``).
    Karpathy's recipe and every serious training codebase check this: a model that reaches no
    better than the frequencies learned nothing from context — labels taken apart from their
    inputs, a frozen body, a learning rate of zero. Premises, checked first: the run trained at
    least ``min_steps`` steps (else METHODOLOGY_SUSPECT: too early to expect it), its ``val_loss`` is
    a mean per-token cross-entropy in nats over the same ids."""
    import numpy as np

    p = falsifier.params
    epochs = subject.epochs()
    last = epochs[-1]
    val_loss = falsifier.record("val_loss", float(last["val_loss"]))
    steps = last.get("step")
    if steps is not None:
        falsifier.record("steps", int(steps))
    train = _id_counts(subject.split_stream(p["train_split"]), p["max_tokens"])
    val = _id_counts(subject.split_stream(p["val_split"]), p["max_tokens"])
    assert train.sum() and val.sum(), f"{falsifier.id}: the {p['train_split']!r} or {p['val_split']!r} stream holds no id: no baseline to beat"
    vocab = int(getattr(subject, "vocab_size", 0) or 0) or max(train.size, val.size)
    counts = np.zeros(vocab, dtype=np.float64)
    counts[: min(vocab, train.size)] = train[:vocab]
    prob = (counts + p["alpha"]) / (counts.sum() + p["alpha"] * vocab)
    seen = val[:vocab].astype(np.float64)
    baseline = falsifier.record("unigram_loss", float(-(seen * np.log(prob[: seen.size])).sum() / seen.sum()))
    falsifier.record("val_tokens", int(seen.sum()))
    gap = falsifier.record("gap", baseline - val_loss)
    if steps is not None and int(steps) < p["min_steps"]:
        falsifier.suspect(f"the run trained {int(steps)} steps (< min_steps={p['min_steps']}): too early to expect it to beat the unigram baseline")
        if gap <= p["margin"]:
            return
    assert gap > p["margin"], (
        f"{falsifier.id}: held-out loss {val_loss:.4g} nats is no better than the data's own unigram baseline {baseline:.4g} "
        f"(the val ids under the train ids' frequencies): the model learned nothing from context — targets apart from their inputs, "
        "a frozen model, a learning rate of zero"
    )


def _curve(subject) -> list[tuple[float, float]]:
    """(step, training loss) at each logged point: the subject's ``train_curve()``, else its epochs."""
    if callable(getattr(subject, "train_curve", None)):
        return list(subject.train_curve())
    epochs = subject.epochs()
    return [(float(e.get("step") if e.get("step") is not None else n), float(e["train_loss"])) for n, e in enumerate(epochs)]


@accepts(run_dir=None, vocab_size=None, init_steps=10, low=0.5, high_factor=1.5, min_drop=0.02)
@records("first_loss", "last_loss", "drop", "first_step", "last_step", "points", "ln_v")
def test_learning_curve(falsifier, subject):
    """The training loss moves as learning does. Karpathy's recipe: the loss at init is about ln V
    (a first point logged within ``init_steps`` steps must lie in [``low``, ``high_factor``·ln V]:
    else the weights came from elsewhere or the loss is on another scale); it falls early and by
    the end sits at least ``min_drop`` (relative) below where it started — a run whose loss does not
    move learned nothing (a learning rate of zero, frozen weights, gradients zeroed before the
    step), one whose loss rises diverged; a non-finite loss anywhere is a divergence. ``vocab_size``
    (param, the subject's, or a Hugging Face checkpoint's ``config.json``) sets ln V; without it the
    init premise is not judged."""
    from harness.subjects.protocols import as_run

    p = falsifier.params
    run = as_run(p.path("run_dir") if p["run_dir"] else subject)
    curve = _curve(run)
    falsifier.record("points", len(curve))
    assert curve, f"{falsifier.id}: {run}: no training loss logged"
    bad = next(((step, loss) for step, loss in curve if not math.isfinite(loss)), None)
    assert bad is None, f"{falsifier.id}: {run}: the training loss is {bad[1]} at step {bad[0]:g}: the run diverged"
    (first_step, first), (last_step, last) = curve[0], curve[-1]
    falsifier.record("first_loss", first)
    falsifier.record("last_loss", last)
    falsifier.record("first_step", first_step)
    falsifier.record("last_step", last_step)
    vocab = p["vocab_size"] or getattr(run, "vocab_size", None)
    if vocab and first_step <= p["init_steps"]:
        ln_v = falsifier.record("ln_v", math.log(int(vocab)))
        assert p["low"] <= first <= p["high_factor"] * ln_v, (
            f"{falsifier.id}: {run}: the loss at step {first_step:g} is {first:.4g}, outside [{p['low']}, {p['high_factor'] * ln_v:.4g}] "
            f"(ln V = {ln_v:.4g}): a model at init scores about ln V — these weights came from elsewhere, or the loss is on another scale"
        )
    if len(curve) < 2:
        falsifier.suspect(f"one logged training loss (step {first_step:g}): no slope to judge")
        return
    drop = falsifier.record("drop", (first - last) / first if first > 0 else 0.0)
    assert drop > -p["min_drop"], (
        f"{falsifier.id}: {run}: the training loss rose from {first:.4g} (step {first_step:g}) to {last:.4g} (step {last_step:g}): the run diverges"
    )
    assert drop >= p["min_drop"], (
        f"{falsifier.id}: {run}: the training loss moved {drop:+.1%} from step {first_step:g} ({first:.4g}) to step {last_step:g} ({last:.4g}): "
        "the model does not learn — a learning rate of zero, frozen weights, gradients zeroed before the optimizer step"
    )


def _id_counts(stream, max_tokens: int | None, chunk: int = 1 << 22):
    """How often each id occurs in a split's stream (one array or an iterable of them, a shard
    each), read in chunks: a corpus is counted, never held in memory. Negative ids are left out."""
    import numpy as np

    counts = np.zeros(0, dtype=np.int64)
    read = 0
    for piece in [stream] if hasattr(stream, "shape") else stream:
        ids = piece.numpy() if hasattr(piece, "numpy") else piece
        for start in range(0, int(ids.shape[0]), chunk):
            if max_tokens is not None and read >= max_tokens:
                return counts
            end = min(int(ids.shape[0]), start + chunk if max_tokens is None else min(start + chunk, start + max_tokens - read))
            part = np.asarray(ids[start:end], dtype=np.int64).reshape(-1)
            part = part[part >= 0]
            found = np.bincount(part)
            if found.size > counts.size:
                found[: counts.size] += counts
                counts = found
            else:
                counts[: found.size] += found
            read += end - start
    return counts
