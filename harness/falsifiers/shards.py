"""Token-shard falsifiers: the shards are whole and fit the vocab; they carry real information."""

from __future__ import annotations

from harness import accepts, records


class InsufficientData(Exception):
    """Too few tokens for an honest estimate: an error, never a pass."""


def _shards(falsifier, subject):
    from harness.checks.shards import subject_options

    params = falsifier.params
    paths = [params.path("shards_dir")] if params.get("shards_dir") else subject.shard_paths()
    return paths, params.get("vocab_size") or subject.vocab_size, subject_options(subject)


@accepts(shards_dir=None, vocab_size=None)
@records("shards", "tokens")
def test_shard_integrity(falsifier, subject):
    """Every shard: dtype holds the vocab, ids < vocab size, whole items matching the sidecar, non-empty."""
    from harness.checks.shards import check_shards

    paths, vocab_size, options = _shards(falsifier, subject)
    shards, problems = check_shards(paths, vocab_size, options)
    falsifier.record("shards", len(shards))
    falsifier.record("tokens", sum(s.count for s in shards))
    assert shards, f"{falsifier.id}: no shards found"
    assert not problems, f"{falsifier.id}: " + "; ".join(problems[:5])


# Top-1 share measured on healthy real data (docs/falsifiers.md, benchmarks/measure_token_shares.py):
# Qwen2.5, cl100k, o200k 3.7–5.6% and Mistral v3 5–10% on code, prose and JSON; GPT-2 34–42% on code
# and 46% on pretty-printed JSON; a legitimate hex-byte vocab 36–48%. The incident: 99.99%.
DEFAULT_MAX_TOP1_SHARE = 0.75


@accepts(shards_dir=None, vocab_size=None, min_bits=4.0, max_top1_share=DEFAULT_MAX_TOP1_SHARE, min_tokens=100_000, unk_token_id=None, max_oov_share=0.0)
@records("entropy_bits", "entropy_bits_mm", "top1_share", "unk_share", "oov_share", "distinct", "tokens")
def test_entropy_floor(falsifier, subject):
    """Unigram entropy ≥ min_bits, the top token under max_top1_share (the incident: 0.001 bits, one
    token 99.99%), and no id outside the vocab (counted in one bin: memory bounded whatever the ids)."""
    from harness.checks.entropy import shard_stats

    params = falsifier.params
    paths, vocab_size, options = _shards(falsifier, subject)
    unk_id = params["unk_token_id"] if params["unk_token_id"] is not None else getattr(subject, "unk_id", None)
    stats, _problems = shard_stats(paths, vocab_size, unk_id=unk_id, options=options)
    for name in ("entropy_bits", "entropy_bits_mm", "top1_share", "unk_share", "oov_share", "distinct", "tokens"):
        falsifier.record(name, getattr(stats, name))
    if stats.tokens < params["min_tokens"]:
        raise InsufficientData(f"{stats.tokens} tokens is below min_tokens={params['min_tokens']}: the estimate would read low")
    assert stats.entropy_bits >= params["min_bits"], (
        f"{falsifier.id}: {stats.entropy_bits:.4f} bits/token is below the floor of {params['min_bits']} "
        f"(top token id {stats.top1_id} holds {stats.top1_share:.2%}; unk share {stats.unk_share:.2%})"
    )
    assert stats.top1_share <= params["max_top1_share"], f"{falsifier.id}: token {stats.top1_id} holds {stats.top1_share:.2%} of all tokens"
    assert stats.oov_share <= params["max_oov_share"], (
        f"{falsifier.id}: {stats.oov_share:.4%} of ids lie outside the vocab of {vocab_size} (the model cannot embed them)"
    )
