"""The pipelines the tripwire tests train: the real Qwen2.5 tokenizer over the standard library's
source, healthy rows and the incident's hex-byte rows, a collator with and without the planted
pad-in-labels bug, a tiny causal LM with and without its mask, and the nanoGPT-style loop that
calls a ``Tripwire``. Shared by the loop, Hugging Face, Lightning and DDP tests (the DDP workers
import it in fresh processes)."""

from __future__ import annotations

import random
from pathlib import Path

import torch

CONTRACT = """\
metadata:
  id: pipeline-v1
  version: 1.0.0
  status: DRAFT
falsification_tests:
- id: FALSIFY-VOCAB-FORMAT-001
  rule: the vocab holds what the encoder emits
  test: builtin:vocab-format
  subject: training_run
- id: FALSIFY-SHARD-ENTROPY-002
  rule: the training data carries real text
  test: builtin:shard-entropy
  subject: training_run
- id: FALSIFY-LOSS-MASK-003
  rule: padding never enters the loss
  test: builtin:loss-mask
  subject: training_run
- id: FALSIFY-VOCAB-FIT-004
  rule: every id fits the model's embedding
  test: builtin:model-vocab-fit
  subject: training_run
- id: FALSIFY-CAUSAL-MASK-005
  rule: the model cannot see future tokens
  test: builtin:causal-mask
  subject: training_run
- id: FALSIFY-METRIC-PLAUSIBILITY-006
  rule: losses are finite, plausible and move
  test: builtin:metric-plausibility
  subject: training_run
- id: FALSIFY-SPLIT-OVERLAP-007
  rule: the eval set holds no training data
  test: builtin:split-overlap
  subject: training_run
- id: FALSIFY-EVAL-COVERAGE-008
  rule: the eval scores many different rows
  test: builtin:eval-coverage
  subject: training_run
"""


def qwen_tokenizer():
    from transformers import PreTrainedTokenizerFast

    from harness.demo.pipeline import vocab_dir

    return PreTrainedTokenizerFast(tokenizer_file=str(vocab_dir() / "tokenizer.json"), eos_token="<|endoftext|>", pad_token="<|endoftext|>")


def stdlib_texts():
    from harness.demo.corpus import stdlib_documents

    return [text for _, text in stdlib_documents(max_bytes=300_000)][:96]


def _rows(ids: list[int], count=160, seq=64):
    """Windows of 32..64 ids cut from one stream (so batches pad their shorter rows)."""
    rng = random.Random(0)
    rows, start = [], 0
    while len(rows) < count and start < len(ids) - seq:
        width = rng.randint(seq // 2, seq)
        rows.append({"input_ids": ids[start : start + width]})
        start += width
    return rows


def healthy_rows(tokenizer, texts):
    return _rows([i for text in texts for i in tokenizer(text)["input_ids"] + [tokenizer.eos_token_id]])


def gpt2_rows(texts):
    """Another tokenizer's ids for the same text: GPT-2's (its real rank file, from the openai-whisper
    sdist, tests/data/gpt2), all below Qwen2.5's vocab size, so no count or bound sees them."""
    import base64

    import tiktoken

    lines = (Path(__file__).parent / "data" / "gpt2" / "gpt2.tiktoken").read_text().split("\n")
    ranks = {base64.b64decode(token): int(rank) for token, rank in (line.split() for line in lines if line)}
    pattern = r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
    enc = tiktoken.Encoding("gpt2", pat_str=pattern, mergeable_ranks=ranks, special_tokens={"<|endoftext|>": 50256})
    return _rows([i for text in texts for i in [*enc.encode_ordinary(text), enc.eot_token]])


def incident_rows(tokenizer, texts):
    """The incident's encoder: text → hex-byte strings ("def" → "64","65","66"), looked up in the
    byte-level Qwen vocab, a miss mapped to the unk id."""
    vocab, unk = tokenizer.get_vocab(), tokenizer.eos_token_id
    return _rows([vocab.get(f"{b:02x}", unk) for text in texts for b in text.encode()])


def collate(pad_id, *, pad_in_labels=False):
    """Pad to the longest row; labels equal input_ids (the HF convention: the model shifts them),
    -100 on padding — unless ``pad_in_labels``, the planted collator bug."""

    def make(rows):
        width = max(len(r["input_ids"]) for r in rows)
        ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, r in enumerate(rows):
            ids[i, : len(r["input_ids"])] = torch.tensor(r["input_ids"])
            mask[i, : len(r["input_ids"])] = 1
        labels = ids.clone()
        if not pad_in_labels:
            labels[mask == 0] = -100
        return {"input_ids": ids, "attention_mask": mask, "labels": labels}

    return make


def project(tmp_path: Path) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "pyproject.toml").write_text("[project]\nname='p'\n")
    (tmp_path / "contracts").mkdir()
    path = tmp_path / "contracts" / "pipeline-v1.yaml"
    path.write_text(CONTRACT)
    return path


def statuses(path: Path) -> dict:
    from harness.snapshot import load_contract

    contract, findings = load_contract(path, root=path.parents[1])
    assert contract is not None, findings
    return {f.id: f.status for f in contract.falsifiers}


def tiny_lm(vocab_size: int, causal: bool = True):
    from harness.demo.models import TinyConfig, build_tiny_lm

    config = TinyConfig(vocab_size=vocab_size, hidden=32, layers=1, heads=2, max_seq=128, dropout=0.0)
    return build_tiny_lm(config, seed=0, causal=causal)


def run_loop(path, model, loader, tokenizer, *, steps=20, lr=3e-3, eval_loader=None, **tripwire):
    """A nanoGPT-style loop with the tripwire's three calls; returns (tripwire, steps taken)."""
    from harness.tripwires import Tripwire, TripwireStopped

    tw = Tripwire(path, **tripwire)
    taken = 0
    try:
        tw.before_training(model=model, tokenizer=tokenizer, train_loader=loader, eval_loader=eval_loader)
        optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
        for step, batch in enumerate(loader):
            if tw.should_stop or step >= steps:
                break
            logits = model(batch["input_ids"])
            loss = torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), batch["labels"][:, 1:].reshape(-1), ignore_index=-100)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            taken += 1
            tw.on_loss(step, float(loss))
        tw.finish()
    except TripwireStopped as stopped:  # the default: a falsified run ends now, exit status 1
        assert "FALSIFIED" in str(stopped)  # its code is the message: printed last, exit status 1
    return tw, taken


def loader_of(rows, pad_id, **kwargs):
    return torch.utils.data.DataLoader(rows, batch_size=8, shuffle=True, collate_fn=collate(pad_id, **kwargs))


def ddp_worker(rank: int, world: int, init_file: str, path: str, broken_rank: int, out: str) -> None:
    """One rank of a 2-process gloo DDP run of the loop: rank ``broken_rank`` reads the incident's
    rows, the others healthy ones. Writes what it saw to ``out``/rank-N.json."""
    import datetime
    import json

    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world, timeout=datetime.timedelta(seconds=60))
    try:
        tokenizer, texts = qwen_tokenizer(), stdlib_texts()
        rows = incident_rows(tokenizer, texts) if rank == broken_rank else healthy_rows(tokenizer, texts)
        model = torch.nn.parallel.DistributedDataParallel(tiny_lm(len(tokenizer)))
        tw, taken = run_loop(Path(path), model, loader_of(rows, tokenizer.pad_token_id), tokenizer, steps=6)
        Path(out, f"rank-{rank}.json").write_text(json.dumps({"taken": taken, "tripped": tw.tripped, "failed": [fid for fid, _, _ in tw.failed()]}))
    finally:
        dist.destroy_process_group()
