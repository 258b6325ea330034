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
    "curve-green": ("trained_run", {}),
    "curve-red-gradients-zeroed": ("gradients_zeroed_run", {}),
    "curve-green-hf": ("hf_run", {}),
    "curve-red-hf-lr-zero": ("hf_run_lr_zero", {}),
}
BUILTIN = {case: "learning-curve" if case.startswith("curve") else "learns-beyond-unigram" for case in CASES}


def hf_run(out, lr: float, steps: int = 30):
    """A real Hugging Face ``Trainer`` run (a small Qwen2 on the stdlib's Qwen2.5 ids), its state
    written by the Trainer's own ``TrainerState.save_to_json`` as a checkpoint would hold it."""
    transformers = pytest.importorskip("transformers")
    from tests.test_tripwires import qwen2
    from tests.tripwire_pipelines import collate, healthy_rows, qwen_tokenizer, stdlib_texts

    tokenizer = qwen_tokenizer()
    args = transformers.TrainingArguments(
        output_dir=str(out),
        max_steps=steps,
        per_device_train_batch_size=8,
        logging_steps=1,
        report_to=[],
        use_cpu=True,
        save_strategy="no",
        disable_tqdm=True,
        learning_rate=lr,
        lr_scheduler_type="constant",
    )
    trainer = transformers.Trainer(
        model=qwen2(len(tokenizer)), args=args, train_dataset=healthy_rows(tokenizer, stdlib_texts()), data_collator=collate(tokenizer.pad_token_id)
    )
    trainer.train()
    trainer.state.save_to_json(str(out / "trainer_state.json"))
    trainer.model.config.save_pretrained(str(out))  # config.json, as a checkpoint holds it: the model's vocab
    return out


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory):
    root = tmp_path_factory.mktemp("learning")
    (root / "pyproject.toml").write_text("[tool.pytest.ini_options]\naddopts = '-p no:cacheprovider'\n")
    (root / "conftest.py").write_text('pytest_plugins = ["harness.demo.fixtures"]\n')
    (root / "contracts").mkdir()
    (root / "runs").mkdir()
    hf_run(root / "runs" / "hf", 3e-3)
    hf_run(root / "runs" / "hf-lr0", 0.0)
    (root / "conftest.py").write_text(
        'import pytest\npytest_plugins = ["harness.demo.fixtures"]\n\n\n'
        '@pytest.fixture\ndef hf_run():\n    return "runs/hf"\n\n\n@pytest.fixture\ndef hf_run_lr_zero():\n    return "runs/hf-lr0"\n'
    )
    for case, (subject, params) in CASES.items():
        text = f"metadata:\n  version: 1.0.0\n  status: DRAFT\nfalsification_tests:\n- id: F-{case.upper()}\n  test: builtin:{BUILTIN[case]}\n  subject: {subject}\n"
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


@pytest.mark.slow
def test_a_healthy_runs_loss_falls_from_where_it_starts(outcomes):
    m = check(outcomes, "curve-green", "DISCHARGED")
    assert m["drop"] > 0.05
    m = check(outcomes, "curve-green-hf", "DISCHARGED")
    assert m["first_step"] == 1 and 0.5 * m["ln_v"] < m["first_loss"] < 1.5 * m["ln_v"]  # the init premise judged: about ln V


@pytest.mark.slow
def test_a_run_whose_loss_never_moves_is_named(outcomes):
    m = check(outcomes, "curve-red-gradients-zeroed", "FALSIFIED", "gradients zeroed before the optimizer step")
    assert abs(m["drop"]) < 0.02
    check(outcomes, "curve-red-hf-lr-zero", "FALSIFIED", "the model does not learn")
