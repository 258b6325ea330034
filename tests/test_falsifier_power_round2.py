"""Falsifier power, round 2 (#24): no false alarm on healthy pipelines, the right reason for every
catch. One real pytest session over a temporary project whose subjects are held-out pipelines
(``tests/power2_subjects.py``), every built-in at its default params."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.redgreen import check, run_cases

pytest.importorskip("numpy")

CASES: dict[str, tuple[str, str, dict]] = {
    # loss-mask: indentation runs at row ends are text, not padding
    "lossmask-green-bytes-packed-indentation": ("loss-mask", "bytes_packed", {}),
    "lossmask-green-never-pads": ("loss-mask", "bytes_packed_never_pads", {}),
    "lossmask-green-padded-docs": ("loss-mask", "docs_padded_healthy", {}),
    "lossmask-red-padded-docs-inferred": ("loss-mask", "docs_padded_unmasked", {}),
    "lossmask-green-hf-eot-pad": ("loss-mask", "hf_eot_padded_healthy", {}),
    "lossmask-red-hf-eot-pad-in-labels": ("loss-mask", "hf_eot_padded_unmasked", {}),
    # causal-mask: the probe's premise (identical forwards agree) is checked before judging
    "causal-suspect-mc-dropout": ("causal-mask", "gru_mc_dropout", {}),
    # split-overlap: pad-only windows and ids read at the wrong width are not a split leak
    "overlap-green-padded-docs": ("split-overlap", "docs_padded_healthy", {"window": 16}),  # short windows: rows end in pad-only ones
    "overlap-green-bytes-packed": ("split-overlap", "bytes_packed", {}),
    "overlap-notblamed-read-narrow": ("split-overlap", "qwen_packed_read_narrow", {}),
    # shard-integrity sees wide ids read narrow in the ids themselves
    "integrity-green-qwen": ("shard-integrity", "qwen_shards", {}),
    "integrity-red-int32-read-as-uint16": ("shard-integrity", "qwen_int32_read_as_uint16", {}),
    # target-alignment: the targets the loss sees, in the framework's convention
    "alignment-green-bytes-packed": ("target-alignment", "bytes_packed", {}),
    "alignment-green-hf-docs": ("target-alignment", "hf_eot_padded_healthy", {}),
    "alignment-green-padded-docs": ("target-alignment", "docs_padded_healthy", {}),
    "alignment-red-hf-shifted-twice": ("target-alignment", "hf_labels_shifted_twice", {}),
    "alignment-red-unshifted": ("target-alignment", "bytes_targets_unshifted", {}),
    "alignment-red-reversed": ("target-alignment", "bytes_targets_reversed", {}),
    # overfit-one-batch: a model that does not learn
    "overfit-green-tiny": ("overfit-one-batch", "tiny_module_trainer", {}),
    "overfit-green-gru-mc-dropout": ("overfit-one-batch", "gru_mc_dropout", {}),
    "overfit-red-zero-grad-before-step": ("overfit-one-batch", "tiny_zero_grad_before_step", {}),
    "overfit-red-lr-zero": ("overfit-one-batch", "tiny_lr_zero", {}),
    # eval-coverage: repeats falsify; a small eval of distinct rows is imprecise, not wrong
    "coverage-green-bytes-packed": ("eval-coverage", "bytes_packed", {}),
    "coverage-suspect-small-eval": ("eval-coverage", "bytes_small_eval", {}),
    "coverage-green-small-eval-loose-tolerance": ("eval-coverage", "bytes_small_eval", {"tolerance": 0.1}),
    # document-boundaries: a separator encoded as text, or none at all
    "boundaries-green-eos-after-each": ("document-boundaries", "qwen_docs_eos", {}),
    "boundaries-red-marker-as-text": ("document-boundaries", "qwen_docs_marker_as_text", {}),
    "boundaries-red-no-separator": ("document-boundaries", "qwen_docs_no_separator", {}),
}

CONTRACT = """\
metadata:
  id: {case}
  version: 1.0.0
  status: DRAFT
falsification_tests:
- id: F-{n:03d}
  rule: r
  test: builtin:{builtin}
  subject: {subject}
"""


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory):
    root = tmp_path_factory.mktemp("power2")
    (root / "pyproject.toml").write_text("[project]\nname='p'\n")
    (root / "conftest.py").write_text('pytest_plugins = ["power2_subjects"]\n')
    shutil.copy(Path(__file__).parent / "power2_subjects.py", root / "power2_subjects.py")
    (root / "contracts").mkdir()
    for n, (case, (builtin, subject, params)) in enumerate(CASES.items()):
        text = CONTRACT.format(case=case, n=n, builtin=builtin, subject=subject)
        if params:
            text += "  params:\n" + "".join(f"    {k}: {v}\n" for k, v in params.items())
        (root / "contracts" / f"{case}.yaml").write_text(text)
    return run_cases(root, CASES)


@pytest.mark.parametrize("case", [c for c in CASES if "-green-" in c])
def test_healthy_pipelines_stay_green(outcomes, case):
    check(outcomes, case, "DISCHARGED")


def test_indentation_runs_are_not_padding(outcomes):
    m = check(outcomes, "lossmask-green-bytes-packed-indentation", "DISCHARGED")
    assert m["pad_share"] == 0.0


def test_padding_inferred_only_from_an_id_text_does_not_produce(outcomes):
    m = check(outcomes, "lossmask-red-padded-docs-inferred", "FALSIFIED", "inferred: id 257")
    assert m["pad_share"] > 0.05


def test_a_nondeterministic_eval_is_not_read_as_a_causal_leak(outcomes):
    m = check(outcomes, "causal-suspect-mc-dropout", "METHODOLOGY_SUSPECT")
    assert m["premise_gap"] > 0


def test_an_attention_mask_says_where_padding_is_even_when_the_pad_id_is_also_text(outcomes):
    m = check(outcomes, "lossmask-red-hf-eot-pad-in-labels", "FALSIFIED", "attention_mask")
    assert m["pad_share"] > 0.05


def test_padding_windows_are_not_a_split_leak(outcomes):
    m = check(outcomes, "overlap-green-padded-docs", "DISCHARGED")
    assert m["degenerate_val_windows"] > 0 and m["overlap_share"] < 0.05


def test_a_byte_level_stream_gets_a_window_as_long_in_text(outcomes):
    m = check(outcomes, "overlap-green-bytes-packed", "DISCHARGED")
    assert m["window"] >= 48  # 32 bytes of source are lines every module shares


def test_ids_read_at_the_wrong_width_are_named_not_blamed_on_the_split(outcomes):
    status, record = outcomes["overlap-notblamed-read-narrow"]
    assert status in ("DISCHARGED", "METHODOLOGY_SUSPECT"), record  # the split is clean; the width is integrity's to name
    check(outcomes, "integrity-red-int32-read-as-uint16", "FALSIFIED", "written 2× wider than they are read")


def test_labels_shifted_twice_or_never_are_named(outcomes):
    m = check(outcomes, "alignment-red-hf-shifted-twice", "FALSIFIED", "labels shifted twice")
    assert m["best_shift"] == 2
    check(outcomes, "alignment-red-unshifted", "FALSIFIED", "labels never shifted")


def test_reversed_labels_are_named_as_no_shift_not_as_shifted_twice(outcomes):
    """#40 item 6: reversed labels were reported as "labels shifted twice"; no shift lines them up."""
    m = check(outcomes, "alignment-red-reversed", "FALSIFIED", "no shift lines the targets up with the inputs")
    assert max(m["agreement_shift0"], m["agreement_shift1"], m["agreement_shift2"]) < 0.5


@pytest.mark.parametrize("case", ["overfit-red-zero-grad-before-step", "overfit-red-lr-zero"])
def test_a_model_that_does_not_learn_cannot_overfit_one_batch(outcomes, case):
    m = check(outcomes, case, "FALSIFIED", "does not learn")
    assert abs(m["relative_drop"]) < 0.01


def test_a_small_eval_of_distinct_rows_is_imprecise_not_falsified(outcomes):
    m = check(outcomes, "coverage-suspect-small-eval", "METHODOLOGY_SUSPECT")
    assert m["eval_tokens"] == 1024 and m["distinct_share"] == 1.0
    assert abs(m["loss_standard_error"] - 3.0 / 32) < 1e-9


def test_a_separator_encoded_as_text_is_named(outcomes):
    m = check(outcomes, "boundaries-red-marker-as-text", "FALSIFIED", "encodes the separator as text")
    assert m["separators"] == 0 and m["text_markers"] == m["documents"]
    m = check(outcomes, "boundaries-red-no-separator", "FALSIFIED", "documents run together")
    assert m["separators"] == 0 and m["text_markers"] == 0
    m = check(outcomes, "boundaries-green-eos-after-each", "DISCHARGED")
    assert m["separators_per_document"] >= 1.0
