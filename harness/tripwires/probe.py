"""The causal-mask probe on the run's own model, at step 0, leaving the run as it found it: no
gradient, weights untouched, ``model.training`` and the RNG streams restored."""

from __future__ import annotations

import contextlib
from typing import Any

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


def _logits(model, ids):
    out = model(ids)
    out = getattr(out, "logits", out)
    return out[0] if isinstance(out, (tuple, list)) else out


def causal_mask(model, batch: Any, params: dict, vocab_rows: int) -> LiveVerdict:
    """Change the tokens at positions ≥ T/2 and require the logits before T/2 unchanged; first
    check the probe's premise (two identical forwards agree), so nondeterminism is not read as a
    leak."""
    import torch

    ids, _, _ = batch_parts(batch)
    if ids is None:
        return LiveVerdict("causal-mask", None, "the first batch has no input_ids")
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    ids = torch.as_tensor(ids)[: int(params.get("batch", 2)), : int(params.get("seq_len", 64))].to(device)
    t = ids.shape[1]
    if t < 4:
        return LiveVerdict("causal-mask", None, f"sequences of {t} tokens are too short to probe")
    k = t // 2
    with untouched(model):
        raw = _logits(model, ids)
        low_precision = raw.dtype in (torch.float16, torch.bfloat16)
        base = raw.float()
        again = _logits(model, ids).float()
        if not torch.equal(base, again) and float((base - again).abs().max()) > 1e-4 * float(base.abs().max()):
            return LiveVerdict("causal-mask", None, "two identical forwards in eval mode disagree: the probe's premise fails (nondeterministic model)")
        changed = ids.clone()
        changed[:, k:] = (ids[:, k:] + 1 + torch.arange(t - k, device=device)) % vocab_rows
        moved = (_logits(model, changed).float() - base).abs()
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
