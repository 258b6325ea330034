"""Token-shard falsifiers: the shards are whole and fit the vocab; they carry real information."""

from __future__ import annotations

from harness import accepts, records


class InsufficientData(Exception):
    """Too few tokens for an honest estimate: an error, never a pass."""


def _engine(falsifier) -> dict:
    """Where the pass runs (``harness.engines``: the ``engine`` param, else the ini's) and who
    hears of its progress (a log line per tenth)."""
    from harness.progress import TenthsLog

    return {"engine": falsifier.params.get("engine"), "progress": TenthsLog(falsifier.id)}


def _shards(falsifier, subject):
    from harness.checks.shards import subject_options

    params = falsifier.params
    paths = [params.path("shards_dir")] if params.get("shards_dir") else subject.shard_paths()
    return paths, params.get("vocab_size") or subject.vocab_size, subject_options(subject)


@accepts(shards_dir=None, vocab_size=None, engine=None)
@records("shards", "tokens")
def test_shard_integrity(falsifier, subject):
    """Every shard: dtype holds the vocab, ids < vocab size, whole items matching the sidecar, non-empty."""
    from harness.checks.passes import check_shards

    paths, vocab_size, options = _shards(falsifier, subject)
    shards, problems = check_shards(paths, vocab_size, options, **_engine(falsifier))
    falsifier.record("shards", len(shards))
    falsifier.record("tokens", sum(s.count for s in shards))
    assert shards, f"{falsifier.id}: no shards found"
    assert not problems, f"{falsifier.id}: " + "; ".join(problems[:5])


# Top-1 share measured on healthy real data (docs/falsifiers.md, benchmarks/measure_token_shares.py):
# Qwen2.5, cl100k, o200k 3.7–5.6% and Mistral v3 5–10% on code, prose and JSON; GPT-2 34–42% on code
# and 46% on pretty-printed JSON; a legitimate hex-byte vocab 36–48%. The incident: 99.99%.
DEFAULT_MAX_TOP1_SHARE = 0.75
# The unknown token's share, where the subject has one: byte-level BPE vocabs (GPT-2, Qwen2.5, cl100k)
# emit none; WordPiece / SentencePiece on text of their own languages a fraction of a percent. The
# incident: 99.99%.
DEFAULT_MAX_UNK_SHARE = 0.05


@accepts(
    shards_dir=None,
    vocab_size=None,
    min_bits=4.0,
    max_top1_share=DEFAULT_MAX_TOP1_SHARE,
    min_tokens=100_000,
    unk_token_id=None,
    max_unk_share=DEFAULT_MAX_UNK_SHARE,
    max_oov_share=0.0,
    sample=None,
    seed=0,
    confidence=0.999,
    engine=None,
)
@records("entropy_bits", "entropy_bits_mm", "top1_share", "unk_share", "oov_share", "distinct", "tokens")
def test_entropy_floor(falsifier, subject):
    """Unigram entropy ≥ min_bits, the top token under max_top1_share (the incident: 0.001 bits, one
    token 99.99%), and no id outside the vocab (counted in one bin: memory bounded whatever the ids).
    With ``sample: N``, from N ids drawn uniformly over every shard (``seed``), judged by confidence
    bounds at ``confidence`` (``harness.checks.bounds``) — never by a point estimate."""
    from harness.checks.passes import shard_stats

    params = falsifier.params
    paths, vocab_size, options = _shards(falsifier, subject)
    unk_id = params["unk_token_id"] if params["unk_token_id"] is not None else getattr(subject, "unk_id", None)
    if params["sample"] is not None:
        return _sampled_entropy(falsifier, paths, vocab_size, options, unk_id)
    stats, problems = shard_stats(paths, vocab_size, unk_id=unk_id, options=options, **_engine(falsifier))
    for name in ("entropy_bits", "entropy_bits_mm", "top1_share", "unk_share", "oov_share", "distinct", "tokens"):
        falsifier.record(name, getattr(stats, name))
    narrow = [p for p in problems if " holds ids up to " in p]  # ids stored narrower than the vocab wrapped: the histogram counts other ids
    assert not narrow, f"{falsifier.id}: " + "; ".join(narrow[:3]) + " — ids above the width wrapped on the way to disk"
    if stats.tokens < params["min_tokens"]:
        raise InsufficientData(f"{stats.tokens} tokens is below min_tokens={params['min_tokens']}: the estimate would read low")
    assert stats.entropy_bits >= params["min_bits"], (
        f"{falsifier.id}: {stats.entropy_bits:.4f} bits/token is below the floor of {params['min_bits']} "
        f"(top token id {stats.top1_id} holds {stats.top1_share:.2%}"
        + (f"; the unknown token, id {unk_id}, {stats.unk_share:.2%})" if unk_id is not None else ")")
    )
    assert stats.top1_share <= params["max_top1_share"], f"{falsifier.id}: token {stats.top1_id} holds {stats.top1_share:.2%} of all tokens"
    assert unk_id is None or stats.unk_share <= params["max_unk_share"], (
        f"{falsifier.id}: the unknown token (id {unk_id}) is {stats.unk_share:.2%} of all tokens (max {params['max_unk_share']:.2%}): the encoder does not cover the text"
    )
    assert stats.oov_share <= params["max_oov_share"], (
        f"{falsifier.id}: {stats.oov_share:.4%} of ids lie outside the vocab of {vocab_size} (the model cannot embed them)"
    )


def _sampled_entropy(falsifier, paths, vocab_size, options, unk_id) -> None:
    """The entropy floor judged from a uniform sample: FALSIFIED only when a bound excludes the
    threshold at the declared confidence, DISCHARGED only when every bound excludes failure, and
    METHODOLOGY_SUSPECT in between, with both numbers. "No id outside the vocab" cannot be shown
    by a sample: an out-of-vocab id drawn falsifies, none drawn is left to shard-integrity's full
    scan (recorded as ``oov_falsify_only``)."""
    import numpy as np

    from harness.checks import IncompleteScan
    from harness.checks.bounds import entropy_interval, share_interval
    from harness.checks.entropy import in_vocab_or_oov, stats_from_counts
    from harness.checks.sampling import sample_ids
    from harness.checks.shards import describe_shards

    p = falsifier.params
    n, seed, confidence = int(p["sample"]), int(p["seed"]), float(p["confidence"])
    if n <= 0 or not 0 < confidence < 1:  # a usage error: no verdict either way
        raise ValueError(
            f"{falsifier.id}: params: sample must be a positive count and confidence in (0, 1), not sample={p['sample']!r}, confidence={p['confidence']!r}"
        )
    delta = 1 - confidence
    shards, problems, unreadable = describe_shards(paths, vocab_size, options)
    if unreadable:  # a sample drawn from part of the corpus is no verdict on all of it
        raise IncompleteScan([next((f for f in problems if f.startswith(str(p))), f"{p}: unreadable") for p in sorted(map(str, unreadable))])
    shards = [s for s in shards if s.count]
    ids, total = sample_ids(shards, n, seed)
    if not ids.size:
        raise InsufficientData("no readable ids to sample")
    counts = np.bincount(in_vocab_or_oov(ids, vocab_size), minlength=vocab_size + 1)
    stats = stats_from_counts(counts[:vocab_size], unk_id, oov=int(counts[vocab_size]))
    for name in ("entropy_bits", "entropy_bits_mm", "top1_share", "unk_share", "oov_share", "distinct"):
        falsifier.record(name, getattr(stats, name))
    falsifier.record("tokens", total)
    falsifier.record("sampled", 1)
    falsifier.record("sample_size", ids.size)
    falsifier.record("seed", seed)
    falsifier.record("confidence", confidence)
    # the claims share the error budget (Bonferroni); the top-1 bound holds for every id at once
    each = delta / (3 + (unk_id is not None))
    h_lo, h_hi = entropy_interval(stats.entropy_bits, ids.size, vocab_size + 1, each)
    top = int(counts.max())
    t_lo, t_hi = share_interval(top, ids.size, each / (vocab_size + 1))
    o_lo, o_hi = share_interval(int(counts[vocab_size]), ids.size, each)
    unk = int(counts[unk_id]) if unk_id is not None and unk_id < vocab_size else 0
    u_lo, u_hi = share_interval(unk, ids.size, each)
    if unk_id is not None:
        falsifier.record("unk_share_low", u_lo)
        falsifier.record("unk_share_high", u_hi)
    for name, value in (("entropy_bits_low", h_lo), ("entropy_bits_high", h_hi), ("top1_share_low", t_lo), ("top1_share_high", t_hi)):
        falsifier.record(name, value)
    falsifier.record("oov_falsify_only", int(p["max_oov_share"] == 0))
    where = f"from {ids.size:,} of {total:,} ids sampled (seed {seed}), at {confidence:.1%} confidence"
    assert h_hi >= p["min_bits"], (
        f"{falsifier.id}: entropy ≤ {h_hi:.3f} bits/token (estimate {stats.entropy_bits:.4f}), below the floor of {p['min_bits']}, {where}"
    )
    assert t_lo <= p["max_top1_share"], f"{falsifier.id}: token {stats.top1_id} holds ≥ {t_lo:.2%} of all tokens (estimate {stats.top1_share:.2%}), {where}"
    assert unk_id is None or u_lo <= p["max_unk_share"], (
        f"{falsifier.id}: the unknown token (id {unk_id}) is ≥ {u_lo:.2%} of all tokens (estimate {stats.unk_share:.2%}, max {p['max_unk_share']:.2%}), {where}"
    )
    assert o_lo <= p["max_oov_share"] and not (p["max_oov_share"] == 0 and counts[vocab_size]), (
        f"{falsifier.id}: ≥ {o_lo:.4%} of ids lie outside the vocab of {vocab_size} ({int(counts[vocab_size])} of the sample), {where}"
    )
    open_ = []
    if h_lo < p["min_bits"]:
        open_.append(f"entropy in [{h_lo:.3f}, {h_hi:.3f}] bits straddles the floor {p['min_bits']}")
    if t_hi > p["max_top1_share"]:
        open_.append(f"top-1 share in [{t_lo:.2%}, {t_hi:.2%}] straddles {p['max_top1_share']:.0%}")
    if unk_id is not None and u_hi > p["max_unk_share"]:
        open_.append(f"unknown-token share in [{u_lo:.2%}, {u_hi:.2%}] straddles {p['max_unk_share']:.2%}")
    if p["max_oov_share"] > 0 and o_hi > p["max_oov_share"]:
        open_.append(f"out-of-vocab share in [{o_lo:.4%}, {o_hi:.4%}] straddles {p['max_oov_share']:.4%}")
    if open_:
        falsifier.suspect(f"sampled, inconclusive {where}: " + "; ".join(open_) + " — sample more ids, or scan them all")
