"""``HarnessCallback`` for ``transformers.Trainer``: the contract's falsifiers inside the run.

```python
from harness.tripwires.hf import HarnessCallback
trainer = Trainer(..., callbacks=[HarnessCallback("contracts/pipeline-v1.yaml")])
```
At ``on_train_begin`` it reads the first batches of the trainer's train data loader and probes the
model; a FALSIFIED check stops the run before its first optimizer step (the step's gradients are
dropped, so no weight moves). Every log and eval is judged; the verdicts reach the contract at
``on_train_end``.
"""

from __future__ import annotations

from transformers import TrainerCallback

from harness.tripwires.engine import Tripwire


class HarnessCallback(TrainerCallback):
    """``options`` are ``Tripwire``'s: ``on_falsified`` ("stop" | "raise" | "warn"), ``batches``,
    ``eval_batches``, ``no_learning_steps``, ``write``. ``eval_dataloader``: judge this eval loader
    at step 0 (else the Trainer's, at its first evaluation)."""

    def __init__(self, contract, *, eval_dataloader=None, **options) -> None:
        self.tripwire = Tripwire(contract, framework="transformers", **options)
        self.eval_dataloader = eval_dataloader

    def _stop(self, control) -> None:
        if self.tripwire.should_stop:
            control.should_training_stop = True

    def on_train_begin(self, args, state, control, model=None, processing_class=None, train_dataloader=None, eval_dataloader=None, **kwargs):
        tokenizer = processing_class if processing_class is not None else kwargs.get("tokenizer")
        self.tripwire.before_training(model=model, tokenizer=tokenizer, train_loader=train_dataloader, eval_loader=eval_dataloader or self.eval_dataloader)
        self._stop(control)

    def on_pre_optimizer_step(self, args, state, control, optimizer=None, model=None, **kwargs):
        if self.tripwire.should_stop:
            if model is not None:
                model.zero_grad(set_to_none=True)  # the falsified run's update is dropped: no weight moves
            control.should_training_stop = True

    def on_log(self, args, state, control, logs=None, **kwargs):
        logs = logs or {}
        if "loss" in logs:
            self.tripwire.on_loss(state.global_step, float(logs["loss"]))
        self._stop(control)

    def on_evaluate(self, args, state, control, metrics=None, eval_dataloader=None, **kwargs):
        self.tripwire.on_eval_loader(eval_dataloader)  # the Trainer builds its eval loader at the first evaluate
        self.tripwire.on_eval(state.global_step, dict(metrics or {}))
        self._stop(control)

    def on_step_end(self, args, state, control, **kwargs):
        self._stop(control)

    def on_train_end(self, args, state, control, **kwargs):
        self.tripwire.finish()
