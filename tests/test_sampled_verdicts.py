"""Verdicts from a sample of ids, with stated confidence (``sample:`` on shard-entropy): the
incident's shards are falsified from 10⁵ sampled ids, a healthy corpus discharged from 10⁶, over
12 seeds with no wrong verdict; a corpus placed just across the entropy floor is
METHODOLOGY_SUSPECT at every seed, never a coin flip; the measurements say it was sampled."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.redgreen import run_cases

pytestmark = pytest.mark.slow

SEEDS = range(12)
VOCAB = 151_646
EOS = 151_643
UNK = 151_000  # an ordinary id standing in for an unknown token (Qwen2.5 has none)


def _corpora(root):
    """(name, sample size): the stdlib through Qwen2.5 (healthy), through the incident's hex-byte
    encoder, and ids uniform over 17 symbols (4.09 bits: just across a 4-bit floor)."""
    from tokenizers import Tokenizer

    from harness.demo.corpus import stdlib_documents
    from harness.demo.pipeline import vocab_dir

    tok = Tokenizer.from_file(str(vocab_dir() / "tokenizer.json"))
    texts = [t for _, t in stdlib_documents(max_bytes=2_000_000)]
    healthy = np.concatenate([np.asarray([*e.ids, EOS], dtype=np.uint32) for e in tok.encode_batch(texts, add_special_tokens=False)])
    vocab = json.loads(tok.to_str())["model"]["vocab"]
    incident = np.asarray([vocab.get(f"{b:02x}", EOS) for t in texts for b in t.encode()], dtype=np.uint32)
    near = np.random.default_rng(99).integers(1000, 1017, size=2_000_000).astype(np.uint32)
    unk = healthy.copy()  # an encoder that maps one piece of text in ten to its unknown token: entropy and top-1 stay healthy
    unk[np.random.default_rng(7).random(unk.size) < 0.1] = UNK
    for name, ids in (("healthy", healthy), ("incident", incident), ("near", near), ("unk", unk)):
        (root / "data" / name).mkdir(parents=True)
        np.save(root / "data" / name / "ids.npy", ids)
    return {"healthy": 1_000_000, "incident": 100_000, "near": 100_000, "unk": 100_000}


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory):
    import shutil

    from harness.demo.pipeline import vocab_dir

    root = tmp_path_factory.mktemp("sampled")
    (root / "pyproject.toml").write_text("[project]\nname = 'p'\n")
    (root / "vocab").mkdir()
    shutil.copy(vocab_dir() / "tokenizer.json", root / "vocab" / "tokenizer.json")
    (root / "contracts").mkdir()
    sizes = _corpora(root)
    cases = []
    for name, size in sizes.items():
        for seed in SEEDS:
            case = f"{name}-{seed}"
            cases.append(case)
            (root / "contracts" / f"{case}.yaml").write_text(
                f"metadata:\n  id: {case}\n  version: 1.0.0\n  status: DRAFT\nsubjects:\n  corpus:\n    vocab: vocab/tokenizer.json\n    shards: data/{name}/*.npy\n    vocab_size: {VOCAB}\n"
                f"falsification_tests:\n- id: F-{case.upper()}\n  rule: r\n  test: builtin:shard-entropy\n  subject: corpus\n"
                f"  params:\n    sample: {size}\n    seed: {seed}\n" + (f"    unk_token_id: {UNK}\n" if name == "unk" else "")
            )
    return run_cases(root, cases)


@pytest.mark.parametrize("name, expected", [("healthy", "DISCHARGED"), ("incident", "FALSIFIED"), ("near", "METHODOLOGY_SUSPECT"), ("unk", "FALSIFIED")])
def test_a_seed_sweep_gives_no_wrong_verdict(outcomes, name, expected):
    got = {seed: outcomes[f"{name}-{seed}"][0] for seed in SEEDS}
    assert set(got.values()) == {expected}, (got, outcomes["<stdout>"][-3000:])


def test_the_unknown_tokens_share_alone_falsifies_from_a_sample(outcomes):
    _status, record = outcomes["unk-5"]
    m = record["measurements"]
    assert m["entropy_bits_low"] > 4.0 and m["top1_share_high"] < 0.75  # nothing else is wrong
    assert m["unk_share_low"] > 0.05 and "unknown token" in record["message"]


def test_a_sampled_verdict_records_how_it_was_reached(outcomes):
    _status, record = outcomes["incident-3"]
    m = record["measurements"]
    assert m["sampled"] == 1 and m["sample_size"] == 100_000 and m["seed"] == 3 and m["confidence"] == 0.999
    assert m["entropy_bits_high"] < 4.0 and m["tokens"] > 100_000  # the bound, and the corpus it was drawn from
    assert "sampled" in record["message"] and "confidence" in record["message"]
    _, near = outcomes["near-0"]
    assert near["measurements"]["entropy_bits_low"] < 4.0 < near["measurements"]["entropy_bits_high"]
    assert "inconclusive" in " ".join(near.get("suspicions", [])) or "inconclusive" in json.dumps(near)


def test_a_claim_that_asks_for_a_full_scan_is_not_backed_by_a_sample(tmp_path):
    """``full_scan: true`` with ``params: sample`` is a lint error the gate fails on (and a baseline
    never quiets); without the sample, or without the ask, there is none."""
    import subprocess
    import sys

    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'p'\n")
    (tmp_path / "contracts").mkdir()
    (tmp_path / "data").mkdir()
    np.save(tmp_path / "data" / "ids.npy", np.arange(1000, dtype=np.uint32))
    head = "metadata:\n  id: c\n  version: 1.0.0\n  status: DRAFT\nsubjects:\n  corpus:\n    shards: data/*.npy\n    vocab_size: 151646\nfalsification_tests:\n"
    entry = "- id: F-1\n  rule: r\n  test: builtin:shard-entropy\n  subject: corpus\n"
    for name, extra in (
        ("asks", "  full_scan: true\n  params:\n    sample: 100000\n"),
        ("fine", "  full_scan: true\n"),
        ("sampled", "  params:\n    sample: 100000\n"),
    ):
        (tmp_path / "contracts" / "c.yaml").write_text(head + entry + extra)
        lint = subprocess.run([sys.executable, "-m", "harness", "lint", "--json"], cwd=tmp_path, capture_output=True, text=True, check=False)
        rules = {f["rule"] for f in json.loads(lint.stdout)["new"]}
        assert ("sampled-not-full" in rules) == (name == "asks"), (name, lint.stdout, lint.stderr)
