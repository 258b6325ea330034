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
