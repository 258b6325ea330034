"""Which targets a model's loss really scores. A loader's batches can be right and the run still
train on the token after next: the loader shifts its targets by one and the model's own loss shifts
them again (a Hugging Face style ``logits[:, :-1]`` / ``labels[:, 1:]`` inside a model whose loader
already shifted). The shift is read from the loss the model returns: the cross-entropy of its
logits against the targets at shift 0, 1 and 2 is computed, and the one equal to its loss is the
shift it applies. Loader shift plus model shift must be exactly one position."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

SHIFTS = (0, 1, 2)


@dataclass
class LossTargets:
    """What the probe read: ``passed`` is None when it could not judge (``why`` says what was missing)."""

    passed: bool | None
    why: str = ""
    measurements: dict[str, float] = field(default_factory=dict)


def _trim(batch: Any, rows: int, length: int):
    if isinstance(batch, Mapping):
        return {k: (v[:rows, :length] if getattr(v, "dim", lambda: 0)() == 2 else v) for k, v in batch.items()}
    return (batch[0][:rows, :length], batch[1][:rows, :length])


def _to(batch: Any, device):
    import torch

    def move(v):  # contiguous, as a loader's own tensors are (nanoGPT's loss calls .view on them)
        return torch.as_tensor(v).to(device).contiguous() if hasattr(v, "shape") else v

    if isinstance(batch, Mapping):
        return {k: move(v) for k, v in batch.items()}
    return (move(batch[0]), move(batch[1]))


def loader_shares(inputs, labels) -> list[float]:
    """Of the scored labels (any negative label scores nothing: -100, nanoGPT's -1), the share equal
    to the input 0, 1 and 2 positions on."""
    t = inputs.shape[1]
    shares = []
    for s in SHIFTS:
        if t <= s:
            shares.append(0.0)
            continue
        tg, ins = labels[:, : t - s], inputs[:, s:]
        scored = tg >= 0
        n = int(scored.sum())
        shares.append(float(((tg == ins) & scored).sum()) / n if n else 0.0)
    return shares


def loss_at_shifts(logits, labels) -> list[float | None]:
    """Mean cross-entropy (float64) of ``logits[:, :T-s]`` against ``labels[:, s:]`` for each shift."""
    import torch

    t = logits.shape[1]
    out: list[float | None] = []
    for s in SHIFTS:
        lg, tg = logits[:, : t - s].double(), labels[:, s:].long()
        keep = tg >= 0
        if t <= s or not bool(keep.any()):
            out.append(None)
            continue
        ce = torch.nn.functional.cross_entropy(lg.reshape(-1, lg.shape[-1]), tg.clamp(min=0).reshape(-1), reduction="none")
        out.append(float(ce[keep.reshape(-1)].mean()))
    return out


def model_shift(loss: float, at_shifts: list[float | None]) -> int | None:
    """The shift whose cross-entropy is the model's loss — told apart from the others: its gap to
    the loss under a tenth of the gap between it and the nearest other shift, and within float32's
    rounding of a mean over the batch (5·10⁻⁵ of the loss) — so a label-smoothed or otherwise
    different objective matches none, even at init where it moves the loss by 10⁻⁴."""
    known = [(abs(loss - ce), s, ce) for s, ce in zip(SHIFTS, at_shifts) if ce is not None]
    if len(known) < 2:
        return None
    known.sort()
    gap, best, ce = known[0]
    nearest = min(abs(ce - other) for _, _, other in known[1:])
    return best if gap <= 0.1 * nearest and gap <= 5e-5 * max(1.0, abs(loss)) else None


def judge(model, batch: Any, rows: int = 2, length: int = 64) -> LossTargets:
    """Run the model on (the head of) one batch with its targets, as its loop does, in eval mode
    without gradients (the caller keeps RNG and mode), and judge loader shift + model shift."""
    import torch

    from harness.checks.forwards import as_logits, as_loss, call_with_targets, per_position

    device = next((p.device for p in model.parameters()), torch.device("cpu")) if hasattr(model, "parameters") else torch.device("cpu")
    small = _to(_trim(batch, rows, length), device)
    inputs = small["input_ids"] if isinstance(small, Mapping) else small[0]
    labels = small.get("labels") if isinstance(small, Mapping) else small[1]
    if inputs is None or labels is None:
        return LossTargets(None, "the batch carries no targets")
    out = call_with_targets(model, small)
    if out is None:
        return LossTargets(None, "the model's forward takes no targets: its loop scores the logits itself (the batches alone are judged)")
    loss = as_loss(out)
    logits = per_position(as_logits(out), inputs)
    if loss is None or getattr(logits, "dim", lambda: 0)() != 3 or logits.shape[1] != inputs.shape[1]:
        return LossTargets(None, "the model returns no loss beside per-position logits for a batch with targets: which targets its loss scores is not read")
    at = loss_at_shifts(logits.float(), labels)
    shares = loader_shares(inputs, labels)
    m = {f"loss_at_shift{s}": ce for s, ce in zip(SHIFTS, at) if ce is not None}
    m["model_loss"] = float(loss)
    shift = model_shift(float(loss), at)
    loader = max(SHIFTS, key=lambda s: shares[s])
    if shares[loader] < 0.5:
        return LossTargets(None, "the targets are not these inputs shifted by 0, 1 or 2 (target-alignment names it)", m)
    m["loader_shift"] = float(loader)
    if shift is None:
        return LossTargets(
            None,
            f"the model's loss {float(loss):.6g} is not the mean cross-entropy of its logits against the targets at shift 0, 1 or 2 "
            f"({', '.join(f'{v:.6g}' for v in at if v is not None)}): another objective; which targets it scores is not judged",
            m,
        )
    m["model_loss_shift"] = float(shift)
    total = loader + shift
    if total == 1:
        return LossTargets(True, "", m)
    if total == 0:
        return LossTargets(False, "the loss scores each position against its own input: no shift anywhere (the model learns to copy)", m)
    return LossTargets(
        False,
        f"the loader's targets are the inputs shifted by {loader} and the model's loss shifts them again by {shift}: "
        f"it scores the token {total} positions on (labels shifted twice, the second time inside the model's loss)",
        m,
    )
