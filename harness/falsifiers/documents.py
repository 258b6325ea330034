"""Falsifiers on document boundaries in the token shards: documents are separated the way the
pipeline declares (an end-of-text id after each), and the separator never reaches the shards as
the ordinary tokens of its text — the bug where ``<|endoftext|>`` is encoded as the characters
``<``, ``|``, ``endo``, … so the id never occurs and every document runs into the next."""

from __future__ import annotations

import re

from harness import accepts, records


def plain_ids(encoder, text: str) -> list[int]:
    """The ids of ``text`` encoded as ordinary text, never as a special token: with a Hugging Face
    tokenizer, its own ``encode_special_tokens`` switch; otherwise piece by piece (word and
    punctuation runs, as a pre-tokenizer splits them), so no special token is matched whole."""
    inner = getattr(encoder, "_tok", None)
    if inner is not None and hasattr(inner, "encode_special_tokens"):
        before = inner.encode_special_tokens
        inner.encode_special_tokens = True
        try:
            return list(inner.encode(text, add_special_tokens=False).ids)
        finally:
            inner.encode_special_tokens = before
    encode = encoder.encode if hasattr(encoder, "encode") else (lambda t: encoder.encode_batch([t])[0])
    return [i for piece in re.findall(r"\w+|[^\w\s]+|\s+", text) for i in encode(piece)]


def _count_sequence(shards, needle: list[int], budget: int | None) -> tuple[int, int]:
    """(occurrences of the id sequence ``needle`` across the shards, ids read)."""
    import numpy as np

    from harness.checks.windows import window_hashes

    n = len(needle)
    target = window_hashes(np.asarray([needle], dtype=np.int64), n)[0]
    found = read = 0
    for shard in shards:
        ids = shard.open()
        end = shard.count if budget is None else min(shard.count, budget - read)
        for start in range(0, end, 1 << 22):
            part = np.asarray(ids[max(0, start - n + 1) : min(end, start + (1 << 22))], dtype=np.int64)[None, :]
            found += int((window_hashes(part, n) == target).sum())
        read += end
        if budget is not None and read >= budget:
            break
    return found, read


@accepts(separator_id=None, separator_text=None, min_per_document=0.9, max_text_markers_per_document=0.01, max_tokens=None)
@records("separators", "text_markers", "documents", "separators_per_document", "tokens")
def test_document_boundaries(falsifier, subject):
    """Each document ends in the separator id (``separator_id``, default the encoder's end-of-text
    id): at least ``min_per_document`` separators per document of the subject's ``documents()``.
    And the separator's text (``separator_text``, default its decoding) encoded as ordinary tokens
    occurs at most ``max_text_markers_per_document`` times per document: written as text, the
    marker separates nothing."""
    import numpy as np

    from harness.checks.shards import subject_shards

    p = falsifier.params
    encoder = subject.encoder()
    sep = p["separator_id"] if p["separator_id"] is not None else getattr(encoder, "eos_id", None)
    assert sep is not None, f"{falsifier.id}: the encoder has no end-of-text id; declare the separator with params: separator_id"
    text = p["separator_text"] or encoder.decode([int(sep)])
    marker = plain_ids(encoder, text)
    shards = subject_shards(subject)
    assert shards, f"{falsifier.id}: no shard holds any id"
    separators = read = 0
    for shard in shards:
        ids = shard.open()
        end = shard.count if p["max_tokens"] is None else min(shard.count, p["max_tokens"] - read)
        for start in range(0, end, 1 << 22):
            separators += int((np.asarray(ids[start : min(end, start + (1 << 22))]) == sep).sum())
        read += end
    falsifier.record("tokens", read)
    falsifier.record("separators", separators)
    in_text = falsifier.record("text_markers", _count_sequence(shards, marker, p["max_tokens"])[0] if len(marker) > 1 else 0)
    try:
        documents = sum(1 for _ in subject.documents())
    except (AttributeError, OSError, ValueError):
        documents = 0
    falsifier.record("documents", documents)
    if p["max_tokens"] is not None and read < sum(s.count for s in shards):
        falsifier.suspect(f"sampled: read {read:,} ids (max_tokens); the counts of the rest are unknown")
    if not documents:
        assert separators or not in_text, (
            f"{falsifier.id}: the separator {text!r} (id {sep}) never occurs, but its text does, {in_text} times as ordinary tokens: "
            "the pipeline encodes the separator as text and documents run together"
        )
        if not separators:
            falsifier.suspect(f"no separator id {sep} in {read:,} ids and no documents to count: cannot tell whether documents are separated")
        return
    per_doc = falsifier.record("separators_per_document", separators / documents)
    assert in_text <= p["max_text_markers_per_document"] * documents, (
        f"{falsifier.id}: the separator's text {text!r} occurs {in_text} times as ordinary tokens for {documents} documents "
        f"(id {sep} occurs {separators} times): the pipeline encodes the separator as text"
    )
    assert per_doc >= p["min_per_document"], (
        f"{falsifier.id}: {separators} separators (id {sep}) for {documents} documents ({per_doc:.2f} per document): documents run together"
    )
