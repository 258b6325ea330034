"""Every GPU of the runner: the wall time of the CUDA lane for two independent CUDA subjects against
one, on the same machine in the same run (goal: within 1.2× on a 2-GPU host), with ``-n auto``.

Each subject is the Qwen2.5-0.5B architecture (random init, bf16) with three falsifiers bound to it
(sanity bound, purity, causal mask). Run on a machine with at least two GPUs:

    python benchmarks/bench_multi_gpu.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CONFTEST = """
import json, os
import pytest

@pytest.fixture(scope="session")
def gpu_a():
    from harness.demo.models import qwen_trainer
    return qwen_trainer("healthy", device="cuda", dtype="bfloat16")

@pytest.fixture(scope="session")
def gpu_b():
    from harness.demo.models import qwen_trainer
    return qwen_trainer("healthy", device="cuda", dtype="bfloat16")

@pytest.fixture(autouse=True, scope="session")
def where(worker_id):
    yield
    with open(os.environ["WHERE"] + f"/{worker_id}.json", "w") as f:
        json.dump(os.environ.get("CUDA_VISIBLE_DEVICES"), f)
"""


def contract(subject: str) -> str:
    lines = ["metadata:", "  version: 1.0.0", "falsification_tests:"]
    for name, params in (("eval-sanity-bound", "{batch: 4, seq_len: 512}"), ("eval-purity", "{seq_len: 512}"), ("causal-mask", "{seq_len: 256}")):
        lines += [f"- id: {subject.upper()}-{name.upper()}", f"  test: builtin:{name}", f"  subject: {subject}", "  requires: [cuda]", f"  params: {params}"]
    return "\n".join(lines) + "\n"


def run(root: Path, contracts: list[str]) -> tuple[float, dict]:
    where = root / "where"
    for old in where.glob("*.json"):
        old.unlink()
    args = [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "-m", "cuda", "--require-cuda", "-n", "auto"]
    args += [f"--contract={c}" for c in contracts]
    start = time.perf_counter()
    proc = subprocess.run(args, cwd=root, capture_output=True, text=True, env={**os.environ, "WHERE": str(where)}, check=False)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(proc.stdout[-3000:] + proc.stderr[-2000:])
    return wall, {p.stem: json.loads(p.read_text()) for p in where.glob("*.json")}


def main() -> None:
    import torch

    count = torch.cuda.device_count()
    names = {torch.cuda.get_device_name(i) for i in range(count)}
    print(f"{count} GPU(s): {', '.join(sorted(names))}")
    if count < 2:
        raise SystemExit("needs at least two GPUs")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "pyproject.toml").write_text("[tool.pytest.ini_options]\naddopts = '-p no:cacheprovider'\n")
        (root / "conftest.py").write_text(CONFTEST)
        (root / "where").mkdir()
        (root / "contracts").mkdir()
        (root / "contracts" / "a.yaml").write_text(contract("gpu_a"))
        (root / "contracts" / "b.yaml").write_text(contract("gpu_b"))
        run(root, ["a"])  # warm: kernels compiled, files cached
        one = min(run(root, ["a"])[0] for _ in range(2))
        results = [run(root, ["a", "b"]) for _ in range(2)]
        two = min(r[0] for r in results)
        print(f"  one CUDA subject (3 falsifiers), -n auto:   {one:6.2f} s  (1.00×)")
        print(f"  two CUDA subjects (3 + 3), -n auto:         {two:6.2f} s  ({two / one:.2f}× of one)")
        print(f"  workers and their GPUs: {results[-1][1]}")


if __name__ == "__main__":
    main()
