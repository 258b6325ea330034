"""Tripwires: the contract's built-ins inside real training runs — a plain loop, Hugging Face's
``Trainer`` on a small ``Qwen2ForCausalLM``, Lightning — on the real Qwen2.5 tokenizer over the
standard library's source. Each planted defect is a real code path (the incident's hex-byte
encoder, a collator that leaves padding in ``labels``, a forward without its causal mask, an
optimizer that never moves the weights); the healthy pipeline trains to the end, every tripwire
green, and its contract untouched."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from tests.tripwire_pipelines import (  # noqa: E402
    collate,
    gpt2_rows,
    healthy_rows,
    incident_rows,
    loader_of,
    project,
    qwen_tokenizer,
    run_loop,
    statuses,
    stdlib_texts,
    tiny_lm,
)


@pytest.fixture(scope="module")
def tokenizer():
    return qwen_tokenizer()


@pytest.fixture(scope="module")
def texts():
    return stdlib_texts()


# ------------------------------------------------------------------ a plain loop
def test_loop_stops_the_incident_before_its_first_step(tmp_path, tokenizer, texts):
    path = project(tmp_path)
    model = tiny_lm(len(tokenizer))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    tw, taken = run_loop(path, model, loader_of(incident_rows(tokenizer, texts), tokenizer.pad_token_id), tokenizer)
    assert taken == 0 and tw.should_stop
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())
    got = statuses(path)
    assert got["FALSIFY-VOCAB-FORMAT-001"] == "FALSIFIED"
    assert got["FALSIFY-SHARD-ENTROPY-002"] == "FALSIFIED"
    assert got["FALSIFY-CAUSAL-MASK-005"] is None  # passed in this run: a tripwire never discharges
    evidence = sorted((tmp_path / "evidence" / "pipeline-v1").glob("*/dispatch.txt"))
    assert evidence and "tripwire: loop" in evidence[0].read_text()


def test_loop_stops_another_tokenizers_ids_that_every_count_accepts(tmp_path, tokenizer, texts):
    """GPT-2's ids fed to a Qwen2.5-vocab model (#40 item 6): below the vocab, no <unk>, no hex,
    healthy entropy — only decoding and encoding them again shows another tokenizer made them."""
    path = project(tmp_path)
    tw, taken = run_loop(path, tiny_lm(len(tokenizer)), loader_of(gpt2_rows(texts), tokenizer.pad_token_id), tokenizer)
    assert taken == 0
    verdict = tw.verdicts["FALSIFY-VOCAB-FORMAT-001"][0]
    assert verdict.passed is False and "another tokenizer made these ids" in verdict.message, verdict
    assert verdict.measurements["unk_share"] < 0.01 and verdict.measurements["reencode_agreement"] < 0.2
    assert statuses(path)["FALSIFY-SHARD-ENTROPY-002"] is None  # the counts saw nothing wrong


def test_loop_stops_a_collator_that_leaves_padding_in_labels(tmp_path, tokenizer, texts):
    path = project(tmp_path)
    tw, taken = run_loop(path, tiny_lm(len(tokenizer)), loader_of(healthy_rows(tokenizer, texts), tokenizer.pad_token_id, pad_in_labels=True), tokenizer)
    assert taken == 0
    assert statuses(path)["FALSIFY-LOSS-MASK-003"] == "FALSIFIED"
    assert "padding" in tw.verdicts["FALSIFY-LOSS-MASK-003"][0].message


def test_loop_stops_a_model_without_its_causal_mask(tmp_path, tokenizer, texts):
    path = project(tmp_path)
    _tw, taken = run_loop(path, tiny_lm(len(tokenizer), causal=False), loader_of(healthy_rows(tokenizer, texts), tokenizer.pad_token_id), tokenizer)
    assert taken == 0
    assert statuses(path)["FALSIFY-CAUSAL-MASK-005"] == "FALSIFIED"
    assert statuses(path)["FALSIFY-LOSS-MASK-003"] is None


def test_loop_healthy_trains_to_the_end_all_green_and_the_run_stays_the_users(tmp_path, tokenizer, texts):
    from harness.tripwires import Tripwire

    path = project(tmp_path)
    text_before = path.read_text()
    model = tiny_lm(len(tokenizer))
    model.train()
    loader = loader_of(healthy_rows(tokenizer, texts), tokenizer.pad_token_id)
    weights = {k: v.clone() for k, v in model.state_dict().items()}
    rng = torch.get_rng_state()
    tw = Tripwire(path)
    verdicts = tw.before_training(model=model, tokenizer=tokenizer, train_loader=loader)
    assert {v.builtin for v in verdicts} == {"vocab-format", "shard-entropy", "loss-mask", "model-vocab-fit", "causal-mask"}
    assert all(v.passed for v in verdicts), [(v.builtin, v.message) for v in verdicts]
    assert model.training and torch.equal(rng, torch.get_rng_state())
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in weights.items())
    tw, taken = run_loop(path, model, loader, tokenizer, steps=12)
    assert not tw.tripped, tw.failed()
    assert taken == 12
    assert path.read_text() == text_before  # nothing falsified: the contract is left as it was
    assert not (tmp_path / "evidence").exists()


def test_loop_stops_an_eval_set_that_is_the_training_data(tmp_path, tokenizer, texts):
    path = project(tmp_path)
    rows = healthy_rows(tokenizer, texts)
    evals = torch.utils.data.DataLoader(rows, batch_size=8, shuffle=False, collate_fn=collate(tokenizer.pad_token_id))  # eval_dataset=train_dataset
    tw, taken = run_loop(path, tiny_lm(len(tokenizer)), loader_of(rows, tokenizer.pad_token_id), tokenizer, eval_loader=evals)
    assert taken == 0
    assert statuses(path)["FALSIFY-SPLIT-OVERLAP-007"] == "FALSIFIED"
    assert "holds training data" in tw.verdicts["FALSIFY-SPLIT-OVERLAP-007"][0].message
    assert statuses(path)["FALSIFY-EVAL-COVERAGE-008"] is None


def test_loop_stops_an_eval_that_repeats_one_batch(tmp_path, tokenizer, texts):
    path = project(tmp_path)
    rows = healthy_rows(tokenizer, texts)
    one_batch = torch.utils.data.DataLoader(rows[120:128] * 16, batch_size=8, shuffle=False, collate_fn=collate(tokenizer.pad_token_id))
    tw, taken = run_loop(path, tiny_lm(len(tokenizer)), loader_of(rows[:120], tokenizer.pad_token_id), tokenizer, eval_loader=one_batch)
    assert taken == 0
    assert statuses(path)["FALSIFY-EVAL-COVERAGE-008"] == "FALSIFIED"
    assert "8 of the 128" in tw.verdicts["FALSIFY-EVAL-COVERAGE-008"][0].message
    assert statuses(path)["FALSIFY-SPLIT-OVERLAP-007"] is None


def test_loop_healthy_with_a_disjoint_eval_is_green(tmp_path, tokenizer, texts):
    path = project(tmp_path)
    rows = healthy_rows(tokenizer, texts)
    evals = torch.utils.data.DataLoader(rows[120:], batch_size=8, shuffle=False, collate_fn=collate(tokenizer.pad_token_id))
    tw, taken = run_loop(path, tiny_lm(len(tokenizer)), loader_of(rows[:120], tokenizer.pad_token_id), tokenizer, eval_loader=evals, steps=5)
    assert taken == 5 and not tw.tripped, tw.failed()
    judged = {v.builtin: v for v, _ in tw.verdicts.values()}
    assert judged["split-overlap"].passed and judged["eval-coverage"].passed
    assert judged["split-overlap"].measurements["eval_windows"] > 20


def test_a_healthy_eval_loader_does_not_dilute_a_broken_train_stream(tmp_path, tokenizer, texts):
    """The ids of each loader are judged on their own: the incident's train rows beside healthy
    eval rows still falsify entropy and vocab format (mixed, the healthy half lifts the entropy)."""
    path = project(tmp_path)
    evals = torch.utils.data.DataLoader(healthy_rows(tokenizer, texts), batch_size=8, collate_fn=collate(tokenizer.pad_token_id))
    _tw, taken = run_loop(path, tiny_lm(len(tokenizer)), loader_of(incident_rows(tokenizer, texts), tokenizer.pad_token_id), tokenizer, eval_loader=evals)
    assert taken == 0
    got = statuses(path)
    assert got["FALSIFY-SHARD-ENTROPY-002"] == "FALSIFIED" and got["FALSIFY-VOCAB-FORMAT-001"] == "FALSIFIED"


def test_loop_stops_a_model_that_does_not_learn(tmp_path, tokenizer, texts):
    path = project(tmp_path)
    rows = healthy_rows(tokenizer, texts)[:8] * 12  # one batch over and over: a learning model's loss moves
    loader = torch.utils.data.DataLoader(rows, batch_size=8, shuffle=False, collate_fn=collate(tokenizer.pad_token_id))
    tw, taken = run_loop(path, tiny_lm(len(tokenizer)), loader, tokenizer, steps=12, lr=0.0, no_learning_steps=5)
    assert tw.tripped and taken == 5
    assert statuses(path)["FALSIFY-METRIC-PLAUSIBILITY-006"] == "FALSIFIED"
    assert "does not learn" in tw.verdicts["FALSIFY-METRIC-PLAUSIBILITY-006"][0].message


def test_raise_mode_raises_and_still_writes(tmp_path, tokenizer, texts):
    from harness.tripwires import Tripwire, TripwireFalsified

    path = project(tmp_path)
    tw = Tripwire(path, on_falsified="raise")
    with pytest.raises(TripwireFalsified, match="FALSIFY-SHARD-ENTROPY-002"):
        tw.before_training(model=tiny_lm(len(tokenizer)), tokenizer=tokenizer, train_loader=loader_of(incident_rows(tokenizer, texts), tokenizer.pad_token_id))
    assert statuses(path)["FALSIFY-SHARD-ENTROPY-002"] == "FALSIFIED"


def test_an_eval_loss_the_incident_reports_is_falsified(tmp_path):
    from harness.tripwires import Tripwire

    path = project(tmp_path)
    tw = Tripwire(path, on_falsified="warn")
    with pytest.warns(UserWarning, match="below 0.5"):
        tw.on_eval(400, {"eval_loss": 0.0008})
    tw.finish()
    assert statuses(path)["FALSIFY-METRIC-PLAUSIBILITY-006"] == "FALSIFIED"


# ------------------------------------------------------------------ Hugging Face Trainer
def qwen2(vocab_size: int, causal: bool = True):
    transformers = pytest.importorskip("transformers")
    config = transformers.Qwen2Config(
        vocab_size=vocab_size,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=128,
        tie_word_embeddings=True,
    )
    torch.manual_seed(0)
    model = transformers.Qwen2ForCausalLM(config)
    if not causal:  # the planted defect: a forward that hands attention a full (bidirectional) mask
        inner = model.model.forward

        def bidirectional(input_ids=None, attention_mask=None, **kwargs):
            b, t = input_ids.shape
            kwargs.pop("position_ids", None)
            full = torch.zeros((b, 1, t, t), dtype=model.dtype)  # additive: 0 everywhere, the future included
            return inner(input_ids=input_ids, attention_mask=full, **kwargs)

        model.model.forward = bidirectional
    return model


def hf_train(tmp_path, path, model, rows, tokenizer, *, pad_in_labels=False, steps=10):
    transformers = pytest.importorskip("transformers")
    from harness.tripwires.hf import HarnessCallback

    args = transformers.TrainingArguments(
        output_dir=str(tmp_path / "out"),
        max_steps=steps,
        per_device_train_batch_size=8,
        logging_steps=1,
        report_to=[],
        use_cpu=True,
        save_strategy="no",
        disable_tqdm=True,
        learning_rate=3e-3,
    )
    callback = HarnessCallback(path)
    trainer = transformers.Trainer(
        model=model,
        args=args,
        train_dataset=rows,
        data_collator=collate(tokenizer.pad_token_id, pad_in_labels=pad_in_labels),
        processing_class=tokenizer,
        callbacks=[callback],
    )
    from harness.tripwires import TripwireStopped

    try:
        trainer.train()
    except TripwireStopped as stopped:  # the default on a falsified run: it ends now, exit status 1, nothing saved
        assert "FALSIFIED" in str(stopped)  # its code is the message: printed last, exit status 1
    return trainer, callback.tripwire


def test_hf_trainer_stops_the_incident_before_its_first_optimizer_step(tmp_path, tokenizer, texts):
    path = project(tmp_path)
    model = qwen2(len(tokenizer))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    trainer, tw = hf_train(tmp_path, path, model, incident_rows(tokenizer, texts), tokenizer)
    assert tw.tripped and trainer.state.global_step <= 1
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items()), "a weight moved: an optimizer step ran"
    got = statuses(path)
    assert got["FALSIFY-VOCAB-FORMAT-001"] == "FALSIFIED" and got["FALSIFY-SHARD-ENTROPY-002"] == "FALSIFIED"


def test_hf_trainer_stops_padding_in_labels_and_a_non_causal_model(tmp_path, tokenizer, texts):
    path = project(tmp_path / "a")
    _, tw = hf_train(tmp_path / "a", path, qwen2(len(tokenizer)), healthy_rows(tokenizer, texts), tokenizer, pad_in_labels=True)
    assert tw.tripped and statuses(path)["FALSIFY-LOSS-MASK-003"] == "FALSIFIED"
    path = project(tmp_path / "b")
    _, tw = hf_train(tmp_path / "b", path, qwen2(len(tokenizer), causal=False), healthy_rows(tokenizer, texts), tokenizer)
    assert tw.tripped and statuses(path)["FALSIFY-CAUSAL-MASK-005"] == "FALSIFIED"


def test_hf_trainer_healthy_runs_to_the_end_all_green(tmp_path, tokenizer, texts):
    path = project(tmp_path)
    text_before = path.read_text()
    trainer, tw = hf_train(tmp_path, path, qwen2(len(tokenizer)), healthy_rows(tokenizer, texts), tokenizer, steps=10)
    assert trainer.state.global_step == 10 and not tw.tripped
    assert {v.builtin for v, _ in tw.verdicts.values()} >= {"vocab-format", "shard-entropy", "loss-mask", "model-vocab-fit", "causal-mask"}
    assert all(v.passed is not False for v, _ in tw.verdicts.values())
    assert path.read_text() == text_before
