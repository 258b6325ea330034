"""Turn a model you already have into a ``TrainerSubject`` for the eval-batch falsifiers.

```python
# conftest.py of your repo
import pytest
from harness.subjects.adapters import ModuleTrainer, hf_causal_lm

@pytest.fixture
def my_lm():
    return ModuleTrainer(build=lambda seed: MyLM(), vocab_size=32_000)          # forward(ids) -> logits

@pytest.fixture
def my_hf_lm():
    from transformers import AutoConfig, AutoModelForCausalLM
    config = AutoConfig.from_pretrained("path/to/config")                          # local files only
    return hf_causal_lm(lambda seed: AutoModelForCausalLM.from_config(config), vocab_size=config.vocab_size, device="cuda")
```

``build(seed)`` returns a fresh model (random init is fine: the falsifiers judge the training
*code*, not the weights). ``loss_fn(logits, targets)`` defaults to mean cross-entropy; pass your own
(label smoothing, z-loss, an ignore index) so the falsifiers compare against what you train with.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def _torch():
    import torch

    return torch


def cross_entropy(logits, targets):
    torch = _torch()
    return torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), targets.reshape(-1))


class ModuleTrainer:
    """A plain ``torch.nn.Module`` (``model(ids) -> logits (B, T, V)``) with AdamW and a loss function."""

    def __init__(
        self,
        build: Callable[[int], Any],
        vocab_size: int,
        device: str = "cpu",
        loss_fn: Callable[[Any, Any], Any] = cross_entropy,
        optimizer: Callable[[Any], Any] | None = None,
        lr: float = 1e-3,
    ) -> None:
        self._build = build
        self.vocab_size = vocab_size
        self.device = device
        self.loss_fn = loss_fn
        self._optimizer = optimizer
        self.lr = lr
        self.model = None
        self.optimizer = None

    def forward(self, inputs):
        return self.model(inputs)

    def loss(self, logits, targets):
        """The training objective on raw logits: what a clean reference forward is scored with."""
        return self.loss_fn(logits, targets)

    def reset(self, seed: int) -> None:
        torch = _torch()
        torch.manual_seed(seed)
        self.model = self._build(seed).to(self.device)
        params = self.model.parameters()
        self.optimizer = self._optimizer(params) if self._optimizer else torch.optim.AdamW(params, lr=self.lr)

    def make_targets(self, window):
        return window[:, 1:]

    def make_batch(self, tokens, batch: int, seq_len: int, offset: int = 0):
        torch = _torch()
        rows = [torch.as_tensor(tokens[offset + b * (seq_len + 1) : offset + (b + 1) * (seq_len + 1)], dtype=torch.long) for b in range(batch)]
        window = torch.stack(rows).to(self.device)
        return window[:, :-1], self.make_targets(window)

    def eval_batch(self, inputs, targets) -> float:
        torch = _torch()
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.no_grad():
                return float(self.loss_fn(self.forward(inputs), targets))
        finally:
            self.model.train(was_training)

    def train_batch(self, inputs, targets) -> float:
        self.model.train()
        self.optimizer.zero_grad(set_to_none=True)
        loss = self.loss_fn(self.forward(inputs), targets)
        loss.backward()
        self.optimizer.step()
        return float(loss.detach())

    def state_snapshot(self) -> dict:
        torch = _torch()
        weights = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        opt = {k: {n: (t.detach().clone() if torch.is_tensor(t) else t) for n, t in s.items()} for k, s in self.optimizer.state_dict()["state"].items()}
        cuda_rng = torch.cuda.get_rng_state().clone() if str(self.device).startswith("cuda") else None
        return {"weights": weights, "optimizer": opt, "rng": torch.get_rng_state().clone(), "cuda_rng": cuda_rng, "training": self.model.training}


class _LogitsOf:
    """``model(input_ids=ids).logits`` as a module that returns raw logits."""

    def __init__(self, inner) -> None:
        self.inner = inner

    def __call__(self, ids):
        return self.inner(input_ids=ids).logits

    def __getattr__(self, name):
        return getattr(self.inner, name)


class HFCausalLMTrainer(ModuleTrainer):
    """A Hugging Face causal LM (``AutoModelForCausalLM``): its ``.logits``, same training step."""

    def reset(self, seed: int) -> None:
        super().reset(seed)
        self.model = _LogitsOf(self.model)


def hf_causal_lm(build: Callable[[int], Any], vocab_size: int, device: str = "cpu", **kwargs) -> HFCausalLMTrainer:
    return HFCausalLMTrainer(build, vocab_size, device=device, **kwargs)
