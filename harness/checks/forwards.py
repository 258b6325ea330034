"""How a model is called the way its own training loop calls it, and where its logits and loss are
in what it returns: Hugging Face ``ModelOutput``s, nanoGPT's ``(logits, loss)``, Lightning's demo
``forward(inputs, target)`` with logits flattened to ``(B·T, V)``, plain ``model(ids)``. The probes
that run a user's model (the causal mask, the targets its loss scores) share these conventions."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

TARGET_NAMES = ("targets", "target", "labels", "y")


def as_logits(out):
    """The (B, T, V) logits in what a model returns: a Hugging Face ``ModelOutput.logits``, a mapping's
    ``logits``, the first 3-D tensor of a tuple (nanoGPT's ``(logits, loss)``), or the tensor itself."""
    import torch

    out = getattr(out, "logits", out)
    if isinstance(out, dict):
        out = out.get("logits")
    if isinstance(out, (tuple, list)):
        out = next((o for o in out if torch.is_tensor(o) and o.dim() == 3), out[0] if out else None)
    return out


def as_loss(out):
    """The scalar loss in what a model returns, or None: ``ModelOutput.loss``, a mapping's ``loss``,
    the 0-d tensor of a tuple (nanoGPT's ``(logits, loss)``), or a 0-d tensor itself."""
    import torch

    loss = getattr(out, "loss", None)
    if loss is None and isinstance(out, Mapping):
        loss = out.get("loss")
    if loss is None and isinstance(out, (tuple, list)):
        loss = next((o for o in out if torch.is_tensor(o) and o.dim() == 0), None)
    if loss is None and torch.is_tensor(out) and out.dim() == 0:
        loss = out
    return loss if torch.is_tensor(loss) and loss.dim() == 0 else None


def per_position(out, ids):
    """Logits flattened to (B·T, V), as a model that feeds ``nll_loss`` directly returns them
    (Lightning's demo ``Transformer``), back to (B, T, V); any other shape as it is."""
    b, t = ids.shape
    if getattr(out, "dim", lambda: 0)() == 2 and out.shape[0] == b * t and t > 1:
        return out.reshape(b, t, out.shape[1])
    return out


def target_param(model) -> tuple[str | None, bool]:
    """(the name of forward's targets parameter, whether it is required): nanoGPT's
    ``forward(idx, targets=None)``, Lightning's demo ``forward(inputs, target)``."""
    import inspect

    try:
        params = list(inspect.signature(model.forward).parameters.values())
    except (TypeError, ValueError, AttributeError):
        return None, False
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    for p in positional[1:]:
        if p.name in TARGET_NAMES or p.default is inspect.Parameter.empty:
            return p.name, p.default is inspect.Parameter.empty
    return None, False


def call_with_targets(model, batch: Any):
    """What the model returns when its loop hands it a batch with its targets: a mapping batch
    (Hugging Face) as keyword arguments, ``labels`` included; an ``(inputs, targets)`` pair with the
    targets under forward's own name for them. None when forward takes no targets."""
    if isinstance(batch, Mapping):
        keys = ("input_ids", "attention_mask", "labels")
        return model(**{k: batch[k] for k in keys if batch.get(k) is not None})
    inputs, targets = batch[0], batch[1]
    name, _ = target_param(model)
    return model(inputs, **{name: targets}) if name else None
