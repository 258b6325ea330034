"""The CUDA lane's wall time against what it cannot avoid, all measured in the same run on the same
card: the imports (``import torch`` with a CUDA context; ``transformers``' Qwen2), building the model
directly on the GPU, and the reference trainer's train step against a plain ``loss.backward();
optimizer.step()`` on the same model. Goal: lane wall ≤ imports + init + 3 s; init within 2× of a
direct build; the trainer's step within 1.2× of the plain one.

    python benchmarks/bench_cuda_lane.py        (from the repository root, on a GPU machine)
"""

from __future__ import annotations

import subprocess
import sys
import time


def wall(args: list[str], **kwargs) -> float:
    start = time.perf_counter()
    proc = subprocess.run(args, capture_output=True, text=True, check=False, **kwargs)
    if proc.returncode != 0:
        raise SystemExit(proc.stdout[-2000:] + proc.stderr[-2000:])
    return time.perf_counter() - start


def main() -> None:
    import argparse

    import torch
    from _pairs import paired

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=7)
    pairs = parser.parse_args().pairs

    if not torch.cuda.is_available():
        raise SystemExit("needs CUDA")
    py = sys.executable
    print(f"card: {torch.cuda.get_device_name(0)}; torch {torch.__version__}")
    empty = min(wall([py, "-c", "pass"]) for _ in range(2))
    t_torch = min(wall([py, "-c", "import torch; torch.zeros(1, device='cuda'); torch.cuda.synchronize()"]) for _ in range(2)) - empty
    t_hf = min(wall([py, "-c", "import torch; torch.zeros(1, device='cuda'); from transformers import Qwen2ForCausalLM"]) for _ in range(2)) - empty - t_torch
    build = (
        "import time, torch; torch.zeros(1, device='cuda'); from harness.demo.models import build_qwen2_0_5b; "
        "s = time.perf_counter(); m = build_qwen2_0_5b(0, 'cuda'); torch.cuda.synchronize(); print(time.perf_counter() - s)"
    )
    t_init = min(float(subprocess.run([py, "-c", build], capture_output=True, text=True, check=True).stdout.split()[-1]) for _ in range(2))
    lane = [py, "-m", "pytest", "-q", "-p", "no:randomly", "-m", "cuda", "--require-cuda", "--harness-no-write", "--contract=apr-pretrain-init-finetune-v1"]
    wall(lane)  # warm: kernels, page cache
    t_lane = min(wall(lane) for _ in range(2))
    floor = empty + t_torch + t_hf + t_init
    print(f"  python start                                   {empty:6.2f} s")
    print(f"  import torch + CUDA context                    {t_torch:6.2f} s")
    print(f"  import transformers' Qwen2                     {t_hf:6.2f} s")
    print(f"  build Qwen2.5-0.5B on the GPU (direct)         {t_init:6.2f} s")
    print(f"  CUDA lane, whole process (--harness-no-write)  {t_lane:6.2f} s   = floor {floor:.2f} s + {t_lane - floor:.2f} s (goal ≤ + 3 s)")

    from harness.demo.models import qwen_trainer
    from harness.falsifiers.eval_batch import synthetic_tokens

    trainer = qwen_trainer("healthy")
    start = time.perf_counter()
    trainer.reset(0)
    torch.cuda.synchronize()
    t_reset = time.perf_counter() - start
    x, y = trainer.make_batch(synthetic_tokens(trainer.vocab_size, 4 * 513, 0), 4, 512)
    model, opt = trainer.model, torch.optim.AdamW(trainer.model.parameters(), lr=1e-5)

    def plain():
        opt.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(model(x).reshape(-1, trainer.vocab_size).float(), y.reshape(-1))
        loss.backward()
        opt.step()

    # both warmed (kernels chosen, optimizer state allocated), then alternated: neither side is timed cold
    times = paired(
        {"reference trainer train step": lambda: trainer.train_batch(x, y), "plain backward + AdamW step": plain},
        pairs=pairs,
        warmup=2,
        sync=torch.cuda.synchronize,
    )
    t_ref, t_plain = times["reference trainer train step"], times["plain backward + AdamW step"]
    print(f"  reference trainer reset (model + optimizer)    {t_reset:6.2f} s   ({t_reset / t_init:.2f}× of the direct build)")
    print(f"  reference trainer train step, 4×512            {t_ref.describe()}")
    print(
        f"  plain backward + AdamW step, same model        {t_plain.describe()}  (trainer at {t_ref.median / t_plain.median:.2f}× of plain, medians of {max(pairs, 5)} alternated rounds)"
    )


if __name__ == "__main__":
    main()
