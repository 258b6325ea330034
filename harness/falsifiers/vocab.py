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


def sample_documents(documents, count: int) -> list[tuple[str, str]]:
    """``count`` documents spread evenly over the whole corpus (not its first files)."""
    docs = list(documents)
    if len(docs) <= count:
        return docs
    step = len(docs) / count
    return [docs[int(i * step)] for i in range(count)]


@accepts(sample_docs=40, max_unk_share=0.001)
@records("roundtrip_failures", "unk_share", "bytes_per_token", "documents")
def test_roundtrip_and_unk_share(falsifier, subject):
    """decode(encode(doc)) == doc on documents sampled across the subject's own corpus, and almost no <unk>."""
    params = falsifier.params
    sample = sample_documents(subject.documents(), params["sample_docs"])
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
