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
    id): at least ``min_per_document`` separators per document — the subject's ``documents()``,
    else the documents the shards' format records (Megatron's index, Arrow rows, MDS samples).
    And the separator's text (``separator_text``, default its decoding) encoded as ordinary tokens
    occurs at most ``max_text_markers_per_document`` times per document: written as text, the
    marker separates nothing."""
    import numpy as np

    from harness.checks.shards import subject_shards

    p = falsifier.params
    encoder = subject.encoder()
    sep = p["separator_id"] if p["separator_id"] is not None else getattr(encoder, "eos_id", None)
    if sep is None:  # nothing to judge by: never a pass, never a verdict on the data either
        falsifier.suspect("the encoder has no end-of-text id, so documents cannot be told apart; declare the separator with params: separator_id")
        return
    text = p["separator_text"] or encoder.decode([int(sep)])
    if p["separator_id"] is None:
        _separator_is_special(falsifier, subject, int(sep), text)
    marker = plain_ids(encoder, text)
    unk = getattr(encoder, "unk_id", None)
    if unk is not None and int(unk) in marker:  # the text cannot be encoded: counting unknown ids would name the separator for it
        falsifier.attach("text_markers_unjudged", f"the encoder cannot encode {text!r} as text (unknown id {unk}): markers not counted")
        marker = []
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
    if not documents and p["max_tokens"] is None:  # the documents the format records (rows, samples), unless packed
        from harness.checks.documents import looks_packed

        documents = sum(sum(1 for _ in s.document_bounds()) for s in shards if s.document_bounds() is not None and not looks_packed(s, int(sep)))
    falsifier.record("documents", documents)
    if p["max_tokens"] is not None and read < sum(s.count for s in shards):
        falsifier.suspect(f"sampled: read {read:,} ids (max_tokens); the counts of the rest are unknown")
    if not documents:
        assert separators or not in_text, (
            f"{falsifier.id}: the separator {text!r} (id {sep}) never occurs, but its text does, {in_text} times as ordinary tokens: "
            "the pipeline encodes the separator as text and documents run together"
        )
        # a claim about each document needs documents to count: never a pass over none
        falsifier.suspect(
            f"{separators:,} separator id(s) {sep} in {read:,} ids, but no documents to count them against "
            "(declare the subject's documents:, or use a format that records its documents): whether each document ends in one is not judged"
        )
        return
    per_doc = falsifier.record("separators_per_document", separators / documents)
    assert in_text <= p["max_text_markers_per_document"] * documents, (
        f"{falsifier.id}: the separator's text {text!r} occurs {in_text} times as ordinary tokens for {documents} documents "
        f"(id {sep} occurs {separators} times): the pipeline encodes the separator as text"
    )
    assert per_doc >= p["min_per_document"], (
        f"{falsifier.id}: {separators} separators (id {sep}) for {documents} documents ({per_doc:.2f} per document): documents run together"
    )


def _separator_is_special(falsifier, subject, sep: int, text: str) -> None:
    """The encoder's end-of-text id must be one of the vocabulary's special tokens: an ordinary
    token (Qwen2.5's vocab holds ``</s>`` as plain text, id 128247) separates documents by a string
    any document can hold — the encoder was written for another vocabulary. Judged where the
    subject's vocab says which tokens are special: a ``tokenizer.json`` (its ``added_tokens``),
    given or beside the ``vocab.json`` given; silent otherwise (a name like ``</s>`` says nothing)."""
    from pathlib import Path

    from harness.checks import ArtifactError
    from harness.checks.vocab import load_vocab

    path = getattr(subject, "vocab_path", None)
    if not path:
        return
    path = Path(path)
    path = path if path.name == "tokenizer.json" else (path if path.is_dir() else path.parent) / "tokenizer.json"
    if not path.is_file():
        return
    try:
        vocab = load_vocab(path)
    except ArtifactError:
        return  # vocab-format names an unreadable vocab
    specials = {vocab.tokens[t]: t for t in vocab.special if t in vocab.tokens}
    if not specials or sep in specials:
        return
    ends = [f"{t!r} = {i}" for i, t in specials.items() if any(e in t for e in ("end", "eos", "</s>", "eot"))] or [
        f"{t!r} = {i}" for i, t in list(specials.items())[:3]
    ]
    raise AssertionError(
        f"{falsifier.id}: the encoder ends documents with id {sep} ({text!r}), an ordinary token of {path}, not one of its special tokens "
        f"({', '.join(ends[:3])}): the encoder's end-of-text token belongs to another vocabulary, and a document holding the text {text!r} is cut there"
    )


def _separator(falsifier, subject) -> int | None:
    """The declared separator id, else the subject's encoder's end-of-text id, else none (a format
    that records its documents needs none)."""
    if falsifier.params.get("separator_id") is not None:
        return int(falsifier.params["separator_id"])
    encoder = subject.encoder() if callable(getattr(subject, "encoder", None)) else None
    eos = getattr(encoder, "eos_id", None)
    return int(eos) if eos is not None else None


def _documents(falsifier, subject, hash_documents: bool):
    from harness.checks.documents import document_stats
    from harness.checks.shards import subject_shards

    shards = subject_shards(subject)
    assert shards, f"{falsifier.id}: no shard holds any id"
    separator = _separator(falsifier, subject)
    if separator is None and any(s.document_bounds() is None for s in shards):
        falsifier.suspect("the shards are a flat stream of ids and no separator id is known (no end-of-text id in the encoder): declare params: separator_id")
        return None
    from harness.progress import TenthsLog

    engine = falsifier.params.get("engine")
    stats, read = document_stats(
        shards, separator, falsifier.params["max_tokens"], hash_documents=hash_documents, engine=engine, progress=TenthsLog(falsifier.id)
    )
    falsifier.record("documents", stats.documents)
    falsifier.record("tokens", read)
    if falsifier.params["max_tokens"] is not None and read < sum(s.count for s in shards):
        falsifier.suspect(f"sampled: read {read:,} ids (max_tokens); the documents of the rest are unknown")
    assert stats.documents, f"{falsifier.id}: no document in {read:,} ids"
    if stats.untold:
        names = ", ".join(stats.untold[:3]) + (" …" if len(stats.untold) > 3 else "")
        falsifier.suspect(
            f"{len(stats.untold)} shard(s) hold no separator id {separator} ({names}): each is one run of ids whose documents cannot be told apart, "
            "so its documents are not judged"
        )
    if stats.documents < 2:
        falsifier.suspect(f"{stats.documents} document in {read:,} ids: nothing to compare it with")
    return stats


@accepts(separator_id=None, max_duplicate_share=0.05, max_tokens=None, engine=None)
@records("documents", "duplicates", "duplicate_share", "top_repeat", "tokens")
def test_duplicate_documents(falsifier, subject):
    """Exact duplicate documents (hashed, separator excluded, empty ones left to document-lengths)
    are at most ``max_duplicate_share`` of the non-empty documents: a writer that ran its input
    several times (a resumed job, a glob matching a file twice, an epoch loop around the writer)
    trains the model on repeats and leaks them across splits."""
    from harness.checks.documents import duplicate_summary

    stats = _documents(falsifier, subject, hash_documents=True)
    if stats is None:
        return

    duplicates, top = duplicate_summary(stats.hashes)
    falsifier.record("duplicates", duplicates)
    falsifier.record("top_repeat", top)
    share = falsifier.record("duplicate_share", duplicates / len(stats.hashes) if stats.hashes else 0.0)
    assert share <= falsifier.params["max_duplicate_share"], (
        f"{falsifier.id}: {duplicates:,} of {len(stats.hashes):,} documents ({share:.1%}) repeat an earlier one exactly; "
        f"the most repeated occurs {top} times ({', '.join(sorted(stats.sources))}): the writer wrote its documents more than once"
    )


@accepts(separator_id=None, max_length=None, max_empty_share=0.0, max_truncated_share=0.02, min_documents=20, max_tokens=None, engine=None)
@records("documents", "empty", "max_length", "at_max_length", "truncated_share", "mean_length", "tokens")
def test_document_lengths(falsifier, subject):
    """No empty documents (more than ``max_empty_share``), and no silent truncation: the share of
    documents exactly at the maximum length (``max_length``, else the longest seen) stays under
    ``max_truncated_share``. Natural text has one longest document; a pipeline that truncates at
    2,048 has every long document end at 2,048."""
    p = falsifier.params
    stats = _documents(falsifier, subject, hash_documents=False)
    if stats is None:
        return
    lengths = stats.length_array()
    falsifier.record("empty", stats.empty)
    nonempty = lengths[lengths > 0]
    falsifier.record("mean_length", float(nonempty.mean()) if nonempty.size else 0.0)
    longest = int(p["max_length"]) if p["max_length"] is not None else (int(lengths.max()) if lengths.size else 0)
    falsifier.record("max_length", longest)
    at_max = int((lengths == longest).sum()) if longest else 0
    falsifier.record("at_max_length", at_max)
    share = falsifier.record("truncated_share", at_max / stats.documents)
    empty_share = stats.empty / stats.documents
    assert empty_share <= p["max_empty_share"], (
        f"{falsifier.id}: {stats.empty:,} of {stats.documents:,} documents ({empty_share:.1%}) hold no id but the separator "
        f"({', '.join(sorted(stats.sources))}): the pipeline writes empty documents"
    )
    if stats.documents < p["min_documents"]:
        falsifier.suspect(f"{stats.documents} documents: too few to tell a truncation length from chance (min_documents {p['min_documents']})")
        return
    if at_max <= 1 or share <= p["max_truncated_share"]:
        return
    seen = f"{at_max:,} of {stats.documents:,} documents ({share:.1%}) are exactly {longest} ids long, the maximum"
    lost = _text_lost(subject, stats)
    if lost is None:  # from ids alone a cap is a cap: chunking writes one too, and loses nothing
        falsifier.suspect(f"{seen}: a cap at {longest} ids — truncation loses text, chunking does not; declare the subject's documents: to tell them apart")
        return
    encoded, stored = lost
    falsifier.record("source_ids", encoded)
    assert stored >= 0.98 * encoded, (
        f"{falsifier.id}: {seen}, and the shards hold {stored:,} text ids where the subject's documents encode to {encoded:,} "
        f"({1 - stored / encoded:.1%} lost): documents are silently truncated at {longest} ids"
    )


def _text_lost(subject, stats) -> tuple[int, int] | None:
    """(ids the subject's own documents encode to, text ids the shards hold), or None when the
    subject declares no documents to compare with: truncation is text lost, chunking is not."""
    from harness.contract.subjects import SubjectError

    try:
        texts = [text for _, text in subject.documents()]
        encoder = subject.encoder()
    except (SubjectError, AttributeError, OSError, NotImplementedError):  # no documents or encoder declared: no comparison
        return None
    if not texts:
        return None
    encode = encoder.encode_batch if hasattr(encoder, "encode_batch") else (lambda ts: [encoder.encode(t) for t in ts])
    encoded = sum(len(ids) for ids in encode(texts))
    return encoded, int(stats.length_array().sum())


def _shard_chunks(shards, overlap: int, chunk: int = 1 << 22):
    """Each shard's ids in chunks that overlap by ``overlap`` ids (a window never lost at an edge)."""
    import numpy as np

    for shard in shards:
        ids = shard.open()
        for start in range(0, max(shard.count - overlap, 1), chunk):
            yield np.asarray(ids[start : min(shard.count, start + chunk + overlap)], dtype=np.int64)


@accepts(window=16, min_found_share=0.9, max_missing_share=0.0, max_altered_share=0.01)
@records("documents", "judged", "missing", "altered", "mean_found_share")
def test_documents_intact(falsifier, subject):
    """Every document the subject declares (``documents()``) reaches the shards whole, judged on
    its own encoding: its ``window``-id windows looked up among the shards' (``harness.checks.intact``).
    None found: missing (a writer that drops its last buffer, a silent filter) — more than
    ``max_missing_share`` FALSIFIES; some but under ``min_found_share`` found: altered (indentation
    stripped, whitespace or case normalised) — more than ``max_altered_share``. The edit that
    explains an altered corpus is named. Chunked documents lose only windows across a cut."""
    from harness.checks.intact import documents_intact
    from harness.checks.shards import subject_shards

    p = falsifier.params
    docs = list(subject.documents())
    shards = subject_shards(subject)
    assert shards, f"{falsifier.id}: no shard holds any id"
    assert docs, f"{falsifier.id}: the subject declares no document to look for"
    n = int(p["window"])
    report = documents_intact(docs, subject.encoder(), _shard_chunks(shards, n - 1), n, p["min_found_share"])
    falsifier.record("documents", report.documents)
    falsifier.record("judged", report.judged)
    falsifier.record("missing", len(report.missing))
    falsifier.record("altered", len(report.altered))
    falsifier.record("mean_found_share", sum(report.found_share) / len(report.found_share) if report.found_share else 0.0)
    assert report.judged, f"{falsifier.id}: no declared document holds {n} ids: nothing to look for"
    if report.judged < report.documents:
        falsifier.attach("too_short", f"{report.documents - report.judged} documents shorter than {n} ids were not judged")
    names = [name for name, _ in docs]

    def listed(indices: list[int]) -> str:
        return ", ".join(str(names[i]) for i in indices[:3]) + (" …" if len(indices) > 3 else "")

    lost = report.missing + report.altered
    if report.edits and len(lost) > p["max_altered_share"] * report.judged:
        edit, share = max(report.edits.items(), key=lambda kv: kv[1])
        raise AssertionError(
            f"{falsifier.id}: {len(lost):,} of {report.judged:,} declared documents do not reach the shards as they encode ({listed(sorted(lost))}); "
            f"encoded with {edit}, {share:.0%} of the sampled ones do: the writer alters the text ({edit})"
        )
    missing_share = len(report.missing) / report.judged
    tail = report.tail_missing()
    assert missing_share <= p["max_missing_share"], (
        f"{falsifier.id}: {len(report.missing):,} of {report.judged:,} declared documents never reach the shards ({listed(report.missing)})"
        + (f"; the last {tail} in order among them: a writer that drops its last buffer" if tail >= max(1, len(report.missing) // 2) else "")
    )
    altered_share = len(report.altered) / report.judged
    assert altered_share <= p["max_altered_share"], (
        f"{falsifier.id}: {len(report.altered):,} of {report.judged:,} declared documents reach the shards altered "
        f"(under {p['min_found_share']:.0%} of their {n}-id windows found: {listed(report.altered)}): the writer changes the text"
    )
