"""Cost of the falsifiers that judge what the model sees, as ratios against a baseline measured in the
same run: one training step of the same model (trainer falsifiers), one pass over the same batches
(batch falsifiers), one encode of the same documents (the id check).

CPU: the tiny LM (2 layers, hidden 64, V = 1000) and the stdlib pipeline's loaders. CUDA (``--cuda``):
the Qwen2.5-0.5B architecture (transformers ``Qwen2ForCausalLM``, random init, bf16) on the GPU.

    python benchmarks/bench_new_falsifiers.py [--cuda] [--repeat 3]
"""

from __future__ import annotations

import argparse
import platform
import time


class Handle:
    """The falsifier handle, in process: params at their declared defaults, recorded measurements."""

    def __init__(self, fn, **params) -> None:
        self.params = {**fn.__harness_accepts__, **params}
        self.measurements: dict[str, float] = {}
        self.id = fn.__name__
        self.device = "cpu"

    def record(self, name: str, value: float) -> float:
        self.measurements[name] = float(value)
        return float(value)


def best_of(fn, repeat: int, sync=lambda: None) -> float:
    best = float("inf")
    for _ in range(repeat):
        sync()
        start = time.perf_counter()
        fn()
        sync()
        best = min(best, time.perf_counter() - start)
    return best


def run(fn, subject, **params) -> None:
    fn(Handle(fn, **params), subject)


def trainer_rows(subject, repeat: int, sync, batch: int, seq_len: int) -> list[tuple[str, float]]:
    from harness.falsifiers import eval_batch

    subject.reset(0)
    x, y = eval_batch._synthetic_batch(subject, batch, seq_len, 0)
    subject.train_batch(x, y)  # warm
    rows = [("baseline: one train step (same model, same batch)", best_of(lambda: subject.train_batch(x, y), repeat, sync))]
    for name, fn in (
        ("causal-mask (3 perturbations, 4 forwards, incl. reset)", eval_batch.test_causal_mask),
        ("train-pollution (incl. reset, 2 evals, 1 step, clean forward)", eval_batch.test_train_pollution),
        ("eval-sanity-bound (incl. reset)", eval_batch.test_sanity_bound),
    ):
        rows.append((name, best_of(lambda fn=fn: run(fn, subject, batch=batch, seq_len=seq_len), repeat, sync)))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cuda", action="store_true")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    import torch

    print(f"host: {platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads; torch {torch.__version__}")
    from harness.demo.models import tiny_trainer

    rows = trainer_rows(tiny_trainer("healthy"), args.repeat, lambda: None, batch=2, seq_len=32)
    print("CPU, tiny LM (2 layers, hidden 64, V=1000):")
    for name, t in rows:
        print(f"  {name:66s} {t * 1e3:8.1f} ms  {t / rows[0][1]:6.2f}× of a train step")

    from harness.demo.loaders import loader
    from harness.demo.pipeline import build_pipeline
    from harness.falsifiers import batches, vocab
    from harness.subjects.batching import iter_rows

    pipeline = build_pipeline("healthy")
    packed = loader("packed", pipeline)
    base = best_of(lambda: sum(int(i.sum()) for i, _ in iter_rows(packed, "train")) + sum(int(i.sum()) for i, _ in iter_rows(packed, "val")), args.repeat)
    tokens = sum(i.size for i, _ in iter_rows(packed, "train")) + sum(i.size for i, _ in iter_rows(packed, "val"))
    print(f"CPU, stdlib packed loader ({tokens:,} ids in train + val):")
    print(f"  {'baseline: one pass over every batch (sum of ids)':66s} {base * 1e3:8.1f} ms  {1:6.2f}×")
    for name, fn in (
        ("split-overlap", batches.test_split_overlap),
        ("eval-coverage", batches.test_eval_coverage),
        ("loss-mask", batches.test_loss_mask),
        ("model-vocab-fit", batches.test_model_vocab_fit),
    ):
        t = best_of(lambda fn=fn: run(fn, packed), args.repeat)
        print(f"  {name:66s} {t * 1e3:8.1f} ms  {t / base:6.2f}×  ({tokens / t / 1e6:5.1f} M ids/s)")

    class Warm:  # the pipeline with its tokenizer loaded and documents read once (subject set-up, not the falsifier)
        vocab_path = pipeline.vocab_path
        _encoder, _docs = pipeline.encoder(), pipeline.documents()

        def encoder(self):
            return self._encoder

        def documents(self):
            return self._docs

        def shard_paths(self):
            return pipeline.shard_paths()

    warm = Warm()
    docs = vocab.sample_documents(warm.documents(), 8)
    encoder = warm.encoder()
    enc = best_of(lambda: encoder.encode_batch([t for _, t in docs]), args.repeat)
    t = best_of(lambda: run(vocab.test_vocab_id_agreement, warm), args.repeat)
    print(f"  {'baseline: encode the 8 sampled documents':66s} {enc * 1e3:8.1f} ms")
    print(f"  {'vocab-id-agreement (8 documents, 64 windows, shard scan)':66s} {t * 1e3:8.1f} ms  {t / enc:6.2f}× of the encode")

    if args.cuda:
        if not torch.cuda.is_available():
            raise SystemExit("--cuda: no CUDA device")
        from harness.demo.models import qwen_trainer

        subject = qwen_trainer("healthy", device="cuda", dtype="bfloat16")
        rows = trainer_rows(subject, args.repeat, torch.cuda.synchronize, batch=4, seq_len=512)
        print(f"CUDA ({torch.cuda.get_device_name(0)}), Qwen2.5-0.5B architecture, bf16, 4×512:")
        for name, t in rows:
            print(f"  {name:66s} {t * 1e3:8.1f} ms  {t / rows[0][1]:6.2f}× of a train step")


if __name__ == "__main__":
    main()
