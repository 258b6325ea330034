"""The built-in falsifiers' checks on a training run's live objects: the ids its data loader
yields, its tokenizer, its model at step 0, and the losses it logs. Each check returns a
``LiveVerdict``: passed, failed (with the cause it measured) or not run (with why).

Conventions are the frameworks': a batch is a mapping with ``input_ids`` (and ``labels``,
``attention_mask`` where the collator makes them) or an ``(inputs, targets)`` pair; ``-100``
marks a position out of the loss; a Hugging Face causal LM shifts ``labels`` itself.
"""

from __future__ import annotations

import contextlib
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

IGNORE_INDEX = -100
MIN_TOKENS = 512  # tripwire_min_tokens: fewer ids than this read at step 0 and the entropy check says "could not judge"
_HEX_PAIR = re.compile(r"^[0-9a-f]{2}$")


@dataclass
class LiveVerdict:
    """One check's answer; ``passed`` None: it could not run (``message`` says why)."""

    builtin: str
    passed: bool | None
    message: str = ""
    measurements: dict[str, float] = field(default_factory=dict)


def batch_parts(batch: Any) -> tuple[Any, Any, Any]:
    """(input_ids, labels or targets, attention_mask) of one batch, each a tensor or None."""
    if isinstance(batch, Mapping):
        return batch.get("input_ids"), batch.get("labels"), batch.get("attention_mask")
    if isinstance(batch, (tuple, list)) and len(batch) >= 2:
        return batch[0], batch[1], None
    return batch, None, None


def content_ids(batches: Iterable[Any]):
    """The ids the model reads as text: input positions the attention mask keeps, flattened."""
    import numpy as np
    import torch

    rows = content_rows(batches)
    return torch.as_tensor(np.concatenate(rows)) if rows else torch.zeros(0, dtype=torch.long)


def entropy(ids, params: Mapping[str, Any]) -> LiveVerdict:
    """shard-entropy on the ids the loader yields: unigram entropy and top-1 share."""

    n = int(ids.numel())
    if n < int(params.get("tripwire_min_tokens", MIN_TOKENS)):
        return LiveVerdict(
            "shard-entropy",
            None,
            f"could not judge: only {n} ids in every batch the loader yields at step 0 (tripwire_min_tokens = {params.get('tripwire_min_tokens', MIN_TOKENS)})",
        )
    counts = id_counts(ids).double()
    p = counts[counts > 0] / n
    bits = max(0.0, float(-(p * p.log2()).sum()))  # never "-0.0000 bits"
    top1 = float(p.max())
    m = {"entropy_bits": bits, "top1_share": top1, "tokens": float(n)}
    if bits < float(params.get("min_bits", 4.0)):
        return LiveVerdict(
            "shard-entropy", False, f"{bits:.4f} bits/token in the first batches is below {params.get('min_bits', 4.0)} (top id holds {top1:.2%})", m
        )
    if top1 > float(params.get("max_top1_share", 0.5)):
        return LiveVerdict("shard-entropy", False, f"one id holds {top1:.2%} of the ids the loader yields", m)
    return LiveVerdict("shard-entropy", True, "", m)


DENSE_COUNT_LIMIT = 1 << 24  # ids spanning more than this are counted sparsely


def id_counts(ids):
    """How often each distinct id occurs, in memory bounded by the ids read, not by their values:
    a dense ``bincount`` over a narrow range, else ``unique`` (one id of 2⁴⁰ once made the
    tripwire ask for terabytes)."""
    import torch

    ids = ids.long().reshape(-1)
    if not ids.numel():
        return torch.zeros(0, dtype=torch.long)
    lo, hi = int(ids.min()), int(ids.max())
    if hi - lo < DENSE_COUNT_LIMIT:
        counts = torch.bincount(ids - lo)
        return counts[counts > 0]
    return torch.unique(ids, return_counts=True)[1]


def guarded(builtin: str, check) -> LiveVerdict:
    """``check()``'s verdict; any exception it raises is "not run: <why>", never a crash of the
    run it guards (a model whose forward needs other arguments, a tokenizer of another kind)."""
    try:
        return check()
    except Exception as exc:  # the user's run must go on whatever a check meets
        return LiveVerdict(builtin, None, f"the check could not run: {type(exc).__name__}: {str(exc)[:300]}")


def _special_ids(tokenizer) -> set[int]:
    ids = set(getattr(tokenizer, "all_special_ids", None) or ())
    unk = getattr(tokenizer, "unk_token_id", None)
    if hasattr(tokenizer, "special_tokens_set") and hasattr(tokenizer, "encode_single_token"):  # a tiktoken Encoding
        ids |= {tokenizer.encode_single_token(t) for t in tokenizer.special_tokens_set}
    return ids | ({unk} if unk is not None else set())


def token_strings(tokenizer, ids: list[int]) -> list:
    """Each id's token as a string: a Hugging Face tokenizer's ``convert_ids_to_tokens``, a tiktoken
    ``Encoding``'s bytes of the token (None for an id it does not hold)."""
    convert = getattr(tokenizer, "convert_ids_to_tokens", None)
    if callable(convert):
        return convert(ids)
    single = getattr(tokenizer, "decode_single_token_bytes", None)
    if callable(single):
        out = []
        for i in ids:
            try:
                out.append(single(i).decode("latin-1"))
            except (KeyError, ValueError):
                out.append(None)
        return out
    raise TypeError(f"a {type(tokenizer).__name__} gives no token strings (neither convert_ids_to_tokens nor decode_single_token_bytes)")


def _codec(tokenizer):
    """(decode, encode-without-specials) of a Hugging Face tokenizer or a tiktoken ``Encoding``; None
    when it offers neither."""
    if hasattr(tokenizer, "encode_ordinary") and hasattr(tokenizer, "decode"):  # tiktoken
        return tokenizer.decode, tokenizer.encode_ordinary
    if hasattr(tokenizer, "decode") and hasattr(tokenizer, "encode"):
        # the text as the ids spell it: no "clean-up" of spaces before punctuation (GPT-2's HF default once)
        return (lambda ids: tokenizer.decode(ids, clean_up_tokenization_spaces=False)), (lambda text: tokenizer.encode(text, add_special_tokens=False))
    return None


def reencode_agreement(rows: list, tokenizer, specials: set[int], *, segments: int = 48, length: int = 48, edge: int = 8):
    """(segments whose interior the tokenizer reproduces, segments judged): stretches of ``length``
    ids inside rows, never spanning a special id, decoded with the run's tokenizer and encoded again.
    The tokenizer that made them gives its own ids back (all but a stretch's edges, where the cut
    split a word); ids another tokenizer made decode to text this one encodes otherwise (GPT-2's
    ids under a Qwen2.5 model)."""
    codec = _codec(tokenizer)
    if codec is None:
        return 0, 0
    decode, encode = codec
    stretches = []
    for row in rows:
        run: list[int] = []
        for i in [*row.tolist(), None]:
            if i is None or i in specials:
                stretches += [run[k : k + length] for k in range(0, len(run) - length + 1, length)]
                run = []
            else:
                run.append(int(i))
    if len(stretches) > segments:  # spread over the rows read, not their head
        stretches = [stretches[int(k * len(stretches) / segments)] for k in range(segments)]
    agree = 0
    for ids in stretches:
        try:
            again = list(encode(decode(ids)))
        except Exception:  # ids the tokenizer cannot decode: not its own
            continue
        inner = ids[edge:-edge]
        agree += any(again[k : k + len(inner)] == inner for k in range(len(again) - len(inner) + 1))
    return agree, len(stretches)


def vocab_format(ids, tokenizer, params: Mapping[str, Any], builtin: str = "vocab-format", rows: list | None = None) -> LiveVerdict:
    """The ids are the tokenizer's text tokens: few are <unk>/special (the incident: 99.99%), and
    the text tokens are not the hex-byte strings a hex encoder emits into a byte-level vocab."""
    if tokenizer is None:
        return LiveVerdict(builtin, None, "no tokenizer was given to the tripwire")
    n = int(ids.numel())
    if n == 0:
        return LiveVerdict(builtin, None, "the loader yielded no ids")
    specials = _special_ids(tokenizer)
    flat = ids.tolist()
    special_share = sum(1 for i in flat if i in specials) / n
    text = [i for i in flat[:20000] if i not in specials]
    tokens = token_strings(tokenizer, text) if text else []
    hex_share = sum(1 for t in tokens if isinstance(t, str) and _HEX_PAIR.match(t)) / max(len(tokens), 1)
    m = {"unk_share": special_share, "hex_pair_share": hex_share}
    max_unk = float(params.get("max_unk_share", 0.05))
    if special_share > max_unk:
        return LiveVerdict(
            builtin,
            False,
            f"{special_share:.2%} of the ids the loader yields are <unk>/special tokens (bound {max_unk:.0%}): the vocab does not hold what the encoder emits",
            m,
        )
    if builtin == "vocab-format" and hex_share > float(params.get("max_hex_pair_share", 0.5)):
        return LiveVerdict(
            builtin, False, f"{hex_share:.2%} of the text tokens are two-character hex strings: a hex-byte encoder feeding a byte-level vocab", m
        )
    agree, judged = reencode_agreement(rows or [], tokenizer, specials)
    if judged >= int(params.get("min_reencoded", 8)):
        share = m["reencode_agreement"] = agree / judged
        bound = float(params.get("min_reencode_agreement", 0.5))
        if share < bound:
            return LiveVerdict(
                builtin,
                False,
                f"the run's tokenizer gives back only {share:.0%} of {judged} stretches of the loader's ids when it decodes and encodes them "
                f"(bound {bound:.0%}): another tokenizer made these ids",
                m,
            )
    return LiveVerdict(builtin, True, "", m)


def loss_mask(batches: Iterable[Any], pad_id: int | None, params: Mapping[str, Any], eos_id: int | None = None) -> LiveVerdict:
    """No padding in the loss: a label position whose input is padding must be -100. And the
    text in it: an end-of-text id the model reads (in ``min_eos_rows`` rows or more) must be a
    scored label somewhere — ``labels[labels == pad_id] = -100`` with pad = EOS (Hugging Face's
    ``DataCollatorForLanguageModeling``) masks every document's real end."""
    import torch

    if pad_id is None:
        return LiveVerdict("loss-mask", None, "no pad id (the tokenizer has none and none was given): nothing to judge")
    padded = scored = eos_rows = eos_scored = 0
    for batch in batches:
        ids, labels, mask = batch_parts(batch)
        if ids is None or labels is None:
            continue
        ids, labels = torch.as_tensor(ids).cpu(), torch.as_tensor(labels).cpu()
        if labels.shape != ids.shape:
            continue
        is_pad = ~torch.as_tensor(mask).cpu().bool() if mask is not None else ids == pad_id
        in_loss = labels != IGNORE_INDEX
        scored += int(in_loss.sum())
        padded += int((in_loss & is_pad).sum())
        if eos_id is not None and mask is not None:  # without a mask, pad = EOS cannot be told from a document's end
            eos_rows += int(((ids == eos_id) & ~is_pad).any(dim=1).sum())
            eos_scored += int(((labels == eos_id) & in_loss).sum())
    if scored == 0:
        return LiveVerdict("loss-mask", None, "no batch carried labels to judge")
    share = padded / scored
    m = {"pad_share_in_loss": share, "scored": float(scored), "eos_rows": float(eos_rows), "eos_scored": float(eos_scored)}
    bound = float(params.get("max_pad_share", 0.01))
    if share > bound:
        return LiveVerdict("loss-mask", False, f"{share:.2%} of the positions in the loss are padding (labels not -100 where attention_mask is 0)", m)
    if eos_rows >= int(params.get("min_eos_rows", 4)) and not eos_scored:
        return LiveVerdict(
            "loss-mask",
            False,
            f"the end-of-text id {eos_id} occurs in {eos_rows} rows the model reads but is never a scored label: the loss masks it out "
            "(pad = EOS with every label equal to the pad id masked) — the model never learns to end a document",
            m,
        )
    return LiveVerdict("loss-mask", True, "", m)


def vocab_fit(ids, model_rows: int | None) -> LiveVerdict:
    if model_rows is None:
        return LiveVerdict("model-vocab-fit", None, "the model's embedding rows are unknown")
    top = int(ids.max()) if ids.numel() else -1
    m = {"max_id": float(top), "model_vocab_size": float(model_rows)}
    if top >= model_rows:
        return LiveVerdict("model-vocab-fit", False, f"id {top} ≥ the model's {model_rows} embedding rows", m)
    return LiveVerdict("model-vocab-fit", True, "", m)


def losses(values: list[float], params: Mapping[str, Any], steps: int) -> LiveVerdict | None:
    """Logged train losses: finite, and moving (a loss that has not moved at all after ``steps``
    optimizer steps: gradients zeroed before the step, a frozen model, lr 0)."""
    if values and not math.isfinite(values[-1]):
        return LiveVerdict("metric-plausibility", False, f"logged loss {values[-1]} is not finite")
    if len(values) >= steps:
        window = values[-steps:]
        spread = max(window) - min(window)
        if spread <= 1e-7 * max(abs(window[0]), 1.0):
            return LiveVerdict(
                "metric-plausibility",
                False,
                f"the loss has not moved in {steps} logged steps ({window[0]:.6g}): the model does not learn",
                {"loss_spread": spread},
            )
    return None


def eval_loss(value: float, params: Mapping[str, Any]) -> LiveVerdict:
    m = {"val_loss": float(value)}
    if not math.isfinite(value):
        return LiveVerdict("metric-plausibility", False, f"eval loss {value} is not finite", m)
    floor = float(params.get("min_val_loss", 0.5))
    if value < floor:
        return LiveVerdict("metric-plausibility", False, f"eval loss {value:.6g} is below {floor}: impossible for a real LM on real text", m)
    return LiveVerdict("metric-plausibility", True, "", m)


@contextlib.contextmanager
def rng_kept():
    """Python's, numpy's and torch's RNG streams as they were before the tripwire read batches."""
    import random

    import torch

    py, cpu = random.getstate(), torch.get_rng_state()
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() and torch.cuda.is_initialized() else None
    try:
        import numpy as np

        npstate = np.random.get_state()
    except ImportError:
        np, npstate = None, None
    try:
        yield
    finally:
        random.setstate(py)
        torch.set_rng_state(cpu)
        if cuda is not None:
            torch.cuda.set_rng_state_all(cuda)
        if np is not None:
            np.random.set_state(npstate)


def content_rows(batches: Iterable[Any]) -> list:
    """Each row's ids the model reads as text (the positions its attention mask keeps), as numpy
    arrays: padding never enters a window, so pad-only rows cannot read as overlap or repeats."""
    import numpy as np
    import torch

    rows = []
    for batch in batches:
        ids, _, mask = batch_parts(batch)
        if ids is None:
            continue
        ids = torch.as_tensor(ids).detach().cpu()
        keep = torch.as_tensor(mask).detach().cpu().bool() if mask is not None else torch.ones_like(ids, dtype=torch.bool)
        rows.extend(np.asarray(row[k].numpy(), dtype=np.int64) for row, k in zip(ids.reshape(len(ids), -1), keep.reshape(len(ids), -1)))
    return [row for row in rows if row.size]


def _hashes(rows: list, n: int, stride: int):
    import numpy as np

    from harness.checks.windows import window_hashes

    parts = [window_hashes(row[None, :], n, stride) for row in rows if row.size >= n]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.uint64)


def _found_share(wanted, hashes) -> float:
    """Share of ``wanted`` hashes that occur among ``hashes``."""
    import numpy as np

    from harness.checks.windows import mark_found

    unique = np.unique(wanted)
    found = np.zeros(unique.size, dtype=bool)
    mark_found(unique, hashes, found)
    return float(np.isin(wanted, unique[found]).mean()) if wanted.size else 0.0


def split_overlap(train_rows: list, eval_rows: list, params: Mapping[str, Any]) -> LiveVerdict:
    """Windows of ``window`` ids shared by the eval batches read and the train batches read, both
    ways: eval windows found among train's (eval carved from train), and train windows found among
    eval's (the train data handed in as the eval set). A sample only ever shows overlap, so a
    tripwire can falsify a leak but its pass says little (the pytest run over whole splits judges)."""
    n = int(params.get("window", 32))
    if not train_rows or not eval_rows:
        return LiveVerdict("split-overlap", None, "no eval loader was given to the tripwire" if train_rows else "the train loader yielded no rows")
    train_all, eval_strided = _hashes(train_rows, n, 1), _hashes(eval_rows, n, n)
    train_strided, eval_all = _hashes(train_rows, n, n), _hashes(eval_rows, n, 1)
    if not eval_strided.size or not train_strided.size:
        return LiveVerdict("split-overlap", None, f"rows shorter than the {n}-id window")
    eval_in_train, train_in_eval = _found_share(eval_strided, train_all), _found_share(train_strided, eval_all)
    m = {"eval_in_train_share": eval_in_train, "train_in_eval_share": train_in_eval, "eval_windows": float(eval_strided.size)}
    bound = float(params.get("max_overlap_share", 0.05))
    if max(eval_in_train, train_in_eval) > bound:  # name the direction that shows it most
        if train_in_eval > eval_in_train:
            why = f"{train_in_eval:.1%} of the train windows ({n} ids) read also occur in the eval batches read: the eval set holds training data"
        else:
            why = f"{eval_in_train:.1%} of the eval windows ({n} ids) read also occur in the train batches read: eval is drawn from training data"
        return LiveVerdict("split-overlap", False, why, m)
    return LiveVerdict("split-overlap", True, "", m)


def eval_coverage(eval_rows: list, params: Mapping[str, Any]) -> LiveVerdict:
    """The eval batches read are different rows: an eval loop that repeats one batch scores the
    same few targets over and over."""
    if not eval_rows:
        return LiveVerdict("eval-coverage", None, "no eval loader was given to the tripwire")
    if len(eval_rows) < 2:
        return LiveVerdict("eval-coverage", None, "the eval loader yielded one row: too few to judge repeats")
    distinct = len({row.tobytes() for row in eval_rows})
    share = distinct / len(eval_rows)
    m = {"rows": float(len(eval_rows)), "distinct_rows": float(distinct), "distinct_share": share}
    bound = float(params.get("min_distinct_share", 0.9))
    if share < bound:
        return LiveVerdict(
            "eval-coverage", False, f"only {distinct} of the {len(eval_rows)} eval rows read are distinct ({share:.1%}): the eval repeats itself", m
        )
    return LiveVerdict("eval-coverage", True, "", m)
