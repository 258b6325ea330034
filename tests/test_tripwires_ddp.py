"""Tripwires under DDP: two CPU processes (gloo) running the loop with a ``Tripwire``. When one
rank's batches are the incident's, every rank stops before its first step (no hang), the failure
is gathered to rank 0, and rank 0 alone writes one evidence folder; a healthy run trains to the end
on both ranks."""

from __future__ import annotations

import json
import time

import pytest

torch = pytest.importorskip("torch")
if not torch.distributed.is_available():
    pytest.skip("torch.distributed is not built in", allow_module_level=True)

from tests.tripwire_pipelines import ddp_worker, project, statuses  # noqa: E402


def run_ddp(tmp_path, broken_rank: int, timeout: float = 240.0) -> dict:
    import torch.multiprocessing as mp

    path = project(tmp_path / "project")
    out = tmp_path / "out"
    out.mkdir()
    context = mp.start_processes(
        ddp_worker, args=(2, str(tmp_path / "rendezvous"), str(path), broken_rank, str(out)), nprocs=2, join=False, start_method="spawn"
    )
    deadline = time.monotonic() + timeout
    while not context.join(timeout=5):
        if time.monotonic() > deadline:
            for process in context.processes:
                process.kill()
            pytest.fail(f"the DDP run did not end within {timeout:.0f} s: a rank hangs")
    return {rank: json.loads((out / f"rank-{rank}.json").read_text()) for rank in (0, 1)} | {"path": path}


def test_one_ranks_falsified_batch_stops_both_ranks_and_rank0_writes_once(tmp_path):
    seen = run_ddp(tmp_path, broken_rank=1)
    assert seen[0]["taken"] == 0 and seen[1]["taken"] == 0
    assert seen[0]["tripped"] and seen[1]["tripped"]
    assert seen[0]["failed"] == []  # rank 0's own batches were healthy …
    assert "FALSIFY-SHARD-ENTROPY-002" in seen[1]["failed"]
    got = statuses(seen["path"])  # … yet the ledger carries rank 1's failure, written once by rank 0
    assert got["FALSIFY-SHARD-ENTROPY-002"] == "FALSIFIED" and got["FALSIFY-VOCAB-FORMAT-001"] == "FALSIFIED"
    folders = list((seen["path"].parents[1] / "evidence" / "pipeline-v1").iterdir())
    assert len([f for f in folders if f.is_dir()]) == 1
    dispatch = next(f for f in folders if f.is_dir()).joinpath("dispatch.txt").read_text()
    assert "rank: 1" in dispatch and "tripwire: loop" in dispatch


def test_a_healthy_ddp_run_trains_to_the_end_on_both_ranks(tmp_path):
    seen = run_ddp(tmp_path, broken_rank=-1)
    assert seen[0] == {"taken": 6, "tripped": False, "failed": []} == seen[1]
    assert not (seen["path"].parents[1] / "evidence").exists()
