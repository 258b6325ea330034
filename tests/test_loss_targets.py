"""The targets a model's own loss scores (#40 item 6): read from the loss real models return —
Hugging Face's ``Qwen2ForCausalLM`` (labels = input ids, the model shifts), nanoGPT's ``GPT``
(vendored unchanged: the loader shifts, the loss does not) — and red where the shifts add up to
two; a model that returns no loss (Lightning's demo) is not judged, never passed. And the
tripwire: the same probe at step 0 of a loop, and Hugging Face's own
``DataCollatorForLanguageModeling`` with pad = EOS masking each document's end."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from harness.checks.shift import judge  # noqa: E402
from tests.tripwire_pipelines import healthy_rows, project, qwen_tokenizer, statuses, stdlib_texts  # noqa: E402

UPSTREAM = Path(__file__).parent / "upstream"


@pytest.fixture(scope="module")
def tokenizer():
    return qwen_tokenizer()


@pytest.fixture(scope="module")
def ids(tokenizer):
    stream = [i for text in stdlib_texts()[:8] for i in tokenizer(text)["input_ids"] + [tokenizer.eos_token_id]]
    return torch.tensor(stream[: 4 * 65]).reshape(4, 65)


def _load(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _judged(model, batch):
    model.eval()
    with torch.no_grad():
        return judge(model, batch)


def test_hugging_face_labels_equal_to_the_inputs_are_scored_once_shifted(tokenizer, ids):
    from tests.test_tripwires import qwen2

    model = qwen2(len(tokenizer))
    got = _judged(model, {"input_ids": ids[:, :-1], "labels": ids[:, :-1].clone()})
    assert got.passed is True, got
    assert got.measurements["loader_shift"] == 0 and got.measurements["model_loss_shift"] == 1


def test_hugging_face_labels_shifted_by_the_loader_too_are_shifted_twice(tokenizer, ids):
    from tests.test_tripwires import qwen2

    got = _judged(qwen2(len(tokenizer)), {"input_ids": ids[:, :-1], "labels": ids[:, 1:]})
    assert got.passed is False and "shifted twice" in got.why, got


def test_nanogpts_own_model_with_its_loaders_targets_is_scored_once(tokenizer, ids):
    nanogpt = _load(UPSTREAM / "nanogpt" / "model.py", "nanogpt_model")
    torch.manual_seed(0)
    model = nanogpt.GPT(nanogpt.GPTConfig(block_size=64, vocab_size=len(tokenizer), n_layer=1, n_head=2, n_embd=32))
    got = _judged(model, (ids[:, :-1], ids[:, 1:]))  # get_batch: y = x shifted by one
    assert got.passed is True, got
    assert got.measurements["loader_shift"] == 1 and got.measurements["model_loss_shift"] == 0
    got = _judged(model, (ids[:, :-1], ids[:, :-1]))  # a get_batch that forgot the shift
    assert got.passed is False and "no shift anywhere" in got.why, got


def test_a_model_that_returns_no_loss_is_not_judged(ids):
    pytest.importorskip("lightning")
    demo = _load(UPSTREAM / "lightning" / "transformer.py", "lightning_demo_transformer")
    model = demo.Transformer(vocab_size=int(ids.max()) + 1, ninp=32, nhead=2, nhid=32, nlayers=1)
    got = _judged(model, (ids[:, :-1], ids[:, 1:]))
    assert got.passed is None and "no loss" in got.why, got


def test_label_smoothing_is_another_objective_not_a_shift(ids):
    from harness.demo.models import TinyConfig, build_tiny_lm

    lm = build_tiny_lm(TinyConfig(vocab_size=int(ids.max()) + 1, hidden=32, layers=1, heads=2, max_seq=64, dropout=0.0), seed=0)

    class Smoothed(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lm = lm

        def forward(self, idx, targets=None):
            logits = self.lm(idx)
            return logits, torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), label_smoothing=0.1)

    got = _judged(Smoothed(), (ids[:, :-1], ids[:, 1:]))
    assert got.passed is None and "another objective" in got.why, got


CONTRACT = """\
metadata:
  id: pipeline-v1
  version: 1.0.0
  status: DRAFT
falsification_tests:
- id: FALSIFY-LOSS-MASK-001
  rule: padding never enters the loss, the text does
  test: builtin:loss-mask
  subject: training_run
- id: FALSIFY-TARGET-ALIGNMENT-002
  rule: the loss scores each position's next token
  test: builtin:target-alignment
  subject: training_run
"""


def _project(tmp_path):
    path = project(tmp_path)
    path.write_text(CONTRACT)
    return path


def test_tripwire_stops_a_loss_that_shifts_the_loaders_targets_again(tmp_path, ids):
    from harness.demo.models import TinyConfig, build_gpt_with_loss
    from harness.tripwires import Tripwire, TripwireFalsified

    config = TinyConfig(vocab_size=int(ids.max()) + 1, hidden=32, layers=1, heads=2, max_seq=64, dropout=0.0)
    batches = [(ids[:, :-1], ids[:, 1:])] * 4
    path = _project(tmp_path / "red")
    with pytest.raises(TripwireFalsified, match="inside the model's loss"):
        Tripwire(path, on_falsified="raise").before_training(model=build_gpt_with_loss(config, 0, shift_in_loss=True), train_loader=batches)
    assert statuses(path)["FALSIFY-TARGET-ALIGNMENT-002"] == "FALSIFIED"
    path = _project(tmp_path / "green")
    verdicts = Tripwire(path).before_training(model=build_gpt_with_loss(config, 0), train_loader=batches)
    alignment = next(v for v in verdicts if v.builtin == "target-alignment")
    assert alignment.passed is True, alignment


def test_tripwire_stops_hugging_faces_collator_masking_the_end_of_text_with_the_padding(tmp_path, tokenizer):
    """``DataCollatorForLanguageModeling(mlm=False)`` sets ``labels[labels == pad_token_id] = -100``;
    with Qwen's pad = EOS every document's real end leaves the loss."""
    transformers = pytest.importorskip("transformers")
    from harness.tripwires import Tripwire

    rows = [{"input_ids": [*tokenizer(text)["input_ids"][:40], tokenizer.eos_token_id]} for text in stdlib_texts()[:32]]
    real = transformers.DataCollatorForLanguageModeling(tokenizer, mlm=False)
    loader = torch.utils.data.DataLoader(rows, batch_size=8, collate_fn=real)
    path = _project(tmp_path / "red")
    verdicts = Tripwire(path, on_falsified="warn").before_training(model=None, tokenizer=tokenizer, train_loader=loader)
    mask = next(v for v in verdicts if v.builtin == "loss-mask")
    assert mask.passed is False and "never learns to end a document" in mask.message, mask
    assert statuses(path)["FALSIFY-LOSS-MASK-001"] == "FALSIFIED"

    from tests.tripwire_pipelines import loader_of

    path = _project(tmp_path / "green")
    verdicts = Tripwire(path).before_training(
        model=None, tokenizer=tokenizer, train_loader=loader_of(healthy_rows(tokenizer, stdlib_texts()), tokenizer.pad_token_id)
    )
    mask = next(v for v in verdicts if v.builtin == "loss-mask")
    assert mask.passed is True and mask.measurements["eos_scored"] > 0, mask


@pytest.mark.parametrize("seed", range(12))
def test_the_loss_shift_is_told_apart_at_every_seed(seed, tokenizer, ids):
    """Twelve inits of each model (the premise — the loss at one shift, told from the others within
    float32 rounding — holds on every one): healthy ones pass, the planted shift is caught."""
    from harness.demo.models import TinyConfig, build_gpt_with_loss
    from tests.test_tripwires import qwen2

    config = TinyConfig(vocab_size=len(tokenizer), hidden=32, layers=1, heads=2, max_seq=64, dropout=0.0)
    batch = (ids[:, :-1], ids[:, 1:])
    assert _judged(build_gpt_with_loss(config, seed), batch).passed is True
    assert _judged(build_gpt_with_loss(config, seed, shift_in_loss=True), batch).passed is False
    torch.manual_seed(seed)
    model = qwen2(len(tokenizer))
    torch.manual_seed(seed)
    model.apply(model._init_weights)
    assert _judged(model, {"input_ids": ids[:, :-1], "labels": ids[:, :-1].clone()}).passed is True
