"""Real training code nobody here wrote (issue #39): Lightning's own demo module,
``lightning.pytorch.demos.transformer`` (vendored unchanged in ``tests/upstream/lightning``), trained
as Lightning's docs train it (``DataLoader(dataset)``: batch size 1, 35-id blocks, the target the
inputs shifted by one), on the standard library's source with the real Qwen2.5 vocab, with the
tripwire added as ``harness init --tripwire lightning`` prints it.

- The demo as shipped **sees the future**: its encoder reads every input without a mask and its
  decoder reads the very targets it predicts (Lightning issue #20920; the change that closed it,
  #21033, builds ``src_mask`` but never passes it). The causal-mask probe says so at step 0, a true
  finding — checked here independently of the probe;
- the demo with its masks passed (the fix a user makes): healthy, no crash, no FALSIFIED, the
  same losses with and without the tripwire, a checkpoint saved;
- the incident (hex-byte strings looked up in the Qwen2.5 vocab): stopped before the first
  optimizer step, exit status 1, the reason on the last line, no checkpoint.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("lightning")

from tests.test_real_code import QWEN_ROWS, qwen_corpus, statuses

UPSTREAM = Path(__file__).parent / "upstream" / "lightning"

# The user's script: Lightning's docs' starter module (docs/source-pytorch/common/lightning_module.rst)
# over the demo's `Transformer`, trained as there (`DataLoader(dataset)`, `L.Trainer(...)`, `fit`), a
# WikiText2-shaped dataset over the user's own token file, and a checkpoint saved after fitting.
TRAIN_PY = '''
import sys

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from transformer import Transformer

FIXED = "--fixed" in sys.argv


class Blocks(Dataset):
    """WikiText2's shape: 35-id blocks, the target the inputs shifted by one."""

    def __init__(self, path, block_size=35):
        self.data = torch.from_numpy(np.fromfile(path, dtype=np.uint32).astype(np.int64))
        self.block_size = block_size

    def __len__(self):
        return len(self.data) // self.block_size - 1

    def __getitem__(self, index):
        start = index * self.block_size
        return self.data[start : start + self.block_size], self.data[start + 1 : start + self.block_size + 1]


class CausalTransformer(Transformer):
    """The demo with its masks passed: the encoder and the cross-attention see no later input, and
    the decoder reads the inputs, not the targets it predicts."""

    def forward(self, inputs, target, mask=None):
        mask = self.generate_square_subsequent_mask(inputs.shape[1]).to(inputs.device)
        src = self.pos_encoder(self.embedding(inputs) * self.ninp**0.5)
        output = self.transformer(src, src, src_mask=mask, tgt_mask=mask, memory_mask=mask)
        return torch.nn.functional.log_softmax(self.decoder(output), dim=-1).view(-1, self.vocab_size)


class LightningTransformer(L.LightningModule):  # Lightning's docs' starter example, as written there
    def __init__(self, vocab_size):
        super().__init__()
        self.model = Transformer(vocab_size=vocab_size)

    def forward(self, inputs, target):
        return self.model(inputs, target)

    def training_step(self, batch, batch_idx):
        inputs, target = batch
        output = self(inputs, target)
        loss = torch.nn.functional.nll_loss(output, target.view(-1))
        return loss

    def configure_optimizers(self):
        return torch.optim.SGD(self.model.parameters(), lr=0.1)


class PrintLoss(L.Callback):
    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        print(f"step {trainer.global_step}: loss {float(outputs['loss']):.6f}", flush=True)


L.seed_everything(0)
model = LightningTransformer(vocab_size=VOCAB)
if FIXED:
    model.model = CausalTransformer(vocab_size=VOCAB)
callbacks = [PrintLoss()]
if "--tripwire" in sys.argv:
    from transformers import PreTrainedTokenizerFast

    from harness.demo.pipeline import vocab_dir
    from harness.tripwires.lightning import HarnessCallback

    tokenizer = PreTrainedTokenizerFast(tokenizer_file=str(vocab_dir() / "tokenizer.json"), eos_token="<|endoftext|>")
    callbacks.append(HarnessCallback("contracts/pipeline-v1.yaml", tokenizer=tokenizer))
trainer = L.Trainer(max_steps=6, accelerator="cpu", logger=False, enable_checkpointing=False, enable_progress_bar=False,
                    enable_model_summary=False, callbacks=callbacks)  # fmt: skip
trainer.fit(model, DataLoader(Blocks("data/qwen/train.bin")))
trainer.save_checkpoint("model.ckpt")
'''.replace("VOCAB", str(QWEN_ROWS))


def project(root: Path) -> Path:
    """A scratch project holding the demo module unchanged, the user's script and the contract
    ``harness init --tripwire lightning`` writes."""
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(UPSTREAM / "transformer.py", root / "transformer.py")
    (root / "train.py").write_text(TRAIN_PY)
    (root / "pyproject.toml").write_text("[tool.pytest.ini_options]\naddopts = '-p no:cacheprovider'\n")
    init = subprocess.run([sys.executable, "-m", "harness", "--root", str(root), "init", "--tripwire", "lightning"], cwd=root, capture_output=True, text=True)
    assert init.returncode == 0, init.stdout + init.stderr
    assert "HarnessCallback" in init.stdout and "exit status 1" in init.stdout
    return root


def fit(root: Path, *flags: str) -> subprocess.CompletedProcess:
    (root / "model.ckpt").unlink(missing_ok=True)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), *sys.path])}
    return subprocess.run([sys.executable, "train.py", *flags], cwd=root, capture_output=True, text=True, env=env, timeout=600)


def losses(out: str) -> list[str]:
    return re.findall(r"step \d+: loss [0-9.]+", out)


@pytest.mark.slow
def test_lightning_demo_fixed_trains_healthy_with_batch_size_1_and_the_same_losses(tmp_path):
    root = project(tmp_path / "lit")
    qwen_corpus(root, incident=False)
    plain = fit(root, "--fixed")
    assert plain.returncode == 0, plain.stderr[-3000:]
    with_tw = fit(root, "--fixed", "--tripwire")
    assert with_tw.returncode == 0, with_tw.stderr[-3000:]
    assert len(losses(plain.stdout)) == 6 and losses(plain.stdout) == losses(with_tw.stdout)
    assert (root / "model.ckpt").exists()
    assert "FALSIFIED" not in with_tw.stderr and "Traceback" not in with_tw.stderr
    assert "harness tripwire (pipeline-v1): step 0" in with_tw.stderr and "finished at step" in with_tw.stderr
    assert "tripwire_min_tokens" not in with_tw.stderr  # batches of 35 ids were read until there was enough
    assert "(causal-mask) not run" not in with_tw.stderr, with_tw.stderr[-3000:]  # the demo's flattened (B·T, V) output is probed
    assert set(statuses(root).values()) <= {None, "OPEN"}


@pytest.mark.slow
def test_lightning_demo_as_shipped_sees_the_future_and_the_tripwire_stops_it(tmp_path):
    import torch

    sys.path.insert(0, str(UPSTREAM))
    try:
        from transformer import Transformer
    finally:
        sys.path.remove(str(UPSTREAM))
    # independent of the probe: the demo's prediction at position 0 moves when only later tokens change
    torch.manual_seed(0)
    demo = Transformer(vocab_size=500).eval()
    ids = torch.randint(0, 500, (1, 36))
    later = ids.clone()
    later[0, 2:] = (later[0, 2:] + 7) % 500
    with torch.no_grad():
        first = demo(ids[:, :-1], ids[:, 1:]).view(1, 35, 500)[0, 0]
        moved = demo(later[:, :-1], later[:, 1:]).view(1, 35, 500)[0, 0]
    assert not torch.allclose(first, moved), "the demo no longer reads the future: update this test and its docstring"

    root = project(tmp_path / "lit")
    qwen_corpus(root, incident=False)
    stopped = fit(root, "--tripwire")
    assert stopped.returncode == 1, (stopped.returncode, stopped.stderr[-3000:])
    last = stopped.stderr.strip().splitlines()[-1]
    assert "harness tripwire FALSIFIED at step 0" in last and "causal" in last.lower() and "sees future tokens" in last, last
    assert not (root / "model.ckpt").exists() and not losses(stopped.stdout)


@pytest.mark.slow
def test_lightning_incident_is_stopped_before_the_first_step_with_exit_1(tmp_path):
    root = project(tmp_path / "lit")
    qwen_corpus(root, incident=True)
    stopped = fit(root, "--fixed", "--tripwire")
    assert stopped.returncode == 1, (stopped.returncode, stopped.stderr[-3000:])
    last = stopped.stderr.strip().splitlines()[-1]
    assert "harness tripwire FALSIFIED at step 0" in last and "exit status 1" in last, last
    assert "Traceback" not in stopped.stderr
    assert not (root / "model.ckpt").exists()
    assert not losses(stopped.stdout)  # stopped before the first optimizer step
    assert "FALSIFIED" in statuses(root).values()
