"""The embedded demo's subjects as pytest fixtures, shipped with the plugin so that a contract in
any repository can name them (``subject: incident_pipeline``) — the demo runs from an installed
wheel with no conftest. Each fixture builds lazily: a run that names none pays nothing.

Healthy subjects: ``qwen_stdlib_pipeline`` (real Qwen2.5 vocab, the interpreter's standard library,
byte-level encoder), ``tiny_lm`` (CPU), ``qwen2_0_5b`` (CUDA), ``trained_run``. The incident's:
``incident_pipeline`` (hex-byte encoder), ``incident_trained_run``. Planted defects: the
``tiny_lm_*`` and ``qwen2_0_5b_*`` fixtures below, each a real code path in a trainer subclass.
"""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def qwen_stdlib_pipeline():
    """The repository's tokenization pipeline: real Qwen2.5 vocab, stdlib corpus, byte-level encoder."""
    from harness.demo.pipeline import build_pipeline

    return build_pipeline("healthy")


@pytest.fixture(scope="session")
def incident_pipeline():
    """The incident's pipeline: the same vocab and corpus through the hex-byte encoder."""
    from harness.demo.pipeline import build_pipeline

    return build_pipeline("incident")


@pytest.fixture
def tiny_lm():
    """The reference trainer on the tiny causal LM (2 layers, hidden 64, vocab 1000), on CPU."""
    from harness.demo.models import tiny_trainer

    return tiny_trainer("healthy")


@pytest.fixture
def tiny_lm_label_smoothing():
    """Healthy: the tiny LM through the core ``ModuleTrainer`` with label smoothing 0.1 as its loss."""
    from harness.demo.models import smoothed_trainer

    return smoothed_trainer()


@pytest.fixture
def gru_lm():
    """Healthy: a recurrent LM (causal by construction) through the core ``ModuleTrainer``."""
    from harness.demo.models import gru_trainer

    return gru_trainer()


@pytest.fixture(scope="session")
def qwen2_0_5b():
    """The reference trainer on the Qwen2.5-0.5B architecture at random init, bf16, on CUDA."""
    from harness.demo.models import qwen_trainer

    return qwen_trainer("healthy", device="cuda", dtype="bfloat16")


@pytest.fixture(scope="session")
def trained_run(qwen_stdlib_pipeline, tmp_path_factory):
    """A real short training run of the tiny LM on the stdlib shards; its per-epoch metadata."""
    from harness.demo.training import run_training

    return run_training(qwen_stdlib_pipeline.shard_paths(), tmp_path_factory.mktemp("run-healthy"))


@pytest.fixture(scope="session")
def trained_run_with_data(trained_run, demo_training_batches):
    """The healthy run with the streams it trained and was evaluated on."""
    from harness.demo.training import TrainedRun

    return TrainedRun(trained_run, demo_training_batches)


@pytest.fixture(scope="session")
def position_only_run_with_data(qwen_stdlib_pipeline, demo_training_batches, tmp_path_factory):
    """Planted: the same run of a model whose forward overwrites the token embedding with the
    positional one (``build_tiny_lm(tokens=False)``): it sees no id."""
    from harness.demo.training import TrainedRun, run_training

    run = run_training(qwen_stdlib_pipeline.shard_paths(), tmp_path_factory.mktemp("run-position-only"), steps=150, kind="position_only")
    return TrainedRun(run, demo_training_batches)


@pytest.fixture(scope="session")
def gradients_zeroed_run(qwen_stdlib_pipeline, tmp_path_factory):
    """The demo's run with ``zero_grad()`` between backward and step: its loss never leaves init."""
    from harness.demo.training import run_training

    return run_training(qwen_stdlib_pipeline.shard_paths(), tmp_path_factory.mktemp("run-zeroed"), kind="gradients_zeroed_before_step")


@pytest.fixture(scope="session")
def demo_training_batches(qwen_stdlib_pipeline):
    """The batches the demo's tiny-LM run trains and evaluates on (its compact vocab, its eval)."""
    from harness.demo.training import TrainingBatches

    return TrainingBatches(qwen_stdlib_pipeline.shard_paths())


@pytest.fixture(scope="session")
def incident_trained_run(incident_pipeline, tmp_path_factory):
    """The same short training run on the incident's shards (99.99% <unk>): the impossible val_loss."""
    from harness.demo.training import run_training

    return run_training(incident_pipeline.shard_paths(), tmp_path_factory.mktemp("run-incident"))


def _defect_fixture(kind: str, builder: str, **kwargs):
    @pytest.fixture(name=f"{builder}_{kind}")
    def make():
        from harness.demo import models

        return getattr(models, f"{'tiny' if builder == 'tiny_lm' else 'qwen'}_trainer")(kind, **kwargs)

    make.__doc__ = f"Planted defect '{kind}' in the {builder} reference trainer (see harness.demo.models)."
    return make


# Planted defects, each a real code path in a trainer subclass; falsifiers must go red on them.
tiny_lm_stale_logits = _defect_fixture("stale_logits", "tiny_lm")
tiny_lm_labels_equal_inputs = _defect_fixture("labels_equal_inputs", "tiny_lm")
tiny_lm_dropout_in_eval = _defect_fixture("dropout_in_eval", "tiny_lm")
tiny_lm_optimizer_step_in_eval = _defect_fixture("optimizer_step_in_eval", "tiny_lm")
tiny_lm_no_causal_mask = _defect_fixture("no_causal_mask", "tiny_lm")
qwen2_0_5b_unsynced_loss = _defect_fixture("unsynced_loss", "qwen2_0_5b")
qwen2_0_5b_stale_logits = _defect_fixture("stale_logits", "qwen2_0_5b")


def _loader_fixture(kind: str):
    @pytest.fixture(name=f"stdlib_loader_{kind}")
    def make(qwen_stdlib_pipeline):
        from harness.demo.loaders import loader

        return loader(kind, qwen_stdlib_pipeline)

    make.__doc__ = f"The '{kind}' loader over the stdlib pipeline's shards (see harness.demo.loaders)."
    return make


# Loaders (BatchSubject): two healthy ones, and planted loader defects the batch falsifiers must catch.
stdlib_loader_packed = _loader_fixture("packed")
stdlib_loader_documents = _loader_fixture("documents")
stdlib_loader_val_from_train = _loader_fixture("val_from_train")
stdlib_loader_random_rows = _loader_fixture("random_rows")
stdlib_loader_random_rows_val_from_train = _loader_fixture("random_rows_val_from_train")
stdlib_loader_repeated_eval = _loader_fixture("repeated_eval")
stdlib_loader_clamping = _loader_fixture("clamping")
stdlib_loader_unmasked_padding = _loader_fixture("unmasked_padding")
stdlib_loader_eos_masked = _loader_fixture("eos_masked")
stdlib_loader_repeated_train = _loader_fixture("repeated_train")
stdlib_loader_model_fed = _loader_fixture("model_fed")
stdlib_loader_shift_in_loss = _loader_fixture("shift_in_loss")
