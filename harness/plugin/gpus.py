"""Every GPU of the runner: under pytest-xdist, each worker owns one GPU.

``pytest -m cuda -n auto`` starts one worker per GPU (not per core: two models on one card only
queue), pins worker ``gwN`` to GPU ``N mod count`` through ``CUDA_VISIBLE_DEVICES`` before any CUDA
context exists, and distributes by ``loadgroup`` so the falsifiers that share a subject run on one
worker and build it once (the harness marks each falsifier with its subject's ``xdist_group``).
Nothing here imports torch: the GPUs are counted from ``CUDA_VISIBLE_DEVICES`` or the driver's
``/proc`` entries, so a CPU-only run pays nothing.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ENV = "CUDA_VISIBLE_DEVICES"


def visible_gpus() -> list[str]:
    """The GPUs this process may use, as ``CUDA_VISIBLE_DEVICES`` entries; empty without a driver."""
    declared = os.environ.get(ENV)
    if declared is not None:
        return [d.strip() for d in declared.split(",") if d.strip() and d.strip() != "-1"]
    proc = Path("/proc/driver/nvidia/gpus")
    try:
        return [str(i) for i in range(len(list(proc.iterdir())))]
    except OSError:
        return []


def selects_cuda(config: pytest.Config) -> bool:
    """Whether the run asks for the CUDA lane: ``-m`` naming ``cuda`` (not ``not cuda``) or ``--require-cuda``."""
    expr = (config.getoption("markexpr", "") or "").replace("(", " ").replace(")", " ").split()
    named = any(word == "cuda" and (i == 0 or expr[i - 1] != "not") for i, word in enumerate(expr))
    return named or bool(config.getoption("require_cuda", False))


def auto_workers(config: pytest.Config) -> int | None:
    """``-n auto`` on the CUDA lane: one worker per visible GPU; elsewhere xdist's own choice."""
    if not selects_cuda(config):
        return None
    count = len(visible_gpus())
    return count or None


def configure(config: pytest.Config) -> None:
    """On the controller, share falsifiers by subject (``loadgroup``); on a worker, take its GPU."""
    if not selects_cuda(config):
        return
    workerinput = getattr(config, "workerinput", None)
    if workerinput is None:
        if getattr(config.option, "dist", "no") == "load" and getattr(config.option, "numprocesses", None):
            config.option.dist = "loadgroup"
        return
    gpus = visible_gpus()
    if len(gpus) < 2 or os.environ.get("HARNESS_GPU_PINNED"):
        return
    worker = str(workerinput.get("workerid", "gw0"))
    index = int(worker[2:]) if worker[2:].isdigit() else 0
    os.environ[ENV] = gpus[index % len(gpus)]
    os.environ["HARNESS_GPU_PINNED"] = os.environ[ENV]  # subprocesses keep the pin
