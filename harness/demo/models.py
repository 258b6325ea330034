"""Model subjects: a tiny causal LM and the Qwen2.5-0.5B architecture at random init, driven by
a reference trainer that — like the incident's — keeps one preallocated logits buffer shared by
train and eval. Planted defects are subclasses that change one real code path each.

They implement ``harness.subjects.protocols.TrainerSubject``.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.subjects.adapters import ModuleTrainer, cross_entropy


@dataclass(frozen=True)
class TinyConfig:
    """The seed's unit-level config: 2 layers, hidden 64, vocab 1000."""

    vocab_size: int = 1000
    hidden: int = 64
    layers: int = 2
    heads: int = 4
    max_seq: int = 512
    dropout: float = 0.1


def _torch():
    import torch

    return torch


def build_tiny_lm(config: TinyConfig, seed: int, causal: bool = True, tokens: bool = True):
    """The tiny causal LM; ``causal=False`` is the planted defect of a forward that forgets the
    attention mask (every position sees the whole window, the future included); ``tokens=False``
    the one of a forward whose token embedding is overwritten by the positional one (the model
    sees no id: it can learn only the ids' frequencies)."""
    torch = _torch()
    nn = torch.nn

    class TinyCausalLM(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = nn.Embedding(config.vocab_size, config.hidden)
            self.pos = nn.Embedding(config.max_seq, config.hidden)
            layer = nn.TransformerEncoderLayer(config.hidden, config.heads, 4 * config.hidden, dropout=config.dropout, batch_first=True, norm_first=True)
            self.blocks = nn.TransformerEncoder(layer, config.layers, enable_nested_tensor=False)
            self.norm = nn.LayerNorm(config.hidden)
            self.head = nn.Linear(config.hidden, config.vocab_size, bias=False)

        def forward(self, ids):
            t = ids.shape[1]
            x = self.embed(ids) + self.pos(torch.arange(t, device=ids.device))
            if not tokens:  # the refactor's slip: `x = self.pos(...)` where it meant `x = x + self.pos(...)`
                x = self.pos(torch.arange(t, device=ids.device)).expand(ids.shape[0], t, -1)
            if not causal:
                return self.head(self.norm(self.blocks(x)))
            mask = torch.nn.Transformer.generate_square_subsequent_mask(t, device=ids.device)
            return self.head(self.norm(self.blocks(x, mask=mask, is_causal=True)))

    torch.manual_seed(seed)
    return TinyCausalLM()


def build_gpt_with_loss(config: TinyConfig, seed: int, shift_in_loss: bool = False):
    """The tiny LM behind nanoGPT's convention, ``forward(idx, targets=None) -> (logits, loss)``:
    the loader hands targets already shifted by one, and the loss scores each position's logits
    against its own target. ``shift_in_loss=True`` is the planted defect of a loss copied from a
    Hugging Face model (``logits[:, :-1]`` against ``targets[:, 1:]``) into this convention: the
    targets are shifted twice and the model trains on the token after next."""
    torch = _torch()
    nn = torch.nn
    lm = build_tiny_lm(config, seed)

    class GPTWithLoss(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lm = lm

        def forward(self, idx, targets=None):
            logits = self.lm(idx)
            if targets is None:
                return logits, None
            scored, wanted = (logits[:, :-1], targets[:, 1:]) if shift_in_loss else (logits, targets)
            loss = nn.functional.cross_entropy(scored.reshape(-1, scored.size(-1)), wanted.reshape(-1), ignore_index=-1)
            return logits, loss

    return GPTWithLoss()


def build_gru_lm(config: TinyConfig, seed: int):
    """A recurrent LM (embedding, 2-layer GRU, head): causal by construction, a second healthy
    architecture for the causal probe."""
    torch = _torch()
    nn = torch.nn

    class GruLM(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = nn.Embedding(config.vocab_size, config.hidden)
            self.rnn = nn.GRU(config.hidden, config.hidden, num_layers=config.layers, batch_first=True, dropout=config.dropout)
            self.head = nn.Linear(config.hidden, config.vocab_size)

        def forward(self, ids):
            return self.head(self.rnn(self.embed(ids))[0])

    torch.manual_seed(seed)
    return GruLM()


QWEN2_0_5B = dict(
    vocab_size=151_936,
    hidden_size=896,
    intermediate_size=4864,
    num_hidden_layers=24,
    num_attention_heads=14,
    num_key_value_heads=2,
    max_position_embeddings=32768,
    rope_theta=1_000_000.0,
    rms_norm_eps=1e-6,
    tie_word_embeddings=True,
    hidden_act="silu",
)


def build_qwen2_0_5b(seed: int, device: str, dtype_name: str = "bfloat16"):
    """The published Qwen2.5-0.5B architecture at random init, built on ``device``; no weights downloaded."""
    torch = _torch()
    from transformers import Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(seed)
    config = Qwen2Config(**QWEN2_0_5B, attn_implementation="sdpa")
    dtype = getattr(torch, dtype_name)
    with torch.device(device):
        model = Qwen2ForCausalLM(config).to(dtype)

    class Wrapped(torch.nn.Module):
        def __init__(self, inner) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, ids):
            return self.inner(input_ids=ids).logits

    return Wrapped(model)


class ReferenceTrainer(ModuleTrainer):
    """A trainer with one preallocated logits buffer shared by train and eval (as the incident's).

    Built on the core adapter: batches (targets = inputs shifted by one, via ``make_targets``) and
    state snapshots are ``ModuleTrainer``'s; the buffer, the eval path and the train step are the
    incident's, with the hooks the planted defects override."""

    def __init__(
        self, build, vocab_size: int, device: str = "cpu", lr: float = 3e-3, max_batch: int = 16, max_seq: int = 512, buffer_dtype: str = "float32"
    ) -> None:
        torch = _torch()
        self._build = build
        self.vocab_size = vocab_size
        self.device = device
        self.loss_fn = cross_entropy
        self.lr = lr
        self.max_batch = max_batch
        self.max_seq = max_seq
        self._buffer_dtype = getattr(torch, buffer_dtype)
        self.model = None
        self.optimizer = None
        self.logits_buf = None

    def reset(self, seed: int) -> None:
        torch = _torch()
        self.model = self._build(seed).to(self.device)
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=self.lr)
        self.logits_buf = torch.zeros(self.max_batch, self.max_seq, self.vocab_size, device=self.device, dtype=self._buffer_dtype)

    # -- eval
    def _eval_forward(self, inputs):
        b, t = inputs.shape
        buf = self.logits_buf[:b, :t]
        buf.copy_(self.model(inputs))
        return buf

    def _loss_to_host(self, loss) -> float:
        return float(loss.item())

    def _enter_eval(self):
        was_training = self.model.training
        self.model.eval()
        return was_training

    def eval_batch(self, inputs, targets) -> float:
        torch = _torch()
        was_training = self._enter_eval()
        try:
            with torch.no_grad():
                logits = self._eval_forward(inputs)
                loss = torch.nn.functional.cross_entropy(logits.reshape(-1, self.vocab_size).float(), targets.reshape(-1))
                self._after_eval()
                return self._loss_to_host(loss)
        finally:
            self.model.train(was_training)

    def _after_eval(self) -> None:
        pass

    # -- train: the fused cross-entropy writes dL/dlogits into the shared buffer (KAIZEN-052)
    def train_batch(self, inputs, targets) -> float:
        torch = _torch()
        self.model.train()
        self.optimizer.zero_grad(set_to_none=False)
        logits = self.model(inputs)
        logits.retain_grad()
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, self.vocab_size).float(), targets.reshape(-1))
        loss.backward()
        b, t = inputs.shape
        self.logits_buf[:b, :t].copy_(logits.grad)
        self._before_step()
        self.optimizer.step()
        return float(loss.item())

    def _before_step(self) -> None:
        """Between backward and the optimizer step (the hook a planted defect overrides)."""


# ----------------------------------------------------------------------------- planted defects
class StaleLogitsTrainer(ReferenceTrainer):
    """H1A: eval's 'last position only' fast path overwrites one column of the shared buffer;
    the loss still reads the whole slice, so every other position is the train step's gradient."""

    def _eval_forward(self, inputs):
        b, t = inputs.shape
        buf = self.logits_buf[:b, :t]
        buf[:, -1:].copy_(self.model(inputs)[:, -1:])
        return buf


class LabelsEqualInputsTrainer(ReferenceTrainer):
    """H1C: held-out targets are the inputs themselves, not the inputs shifted by one."""

    def make_targets(self, window):
        return window[:, :-1]


class DropoutInEvalTrainer(ReferenceTrainer):
    """Eval forgets ``model.eval()``: dropout stays on and consumes the RNG."""

    def _enter_eval(self):
        return self.model.training


class OptimizerStepInEvalTrainer(ReferenceTrainer):
    """Eval 'finishes' a pending update: it steps the optimizer with the last train gradients."""

    def _after_eval(self) -> None:
        self.optimizer.step()


class UnsyncedLossTrainer(ReferenceTrainer):
    """H1B (CUDA): the loss is copied device→host with ``non_blocking=True`` into pinned memory and
    read without a stream synchronisation, so the host reads whatever the buffer held before."""

    def reset(self, seed: int) -> None:
        super().reset(seed)
        torch = _torch()
        self._host_loss = torch.zeros((), dtype=torch.float32, pin_memory=True)

    def _loss_to_host(self, loss) -> float:
        self._host_loss.zero_()
        self._host_loss.copy_(loss.detach().float(), non_blocking=True)
        return float(self._host_loss.numpy())  # no torch.cuda.synchronize(): the bug


class GradientsZeroedBeforeStepTrainer(ReferenceTrainer):
    """A loop with ``optimizer.zero_grad()`` moved between ``backward()`` and ``step()``: every step
    applies zero gradients (AdamW's weight decay alone moves the weights); the loss stays at init."""

    def _before_step(self) -> None:
        self.optimizer.zero_grad(set_to_none=False)


DEFECTS = {
    "stale_logits": StaleLogitsTrainer,
    "labels_equal_inputs": LabelsEqualInputsTrainer,
    "dropout_in_eval": DropoutInEvalTrainer,
    "optimizer_step_in_eval": OptimizerStepInEvalTrainer,
    "unsynced_loss": UnsyncedLossTrainer,
    "gradients_zeroed_before_step": GradientsZeroedBeforeStepTrainer,
}


def tiny_trainer(kind: str = "healthy", config: TinyConfig | None = None, device: str = "cpu", lr: float = 3e-3) -> ReferenceTrainer:
    config = config or TinyConfig()
    if kind == "no_causal_mask":  # a model defect, not a trainer one: the forward drops the mask
        return ReferenceTrainer(lambda seed: build_tiny_lm(config, seed, causal=False), config.vocab_size, device=device, lr=lr, max_seq=config.max_seq)
    if kind == "position_only":  # a model defect: the token embedding is overwritten by the positions'
        return ReferenceTrainer(lambda seed: build_tiny_lm(config, seed, tokens=False), config.vocab_size, device=device, lr=lr, max_seq=config.max_seq)
    cls = ReferenceTrainer if kind == "healthy" else DEFECTS[kind]
    return cls(lambda seed: build_tiny_lm(config, seed), config.vocab_size, device=device, lr=lr, max_seq=config.max_seq)


def smoothed_trainer(config: TinyConfig | None = None, smoothing: float = 0.1, device: str = "cpu") -> ModuleTrainer:
    """A legitimate objective the falsifiers must not mistake for a defect: the tiny LM trained with
    label smoothing through the core adapter (``ModuleTrainer`` with its own ``loss_fn``)."""
    torch = _torch()
    config = config or TinyConfig()

    def smoothed(logits, targets):
        return torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), targets.reshape(-1), label_smoothing=smoothing)

    return ModuleTrainer(lambda seed: build_tiny_lm(config, seed), config.vocab_size, device=device, loss_fn=smoothed, lr=3e-3)


def gru_trainer(config: TinyConfig | None = None, device: str = "cpu") -> ModuleTrainer:
    config = config or TinyConfig()
    return ModuleTrainer(lambda seed: build_gru_lm(config, seed), config.vocab_size, device=device, lr=3e-3)


def qwen_trainer(kind: str = "healthy", device: str = "cuda", dtype: str = "bfloat16", max_batch: int = 4, max_seq: int = 512) -> ReferenceTrainer:
    cls = ReferenceTrainer if kind == "healthy" else DEFECTS[kind]
    return cls(
        lambda seed: build_qwen2_0_5b(seed, device, dtype),
        QWEN2_0_5B["vocab_size"],
        device=device,
        lr=1e-5,
        max_batch=max_batch,
        max_seq=max_seq,
        buffer_dtype=dtype,
    )
