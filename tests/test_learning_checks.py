"""The practitioners' learning checks (issue #40, item 9): a trained model's held-out loss beats
the data's own unigram baseline. Red on a real planted code path (a forward that overwrites the token
embedding with the positional one: the model can learn only frequencies), green on the demo's healthy run, METHODOLOGY_SUSPECT when the
run is too short to expect it.
"""

from __future__ import annotations

import json

import pytest

from tests.redgreen import check, run_cases

CASES = {
    "unigram-green": ("trained_run_with_data", {}),
    "unigram-red-position-only": ("position_only_run_with_data", {}),
    "unigram-suspect-too-early": ("trained_run_with_data", {"min_steps": 10_000}),
}


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory):
    root = tmp_path_factory.mktemp("learning")
    (root / "pyproject.toml").write_text("[tool.pytest.ini_options]\naddopts = '-p no:cacheprovider'\n")
    (root / "conftest.py").write_text('pytest_plugins = ["harness.demo.fixtures"]\n')
    (root / "contracts").mkdir()
    for case, (subject, params) in CASES.items():
        text = f"metadata:\n  version: 1.0.0\n  status: DRAFT\nfalsification_tests:\n- id: F-{case.upper()}\n  test: builtin:learns-beyond-unigram\n  subject: {subject}\n"
        if params:
            text += f"  params: {json.dumps(params)}\n"
        (root / "contracts" / f"{case}.yaml").write_text(text)
    return run_cases(root, CASES)


@pytest.mark.slow
def test_a_healthy_run_beats_the_unigram_baseline(outcomes):
    m = check(outcomes, "unigram-green", "DISCHARGED")
    assert m["gap"] > 0.5 and m["steps"] >= 100  # measured: 6.22 vs 7.45 nats


@pytest.mark.slow
def test_a_model_that_sees_no_token_is_caught_as_learning_nothing(outcomes):
    m = check(outcomes, "unigram-red-position-only", "FALSIFIED", "no better than the data's own unigram baseline")
    assert m["gap"] <= 0.0


@pytest.mark.slow
def test_a_run_too_short_to_judge_is_suspect_not_a_pass(outcomes):
    check(outcomes, "unigram-suspect-too-early", "METHODOLOGY_SUSPECT")
