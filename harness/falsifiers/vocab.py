"""Vocab falsifiers: the vocab is in the format the encoder emits; encoding real text round-trips."""

from __future__ import annotations

from harness import accepts, records


@accepts(expected_format=None, min_hex_pairs=200, vocab_path=None)
@records("hex_pairs", "byte_alphabet_coverage", "byte_fallback_tokens", "vocab_size")
def test_vocab_format_matches_encoder(falsifier, subject):
    """FALSIFY-BPE-FORMAT-MISMATCH-001: the vocab's format is the one the pipeline's encoder emits."""
    from harness.checks.vocab import fingerprint_vocab, format_mismatch, load_vocab

    params = falsifier.params
    path = params.path("vocab_path") if params["vocab_path"] else subject.vocab_path
    expected = params["expected_format"] or subject.encoder_name
    fp = fingerprint_vocab(load_vocab(path), params["min_hex_pairs"])
    for name in ("hex_pairs", "byte_alphabet_coverage", "byte_fallback_tokens", "vocab_size"):
        falsifier.record(name, getattr(fp, name))
    problem = format_mismatch(fp, expected, params["min_hex_pairs"], falsifier.id)
    assert problem is None, problem


def _spread(items: list, count: int) -> list:
    if count <= 0:
        return []
    if len(items) <= count:
        return items
    step = len(items) / count
    return [items[int(i * step)] for i in range(count)]


def sample_documents(documents, count: int, non_ascii: int = 0) -> list[tuple[str, str]]:
    """``count`` documents spread evenly over the whole corpus (not its first files), plus up to
    ``non_ascii`` of those holding non-ASCII text, spread over all of them: a corpus whose first
    megabytes are ASCII still has its accents, CJK and emoji tried."""
    docs = list(documents)
    chosen = _spread(docs, count)
    names = {name for name, _ in chosen}
    wide = [d for d in docs if not d[1].isascii() and d[0] not in names]
    return chosen + _spread(wide, non_ascii)


@accepts(sample_docs=40, non_ascii_docs=16, max_unk_share=0.001)
@records("roundtrip_failures", "unk_share", "bytes_per_token", "documents", "non_ascii_documents")
def test_roundtrip_and_unk_share(falsifier, subject):
    """decode(encode(doc)) == doc on documents sampled across the subject's own corpus — non-ASCII
    ones included — and almost no <unk>."""
    params = falsifier.params
    sample = sample_documents(subject.documents(), params["sample_docs"], params["non_ascii_docs"])
    falsifier.record("non_ascii_documents", sum(1 for _, text in sample if not text.isascii()))
    assert sample, f"{falsifier.id}: the subject has no documents to encode"
    encoder = subject.encoder()
    failures, tokens, unk, nbytes = [], 0, 0, 0
    for (name, text), ids in zip(sample, encoder.encode_batch([t for _, t in sample])):
        tokens += len(ids)
        nbytes += len(text.encode("utf-8"))
        if encoder.unk_id is not None:
            unk += sum(1 for i in ids if i == encoder.unk_id)
        if encoder.decode(ids) != text:
            failures.append(name)
    falsifier.record("documents", len(sample))
    falsifier.record("roundtrip_failures", len(failures))
    unk_share = falsifier.record("unk_share", unk / max(tokens, 1))
    falsifier.record("bytes_per_token", nbytes / max(tokens, 1))
    assert not failures, f"{falsifier.id}: {len(failures)}/{len(sample)} documents do not round-trip through {encoder.name}: {failures[:3]}"
    assert unk_share <= params["max_unk_share"], f"{falsifier.id}: <unk> share {unk_share:.2%} above {params['max_unk_share']:.2%}"


@accepts(
    windows=256,
    window=64,
    min_agreement=0.97,
    edge=8,
    min_canonical=0.9,
    confidence=0.99,
    seed=0,
    sample_docs=8,
    ngram=8,
    min_doc_presence=0.9,
    max_scan_tokens=20_000_000,
)
@records("agreement", "canonical_share", "canonical_share_low", "canonical_share_high", "windows", "exact_windows", "doc_presence")
def test_vocab_id_agreement(falsifier, subject):
    """The shards' ids are the declared tokenizer's, judged two ways.

    1. Documents: a sample of the subject's own documents, encoded with its encoder, must be found
       in the shards (``ngram``-id windows, ≥ ``min_doc_presence``): shards made by another
       tokenizer from the same text hold other ids.
    2. Ids: windows sampled across the shards, decoded and encoded again, come back as the same ids
       (matched in order, ≥ ``min_agreement``; a window's edges may re-merge). This sees a foreign
       tokenizer even without documents, though weakly where vocabularies share ids (cl100k's
       ids under Qwen2.5's vocab agree 82%; healthy shards 99–100%).
    3. Canonical: the same decoded windows, encoded again, must reproduce each window's interior
       (``edge`` ids in from each end) exactly, as one run, in ≥ ``min_canonical`` of the windows.
       The declared tokenizer's own ids are its canonical encoding of their text; another
       tokenizer's ids, read as these, spell text this tokenizer would encode otherwise (healthy
       Qwen2.5 shards: 100%; cl100k ids under Qwen2.5: 0.3%)."""

    from harness.checks.shards import subject_shards
    from harness.contract.subjects import SubjectError

    p = falsifier.params
    encoder = subject.encoder()
    shards = subject_shards(subject, min_count=p["window"] + 1)
    assert shards, f"{falsifier.id}: no shard holds a window of {p['window']} ids"

    def encode(text: str) -> list[int]:
        return encoder.encode(text) if hasattr(encoder, "encode") else encoder.encode_batch([text])[0]

    try:
        docs = sample_documents(subject.documents(), p["sample_docs"])
    except (SubjectError, AttributeError, OSError):  # a subject that declares no documents: the id check alone decides
        docs = []
    presence = falsifier.record("doc_presence", _doc_presence(shards, docs, encode, p)) if docs else None

    if p["windows"] < 1 or p["window"] <= 2 * p["edge"]:
        raise ValueError(f"{falsifier.id}: windows must be ≥ 1 and window > 2·edge (windows {p['windows']}, window {p['window']}, edge {p['edge']})")
    matched, total, exact, canonical, judged = _reencoded_windows(shards, encoder, encode, p)
    falsifier.record("windows", p["windows"])
    assert total, f"{falsifier.id}: the {p['windows']} windows drawn hold no text id (only special ids)"
    canonical_share = falsifier.record("canonical_share", canonical / judged if judged else 0.0)
    falsifier.record("exact_windows", exact)
    agreement = falsifier.record("agreement", matched / total)
    if not judged:
        falsifier.suspect(f"no window held a run of more than {2 * p['edge']} text ids between special ids: the canonical check judged nothing")
    if presence is not None:
        assert presence >= p["min_doc_presence"], (
            f"{falsifier.id}: the subject's documents, encoded with its encoder ({_encoder_name(encoder)}), are found in the shards at {presence:.1%}: "
            "the shards were made by another tokenizer (or from other text)"
        )
    compared = f"decoding the shards' ids with the subject's encoder ({_encoder_name(encoder)}) and encoding the text again"
    assert agreement >= p["min_agreement"], f"{falsifier.id}: {compared} gives back {agreement:.1%} of them: the shards were made by another tokenizer"
    _judge_canonical(falsifier, p, canonical, judged, canonical_share, compared)


def _doc_presence(shards, docs, encode, p) -> float:
    """The share of the documents' ``ngram``-id windows (encoded with the subject's encoder) found
    in the shards, reading at most ``max_scan_tokens`` ids."""
    import numpy as np

    from harness.checks.windows import mark_found, window_hashes

    n = p["ngram"]
    wanted = np.concatenate([window_hashes(np.asarray([encode(text)], dtype=np.int64), n, stride=n) for _, text in docs])
    unique = np.unique(wanted)
    found = np.zeros(unique.size, dtype=bool)
    budget = p["max_scan_tokens"]
    for shard in shards:
        ids = shard.open()
        for start in range(0, min(shard.count, budget), 1 << 20):
            part = np.asarray(ids[max(0, start - n + 1) : start + (1 << 20)], dtype=np.int64)[None, :]
            mark_found(unique, window_hashes(part, n), found)
        budget -= shard.count
        if budget <= 0 or found.all():
            break
    return float(np.isin(wanted, unique[found]).mean()) if wanted.size else 1.0


def _judge_canonical(falsifier, p, canonical: int, judged: int, canonical_share: float, compared: str) -> None:
    """The windows are a sample: the canonical share is judged through its confidence interval,
    never at the line."""
    from harness.checks.bounds import share_interval

    if not 0 < p["confidence"] < 1:
        raise ValueError(f"{falsifier.id}: params: confidence must lie in (0, 1), not {p['confidence']!r}")
    low, high = share_interval(canonical, judged, 1 - p["confidence"]) if judged else (0.0, 1.0)
    falsifier.record("canonical_share_low", low)
    falsifier.record("canonical_share_high", high)
    assert not judged or high >= p["min_canonical"], (
        f"{falsifier.id}: {compared} reproduces the interior of {canonical_share:.1%} of {judged} windows "
        f"(at most {high:.1%} at {p['confidence']:.0%} confidence; ≥ {p['min_canonical']:.0%} expected): these ids are not this tokenizer's "
        "encoding of their text — another tokenizer made them, or they were altered after encoding"
    )
    if judged and low < p["min_canonical"]:
        falsifier.suspect(
            f"the canonical share of {judged} windows lies in [{low:.1%}, {high:.1%}] at {p['confidence']:.0%} confidence, "
            f"which straddles {p['min_canonical']:.0%}: draw more windows (params: windows)"
        )


def window_starts(shards, count: int, window: int, seed: int) -> list[tuple[object, int]]:
    """``count`` windows of ``window`` ids drawn over the whole corpus by id position: the corpus's
    window starts are cut into ``count`` equal strata, one start drawn in each, so every part of
    the corpus is sampled in proportion to its ids. (Dealing windows round-robin over the shards in
    order never read past the ``count``-th shard: 80 shards and 64 windows left 16 shards unread.)"""
    import numpy as np

    rng = np.random.default_rng(seed)
    usable = np.asarray([s.count - window for s in shards], dtype=np.int64)
    ends = np.cumsum(usable)
    total = int(ends[-1]) if ends.size else 0
    out = []
    for i in range(count):
        lo, hi = i * total // count, max((i + 1) * total // count, i * total // count + 1)
        at = int(rng.integers(lo, hi))
        k = int(np.searchsorted(ends, at, side="right"))
        out.append((shards[k], at - int(ends[k] - usable[k])))
    return out


def special_ids(encoder) -> set[int]:
    """The ids that are boundaries, not text: the end-of-text id and the tokenizer's special tokens.
    A window never spans one (its decoded ``<|endoftext|>`` re-encodes as text)."""
    found = {int(encoder.eos_id)} if getattr(encoder, "eos_id", None) is not None else set()
    found |= {int(i) for i in getattr(encoder, "special_ids", ()) or ()}
    inner = getattr(encoder, "_tok", None)
    decoder = getattr(inner, "get_added_tokens_decoder", None)
    if callable(decoder):
        found |= {int(i) for i, token in decoder().items() if getattr(token, "special", False)}
    return found


def _segments(ids: list[int], specials: set[int]) -> list[list[int]]:
    out, run = [], []
    for i in ids:
        if i in specials:
            if run:
                out.append(run)
            run = []
        else:
            run.append(i)
    if run:
        out.append(run)
    return out


def _reencoded_windows(shards, encoder, encode, p) -> tuple[int, int, int, int, int]:
    """Windows drawn over the whole corpus (``window_starts``), split at special ids, each text
    segment decoded and encoded again: (ids matched in order, ids, windows back exactly, windows
    whose segments' interiors come back exactly as one run, windows long enough to judge that)."""
    import difflib

    specials = special_ids(encoder)
    matched = total = exact = canonical = judged = 0
    edge = p["edge"]
    for shard, start in window_starts(shards, p["windows"], p["window"], p["seed"]):
        ids = [int(v) for v in shard.open()[start : start + p["window"]]]
        window_exact, cores, cores_back = True, 0, 0
        for segment in _segments(ids, specials):
            try:
                again = list(encode(encoder.decode(segment)))
            except Exception:  # an id the tokenizer cannot decode at all
                again = []
            blocks = difflib.SequenceMatcher(None, segment, again, autojunk=False).get_matching_blocks()
            matched += sum(b.size for b in blocks)
            total += len(segment)
            window_exact &= again == segment
            core = segment[edge : len(segment) - edge]
            if len(core) >= 1 and len(segment) > 2 * edge:
                cores += 1
                cores_back += any(again[k : k + len(core)] == core for k in range(len(again) - len(core) + 1))
        exact += window_exact
        if cores:
            judged += 1
            canonical += cores_back == cores
    return matched, total, exact, canonical, judged


def _encoder_name(encoder) -> str:
    """What the encoder is, for a message: its format name and the vocab it was built from."""
    name = getattr(encoder, "name", type(encoder).__name__)
    source = getattr(encoder, "vocab_path", None) or getattr(encoder, "path", None)
    return f"{name}, {source}" if source else str(name)
