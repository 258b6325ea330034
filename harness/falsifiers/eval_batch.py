"""Eval-batch falsifiers (hypothesis H1 of the incident), pointed at a real trainer through its
subject fixture: the tiny LM on CPU, the Qwen2.5-0.5B architecture on CUDA."""

from __future__ import annotations

import math
from contextlib import contextmanager

from harness import accepts, records


def synthetic_tokens(vocab_size: int, count: int, seed: int):
    """The deterministic synthetic batch generator: a 64-bit LCG (Knuth's MMIX constants), the
    high bits taken modulo the vocab size — the same stream on every machine and library version."""
    state = seed & 0xFFFFFFFFFFFFFFFF
    out = []
    for _ in range(count):
        state = (6364136223846793005 * state + 1442695040888963407) & 0xFFFFFFFFFFFFFFFF
        out.append((state >> 33) % vocab_size)
    return out


def _synthetic_batch(subject, batch: int, seq_len: int, seed: int, offset: int = 0):
    tokens = synthetic_tokens(subject.vocab_size, (offset + batch) * (seq_len + 1), seed)
    return subject.make_batch(tokens, batch, seq_len, offset=offset * (seq_len + 1))


def _deterministic():
    import torch

    torch.use_deterministic_algorithms(True, warn_only=True)


@accepts(batch=4, seq_len=16, seed=0, low=0.5, high_factor=1.5)
@records("eval_loss", "ln_v", "abs_dev_from_ln_v")
def test_sanity_bound(falsifier, subject):
    """FALSIFY-EVAL-BATCH-H1-SANITY-BOUND-001: at random init, eval loss ∈ [0.5, 1.5·ln V]."""
    _deterministic()
    p = falsifier.params
    subject.reset(p["seed"])
    falsifier.device = subject.device
    inputs, targets = _synthetic_batch(subject, p["batch"], p["seq_len"], p["seed"])
    loss = falsifier.record("eval_loss", subject.eval_batch(inputs, targets))
    ln_v = falsifier.record("ln_v", math.log(subject.vocab_size))
    falsifier.record("abs_dev_from_ln_v", abs(loss - ln_v))
    high = p["high_factor"] * ln_v
    assert p["low"] <= loss <= high, f"{falsifier.id}: eval loss {loss:.6g} at random init is outside [{p['low']}, {high:.4g}] (ln V = {ln_v:.4g})"


@contextmanager
def clean_forward(subject):
    """The subject's forward (``subject.forward``, else its model) in eval mode without gradients;
    the model's mode is restored afterwards, whatever happens."""
    import torch

    was_training = subject.model.training
    subject.model.eval()
    try:
        with torch.no_grad():
            yield getattr(subject, "forward", None) or subject.model
    finally:
        subject.model.train(was_training)


def clean_loss(subject, inputs, targets) -> float:
    """The loss of a clean eval-mode forward of the subject's current weights, scored with the
    subject's own objective (``subject.loss``: label smoothing, z-loss, an ignore index) when it has
    one, else mean cross-entropy — so a legitimate objective never reads as pollution."""
    import torch

    objective = getattr(subject, "loss", None)
    with clean_forward(subject) as forward:
        logits = forward(inputs)
        if callable(objective):
            return float(objective(logits, targets))
        return float(torch.nn.functional.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), targets.reshape(-1)))


@accepts(batch=4, seq_len=16, seed=0, max_relative_drop=0.95, max_reference_gap=1e-3)
@records("loss_before", "loss_after", "relative_drop", "reference_gap")
def test_train_pollution(falsifier, subject):
    """FALSIFY-EVAL-BATCH-H1-TRAIN-POLLUTION-002: eval → train(other data) → eval.

    The seed's check (relative drop < 0.95) only sees a collapse; the second check compares the
    trainer's eval after the train step with a clean forward of the same weights scored with the
    subject's own loss, which sees any train state (a stale shared buffer) leaking into eval. Both
    evals and the reference use the same targets: a label bug is label-alignment's to judge.
    """

    _deterministic()
    p = falsifier.params
    subject.reset(p["seed"])
    falsifier.device = subject.device
    eval_x, eval_y = _synthetic_batch(subject, p["batch"], p["seq_len"], p["seed"], offset=0)
    train_x, train_y = _synthetic_batch(subject, p["batch"], p["seq_len"], p["seed"] + 1, offset=p["batch"])
    before = falsifier.record("loss_before", subject.eval_batch(eval_x, eval_y))
    subject.train_batch(train_x, train_y)
    after = falsifier.record("loss_after", subject.eval_batch(eval_x, eval_y))
    reference = clean_loss(subject, eval_x, eval_y)
    drop = falsifier.record("relative_drop", abs(after - before) / before)
    gap = falsifier.record("reference_gap", abs(after - reference) / max(reference, 1e-12))
    assert drop < p["max_relative_drop"], (
        f"{falsifier.id}: eval loss moved {before:.6g} → {after:.6g} after one train step on other data (relative drop {drop:.4f} ≥ {p['max_relative_drop']})"
    )
    assert gap <= p["max_reference_gap"], (
        f"{falsifier.id}: after a train step, eval_batch says {after:.6g} but a clean forward of the same weights gives {reference:.6g}: train state leaks into eval"
    )


@accepts(batch=4, seq_len=16, seed=0)
@records("repeat_gap", "weights_changed", "optimizer_changed")
def test_eval_purity(falsifier, subject):
    """Eval leaves weights, optimizer state, RNG state and model.training as they were; two evals agree."""
    import torch

    _deterministic()
    p = falsifier.params
    subject.reset(p["seed"])
    falsifier.device = subject.device
    x, y = _synthetic_batch(subject, p["batch"], p["seq_len"], p["seed"])
    subject.train_batch(*_synthetic_batch(subject, p["batch"], p["seq_len"], p["seed"] + 1, offset=p["batch"]))
    subject.model.train()
    before = subject.state_snapshot()
    first = subject.eval_batch(x, y)
    second = subject.eval_batch(x, y)
    after = subject.state_snapshot()
    changed = sum(1 for k, v in before["weights"].items() if not torch.equal(v, after["weights"][k]))
    opt_changed = sum(1 for k, s in before["optimizer"].items() for n, t in s.items() if torch.is_tensor(t) and not torch.equal(t, after["optimizer"][k][n]))
    falsifier.record("repeat_gap", abs(first - second))
    falsifier.record("weights_changed", changed)
    falsifier.record("optimizer_changed", opt_changed)
    assert first == second, f"{falsifier.id}: two evals of one batch disagree ({first!r} vs {second!r})"
    assert changed == 0, f"{falsifier.id}: eval changed {changed} weight tensors"
    assert opt_changed == 0, f"{falsifier.id}: eval changed {opt_changed} optimizer state tensors"
    assert torch.equal(before["rng"], after["rng"]), f"{falsifier.id}: eval consumed the CPU RNG"
    if before["cuda_rng"] is not None:
        assert torch.equal(before["cuda_rng"], after["cuda_rng"]), f"{falsifier.id}: eval consumed the CUDA RNG"
    assert after["training"] == before["training"], f"{falsifier.id}: eval left model.training={after['training']}"


@accepts(heldout=None, batch=4, seq_len=64, seed=0, max_identity_share=0.5)
@records("identity_share", "shift_mismatches")
def test_label_alignment(falsifier, subject):
    """H1C: targets are inputs shifted by one, and target == input stays rare — on the last shard of
    the data subject named by ``heldout`` (a declared subject or a fixture), else on seeded random ids."""
    import numpy as np

    p = falsifier.params
    if p["heldout"]:
        from harness.checks.shards import describe_shard

        pipeline = falsifier.subject_named(p["heldout"], "data")
        tokens = np.asarray(describe_shard(pipeline.shard_paths()[-1])[0].open()).astype(np.int64)
    else:
        tokens = np.asarray(synthetic_tokens(subject.vocab_size, 64 * (p["seq_len"] + 1), p["seed"]), dtype=np.int64)
    subject.reset(p["seed"])
    start = int(np.random.default_rng(p["seed"]).integers(0, max(1, tokens.size - p["batch"] * (p["seq_len"] + 1))))
    inputs, targets = subject.make_batch(tokens[start:], p["batch"], p["seq_len"])
    identity = falsifier.record("identity_share", float((targets == inputs).float().mean()))
    mismatches = falsifier.record("shift_mismatches", int((targets[:, :-1] != inputs[:, 1:]).sum()))
    assert mismatches == 0, f"{falsifier.id}: targets are not the inputs shifted by one ({mismatches} positions differ)"
    assert identity <= p["max_identity_share"], f"{falsifier.id}: target == input at {identity:.1%} of held-out positions: labels equal inputs"


# smallest differences a dtype's rounding can make, relative to the logits' scale
_DTYPE_EPS = {"float32": 1e-5, "float64": 1e-12, "bfloat16": 1e-2, "float16": 2e-3}


@accepts(batch=2, seq_len=32, seed=0, max_leak_ratio=1e-3)
@records("leak", "signal", "leak_ratio", "dtype_floor", "premise_gap")
def test_causal_mask(falsifier, subject):
    """At init, change the tokens at positions ≥ k (k = T/4, T/2, 3T/4) and require the logits at
    positions < k unchanged: a model that can attend to the future (no causal mask, a bidirectional
    block, a mask built for the wrong length) moves them. The leak is judged against the change the
    perturbation makes where it is allowed to (positions ≥ k), with the dtype's rounding as a floor,
    so the same default holds in fp32 and bf16, on CPU and CUDA, for plain modules and HF models."""
    import torch

    _deterministic()
    p = falsifier.params
    subject.reset(p["seed"])
    falsifier.device = subject.device
    inputs, _ = _synthetic_batch(subject, p["batch"], p["seq_len"], p["seed"])
    leak = signal = 0.0
    with clean_forward(subject) as forward:
        base = forward(inputs)
        dtype = str(base.dtype).replace("torch.", "")
        scale = float(base.float().abs().max())
        # the probe's premise: two identical eval-mode forwards agree, else any change it sees may be noise
        gap = falsifier.record("premise_gap", float((forward(inputs).float() - base.float()).abs().max()))
        if gap > _DTYPE_EPS.get(dtype, 1e-2) * max(scale, 1e-12):
            falsifier.suspect(
                f"two identical eval-mode forwards differ by {gap:.3g}: the model is not deterministic in eval "
                "(dropout left on in eval, a sampling layer); the causal probe cannot tell a leak from that noise"
            )
            return
        t = inputs.shape[1]
        for k in (t // 4, t // 2, 3 * t // 4):
            changed = inputs.clone()
            changed[:, k:] = (inputs[:, k:] + 1 + torch.arange(t - k, device=inputs.device)) % subject.vocab_size
            moved = (forward(changed).float() - base.float()).abs()
            leak = max(leak, float(moved[:, :k].max()))
            signal = max(signal, float(moved[:, k:].max()))
    floor = falsifier.record("dtype_floor", _DTYPE_EPS.get(dtype, 1e-2) * max(scale, 1e-12))
    falsifier.record("leak", leak)
    falsifier.record("signal", signal)
    ratio = falsifier.record("leak_ratio", leak / signal if signal > 0 else 0.0)
    assert signal > floor, f"{falsifier.id}: changing tokens moved no logit at all (signal {signal:.3g}): the probe saw nothing"
    assert leak <= max(floor, p["max_leak_ratio"] * signal), (
        f"{falsifier.id}: changing the tokens at positions ≥ k moved the logits at positions < k by {leak:.4g} "
        f"({ratio:.1%} of the change at ≥ k): the model sees future tokens"
    )


@accepts(batch=4, seq_len=32, seed=0, steps=30, min_relative_drop=0.02)
@records("loss_before", "loss_after", "relative_drop")
def test_overfit_one_batch(falsifier, subject):
    """A model that learns can overfit one batch: ``steps`` train steps on the same batch must lower
    that batch's eval loss by ``min_relative_drop`` (Karpathy's "overfit one batch"). Gradients
    zeroed between ``backward()`` and ``step()``, a frozen model, a learning rate of 0, an optimizer
    built over the wrong parameters: the loss stays where it was."""
    _deterministic()
    p = falsifier.params
    subject.reset(p["seed"])
    falsifier.device = subject.device
    inputs, targets = _synthetic_batch(subject, p["batch"], p["seq_len"], p["seed"])
    before = falsifier.record("loss_before", clean_loss(subject, inputs, targets))
    for _ in range(p["steps"]):
        subject.train_batch(inputs, targets)
    after = falsifier.record("loss_after", clean_loss(subject, inputs, targets))
    drop = falsifier.record("relative_drop", (before - after) / before if before > 0 else 0.0)
    assert math.isfinite(after), f"{falsifier.id}: the loss after {p['steps']} steps on one batch is {after}"
    assert drop >= p["min_relative_drop"], (
        f"{falsifier.id}: {p['steps']} train steps on one batch moved its loss from {before:.4g} to {after:.4g} ({drop:.1%}): "
        "the model does not learn (the optimizer step changes nothing)"
    )
