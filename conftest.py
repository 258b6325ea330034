"""Project fixtures: the subjects that contracts name (``subject: FIXTURE``).

Heavy subjects are session-scoped and built lazily (the plugin groups falsifiers that share one
for ``pytest -n auto --dist loadgroup``), so a run that does not need them never pays for them.
"""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def qwen_stdlib_pipeline():
    """The repository's tokenization pipeline: real Qwen2.5 vocab, stdlib corpus, byte-level encoder."""
    from harness.subjects.pipeline import build_pipeline

    return build_pipeline("healthy")


@pytest.fixture(scope="session")
def incident_pipeline():
    """The incident's pipeline: the same vocab and corpus through the hex-byte encoder."""
    from harness.subjects.pipeline import build_pipeline

    return build_pipeline("incident")


@pytest.fixture
def tiny_lm():
    """The reference trainer on the tiny causal LM (2 layers, hidden 64, vocab 1000), on CPU."""
    from harness.subjects.models import tiny_trainer

    return tiny_trainer("healthy")


@pytest.fixture(scope="session")
def qwen2_0_5b():
    """The reference trainer on the Qwen2.5-0.5B architecture at random init, bf16, on CUDA."""
    from harness.subjects.models import qwen_trainer

    return qwen_trainer("healthy", device="cuda", dtype="bfloat16")


@pytest.fixture(scope="session")
def trained_run(qwen_stdlib_pipeline, tmp_path_factory):
    """A real short training run of the tiny LM on the stdlib shards; its per-epoch metadata."""
    from harness.subjects.training import run_training

    return run_training(qwen_stdlib_pipeline.shard_paths(), tmp_path_factory.mktemp("run-healthy"))
