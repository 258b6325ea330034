"""The ``ray`` engine: each task a Ray task, retried by Ray when its worker or node dies
(``max_retries``), never when it raised (a bad shard fails the same way twice). Ray is the
``[ray]`` extra, imported only here. Without an address a cluster is started on this machine
(``ray.init()``) and kept for the process; with one (``auto``, ``ray://host:10001``, ``host:6379``)
the driver joins it. A task uses the CPUs Ray gave it (``num_cpus``, ``$HARNESS_CORES`` inside),
so N tasks on N·k cores neither idle nor oversubscribe the host."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

from harness.engines.errors import EngineError

MAX_RETRIES = 3
CPUS_ENV = "HARNESS_RAY_CPUS_PER_TASK"  # cores per task (default 1): fewer, wider tasks per host


def cpus_per_task() -> int:
    """The cores each Ray task asks for (``$HARNESS_RAY_CPUS_PER_TASK``, default 1)."""
    value = os.environ.get(CPUS_ENV, "1") or "1"
    return max(1, int(value)) if value.isdigit() else 1


def _ray():
    try:
        import ray
    except ImportError:
        raise EngineError("engine ray needs Ray: pip install 'falsifier-harness[ray]'") from None
    return ray


def connect(address: str | None = None):
    """Ray, initialised: joined to ``address``, or a local cluster when there is none."""
    ray = _ray()
    if not ray.is_initialized():
        _reachable(address)
        try:
            ray.init(address=address, include_dashboard=False, log_to_driver=False, configure_logging=False, ignore_reinit_error=True)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise EngineError(f"engine ray: cannot reach a cluster at {address or 'a new local one'} ({exc})") from None
    return ray


def _reachable(address: str | None, timeout: float = 10.0) -> None:
    """A ``host:port`` address that refuses connections fails now: Ray itself retries for
    minutes before giving up, which in CI reads as a hang."""
    import socket

    if not address or address == "auto" or "://" in address or ":" not in address:
        return
    host, _, port = address.rpartition(":")
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except (OSError, ValueError) as exc:
        raise EngineError(f"engine ray: no cluster answers at {address} ({exc})") from None


def _in_task(fn: Callable, task, args: tuple):
    """Run ``fn`` on a worker with its threads capped at the CPUs Ray assigned the task."""
    import ray

    cpus = int(ray.get_runtime_context().get_assigned_resources().get("CPU", 1)) or 1
    os.environ["HARNESS_CORES"] = str(cpus)
    return fn(task, *args)


BATCH_IDS = 1 << 22  # small tasks (short shards) travel together up to this many ids per Ray task


def _in_batch(fn: Callable, batch: list, args: tuple, run: Callable = _in_task) -> list:
    """Several small tasks in one Ray task: each one's result, or the exception it raised (a bad
    shard fails alone, its neighbours in the batch still count)."""
    out = []
    for task in batch:
        try:
            out.append(run(fn, task, args))
        except Exception as exc:
            out.append(exc)
    return out


def batches(tasks: list, batch_ids: int = BATCH_IDS) -> list[list]:
    """Consecutive tasks gathered until they hold ``batch_ids`` ids (a task with no ``ids`` goes
    alone). A Ray task costs milliseconds of scheduling, argument fetching and result transfer:
    80 tasks of 0.36 M ids (80 short shards) on 2 workers scanned at 0.60× of one process per
    core, the same ids in 8 shards at 0.74–0.82× (``benchmarks/bench_contamination.py``)."""
    out: list[list] = []
    held = 0
    for task in tasks:
        ids = getattr(task, "ids", None)
        if out and ids is not None and held and held + ids <= batch_ids:
            out[-1].append(task)
            held += ids
            continue
        out.append([task])
        held = ids or 0
    return out


def run_on_ray(fn: Callable, tasks: list, args: tuple, address: str | None) -> Iterator[tuple[object, object]]:
    ray = connect(address)
    cpus = cpus_per_task()
    remote = ray.remote(num_cpus=cpus, max_retries=MAX_RETRIES, retry_exceptions=False)(_in_batch)
    shared = ray.put(args)
    window = max(2, 2 * int(ray.cluster_resources().get("CPU", 1)) // cpus)  # in flight at once: bounded driver memory
    queue = batches(list(tasks))
    pending: dict = {}
    while queue or pending:
        while queue and len(pending) < window:
            batch = queue.pop(0)
            pending[remote.remote(fn, batch, shared)] = batch
        done, _ = ray.wait(list(pending), num_returns=1)
        for ref in done:
            batch = pending.pop(ref)
            try:
                results = ray.get(ref)
            except ray.exceptions.RayTaskError as exc:
                results = [getattr(exc, "cause", None) or exc] * len(batch)
            except ray.exceptions.RayError as exc:  # retries spent: the worker or node kept dying
                results = [exc] * len(batch)
            yield from zip(batch, results)
