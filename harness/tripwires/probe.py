"""The causal-mask probe on the run's own model, at step 0, leaving the run as it found it: no
gradient, weights untouched, ``model.training`` and the RNG streams restored."""

from __future__ import annotations

import contextlib
from typing import Any

from harness.checks.forwards import as_logits, per_position, target_param
from harness.tripwires.checks import LiveVerdict, batch_parts, rng_kept


@contextlib.contextmanager
def untouched(model):
    """Eval mode, no grad, RNG streams saved and restored; the model's mode restored."""
    import torch

    was_training = model.training
    model.eval()
    try:
        with rng_kept(), torch.no_grad():
            yield
    finally:
        model.train(was_training)


def forward_call(model, sample_ids, forward=None):
    """How to get full-sequence logits from this model: ``forward(model, ids)`` when the user
    declares it; else ``model(ids)``, with the targets a forward needs (or one that returns only
    the last position without them) passed as the ids themselves. Returns (call, why-not)."""
    if forward is not None:
        return (lambda ids: as_logits(forward(model, ids))), None
    name, required = target_param(model)
    plain = lambda ids: per_position(as_logits(model(ids)), ids)  # noqa: E731
    with_targets = (lambda ids: per_position(as_logits(model(ids, **{name: ids})), ids)) if name else None
    t = sample_ids.shape[1]
    tried = []
    for call in [with_targets] if required else [plain, with_targets]:
        if call is None:
            continue
        out = call(sample_ids)
        if getattr(out, "dim", lambda: 0)() == 3 and out.shape[1] == t:
            return call, None
        tried.append(tuple(getattr(out, "shape", ())))
    return None, (
        f"the model returns logits of shape {tried} for ids of shape {tuple(sample_ids.shape)}, not one row per position "
        "(declare how to call it: Tripwire(..., forward=lambda model, ids: model(ids, ids)[0]))"
    )


def causal_mask(model, batch: Any, params: dict, vocab_rows: int, forward=None) -> LiveVerdict:
    """Change the tokens at positions ≥ T/2 and require the logits before T/2 unchanged; first
    check the probe's premise (two identical forwards agree), so nondeterminism is not read as a
    leak."""
    import torch

    ids, _, _ = batch_parts(batch)
    if ids is None:
        return LiveVerdict("causal-mask", None, "the first batch has no input_ids")
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    ids = torch.as_tensor(ids)[: int(params.get("batch", 2)), : int(params.get("seq_len", 64))].to(device).contiguous()
    t = ids.shape[1]
    if t < 4:
        return LiveVerdict("causal-mask", None, f"sequences of {t} tokens are too short to probe")
    k = t // 2
    top = int(ids.max())
    if top >= vocab_rows or int(ids.min()) < 0:
        return LiveVerdict("causal-mask", None, f"id {top} is beyond the model's {vocab_rows} embedding rows (model-vocab-fit names it): nothing to probe")
    with untouched(model):
        call, why = forward_call(model, ids, forward)
        if call is None:
            return LiveVerdict("causal-mask", None, why)
        raw = call(ids)
        low_precision = raw.dtype in (torch.float16, torch.bfloat16)
        base = raw.float()
        again = call(ids).float()
        if not torch.equal(base, again) and float((base - again).abs().max()) > 1e-4 * float(base.abs().max()):
            return LiveVerdict("causal-mask", None, "two identical forwards in eval mode disagree: the probe's premise fails (nondeterministic model)")
        changed = ids.clone()
        changed[:, k:] = (ids[:, k:] + 1 + torch.arange(t - k, device=device)) % vocab_rows
        moved = (call(changed).float() - base).abs()
    leak, signal = float(moved[:, :k].max()), float(moved[:, k:].max())
    m = {"leak": leak, "signal": signal, "leak_ratio": leak / signal if signal else 0.0}
    if signal <= 0:
        return LiveVerdict("causal-mask", None, "changing tokens moved no logit: the probe saw nothing", m)
    floor = (1e-2 if low_precision else 1e-5) * max(float(base.abs().max()), 1e-12)
    if leak > max(floor, float(params.get("max_leak_ratio", 1e-3)) * signal):
        return LiveVerdict(
            "causal-mask",
            False,
            f"changing positions ≥ {k} moved the logits before {k} by {leak:.4g} ({leak / signal:.1%} of the change after): the model sees future tokens",
            m,
        )
    return LiveVerdict("causal-mask", True, "", m)


def loss_targets(model, batch: Any, params: dict) -> LiveVerdict:
    """target-alignment on the run's own model: the targets its loss scores for the first batch,
    loader shift plus the shift inside the model's loss (``harness.checks.shift``)."""
    from harness.checks.shift import judge

    with untouched(model):
        got = judge(model, batch, int(params.get("probe_rows", 2)), int(params.get("probe_length", 64)))
    return LiveVerdict("target-alignment", got.passed, got.why, got.measurements)
