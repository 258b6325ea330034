"""Wall time of the CUDA falsifiers' work on the Qwen2.5-0.5B architecture: model init vs each
falsifier's own work (sanity bound, train pollution, purity), bf16 at 4×512.

    python benchmarks/bench_cuda_falsifiers.py
"""

from __future__ import annotations

import time


def main() -> None:
    import torch

    from harness.demo.models import qwen_trainer
    from harness.falsifiers.eval_batch import synthetic_tokens

    if not torch.cuda.is_available():
        raise SystemExit("needs CUDA")

    def sync_time(fn):
        torch.cuda.synchronize()
        start = time.perf_counter()
        out = fn()
        torch.cuda.synchronize()
        return time.perf_counter() - start, out

    trainer = qwen_trainer("healthy")
    t_init, _ = sync_time(lambda: trainer.reset(0))
    tokens = synthetic_tokens(trainer.vocab_size, 8 * 513, 0)
    x, y = trainer.make_batch(tokens, 4, 512)
    x2, y2 = trainer.make_batch(tokens, 4, 512, offset=4 * 513)
    t_eval_first, loss = sync_time(lambda: trainer.eval_batch(x, y))
    t_eval_warm, _ = sync_time(lambda: trainer.eval_batch(x, y))
    t_train, _ = sync_time(lambda: trainer.train_batch(x2, y2))
    t_init2, _ = sync_time(lambda: trainer.reset(0))
    print(f"device: {torch.cuda.get_device_name(0)}, torch {torch.__version__}")
    print(f"model init (Qwen2.5-0.5B arch, bf16, on device): first {t_init:.3f} s, again {t_init2:.3f} s")
    print(
        f"eval 4×512: first {t_eval_first:.3f} s, warm {t_eval_warm:.3f} s (loss {loss:.3f}, ln V = {torch.log(torch.tensor(float(trainer.vocab_size))):.3f})"
    )
    print(f"one train step 4×512: {t_train:.3f} s")
    print(
        f"falsifier work ≈ sanity {t_eval_warm:.3f} s; pollution {2 * t_eval_warm + t_train:.3f} s; purity {2 * t_eval_warm + t_train:.3f} s (+ state snapshots)"
    )


if __name__ == "__main__":
    main()
