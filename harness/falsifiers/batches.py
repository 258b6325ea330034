"""Falsifiers on the batches the loader hands the model (``BatchSubject.batches(split)``): what the
model trains and is judged on, not what the tokenizer wrote. They catch the loader bugs a shard
check cannot see — validation windows drawn from training data, an eval set that is one batch
repeated, padding scored by the loss, ids clamped or wrapped into a smaller model vocab."""

from __future__ import annotations

import math

from harness import accepts, records
from harness.checks.windows import mark_found, window_hashes
from harness.subjects.batching import DEFAULT_IGNORE_INDEX, Scan, iter_rows


def _train_hashes(inputs, targets, n: int, previous):
    """Hashes of every ``n``-id window of the training data the batches hold, at every offset:
    within each row (its inputs and its last target), and across the join of consecutive rows as
    a loader packing one stream would have them — inputs after inputs (windows overlapping by one)
    or after the previous row's last target (disjoint windows). Val carved from train at any offset,
    not only at a row boundary, is found. ``previous`` is the last (inputs, targets) row before
    these; returns (hashes, the last row). Joins of rows that are not contiguous only add windows
    nobody's val holds."""
    import numpy as np

    full = np.concatenate([inputs, targets[:, -1:]], axis=1)
    hashes = [window_hashes(full, n)]
    k = n - 1
    if k and inputs.shape[1] >= k and targets.shape[1]:
        tails, lasts, heads = inputs[:, -k:], targets[:, -1:], inputs[:, :k]
        if previous is not None:
            tails = np.concatenate([previous[0][None, -k:], tails[:-1]])
            lasts = np.concatenate([previous[1][None, -1:], lasts[:-1]])
        else:
            tails, lasts, heads = tails[:-1], lasts[:-1], heads[1:]
        if heads.shape[0]:
            hashes.append(window_hashes(np.concatenate([tails, heads], axis=1), n))
            hashes.append(window_hashes(np.concatenate([tails, lasts, heads], axis=1), n))
    return np.concatenate(hashes), (inputs[-1], targets[-1])


def _ignore(subject) -> int:
    return getattr(subject, "ignore_index", DEFAULT_IGNORE_INDEX)


def _auto_window(inputs, bits: float, longest: int) -> int:
    """Ids per window so that a window carries about ``bits`` bits of text at this stream's
    unigram entropy: 32 ids of a 150k BPE vocab (~10 bits/id) span the same text as 64 bytes of a
    byte-level one — short windows of a byte stream match the lines every source file shares."""
    import numpy as np

    ids = inputs.reshape(-1)
    counts = np.unique(ids, return_counts=True)[1]
    share = counts / counts.sum()
    per_id = float(-(share * np.log2(share)).sum()) if ids.size else 0.0
    return int(min(max(16, math.ceil(bits / max(per_id, 1.0))), longest))


@accepts(
    train_split="train", val_split="val", window=None, window_bits=320, max_overlap_share=0.05, max_window_top1=0.5, max_val_tokens=None, max_train_tokens=None
)
@records("overlap_share", "window", "piece", "train_stream", "val_windows", "degenerate_val_windows", "val_tokens", "train_tokens_scanned")
def test_split_overlap(falsifier, subject):
    """Validation windows (at stride ``window``) found in the training data stay under
    ``max_overlap_share``: val drawn from train (a slice, a shared shard, an off-by-one split) reads
    near 100%; independent text shares only boilerplate. ``window`` ids, or (unset) as many as carry
    ``window_bits`` bits at the val ids' entropy. A window one id fills ``max_window_top1`` or more
    of (padding, zeros from ids read at the wrong width) is not evidence of shared text: it is left
    out and counted.

    Where the subject gives the stream its training rows are drawn from (``split_stream(split)``),
    every window of that stream is indexed: found whatever the row lengths and however the rows were
    drawn. Else the train batches are read (every offset, across row joins too), and a val window is
    found when each of its pieces (half a window: ``piece``) occurs in them — rows drawn at random
    offsets (nanoGPT's ``get_batch``) seldom hold a whole window, but they hold its halves."""
    import numpy as np

    from harness.checks.windows import top1_counts

    p = falsifier.params
    val_scan, train_scan = Scan(), Scan()
    val_rows, informative_rows, degenerate, n = [], [], 0, p["window"]
    for inputs, _ in iter_rows(subject, p["val_split"], p["max_val_tokens"], val_scan):
        n = n or _auto_window(inputs, p["window_bits"], inputs.shape[1])
        if inputs.shape[1] < n:
            continue
        informative = top1_counts(inputs, n, stride=n) < p["max_window_top1"] * n
        degenerate += int((~informative).sum())
        val_rows.append(inputs)
        informative_rows.append(informative)
    n = int(falsifier.record("window", n or 32))
    windows = int(sum(int(i.sum()) for i in informative_rows))
    falsifier.record("degenerate_val_windows", degenerate)
    falsifier.record("val_tokens", windows * n)
    if degenerate and degenerate >= windows:
        falsifier.suspect(
            f"{degenerate} of the {degenerate + windows} {p['val_split']} windows of {n} ids are half or more one id "
            "(padding, or ids read at the wrong width): too little real text to judge a leak"
        )
        if not windows:
            return
    assert windows, f"{falsifier.id}: the {p['val_split']!r} split yields no window of {n} ids"
    stream = getattr(subject, "split_stream", None)
    source = "stream" if falsifier.record("train_stream", 1.0 if callable(stream) else 0.0) else "batches"
    m = int(falsifier.record("piece", n if source == "stream" else min(n, max(16, math.ceil(n / 2)))))
    wanted = np.unique(np.concatenate([window_hashes(rows, m) for rows in val_rows]))
    found = np.zeros(wanted.size, dtype=bool)
    scanned = 0
    if source == "stream":
        for ids in _stream_pieces(stream(p["train_split"]), m, p["max_train_tokens"], train_scan):
            mark_found(wanted, window_hashes(ids[None, :], m), found)
            scanned += ids.size - (m - 1)
    else:
        previous = None
        for inputs, targets in iter_rows(subject, p["train_split"], p["max_train_tokens"], train_scan):
            hashes, previous = _train_hashes(inputs, targets, m, previous)
            mark_found(wanted, hashes, found)
            scanned += inputs.size
    hit, total = 0, 0
    for rows, informative in zip(val_rows, informative_rows):
        pieces = np.isin(window_hashes(rows, m), wanted[found]).reshape(rows.shape[0], -1)  # every m-gram of each row
        missing = np.concatenate([np.zeros((rows.shape[0], 1), dtype=np.int64), np.cumsum(~pieces, axis=1)], axis=1)
        starts = np.arange(0, rows.shape[1] - n + 1, n)
        whole = (missing[:, starts + n - m + 1] - missing[:, starts]) == 0  # no m-gram of the window missing
        hit += int(whole.reshape(-1)[informative].sum())
        total += int(informative.sum())
    val_scan.report(falsifier, "max_val_tokens", p["max_val_tokens"])
    train_scan.report(falsifier, "max_train_tokens", p["max_train_tokens"])
    falsifier.record("train_tokens_scanned", max(scanned, 0))
    falsifier.record("val_windows", total)
    share = falsifier.record("overlap_share", hit / total if total else 0.0)
    assert scanned > 0, f"{falsifier.id}: the {p['train_split']!r} split yields no {'stream' if source == 'stream' else 'batch'}"
    assert share <= p["max_overlap_share"], (
        f"{falsifier.id}: {share:.1%} of {p['val_split']} windows ({n} ids) also occur in the {p['train_split']} "
        f"{'stream' if source == 'stream' else 'batches'}: validation is drawn from training data"
    )


def _stream_pieces(stream, m: int, max_tokens: int | None, scan: Scan, chunk: int = 1 << 22):
    """The 1-D id arrays of a split's stream (one array, or an iterable of them: a shard each), in
    chunks that overlap by ``m - 1`` ids so no window is lost at a chunk's edge; ``max_tokens`` caps
    the read (and ``scan`` learns that it did)."""
    import numpy as np

    pieces = [stream] if hasattr(stream, "shape") else stream
    read = 0
    for piece in pieces:
        if max_tokens is not None and read >= max_tokens:
            scan.truncated.append("the train stream")
            return
        ids = piece.numpy() if hasattr(piece, "numpy") else piece
        size = int(ids.shape[0])
        scan.batches["stream"] = scan.batches.get("stream", 0) + 1
        for start in range(0, max(size - m + 1, 0), chunk):
            natural = min(size, start + chunk + m - 1)
            end = natural if max_tokens is None else min(natural, start + (max_tokens - read) + m - 1)
            yield np.asarray(ids[start:end], dtype=np.int64)
            read += end - start
            scan.tokens += end - start
            if end < natural or (max_tokens is not None and read >= max_tokens and natural < size):
                scan.truncated.append("the train stream")
                return


def _distinct_rows(subject, split: str, max_tokens: int | None, scan: Scan, ignore: int) -> tuple[int, int, int]:
    """(rows the split's batches hold, how many of them are distinct, targets they score)."""
    import numpy as np

    hashes, tokens = [], 0
    for inputs, targets in iter_rows(subject, split, max_tokens, scan):
        hashes.append(window_hashes(inputs, inputs.shape[1], stride=inputs.shape[1]))
        tokens += int((targets != ignore).sum())
    rows = int(sum(h.size for h in hashes))
    distinct = int(np.unique(np.concatenate(hashes)).size) if rows else 0
    return rows, distinct, tokens


@accepts(split="train", min_distinct_share=0.9, max_tokens=None)
@records("rows", "distinct_rows", "distinct_share")
def test_train_coverage(falsifier, subject):
    """The training stream reads what it draws: of the rows a pass over the ``split`` batches
    holds, at least ``min_distinct_share`` are distinct. A loop that re-creates its iterator every
    step (``next(iter(loader))``) trains on one batch over and over; downstream it shows only as a
    val/train ratio no model reaches, long after the compute is spent."""
    p = falsifier.params
    rows, distinct, _, share = _recorded_rows(falsifier, subject)
    assert share >= p["min_distinct_share"], (
        f"{falsifier.id}: the {p['split']} stream draws {rows:,} rows but reads only {distinct:,} distinct ones ({share:.1%}): "
        "the same batch is trained on again and again (an iterator re-created every step)"
    )


@accepts(split="val", min_distinct_share=0.9, loss_sd=3.0, tolerance=0.05, max_tokens=None)
@records("rows", "distinct_rows", "distinct_share", "eval_tokens", "loss_standard_error")
def test_eval_coverage(falsifier, subject):
    """What makes an eval wrong: rows that repeat (distinct rows < ``min_distinct_share``: one batch
    re-read every step) FALSIFY; too few scored targets for the precision the contract asks is
    METHODOLOGY_SUSPECT, with the figure: the standard error of a mean token loss over n targets is
    about ``loss_sd``/√n (per-token cross-entropy of a language model spreads about 3 nats), and it
    must not exceed ``tolerance`` (nats) — 3,600 targets at the defaults. A small eval of distinct
    rows is imprecise, not wrong."""
    p = falsifier.params
    rows, distinct, tokens, share = _recorded_rows(falsifier, subject)
    falsifier.record("eval_tokens", tokens)
    assert tokens, f"{falsifier.id}: the {p['split']} split scores no target"
    assert share >= p["min_distinct_share"], f"{falsifier.id}: only {distinct} of {rows} {p['split']} rows are distinct ({share:.1%}): the eval repeats itself"
    error = falsifier.record("loss_standard_error", p["loss_sd"] / math.sqrt(tokens))
    if error > p["tolerance"]:
        needed = math.ceil((p["loss_sd"] / p["tolerance"]) ** 2)
        falsifier.suspect(
            f"the {p['split']} split scores {tokens:,} targets: its mean loss has a standard error of about {error:.3f} nats, "
            f"above the tolerance of {p['tolerance']} (≥ {needed:,} targets would meet it)"
        )


def _recorded_rows(falsifier, subject):
    """(rows, distinct rows, scored targets, distinct share) of one pass over the ``split`` batches,
    the counts recorded; a split that yields no batch is never judged (train- and eval-coverage)."""
    p = falsifier.params
    scan = Scan()
    rows, distinct, tokens = _distinct_rows(subject, p["split"], p["max_tokens"], scan, _ignore(subject))
    scan.report(falsifier, "max_tokens", p["max_tokens"])
    falsifier.record("rows", rows)
    falsifier.record("distinct_rows", distinct)
    share = falsifier.record("distinct_share", distinct / rows if rows else 0.0)
    assert rows, f"{falsifier.id}: the {p['split']!r} split yields no batch"
    return rows, distinct, tokens, share


def _pad_counter(subject, p):
    """A ``PadCounter`` told what the subject declares: its ``pad_id``, ``pads = False`` (never
    pads), or its tokenizer's pad token — each named as the source of padding."""
    from harness.checks.padding import PadCounter

    counter = PadCounter(_ignore(subject), min_run=p["min_inferred_run"], min_trailing_fraction=p["min_trailing_fraction"])
    pad = getattr(getattr(subject, "tokenizer", None), "pad_token_id", None)
    if getattr(subject, "pad_id", None) is not None:
        counter.pad_id, counter.source = int(subject.pad_id), "the subject's pad_id"
    elif getattr(subject, "pads", None) is False:
        counter.never_pads, counter.source = True, "the subject never pads"
    elif pad is not None:
        counter.pad_id, counter.source = int(pad), "the tokenizer's pad token"
    return counter


def _eos_id(subject) -> int | None:
    """The end-of-text id: the subject's ``eos_id``, else its tokenizer's ``eos_token_id``."""
    eos = getattr(subject, "eos_id", None)
    eos = eos if eos is not None else getattr(getattr(subject, "tokenizer", None), "eos_token_id", None)
    return int(eos) if eos is not None else None


@accepts(splits=["train", "val"], max_pad_share=0.01, min_inferred_run=8, min_trailing_fraction=0.5, max_tokens=None, min_eos_rows=4)
@records("scored_targets", "scored_padding", "pad_share", "padded_positions", "eos_rows", "eos_scored")
def test_loss_mask(falsifier, subject):
    """Padding is not scored: of the targets the loss counts (≠ ``ignore_index``), at most
    ``max_pad_share`` are padding. Padding is what the batch's ``attention_mask`` leaves out, else
    the row ends of the subject's ``pad_id`` (or its tokenizer's pad token); a subject with
    ``pads = False`` never pads. With none of these, an id is padding only if it fills row ends
    (runs ≥ ``min_inferred_run``) and ≥ ``min_trailing_fraction`` of its occurrences are there —
    runs of indentation tokens in source code are text, not padding.

    And the text is scored: where the end-of-text id (the subject's ``eos_id`` or its tokenizer's)
    occurs in ``min_eos_rows`` rows or more, it must be a scored target somewhere. A collator that
    masks every label equal to the pad id while pad = EOS (Hugging Face's
    ``DataCollatorForLanguageModeling`` with ``pad_token = eos_token``) masks each document's real
    end too: the model never learns to stop."""
    p = falsifier.params
    counter = _pad_counter(subject, p)
    eos = _eos_id(subject)
    eos_rows = eos_scored = 0
    scan = Scan()
    for split in p["splits"]:
        for inputs, targets, padding in iter_rows(subject, split, p["max_tokens"], scan, padding=True):
            counter.add(inputs, targets, padding)
            if eos is not None:
                eos_rows += int((inputs == eos).any(axis=1).sum())
                eos_scored += int(((targets == eos) & (targets != counter.ignore_index)).sum())
    scan.report(falsifier, "max_tokens", p["max_tokens"])
    scan.require_every_split(falsifier.id, p["splits"])
    got = counter.result()
    pad_source = got["source"]
    falsifier.attach("pad_source", pad_source)
    scored, scored_pad = got["scored"], got["scored_pad"]
    falsifier.record("scored_targets", scored)
    falsifier.record("scored_padding", scored_pad)
    falsifier.record("padded_positions", got["padded"])
    share = falsifier.record("pad_share", scored_pad / scored if scored else 0.0)
    assert scored, f"{falsifier.id}: no scored target in {', '.join(p['splits'])}"
    assert share <= p["max_pad_share"], (
        f"{falsifier.id}: {share:.1%} of scored targets are padding ({scored_pad} of {scored}; padding from {pad_source}): the loss counts pad positions"
    )
    if eos is not None:
        falsifier.record("eos_rows", eos_rows)
        falsifier.record("eos_scored", eos_scored)
        assert eos_rows < p["min_eos_rows"] or eos_scored, (
            f"{falsifier.id}: the end-of-text id {eos} occurs in {eos_rows:,} rows the model reads but is never a scored target: "
            f"the loss masks it out (pad = EOS{' (' + pad_source + ')' if counter.pad_id == eos else ''} with every label equal to the pad id masked) — "
            "the model never learns to end a document"
        )


@accepts(splits=["train", "val"], max_tokens=None, max_edge_share=0.01, top1_margin=0.05)
@records("max_id", "model_vocab_size", "edge_share", "batch_top1_share", "shard_top1_share")
def test_model_vocab_fit(falsifier, subject):
    """Every id the model sees is below its vocab (``subject.vocab_size``: its embedding rows), the
    last id is not a sink (ids clamped into the vocab pile up there), and the most frequent id holds
    no larger share of the batches than of the shards they came from (+ ``top1_margin``)."""
    import numpy as np

    p = falsifier.params
    ignore = _ignore(subject)
    vocab = int(getattr(subject, "model_vocab_size", None) or subject.vocab_size)
    falsifier.record("model_vocab_size", vocab)
    from harness.checks.entropy import in_vocab_or_oov

    top, seen = -1, 0
    counts = np.zeros(vocab + 1, dtype=np.int64)  # the last bin: ids outside the model's vocab
    scan = Scan()
    for split in p["splits"]:
        for inputs, targets in iter_rows(subject, split, p["max_tokens"], scan):  # streamed: one batch at a time
            ids = np.concatenate([inputs.reshape(-1), targets[targets != ignore].reshape(-1)])
            if not ids.size:
                continue
            top = max(top, int(ids.max()))
            seen += ids.size
            counts += np.bincount(in_vocab_or_oov(ids, vocab), minlength=vocab + 1)
    scan.report(falsifier, "max_tokens", p["max_tokens"])
    scan.require_every_split(falsifier.id, p["splits"])
    falsifier.record("max_id", top)
    edge_share = falsifier.record("edge_share", int(counts[vocab - 1]) / seen if seen else 0.0)
    # padding is not text the loader mapped: left out of the top-1 comparison, as loss-mask leaves it out of the loss
    pad = getattr(subject, "pad_id", None)
    pad = pad if pad is not None else getattr(getattr(subject, "tokenizer", None), "pad_token_id", None)
    text = counts[:vocab].copy()
    if pad is not None and 0 <= int(pad) < vocab:
        text[int(pad)] = 0
    batch_top1 = falsifier.record("batch_top1_share", int(text.max()) / max(int(text.sum()), 1) if seen else 0.0)
    assert seen, f"{falsifier.id}: no batch in {', '.join(p['splits'])}"
    assert top < vocab, f"{falsifier.id}: the model sees id {top}, but its vocab has {vocab} rows"
    assert edge_share <= p["max_edge_share"], f"{falsifier.id}: {edge_share:.1%} of ids are {vocab - 1}, the model's last id: ids are clamped into the vocab"
    shard_paths = getattr(subject, "shard_paths", None)
    if callable(shard_paths):
        from harness.checks.shards import subject_shards

        shard_counts = np.zeros(vocab + 1, dtype=np.int64)
        budget = p["max_tokens"]
        for shard in subject_shards(subject):
            ids = shard.open()
            end = shard.count if budget is None else min(shard.count, budget)
            for start in range(0, end, 1 << 22):
                chunk = np.asarray(ids[start : min(end, start + (1 << 22))], dtype=np.int64)
                shard_counts += np.bincount(in_vocab_or_oov(chunk, vocab), minlength=vocab + 1)
            if budget is not None:
                budget -= end
                if budget <= 0:
                    break
        if pad is not None and 0 <= int(pad) < vocab:
            shard_counts[int(pad)] = 0  # the same ids on both sides of the comparison
        total = int(shard_counts.sum())
        beyond = int(shard_counts[vocab])
        assert not beyond, (
            f"{falsifier.id}: the shards hold {beyond:,} ids ≥ the model's {vocab} embedding rows (or negative), "
            "which the batches read did not show: a loader that reads them feeds the model ids it cannot embed"
        )
        if total:
            shard_top1 = falsifier.record("shard_top1_share", float(shard_counts.max()) / total)
            assert batch_top1 <= shard_top1 + p["top1_margin"], (
                f"{falsifier.id}: the model's most frequent id holds {batch_top1:.1%} of what it sees, the shards' {shard_top1:.1%}: "
                "the loader maps ids together (clamping, a smaller vocab)"
            )


@accepts(splits=["train", "val"], max_tokens=None, min_agreement=0.5, probe_rows=2, probe_length=64)
@records("agreement_shift0", "agreement_shift1", "agreement_shift2", "best_shift", "scored_targets", "loader_shift", "model_loss_shift", "model_loss")
def test_target_alignment(falsifier, subject):
    """The targets the loss really sees are the inputs shifted by exactly one, in the framework's
    convention (Hugging Face ``labels`` are shifted by the model, so a loader that shifts them too
    trains on the token after next). Of the scored targets, the share equal to the input 0, 1 and
    2 positions on: shift 1 must agree most, on at least ``min_agreement`` of them.

    Where the subject gives the ``model`` its batches feed, the loss it returns for the first
    batch (``probe_rows`` × ``probe_length`` of it) is read too: loader shift plus the shift the
    model's own loss applies must be one (``harness.checks.shift``) — right batches into a loss that
    shifts again train on the token after next all the same."""
    import numpy as np

    p = falsifier.params
    ignore = _ignore(subject)
    agree = np.zeros(3, dtype=np.int64)
    total = np.zeros(3, dtype=np.int64)
    scan = Scan()
    for split in p["splits"]:
        for inputs, targets in iter_rows(subject, split, p["max_tokens"], scan):
            t = inputs.shape[1]
            for shift in range(3):
                if t <= shift:
                    continue
                tg = targets[:, : t - shift]
                scored = tg != ignore
                total[shift] += int(scored.sum())
                agree[shift] += int(((tg == inputs[:, shift:]) & scored).sum())
    scan.report(falsifier, "max_tokens", p["max_tokens"])
    scan.require_every_split(falsifier.id, p["splits"])
    shares = [float(a / n) if n else 0.0 for a, n in zip(agree, total)]
    for shift, share in enumerate(shares):
        falsifier.record(f"agreement_shift{shift}", share)
    falsifier.record("scored_targets", int(total[0]))
    best = int(falsifier.record("best_shift", int(np.argmax(shares))))
    assert total[0], f"{falsifier.id}: no scored target in {', '.join(p['splits'])}"
    why = {
        0: "the targets are the inputs themselves: labels never shifted (the model learns to copy)",
        2: "the targets are the inputs two positions on: labels shifted twice (the loader shifts and the model shifts again)",
    }
    # a shift is named as the cause only when it really lines the targets up; else no shift does
    assert shares[best] >= p["min_agreement"] or shares[1] >= p["min_agreement"], (
        f"{falsifier.id}: no shift lines the targets up with the inputs (equal to the input 0, 1, 2 positions on: "
        f"{shares[0]:.1%}, {shares[1]:.1%}, {shares[2]:.1%}): the targets are not these inputs' next ids — reversed, shuffled, or another row's"
    )
    assert best == 1, f"{falsifier.id}: {shares[best]:.1%} of scored targets equal the input {best} position(s) on, {shares[1]:.1%} the next one: {why[best]}"
    if getattr(subject, "model", None) is not None:
        _judge_model_loss(falsifier, subject, p)


def _judge_model_loss(falsifier, subject, p) -> None:
    """The targets the model's own loss scores, on the first batch (``harness.checks.shift``)."""
    import torch

    from harness.checks.shift import judge

    model = subject.model
    batch = next(iter(subject.batches(p["splits"][0])), None)
    if batch is None:
        return
    was_training = getattr(model, "training", False)
    model.eval() if hasattr(model, "eval") else None
    try:
        with torch.random.fork_rng(devices=[]), torch.no_grad():
            got = judge(model, batch, int(p["probe_rows"]), int(p["probe_length"]))
    finally:
        model.train(was_training) if hasattr(model, "train") else None
    for name, value in got.measurements.items():
        if name in ("loader_shift", "model_loss_shift", "model_loss"):
            falsifier.record(name, value)
    if got.passed is None:
        falsifier.attach("model_loss_unjudged", got.why)
    assert got.passed is not False, f"{falsifier.id}: {got.why}"
