"""Tripwires in a real Lightning ``Trainer(accelerator="cpu")``: the same four pipelines as the loop
and Hugging Face tests — the incident's hex-byte encoder, a collator that leaves padding in
``labels``, a model without its causal mask, and a healthy pipeline that trains to the end with
its contract untouched."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
L = pytest.importorskip("lightning.pytorch")

from tests.tripwire_pipelines import healthy_rows, incident_rows, loader_of, project, qwen_tokenizer, statuses, stdlib_texts, tiny_lm  # noqa: E402


@pytest.fixture(scope="module")
def tokenizer():
    return qwen_tokenizer()


@pytest.fixture(scope="module")
def texts():
    return stdlib_texts()


class LitLM(L.LightningModule):
    """A user's module: the tiny causal LM, next-token cross-entropy on ``labels`` shifted by one."""

    def __init__(self, model, tokenizer=None, lr: float = 3e-3) -> None:
        super().__init__()
        self.model, self.tokenizer, self.lr = model, tokenizer, lr

    def forward(self, ids):
        return self.model(ids)

    def _loss(self, batch):
        logits = self.model(batch["input_ids"])
        return torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), batch["labels"][:, 1:].reshape(-1), ignore_index=-100)

    def training_step(self, batch, batch_idx):
        loss = self._loss(batch)
        self.log("train_loss", loss)
        return loss

    def validation_step(self, batch, batch_idx):
        self.log("val_loss", self._loss(batch))

    def configure_optimizers(self):
        return torch.optim.AdamW(self.parameters(), lr=self.lr)


def fit(tmp_path, path, module, rows, tokenizer, *, pad_in_labels=False, steps=10, val_rows=None):
    from harness.tripwires.lightning import HarnessCallback

    callback = HarnessCallback(path)
    trainer = L.Trainer(
        accelerator="cpu",
        callbacks=[callback],
        devices=1,
        max_steps=steps,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        val_check_interval=5 if val_rows else None,
        limit_val_batches=2 if val_rows else 0,
        default_root_dir=str(tmp_path),
    )
    val = loader_of(val_rows, tokenizer.pad_token_id) if val_rows else None
    from harness.tripwires import TripwireStopped

    try:
        trainer.fit(module, train_dataloaders=loader_of(rows, tokenizer.pad_token_id, pad_in_labels=pad_in_labels), val_dataloaders=val)
    except TripwireStopped as stopped:  # the default on a falsified run: it ends now, exit status 1, nothing saved
        assert "FALSIFIED" in str(stopped)  # its code is the message: printed last, exit status 1
    return trainer, callback.tripwire


def test_lightning_stops_the_incident_before_its_first_optimizer_step(tmp_path, tokenizer, texts):
    path = project(tmp_path)
    module = LitLM(tiny_lm(len(tokenizer)), tokenizer)
    before = {k: v.clone() for k, v in module.state_dict().items()}
    trainer, tw = fit(tmp_path, path, module, incident_rows(tokenizer, texts), tokenizer)
    assert tw.tripped and trainer.global_step == 0
    assert all(torch.equal(v, module.state_dict()[k]) for k, v in before.items()), "a weight moved: an optimizer step ran"
    got = statuses(path)
    assert got["FALSIFY-VOCAB-FORMAT-001"] == "FALSIFIED" and got["FALSIFY-SHARD-ENTROPY-002"] == "FALSIFIED"
    dispatch = next((tmp_path / "evidence" / "pipeline-v1").glob("*/dispatch.txt")).read_text()
    assert "tripwire: lightning" in dispatch


def test_lightning_stops_padding_in_labels(tmp_path, tokenizer, texts):
    path = project(tmp_path)
    trainer, tw = fit(tmp_path, path, LitLM(tiny_lm(len(tokenizer)), tokenizer), healthy_rows(tokenizer, texts), tokenizer, pad_in_labels=True)
    assert tw.tripped and trainer.global_step == 0
    assert statuses(path)["FALSIFY-LOSS-MASK-003"] == "FALSIFIED"


def test_lightning_stops_a_model_without_its_causal_mask(tmp_path, tokenizer, texts):
    path = project(tmp_path)
    trainer, tw = fit(tmp_path, path, LitLM(tiny_lm(len(tokenizer), causal=False), tokenizer), healthy_rows(tokenizer, texts), tokenizer)
    assert tw.tripped and trainer.global_step == 0
    got = statuses(path)
    assert got["FALSIFY-CAUSAL-MASK-005"] == "FALSIFIED" and got["FALSIFY-LOSS-MASK-003"] is None


def test_lightning_healthy_trains_to_the_end_with_validation_all_green(tmp_path, tokenizer, texts):
    path = project(tmp_path)
    text_before = path.read_text()
    rows = healthy_rows(tokenizer, texts)
    trainer, tw = fit(tmp_path, path, LitLM(tiny_lm(len(tokenizer)), tokenizer), rows[:120], tokenizer, steps=10, val_rows=rows[120:])
    assert trainer.global_step == 10 and not tw.tripped, tw.failed()
    judged = {v.builtin for v, _ in tw.verdicts.values()}
    assert judged >= {"vocab-format", "shard-entropy", "loss-mask", "model-vocab-fit", "causal-mask", "metric-plausibility"}
    assert tw.verdicts["FALSIFY-METRIC-PLAUSIBILITY-006"][0].measurements.get("val_loss", 0) > 1.0  # an eval was judged
    assert all(v.passed is not False for v, _ in tw.verdicts.values())
    assert path.read_text() == text_before
