"""Every built-in falsifier goes red on the defect it targets and green on a healthy real subject.

All cases run in one real pytest session (a subprocess: torch cannot be imported twice in one
interpreter) over a temporary project holding nothing but planted artifacts and one contract per
case: the falsifiers are the shipped ``builtin:`` ones, the subjects the plugin's demo fixtures or
artifacts declared under ``subjects:``. Each test then asserts the status that run
wrote into its case's contract, and the measurement or message in its evidence.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.redgreen import check, run_cases

REPO = Path(__file__).parent.parent
VOCAB = "builtin:vocab-format"
ROUNDTRIP = "builtin:tokenizer-roundtrip"
INTEGRITY = "builtin:shard-integrity"
ENTROPY = "builtin:shard-entropy"
SANITY = "builtin:eval-sanity-bound"
POLLUTION = "builtin:train-pollution"
PURITY = "builtin:eval-purity"
LABELS = "builtin:label-alignment"
METRICS = "builtin:metric-plausibility"
PIPE = "qwen_stdlib_pipeline"

# case → (falsifier test, subject fixture, params)
CASES: dict[str, tuple[str, str, dict]] = {
    "format-red-hex-encoder": (VOCAB, "incident_pipeline", {}),
    "format-green-byte-level": (VOCAB, PIPE, {}),
    "roundtrip-red-hex-encoder": (ROUNDTRIP, "incident_pipeline", {"sample_docs": 8}),
    "roundtrip-green-qwen": (ROUNDTRIP, PIPE, {"sample_docs": 8}),
    "integrity-red-uint16": (INTEGRITY, PIPE, {"shards_dir": "planted/uint16", "vocab_size": 151646}),
    "integrity-red-id-above-vocab": (INTEGRITY, PIPE, {"shards_dir": "planted/above", "vocab_size": 65536}),
    "integrity-red-truncated": (INTEGRITY, PIPE, {"shards_dir": "planted/truncated", "vocab_size": 151646}),
    "integrity-red-empty": (INTEGRITY, PIPE, {"shards_dir": "planted/empty", "vocab_size": 151646}),
    "integrity-green-real": (INTEGRITY, PIPE, {}),
    "entropy-red-incident": (ENTROPY, "incident_pipeline", {}),
    "entropy-red-all-unk": (ENTROPY, PIPE, {"shards_dir": "planted/allunk", "unk_token_id": 128244}),
    "entropy-error-too-few": (ENTROPY, PIPE, {"shards_dir": "planted/few"}),
    "entropy-green-real": (ENTROPY, PIPE, {}),
    "sanity-green-tiny": (SANITY, "tiny_lm", {}),
    "sanity-red-floor-above-ln-v": (SANITY, "tiny_lm", {"low": 7.5}),
    "sanity-suspect-tight-band": (SANITY, "tiny_lm", {}),  # passes numerically; its band is set below
    "pollution-red-stale-buffer": (POLLUTION, "tiny_lm_stale_logits", {}),
    "pollution-green": (POLLUTION, "tiny_lm", {}),
    "purity-red-dropout": (PURITY, "tiny_lm_dropout_in_eval", {}),
    "purity-red-optimizer-step": (PURITY, "tiny_lm_optimizer_step_in_eval", {}),
    "purity-green": (PURITY, "tiny_lm", {}),
    "labels-red-equal-inputs": (LABELS, "tiny_lm_labels_equal_inputs", {}),
    "labels-green": (LABELS, "tiny_lm", {}),
    "metrics-red-incident-numbers": (METRICS, "declared:runs/incident", {}),
    "metrics-green-plausible-numbers": (METRICS, "declared:runs/fine", {}),
    "metrics-red-real-run-on-incident-shards": (METRICS, "incident_trained_run", {}),
    "metrics-green-real-run-on-healthy-shards": (METRICS, "trained_run", {}),
}


def _write_bin(directory: Path, ids, dtype: str, vocab_size: int, truncate: int = 0) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    data = np.asarray(ids, dtype=dtype).tobytes()
    (directory / "s0.bin").write_bytes(data[: len(data) - truncate] if truncate else data)
    (directory / "s0.json").write_text(json.dumps({"dtype": dtype, "vocab_size": vocab_size, "count": len(ids)}))


def _write_run(directory: Path, epochs: list[tuple[float, float]]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for i, (train, val) in enumerate(epochs):
        (directory / f"epoch-{i:03d}.metadata.json").write_text(json.dumps({"epoch": i, "train_loss": train, "val_loss": val}))


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory):
    root = tmp_path_factory.mktemp("redgreen")
    (root / "pyproject.toml").write_text("[tool.pytest.ini_options]\naddopts = '-p no:cacheprovider'\n")
    (root / "conftest.py").write_text('pytest_plugins = ["harness.demo.fixtures"]\n')  # the demo's subjects, loaded as a project would
    planted = root / "planted"
    _write_bin(planted / "uint16", np.arange(1000) % 60000, "uint16", 151646)
    _write_bin(planted / "above", [1, 2, 70000, 3], "uint32", 65536)
    _write_bin(planted / "truncated", np.arange(1000), "uint32", 151646, truncate=3)
    _write_bin(planted / "empty", [], "uint32", 151646)
    _write_bin(planted / "allunk", np.full(200_000, 128244), "uint32", 151646)
    _write_bin(planted / "few", np.arange(5000), "uint32", 151646)
    _write_run(root / "runs" / "incident", [(2.24, 0.628), (1.20, 0.00081)])  # the incident's numbers
    _write_run(root / "runs" / "fine", [(2.4, 2.5), (2.1, 1.9)])
    (root / "contracts").mkdir()
    for case, (test, subject, params) in CASES.items():
        lines = ["metadata:", "  version: 1.0.0", "  status: DRAFT"]
        if subject.startswith("declared:"):  # a run declared as an artifact, no fixture
            lines += ["subjects:", "  the_run:", f"    run: {subject.split(':', 1)[1]}"]
            subject = "the_run"
        lines += ["falsification_tests:", f"- id: {case.upper()}", f"  test: {test}", f"  subject: {subject}"]
        if params:
            lines += ["  params:", *(f"    {k}: {json.dumps(v)}" for k, v in params.items())]
        if case == "sanity-suspect-tight-band":
            lines += ["  plausible:", "    abs_dev_from_ln_v: [0.0, 0.01]"]
        (root / "contracts" / f"{case}.yaml").write_text("\n".join(lines) + "\n")
    return run_cases(root, CASES)


# ----------------------------------------------------------------------------- data
def test_format_mismatch_red_on_hex_encoder_with_byte_level_vocab(outcomes):
    check(outcomes, "format-red-hex-encoder", "FALSIFIED", "36/256 hex-byte tokens, below 200")
    assert "FORMAT-RED-HEX-ENCODER: " in outcomes["format-red-hex-encoder"][1]["message"]  # cites the falsifier id
    assert "vocab.json" in outcomes["format-red-hex-encoder"][1]["message"] and "byte_level" in outcomes["format-red-hex-encoder"][1]["message"]


def test_format_mismatch_green_on_byte_level_encoder(outcomes):
    assert check(outcomes, "format-green-byte-level", "DISCHARGED")["hex_pairs"] == 36.0


def test_roundtrip_red_on_incident_encoder(outcomes):
    assert check(outcomes, "roundtrip-red-hex-encoder", "FALSIFIED", "do not round-trip through hex_byte")["unk_share"] > 0.99


def test_roundtrip_green_on_real_qwen_tokenizer(outcomes):
    m = check(outcomes, "roundtrip-green-qwen", "DISCHARGED")
    assert m["roundtrip_failures"] == 0 and m["unk_share"] == 0.0 and 2.0 <= m["bytes_per_token"] <= 5.0


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("integrity-red-uint16", "dtype uint16 holds ids up to 65535"),
        ("integrity-red-id-above-vocab", "id 70000 ≥ vocab size 65536"),
        ("integrity-red-truncated", "trailing bytes: truncated?"),
        ("integrity-red-empty", "empty shard"),
    ],
)
def test_shard_integrity_red_on_planted_shards(outcomes, case, message):
    check(outcomes, case, "FALSIFIED", message)


def test_shard_integrity_green_on_real_shards(outcomes):
    assert check(outcomes, "integrity-green-real", "DISCHARGED")["tokens"] > 100_000


def test_entropy_floor_red_on_the_incident_shards(outcomes):
    m = check(outcomes, "entropy-red-incident", "FALSIFIED", "below the floor of 4.0")
    assert m["entropy_bits"] < 0.01 and m["unk_share"] > 0.999  # the incident: 0.001 bits, 99.99% <unk>


def test_entropy_floor_red_on_a_planted_all_unk_shard(outcomes):
    m = check(outcomes, "entropy-red-all-unk", "FALSIFIED")
    assert m["entropy_bits"] == 0.0 and m["unk_share"] == 1.0


def test_entropy_with_too_few_tokens_is_an_error_not_a_pass(outcomes):
    check(outcomes, "entropy-error-too-few", None)
    assert "ENTROPY-ERROR-TOO-FEW: ERROR" in outcomes["<stdout>"]


def test_entropy_floor_green_on_real_qwen_shards(outcomes):
    assert 9.0 < check(outcomes, "entropy-green-real", "DISCHARGED")["entropy_bits"] < 11.5  # FACTS: ~9.9 bits


# ----------------------------------------------------------------------------- models
def test_sanity_bound_green_on_tiny_lm(outcomes):
    assert abs(check(outcomes, "sanity-green-tiny", "DISCHARGED")["eval_loss"] - 6.9078) < 0.5


def test_sanity_bound_red_when_the_bound_excludes_the_real_loss(outcomes):
    check(outcomes, "sanity-red-floor-above-ln-v", "FALSIFIED", "outside [7.5,")


def test_sanity_bound_numerically_passing_but_off_its_band_is_suspect(outcomes):
    # the incident's shape: the assertion holds, a measurement does not fit what a healthy run gives
    assert check(outcomes, "sanity-suspect-tight-band", "METHODOLOGY_SUSPECT")["abs_dev_from_ln_v"] > 0.01


def test_train_pollution_red_on_stale_shared_logits_buffer(outcomes):
    check(outcomes, "pollution-red-stale-buffer", "FALSIFIED", "train state leaks into eval")


def test_train_pollution_green_on_reference_trainer(outcomes):
    assert check(outcomes, "pollution-green", "DISCHARGED")["reference_gap"] <= 1e-3


@pytest.mark.parametrize("case", ["purity-red-dropout", "purity-red-optimizer-step"])
def test_eval_purity_red_on_planted_defects(outcomes, case):
    check(outcomes, case, "FALSIFIED", "two evals of one batch disagree")


def test_eval_purity_green_on_reference_trainer(outcomes):
    check(outcomes, "purity-green", "DISCHARGED")


def test_label_alignment_red_when_labels_equal_inputs(outcomes):
    check(outcomes, "labels-red-equal-inputs", "FALSIFIED", "not the inputs shifted by one")


def test_label_alignment_green_on_real_heldout_text(outcomes):
    assert check(outcomes, "labels-green", "DISCHARGED")["identity_share"] < 0.1


def test_metric_plausibility_red_on_the_incident_numbers(outcomes):
    check(outcomes, "metrics-red-incident-numbers", "FALSIFIED", "val_loss 0.00081 (perplexity 1.00081)")


def test_metric_plausibility_green_on_plausible_numbers(outcomes):
    check(outcomes, "metrics-green-plausible-numbers", "DISCHARGED")


def test_metric_plausibility_red_on_a_real_run_over_the_incident_shards(outcomes):
    assert check(outcomes, "metrics-red-real-run-on-incident-shards", "FALSIFIED")["val_loss"] < 0.05


def test_metric_plausibility_green_on_a_real_run_over_healthy_shards(outcomes):
    assert 2.0 < check(outcomes, "metrics-green-real-run-on-healthy-shards", "DISCHARGED")["val_loss"] < 6.91
