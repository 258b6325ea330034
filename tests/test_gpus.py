"""The CUDA lane under xdist: one worker per GPU, each pinned to its own card, falsifiers sharing a
subject on one worker. Checked here without a GPU (the counts come from CUDA_VISIBLE_DEVICES, the
pin is an environment variable); measured on a 2-GPU machine by benchmarks/bench_multi_gpu.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

PROBE = """
import json, os
def test_where(worker_id):
    with open(os.environ["OUT"] + "/" + worker_id + ".json", "w") as f:
        json.dump({"visible": os.environ.get("CUDA_VISIBLE_DEVICES"), "dist": None}, f)
"""


def _run(tmp_path, *args, env_gpus: str | None):
    (tmp_path / "test_probe.py").write_text(
        PROBE.replace("def test_where", "import pytest\n@pytest.mark.parametrize('i', range(8))\ndef test_where").replace("(worker_id)", "(worker_id, i)")
    )
    (tmp_path / "pyproject.toml").write_text("[tool.pytest.ini_options]\nmarkers = ['cuda: x']\naddopts = '-p no:cacheprovider'\n")
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    env = {**os.environ, "OUT": str(out)}
    env.pop("HARNESS_GPU_PINNED", None)
    if env_gpus is None:
        env.pop("CUDA_VISIBLE_DEVICES", None)
    else:
        env["CUDA_VISIBLE_DEVICES"] = env_gpus
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", *args], cwd=tmp_path, env=env, capture_output=True, text=True, check=False
    )
    return proc, {p.stem: json.loads(p.read_text())["visible"] for p in out.glob("*.json")}


def test_the_cuda_lane_starts_one_worker_per_gpu_and_pins_each_to_its_own(tmp_path):
    pytest.importorskip("xdist")
    proc, seen = _run(tmp_path, "-n", "auto", "-m", "cuda or not cuda", env_gpus="4,5,6")
    assert proc.returncode == 0, proc.stdout[-2000:]
    assert "3 workers" in proc.stdout or sorted(seen) == ["gw0", "gw1", "gw2"], proc.stdout[-1500:]
    assert sorted(seen.values()) == ["4", "5", "6"]  # every card used, each by one worker


def test_a_cpu_run_keeps_xdist_s_choice_and_pins_nothing(tmp_path):
    pytest.importorskip("xdist")
    proc, seen = _run(tmp_path, "-n", "2", env_gpus="4,5")
    assert proc.returncode == 0, proc.stdout[-2000:]
    assert set(seen.values()) == {"4,5"}


def test_the_cuda_lane_is_recognised_from_the_mark_expression():
    from types import SimpleNamespace

    from harness.plugin.gpus import selects_cuda

    def config(expr, require=False):
        return SimpleNamespace(getoption=lambda name, default=None: {"markexpr": expr, "require_cuda": require}.get(name, default))

    assert selects_cuda(config("cuda")) and selects_cuda(config("cuda and not slow")) and selects_cuda(config("", True))
    assert not selects_cuda(config("not cuda")) and not selects_cuda(config("")) and not selects_cuda(config("cudaish"))
