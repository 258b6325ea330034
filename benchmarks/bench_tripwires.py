"""Tripwires' cost inside a real Hugging Face ``Trainer`` run, and how fast they stop the incident.

Three figures, each a ratio against a baseline in the same run:

- **overhead**: a healthy ``steps``-step run with ``HarnessCallback`` against the same run without
  it (pairs in alternating order, the median of the paired ratios and the ratio of the best
  times; goal ≤ 1.02×);
- **step 0**: the step-0 checks (``Tripwire.before_training``: first batches, tokenizer, causal
  probe on the model) against 10 training steps of the same run (goal ≤ 1×);
- **time to stop**: the incident's pipeline (hex-byte strings into the Qwen2.5 vocab) with the
  callback — steps and seconds from ``trainer.train()`` to the stop — against the healthy run's
  full length, the GPU time it would have wasted.

CPU: a small Qwen2 (``--arch small``). GPU runner: the Qwen2.5-0.5B architecture at random init in
bf16 (``--arch qwen2.5-0.5b``; ``--seq 512``).

    python benchmarks/bench_tripwires.py [--arch small|qwen2.5-0.5b] [--steps 200] [--pairs 3] [--seq 64] [--batch 8]
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import random
import statistics
import tempfile
import time
from pathlib import Path

CONTRACT = "metadata:\n  id: bench\n  version: 1.0.0\n  status: DRAFT\nfalsification_tests:\n" + "".join(
    f"- id: F-{i}\n  rule: r\n  test: builtin:{b}\n  subject: training_run\n"
    for i, b in enumerate(
        ("vocab-format", "shard-entropy", "loss-mask", "model-vocab-fit", "causal-mask", "split-overlap", "eval-coverage", "metric-plausibility")
    )
)


def tokenizer():
    from transformers import PreTrainedTokenizerFast

    from harness.demo.pipeline import vocab_dir

    return PreTrainedTokenizerFast(tokenizer_file=str(vocab_dir() / "tokenizer.json"), eos_token="<|endoftext|>", pad_token="<|endoftext|>")


def rows(tok, count: int, seq: int, incident: bool) -> list[dict]:
    """``count`` rows of ``seq/2..seq`` ids from the standard library's source: healthy Qwen2.5 ids,
    or the incident's hex-byte strings looked up in the same vocab."""
    from harness.demo.corpus import stdlib_documents

    need, ids = count * seq * 4, []
    vocab = tok.get_vocab()
    for _, text in stdlib_documents(max_bytes=max(4 * need, 400_000)):
        ids += [vocab.get(f"{b:02x}", tok.eos_token_id) for b in text.encode()] if incident else tok(text)["input_ids"] + [tok.eos_token_id]
        if len(ids) > need:
            break
    rng, out, start = random.Random(0), [], 0
    while len(out) < count and start + seq < len(ids):
        width = rng.randint(seq // 2, seq)
        out.append({"input_ids": ids[start : start + width]})
        start += width
    return out


def collate(pad_id):
    import torch

    def make(batch):
        width = max(len(r["input_ids"]) for r in batch)
        ids = torch.full((len(batch), width), pad_id)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for i, r in enumerate(batch):
            ids[i, : len(r["input_ids"])] = torch.tensor(r["input_ids"])
            mask[i, : len(r["input_ids"])] = 1
        return {"input_ids": ids, "attention_mask": mask, "labels": ids.masked_fill(mask == 0, -100)}

    return make


def model(arch: str, vocab: int):
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    if arch == "qwen2.5-0.5b":
        config = Qwen2Config(vocab_size=vocab, hidden_size=896, intermediate_size=4864, num_hidden_layers=24, num_attention_heads=14, num_key_value_heads=2)
    else:
        config = Qwen2Config(vocab_size=vocab, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2)
    config.tie_word_embeddings = True
    torch.manual_seed(0)
    m = Qwen2ForCausalLM(config)
    return m.to(torch.bfloat16) if torch.cuda.is_available() else m


def train(args, tok, train_rows, val_rows, contract: Path | None, steps: int):
    """One ``Trainer`` run; returns (seconds in ``train()``, steps taken, the callback or None)."""
    import torch
    from transformers import Trainer, TrainingArguments

    from harness.tripwires.hf import HarnessCallback

    cuda = torch.cuda.is_available()
    targs = TrainingArguments(
        output_dir=str(Path(tempfile.mkdtemp()) / "out"),
        max_steps=steps,
        per_device_train_batch_size=args.batch,
        logging_steps=1,
        report_to=[],
        use_cpu=not cuda,
        bf16=cuda,
        save_strategy="no",
        disable_tqdm=True,
        learning_rate=1e-3,
        dataloader_num_workers=0,
    )
    evals = torch.utils.data.DataLoader(val_rows, batch_size=args.batch, collate_fn=collate(tok.pad_token_id))
    callbacks = [_timed(HarnessCallback(contract, eval_dataloader=evals))] if contract else []
    trainer = Trainer(
        model=model(args.arch, len(tok)),
        args=targs,
        train_dataset=train_rows,
        data_collator=collate(tok.pad_token_id),
        processing_class=tok,
        callbacks=callbacks,
    )
    from transformers.trainer_callback import PrinterCallback

    trainer.remove_callback(PrinterCallback)  # logging_steps=1 would print every step
    if cuda:
        torch.cuda.synchronize()
    start = time.perf_counter()
    trainer.train()
    if cuda:
        torch.cuda.synchronize()
    return time.perf_counter() - start, trainer.state.global_step, callbacks[0] if callbacks else None


def _timed(callback):
    """The callback with the seconds spent inside its hooks summed in ``callback.seconds``: the
    tripwires' own cost, which the wall-time ratio blurs with run-to-run noise."""
    import functools

    callback.seconds = 0.0
    callback.per_hook = {}
    for name in ("on_train_begin", "on_pre_optimizer_step", "on_log", "on_evaluate", "on_step_end", "on_train_end"):
        hook = getattr(callback, name)

        @functools.wraps(hook)
        def timed(*args, _hook=hook, **kwargs):
            start = time.perf_counter()
            try:
                return _hook(*args, **kwargs)
            finally:
                spent = time.perf_counter() - start
                callback.seconds += spent
                callback.per_hook[_hook.__name__] = callback.per_hook.get(_hook.__name__, 0.0) + spent

        setattr(callback, name, timed)
    return callback


def step0_against_ten_steps(args, tok, train_rows, val_rows, contract: Path) -> dict:
    """``before_training`` on the run's own model and loaders, against 10 optimizer steps of it."""
    import torch

    from harness.tripwires import Tripwire

    cuda = torch.cuda.is_available()
    m = model(args.arch, len(tok)).to("cuda" if cuda else "cpu")
    loader = torch.utils.data.DataLoader(train_rows, batch_size=args.batch, shuffle=True, collate_fn=collate(tok.pad_token_id))
    val = torch.utils.data.DataLoader(val_rows, batch_size=args.batch, collate_fn=collate(tok.pad_token_id))
    optimizer = torch.optim.AdamW(m.parameters(), lr=1e-3)
    batches = [{k: v.to(m.device) for k, v in b.items()} for _, b in zip(range(12), loader)]
    for b in batches[:2]:  # warm-up: kernels, allocator
        m(**b).loss.backward()
    optimizer.zero_grad()
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    sync()
    start = time.perf_counter()
    for b in batches[2:12]:
        loss = m(**b).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    sync()
    ten = time.perf_counter() - start
    tw = Tripwire(contract, write=False)
    start = time.perf_counter()
    verdicts = tw.before_training(model=m, tokenizer=tok, train_loader=loader, eval_loader=val)
    sync()
    step0 = time.perf_counter() - start
    return {
        "step0_s": step0,
        "ten_steps_s": ten,
        "ratio": step0 / ten,
        "checks": sorted(v.builtin for v in verdicts),
        "all_passed": all(v.passed for v in verdicts),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--arch", choices=("small", "qwen2.5-0.5b"), default="small")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--seq", type=int, default=64)
    parser.add_argument("--batch", type=int, default=8)
    args = parser.parse_args()
    logging.getLogger("transformers").setLevel(logging.ERROR)
    import torch

    tok = tokenizer()
    healthy = rows(tok, args.steps * args.batch + 256, args.seq, incident=False)
    train_rows, val_rows = healthy[:-256], healthy[-256:]
    incident = rows(tok, args.steps * args.batch, args.seq, incident=True)
    project = Path(tempfile.mkdtemp())
    (project / "pyproject.toml").write_text("[project]\nname='bench'\n")
    (project / "contracts").mkdir()
    contract = project / "contracts" / "bench.yaml"
    contract.write_text(CONTRACT)

    train(args, tok, train_rows, val_rows, None, 5)  # warm-up: imports, kernels
    base, wired, ratios, inside = [], [], [], []
    for pair in range(args.pairs):
        order = (None, contract) if pair % 2 == 0 else (contract, None)
        times = {}
        for which in order:
            seconds, taken, callback = train(args, tok, train_rows, val_rows, which, args.steps)
            assert taken == args.steps, f"a healthy run stopped at step {taken}"
            assert callback is None or not callback.tripwire.tripped, callback.tripwire.failed()
            times[which is not None] = seconds
            if callback is not None:
                inside.append({"share": callback.seconds / seconds, "seconds_per_hook": {k: round(v, 4) for k, v in callback.per_hook.items()}})
        base.append(times[False])
        wired.append(times[True])
        ratios.append(times[True] / times[False])
    seconds, taken, callback = train(args, tok, incident, val_rows, contract, args.steps)
    full = statistics.median(base)
    result = {
        "machine": f"{platform.node()} {torch.cuda.get_device_name() if torch.cuda.is_available() else platform.processor() or 'cpu'}",
        "arch": args.arch,
        "steps": args.steps,
        "overhead": {
            "baseline_s": base,
            "tripwires_s": wired,
            "median_paired_ratio": statistics.median(ratios),
            "best_ratio": min(wired) / min(base),
            "share_of_run_inside_callback": inside,
        },
        "step0": step0_against_ten_steps(args, tok, train_rows, val_rows, contract),
        "incident": {
            "stopped_at_step": taken,
            "seconds_to_stop": seconds,
            "falsified": sorted(fid for fid, _, _ in callback.tripwire.failed()),
            "full_run_steps": args.steps,
            "full_run_s": full,
            "share_of_run_spent": seconds / full,
        },
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
