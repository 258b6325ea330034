"""The cause, not the symptom (issue #40, items 6 and 8): each planted defect is a real code path —
a writer, a collator, a loop, a model's loss — and the falsifier that catches it names what went
wrong, while the healthy pipeline beside it stays green.

* documents-intact: a buffered writer that never flushes its last buffer; a writer that strips
  indentation before encoding; chunked documents stay green.
* document-boundaries on the incident's corpus: the encoder's ``</s>`` is ordinary text in the
  Qwen2.5 vocab, not its end-of-text token — named as such, not as "the separator written as text".
* loss-mask: pad = EOS with every label equal to the pad id masked (the real end of each document
  masked too).
* train-coverage: a loop that re-creates its iterator every step trains on one batch.
* target-alignment with the model: right batches into a loss that shifts them again.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from tests.redgreen import check, run_cases, write_documents

EOS = 151643


def _contract(builtin: str, subject: str | dict, params: dict | None = None) -> str:
    lines = ["metadata:", "  version: 1.0.0", "  status: DRAFT"]
    if isinstance(subject, dict):
        lines += ["subjects:", "  data:"] + [f"    {k}: {json.dumps(v)}" for k, v in subject.items()]
        subject = "data"
    lines += ["falsification_tests:", "- id: F-1", f"  test: builtin:{builtin}", f"  subject: {subject}"]
    if params:
        lines.append(f"  params: {json.dumps(params)}")
    return "\n".join(lines) + "\n"


def write_buffered(path, encoded, flush_every: int = 16, *, flush_last: bool = True) -> None:
    """A shard writer that buffers documents (ids + EOS) and writes a buffer every ``flush_every``
    documents. ``flush_last=False`` is the planted bug: the loop ends without writing what is left."""
    out, buffer = [], []
    for n, ids in enumerate(encoded, 1):
        buffer.extend([*ids, EOS])
        if n % flush_every == 0:
            out.extend(buffer)
            buffer = []
    if flush_last and buffer:
        out.extend(buffer)
    np.save(path, np.asarray(out, dtype=np.uint32))


def normalise(text: str) -> str:
    """The planted 'clean-up' step: each line's leading whitespace removed before encoding."""
    return "\n".join(line.lstrip() for line in text.split("\n"))


CASES = {
    "intact-green": "documents-intact",
    "intact-chunked-green": "documents-intact",
    "intact-red-last-buffer": "documents-intact",
    "intact-red-indentation": "documents-intact",
    "boundaries-red-incident": "document-boundaries",
    "boundaries-green-stdlib": "document-boundaries",
    "loss-mask-red-eos-masked": "loss-mask",
    "loss-mask-green-documents": "loss-mask",
    "train-coverage-red-repeated": "train-coverage",
    "train-coverage-green-packed": "train-coverage",
    "train-coverage-green-random-rows": "train-coverage",
    "alignment-red-shift-in-loss": "target-alignment",
    "alignment-green-model-fed": "target-alignment",
}


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory):
    from tokenizers import Tokenizer

    from harness.demo.pipeline import vocab_dir

    root = tmp_path_factory.mktemp("cause") / "p"
    (root / "contracts").mkdir(parents=True)
    (root / "pyproject.toml").write_text("[tool.pytest.ini_options]\naddopts = '-p no:cacheprovider'\ntestpaths = ['contracts']\n")
    (root / "conftest.py").write_text('pytest_plugins = ["harness.demo.fixtures"]\n')
    (root / "vocab").mkdir()
    shutil.copy(vocab_dir() / "tokenizer.json", root / "vocab" / "tokenizer.json")
    tok = Tokenizer.from_file(str(root / "vocab" / "tokenizer.json"))
    docs = write_documents(root, 400_000)
    texts = [t for _, t in docs]
    encoded = [e.ids for e in tok.encode_batch(texts, add_special_tokens=False)]
    stripped = [e.ids for e in tok.encode_batch([normalise(t) for t in texts], add_special_tokens=False)]
    for folder, ids, last in (("whole", encoded, True), ("last-buffer", encoded, False), ("indentation", stripped, True)):
        (root / folder).mkdir()
        write_buffered(root / folder / "a.npy", ids, flush_last=last)
    (root / "chunked").mkdir()
    np.save(root / "chunked" / "a.npy", np.asarray([i for ids in encoded for k in range(0, len(ids), 512) for i in [*ids[k : k + 512], EOS]], dtype=np.uint32))
    declared = {"vocab": "vocab/tokenizer.json", "encoder": "byte_level", "documents": "docs/**/*.py"}
    assert len(docs) % 16, "the last buffer must be partial for the planted writer to lose it"
    cases = {
        "intact-green": _contract("documents-intact", {**declared, "shards": "whole/*.npy"}),
        "intact-chunked-green": _contract("documents-intact", {**declared, "shards": "chunked/*.npy"}),
        "intact-red-last-buffer": _contract("documents-intact", {**declared, "shards": "last-buffer/*.npy"}),
        "intact-red-indentation": _contract("documents-intact", {**declared, "shards": "indentation/*.npy"}),
        "boundaries-red-incident": _contract("document-boundaries", "incident_pipeline"),
        "boundaries-green-stdlib": _contract("document-boundaries", "qwen_stdlib_pipeline"),
        "loss-mask-red-eos-masked": _contract("loss-mask", "stdlib_loader_eos_masked"),
        "loss-mask-green-documents": _contract("loss-mask", "stdlib_loader_documents"),
        "train-coverage-red-repeated": _contract("train-coverage", "stdlib_loader_repeated_train"),
        "train-coverage-green-packed": _contract("train-coverage", "stdlib_loader_packed"),
        "train-coverage-green-random-rows": _contract("train-coverage", "stdlib_loader_random_rows"),
        "alignment-red-shift-in-loss": _contract("target-alignment", "stdlib_loader_shift_in_loss"),
        "alignment-green-model-fed": _contract("target-alignment", "stdlib_loader_model_fed"),
    }
    for case, text in cases.items():
        (root / "contracts" / f"{case}.yaml").write_text(text)
    return run_cases(root, list(cases))


@pytest.mark.slow
def test_documents_reach_the_shards_whole_and_chunking_is_whole(outcomes):
    m = check(outcomes, "intact-green", "DISCHARGED")
    assert m["missing"] == 0 and m["altered"] == 0 and m["judged"] > 50
    m = check(outcomes, "intact-chunked-green", "DISCHARGED")
    assert m["mean_found_share"] > 0.95


@pytest.mark.slow
def test_a_writer_that_drops_its_last_buffer_is_named(outcomes):
    m = check(outcomes, "intact-red-last-buffer", "FALSIFIED", "drops its last buffer")
    assert 0 < m["missing"] < 16


@pytest.mark.slow
def test_a_writer_that_strips_indentation_is_named(outcomes):
    check(outcomes, "intact-red-indentation", "FALSIFIED", "indentation stripped")


@pytest.mark.slow
def test_the_incidents_separator_is_named_as_another_vocabularys(outcomes):
    check(outcomes, "boundaries-red-incident", "FALSIFIED", "belongs to another vocabulary")
    check(outcomes, "boundaries-green-stdlib", "DISCHARGED")


@pytest.mark.slow
def test_an_end_of_text_id_masked_with_the_padding_is_named(outcomes):
    m = check(outcomes, "loss-mask-red-eos-masked", "FALSIFIED", "never learns to end a document")
    assert m["eos_rows"] > 0 and m["eos_scored"] == 0
    m = check(outcomes, "loss-mask-green-documents", "DISCHARGED")
    assert m["eos_scored"] > 0 and m["pad_share"] == 0.0


@pytest.mark.slow
def test_a_training_stream_of_one_batch_is_named(outcomes):
    m = check(outcomes, "train-coverage-red-repeated", "FALSIFIED", "trained on again and again")
    assert m["distinct_share"] < 0.1
    check(outcomes, "train-coverage-green-packed", "DISCHARGED")
    check(outcomes, "train-coverage-green-random-rows", "DISCHARGED")


@pytest.mark.slow
def test_a_second_shift_inside_the_models_loss_is_named(outcomes):
    m = check(outcomes, "alignment-red-shift-in-loss", "FALSIFIED", "the second time inside the model's loss")
    assert m["loader_shift"] == 1 and m["model_loss_shift"] == 1
    m = check(outcomes, "alignment-green-model-fed", "DISCHARGED")
    assert m["model_loss_shift"] == 0
