"""``HarnessCallback`` for Lightning (``lightning.pytorch`` or ``pytorch_lightning``).

```python
from harness.tripwires.lightning import HarnessCallback
trainer = L.Trainer(callbacks=[HarnessCallback("contracts/pipeline-v1.yaml", tokenizer=tokenizer)])
```
At ``on_train_start`` it reads the first batches of the trainer's loaders and probes the module; a
FALSIFIED check sets ``trainer.should_stop`` and drops the gradients of the step in flight. Each
train batch's loss and each validation's ``val_loss`` are judged; the verdicts reach the contract
when fitting ends.
"""

from __future__ import annotations

try:
    from lightning.pytorch import Callback
except ImportError:  # the standalone package
    from pytorch_lightning import Callback

from harness.tripwires.engine import Tripwire


class HarnessCallback(Callback):
    """``options`` are ``Tripwire``'s: ``on_falsified`` ("stop" | "raise" | "warn"), ``batches``,
    ``eval_batches``, ``no_learning_steps``, ``write``. ``tokenizer``: the run's tokenizer, when the
    module has no ``tokenizer`` attribute."""

    def __init__(self, contract, *, tokenizer=None, **options) -> None:
        self.tripwire = Tripwire(contract, framework="lightning", **options)
        self.tokenizer = tokenizer

    def on_train_start(self, trainer, pl_module) -> None:
        val = _first_loader(trainer.val_dataloaders)  # None until a validation ran (no sanity check): judged then
        tokenizer = self.tokenizer if self.tokenizer is not None else getattr(pl_module, "tokenizer", None)
        self.tripwire.before_training(model=pl_module, tokenizer=tokenizer, train_loader=trainer.train_dataloader, eval_loader=val)
        if self.tripwire.should_stop:
            trainer.should_stop = True

    def on_before_optimizer_step(self, trainer, pl_module, optimizer) -> None:
        if self.tripwire.should_stop:
            optimizer.zero_grad(set_to_none=True)  # the falsified run's update is dropped
            trainer.should_stop = True

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        loss = outputs.get("loss") if isinstance(outputs, dict) else outputs
        if loss is not None:
            self.tripwire.on_loss(trainer.global_step, float(loss))
        if self.tripwire.should_stop:
            trainer.should_stop = True

    def on_validation_end(self, trainer, pl_module) -> None:
        if trainer.sanity_checking:
            return
        self.tripwire.on_eval_loader(_first_loader(trainer.val_dataloaders))
        metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if getattr(v, "numel", lambda: 1)() == 1}
        self.tripwire.on_eval(trainer.global_step, metrics)
        if self.tripwire.should_stop:
            trainer.should_stop = True

    def on_fit_end(self, trainer, pl_module) -> None:
        self.tripwire.finish()

    def on_exception(self, trainer, pl_module, exception) -> None:
        self.tripwire.finish(gather=False)  # one rank's exception: the others may never get here


def _first_loader(loaders):
    return loaders[0] if isinstance(loaders, (list, tuple)) and loaders else loaders
