"""Benchmark contamination, side by side in one run (#41): the harness scanning the token shards a
trainer reads against corpus-assay (the dedicated Rust scanner, from PyPI) scanning the same
corpus's text, for the same benchmark.

Corpus: the running interpreter's standard library (``harness.demo.corpus.stdlib_documents``) with
20 HumanEval items planted as ``tests/test_contamination.py`` plants them (verbatim, tabs, CRLF,
lower-cased, two-space indent; each inside a larger file). Benchmark: HumanEval's own JSONL
(``tests/data/humaneval``), ``prompt`` + ``canonical_solution``.

Timed: a scan against an index built beforehand, on both sides. The harness describes the token
shards (written with the real Qwen2.5 tokenizer, as a pipeline holds them), scans every id and
judges the items; corpus-assay runs ``corpus-assay scan`` as a process over JSONL text shards. The
harness's index build (loading the tokenizer, its canonical table, HumanEval encoded) is printed
apart, as corpus-assay's ``build-index`` is left out. Throughput is MB/s of
the corpus's UTF-8 text. Each side is warmed once, then the two alternate for ``--pairs`` pairs;
median and spread are printed, and the ratio of the medians. Recall (planted items found) and false
flags (anything else flagged) are reported for both.

    python benchmarks/bench_contamination.py [--workers 1 2] [--pairs 5] [--max-bytes N] \\
        [--corpus-assay PATH] [--dir D]

corpus-assay needs Python ≥ 3.12: give its executable with ``--corpus-assay`` (default: on PATH, or
skipped saying so). ``--workers 2`` runs the harness on Ray with two CPUs (started before timing).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
HUMANEVAL = REPO / "tests" / "data" / "humaneval" / "HumanEval.jsonl.gz"
EOS = 151643


def build_corpus(folder: Path, max_bytes: int, shards: int = 8, with_tests: bool = False):
    """(text bytes, planted task ids → (document name, edit), document names): JSONL text shards
    for corpus-assay and .npy token shards for the harness, the same documents in both."""
    import numpy as np
    from tokenizers import Tokenizer

    from harness.demo.corpus import stdlib_documents
    from harness.demo.pipeline import vocab_dir
    from tests.test_contamination import humaneval_items, plant

    names, texts = zip(*stdlib_documents(max_bytes=max_bytes, skip_tests=not with_tests))
    texts = list(texts)
    planted = plant(texts, humaneval_items())
    planted = {task: (names[doc], edit) for task, (doc, edit) in planted.items()}
    tok = Tokenizer.from_file(str(vocab_dir() / "tokenizer.json"))
    for sub in ("text", "ids"):  # a --dir reused: written afresh
        shutil.rmtree(folder / sub, ignore_errors=True)
        (folder / sub).mkdir(parents=True)
    per = -(-len(texts) // shards)
    for k in range(shards):
        chunk = list(zip(names, texts))[k * per : (k + 1) * per]
        if not chunk:
            continue
        with open(folder / "text" / f"part-{k:02d}.jsonl", "w", encoding="utf-8") as handle:
            for name, text in chunk:
                handle.write(json.dumps({"id": name, "text": text}) + "\n")
        encoded = tok.encode_batch([t for _, t in chunk], add_special_tokens=False)
        np.save(folder / "ids" / f"part-{k:02d}.npy", np.asarray([i for e in encoded for i in [*e.ids, EOS]], dtype=np.uint32))
    shutil.copy(vocab_dir() / "tokenizer.json", folder / "tokenizer.json")
    return sum(len(t.encode("utf-8")) for t in texts), planted, set(names)


def harness_index(folder: Path):
    """(the index, seconds): the tokenizer loaded, its canonical table, HumanEval encoded — built
    once, as corpus-assay's index is (both untimed in the pairs; this figure is printed)."""
    from harness.checks.contamination import ContaminationIndex, canonical_table, parse_benchmark, read_items
    from harness.subjects.declarative import ArtifactSubject

    start = time.perf_counter()
    encoder = ArtifactSubject("bench", folder, {"vocab": "tokenizer.json", "encoder": "byte_level"}).encoder()
    table = canonical_table(encoder, int(encoder.vocab_size))
    items = read_items(parse_benchmark(f"{HUMANEVAL}:prompt+canonical_solution"), folder)
    index = ContaminationIndex.build([("HumanEval", items)], encoder, table, 13, 2)
    return index, time.perf_counter() - start


def harness_run(folder: Path, index, workers: int):
    """Seconds (the shards described, every id scanned, the items judged), and the task ids found."""
    from harness.checks.contamination import judge, scan_shards
    from harness.checks.shards import describe_shards

    start = time.perf_counter()
    shards, problems, _ = describe_shards(sorted((folder / "ids").glob("*.npy")))
    assert not problems, problems
    total = sum(s.count for s in shards)
    task_ids = max(1, total // (4 * workers)) if workers > 1 else None
    found, _, failures = scan_shards(shards, index, "ray" if workers > 1 else "local", task_ids=task_ids)
    assert not failures, failures
    report = judge(index, found, [str(s.path) for s in shards], 3, 0.2)
    return time.perf_counter() - start, {f.item for f in report.items}


CONFIG = """\
benchmarks:
  - name: HumanEval
    dataset: json
    data_files: {{test: "{path}"}}
    splits: [test]
    fields: [prompt, canonical_solution]
ngram: 13
min_hits: 3
min_coverage: 0.001
"""


def assay_index(folder: Path, exe: str) -> None:
    (folder / "assay.yaml").write_text(CONFIG.format(path=HUMANEVAL))
    env = {**os.environ, "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1", "HF_HOME": str(folder / "hf")}
    done = subprocess.run(
        [exe, "-q", "build-index", "--config", str(folder / "assay.yaml"), "--out-index", str(folder / "bench.native"), "--allow-unpinned"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if done.returncode:
        raise RuntimeError(f"corpus-assay build-index failed: {done.stderr[-2000:]}")


def assay_run(folder: Path, exe: str, workers: int):
    """Seconds (the whole ``scan`` process), and the document ids it flagged."""
    out = folder / "assay-out"
    shutil.rmtree(out, ignore_errors=True)
    env = {**os.environ, "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1", "HF_HOME": str(folder / "hf")}
    start = time.perf_counter()
    done = subprocess.run(
        [exe, "-q", "scan", "--config", str(folder / "assay.yaml"), "--index", str(folder / "bench.native"), "--input", str(folder / "text"),
         "--text-key", "text", "--id-key", "id", "--out-dir", str(out), "--workers", str(workers)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )  # fmt: skip
    seconds = time.perf_counter() - start
    if done.returncode:
        raise RuntimeError(f"corpus-assay scan failed: {done.stderr[-2000:]}")
    flagged = set()
    for path in (out / "contaminated_docs").glob("*.ndjson"):
        for line in path.read_text("utf-8").splitlines():
            if line.strip():
                flagged.add(json.loads(line)["doc_id"].rsplit("-part-", 1)[0])  # it scans a document in parts
    return seconds, flagged


def spread(values: list[float]) -> str:
    return f"median {statistics.median(values):.3f} s (min {min(values):.3f}, max {max(values):.3f}, n={len(values)})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--max-bytes", type=int, default=40_000_000, help="stdlib text to read (default: all of it, ~38 MB on 3.12)")
    parser.add_argument("--corpus-assay", default=shutil.which("corpus-assay"))
    parser.add_argument("--dir", type=Path, default=None)
    parser.add_argument("--with-tests", action="store_true", help="the whole stdlib, its test packages included (the issue's 2,228 files, 37.7 MB on 3.12)")
    parser.add_argument(
        "--scale",
        type=int,
        default=0,
        help="also time the harness alone over the token shards repeated K times (hard links): one process against Ray's workers, per core",
    )
    args = parser.parse_args()
    folder = args.dir or Path(tempfile.mkdtemp(prefix="bench-contamination-"))
    folder.mkdir(parents=True, exist_ok=True)
    print(f"python {platform.python_version()}, {os.cpu_count()} cores, {platform.processor() or platform.machine()}")
    text_bytes, planted, names = build_corpus(folder / "corpus", args.max_bytes, with_tests=args.with_tests)
    corpus = folder / "corpus"
    mb = text_bytes / 1e6
    print(f"corpus: {len(names):,} stdlib files, {mb:.1f} MB of text, 20 HumanEval items planted; benchmark: HumanEval (164 items)")
    if args.corpus_assay:
        assay_index(corpus, args.corpus_assay)
    else:
        print("corpus-assay: not found (pip install corpus-assay on Python ≥ 3.12, then --corpus-assay PATH): the harness is measured alone")
    planted_docs = {doc for doc, _ in planted.values()}
    index, built = harness_index(corpus)
    print(f"harness index: {built:.2f} s (tokenizer loaded, canonical table, {len(index.items)} items → {index.hashes.size:,} 13-grams)")
    for workers in args.workers:
        ray_started = False
        if workers > 1:
            import ray

            ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False, configure_logging=False)
            ray_started = True
        ours, theirs = [], []
        found = flagged = set()
        harness_run(corpus, index, workers)  # warm: imports, Ray's workers
        if args.corpus_assay:
            assay_run(corpus, args.corpus_assay, workers)
        for _ in range(args.pairs):
            seconds, found = harness_run(corpus, index, workers)
            ours.append(seconds)
            if args.corpus_assay:
                seconds, flagged = assay_run(corpus, args.corpus_assay, workers)
                theirs.append(seconds)
        if ray_started:
            ray.shutdown()
        print(f"\n{workers} worker(s)")
        print(
            f"  harness:       {spread(ours)} = {mb / statistics.median(ours):.1f} MB/s of text; "
            f"recall {len(found & set(planted))}/20 items, false flags {len(found - set(planted))}"
        )
        if theirs:
            print(
                f"  corpus-assay:  {spread(theirs)} = {mb / statistics.median(theirs):.1f} MB/s of text; "
                f"recall {len(flagged & planted_docs)}/{len(planted_docs)} documents, false flags {len(flagged - planted_docs)}"
            )
            print(f"  harness / corpus-assay throughput: {statistics.median(theirs) / statistics.median(ours):.1f}×")
            missed = {task: edit for task, (doc, edit) in planted.items() if doc not in flagged}
            if missed:
                print(f"  corpus-assay missed: {missed}")
    if args.scale > 1:
        scaling(corpus, index, mb, args.scale, max(args.workers), args.pairs)
        memory(corpus.parent / f"scaled-{args.scale}", corpus)
    print(f"\nfiles in {folder}")


def memory(shards: Path, corpus: Path) -> None:
    """Peak anonymous memory (RssAnon, sampled every 5 ms) of ``harness probe contamination`` as a
    process over the scaled shards: memory-mapped shards are page cache the kernel reclaims, not
    the process's; what it holds should be the index and a chunk, whatever the corpus's size."""
    files = sorted((shards / "ids").glob("*.npy"))
    size = sum(f.stat().st_size for f in files)
    cmd = [sys.executable, "-m", "harness", "probe", "contamination", *map(str, files), "--tokenizer", str(corpus / "tokenizer.json")]
    cmd += ["--benchmark", f"{HUMANEVAL}:prompt+canonical_solution", "--json"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peak = 0
    while proc.poll() is None:
        try:
            for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
                if line.startswith("RssAnon:"):
                    peak = max(peak, int(line.split()[1]) * 1024)
        except OSError:
            break
        time.sleep(0.005)
    print(
        f"\nmemory: harness probe contamination over {len(files)} shards ({size / 1e9:.2f} GB of ids): peak anonymous RSS {peak / 2**20:.0f} MiB (exit {proc.returncode})"
    )


def scaling(corpus: Path, index, mb: float, scale: int, workers: int, pairs: int) -> None:
    """The harness alone on ``scale`` copies of the token shards: one local process against Ray with
    ``workers`` CPUs (each started and warmed before timing), alternated; efficiency per core is
    (local seconds) / (workers × Ray seconds)."""
    import os

    import ray

    big = corpus.parent / f"scaled-{scale}"
    shutil.rmtree(big, ignore_errors=True)  # links to this run's shards, never an earlier run's
    (big / "ids").mkdir(parents=True)
    for k in range(scale):
        for shard in sorted((corpus / "ids").glob("*.npy")):
            os.link(shard, big / "ids" / f"copy{k:03d}-{shard.name}")
    ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False, configure_logging=False)
    harness_run(big, index, 1)
    harness_run(big, index, workers)
    local, on_ray = [], []
    for _ in range(pairs):
        local.append(harness_run(big, index, 1)[0])
        on_ray.append(harness_run(big, index, workers)[0])
    ray.shutdown()
    total = mb * scale
    print(f"\nscaled: the token shards × {scale} ({total:,.0f} MB of text)")
    print(f"  harness, 1 process:       {spread(local)} = {total / statistics.median(local):.1f} MB/s")
    print(f"  harness, Ray {workers} workers:   {spread(on_ray)} = {total / statistics.median(on_ray):.1f} MB/s")
    print(f"  Ray per core: {statistics.median(local) / (workers * statistics.median(on_ray)):.2f}× of one process")


if __name__ == "__main__":
    main()
