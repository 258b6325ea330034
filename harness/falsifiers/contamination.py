"""The claim every model card makes — "our training data does not contain the benchmarks we report"
— judged on the token shards the trainer reads, with the subject's own tokenizer
(``harness.checks.contamination``)."""

from __future__ import annotations

from harness import accepts, records
from harness._api import REQUIRED


def _sources(falsifier, root):
    from harness.checks import ArtifactError
    from harness.checks.contamination import parse_benchmark
    from harness.paths import artifact_roots_from_env, check_artifact_path

    specs = falsifier.params["benchmarks"]
    specs = [specs] if isinstance(specs, (str, dict)) else list(specs or [])
    assert specs, f"{falsifier.id}: params.benchmarks names no benchmark"
    sources = []
    for spec in specs:
        source = parse_benchmark(spec)
        why = check_artifact_path(source.path, root, artifact_roots_from_env())
        if why:
            raise ArtifactError(f"{falsifier.id}: benchmark {source.path!r} {why}")
        sources.append(source)
    return sources


@accepts(benchmarks=REQUIRED, ngram=13, stop_items=2, min_hits=3, min_share=0.2, max_items=0, engine=None)
@records("benchmarks", "items", "contaminated", "ngrams_indexed", "stop_grams", "ids_scanned")
def test_benchmark_contamination(falsifier, subject):
    """No more than ``max_items`` items of the declared benchmarks (``benchmarks``: local JSONL,
    JSON, parquet files or ``datasets.save_to_disk`` folders, ``path:field+field``) are in the
    training shards. Each item is encoded with the subject's encoder and indexed as canonical
    ``ngram``-grams (whitespace-only ids dropped, text NFKC-normalised and lower-cased; n-grams in
    more than ``stop_items`` items are the benchmark's stock phrases); every id of every shard is
    scanned, exactly — a sample cannot show absence. An item is found when ``min_hits`` of its
    n-grams and ``min_share`` of them occur. The evidence lists each found item with the shard and
    id offset of its first n-gram, so a team can drop them."""
    from harness.checks.contamination import contamination
    from harness.checks.shards import subject_shards
    from harness.progress import TenthsLog

    p = falsifier.params
    sources = _sources(falsifier, falsifier.root)
    encoder = subject.encoder()
    vocab = int(getattr(encoder, "vocab_size", 0) or getattr(subject, "vocab_size", 0))
    assert vocab > 0, f"{falsifier.id}: the subject's encoder has no vocab size to map ids with"
    shards = subject_shards(subject)
    assert shards, f"{falsifier.id}: no shard holds any id"
    report = contamination(
        shards,
        encoder,
        vocab,
        sources,
        falsifier.root,
        ngram=int(p["ngram"]),
        stop_items=int(p["stop_items"]),
        min_hits=int(p["min_hits"]),
        min_share=float(p["min_share"]),
        engine=p["engine"],
        progress=TenthsLog(falsifier.id),
    )
    assert not report.failures, f"{falsifier.id}: shards not read, so their contamination is unknown: " + "; ".join(report.failures[:5])
    scanned = report.ids_scanned
    falsifier.record("benchmarks", len(sources))
    falsifier.record("items", report.items_total)
    falsifier.record("ngrams_indexed", report.grams_indexed)
    falsifier.record("stop_grams", report.stop_grams)
    falsifier.record("ids_scanned", scanned)
    count = falsifier.record("contaminated", len(report.items))
    for label, figures in report.per_benchmark.items():
        falsifier.attach(f"benchmark:{label}", figures)
    falsifier.attach("contaminated_items", report.as_json()["hits"])
    assert scanned, f"{falsifier.id}: the shards hold no id: nothing was scanned"
    if report.unindexed:
        names = ", ".join(f"{b} {i}" for b, i in report.unindexed[:3]) + (" …" if len(report.unindexed) > 3 else "")
        falsifier.suspect(
            f"{len(report.unindexed)} benchmark item(s) are shorter than {int(p['ngram']) + 2} canonical ids ({names}): not looked for; "
            "lower ngram to judge them"
        )
    named = "; ".join(f"{f.benchmark} {f.item} ({f.found} of {f.grams} n-grams, first at {f.shard} id {f.offset:,})" for f in report.items[:5])
    assert count <= p["max_items"], (
        f"{falsifier.id}: {count} benchmark item(s) are in the training shards (max_items {p['max_items']}): {named}"
        + (" …" if count > 5 else "")
        + " — drop the documents that hold them, or report on other benchmarks"
    )
