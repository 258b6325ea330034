"""Whole-corpus passes — the id histogram, the range check — cut into tasks that an engine
(``harness.engines``) runs: in this process, or as Ray tasks on a cluster. A task names its shard
by location (a path or a URL), not by an open object, so any worker can re-open it; a memory-mapped
shard is cut into id ranges, a shard of decoded blocks (parquet row groups, MDS samples) at block
boundaries, so no block is read twice. Counts merge by addition, so every engine gives exactly
the counts of the single-process pass.

A task that fails (a shard gone, a remote read refused) is reported naming its shard, and that
shard's counts are dropped whole — never half-merged — while the other shards' are kept."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from harness.checks import ArtifactError
from harness.checks.formats import NO_OPTIONS, ShardOptions

TASK_IDS = 1 << 26  # ids per task at least: 256 MiB of uint32 — long enough to hide a task's overhead
TASK_IDS_PER_CORE = 1 << 24  # four of torch's 4 Mi-id counting spans per core in each task
MAX_TASKS = 4096  # a scan's tasks at most: each sends its 1.2 MB histogram (Qwen2.5's vocab) to the driver


def task_ids_for(cores: int) -> int:
    """Ids per task for a task counted on ``cores`` threads. A task starts a thread pool and a
    histogram per thread, sums them, and ends when its slowest thread does: on 16 cores a 64 Mi-id
    task gave each thread one span, and the single-process scan of 2·10⁹ ids took 0.80 s against
    0.47 s with one task per shard. A wider task gets more ids, so every thread has several spans."""
    return max(TASK_IDS, cores * TASK_IDS_PER_CORE)


def default_task_ids(on_ray: bool, scan_ids: int = 0) -> int:
    """Ids per task for this engine: sized to the cores one Ray task asks for, or to this
    process's cores on the local engine — and long enough that a scan of ``scan_ids`` makes at most
    ``MAX_TASKS`` tasks. Each task returns a vocabulary-sized histogram to the driver: 40 TB in
    64 Mi-id tasks is 156,000 of them, 187 GB sent to one process, about a minute on a 25 Gb/s
    link and longer than the scan itself on 128 hosts; at most 4,096 tasks send 4.9 GB."""
    if on_ray:
        from harness.engines.on_ray import cpus_per_task

        cores = cpus_per_task()
    else:
        from harness.checks.parallel import usable_cores

        cores = usable_cores()
    return max(task_ids_for(cores), -(-scan_ids // MAX_TASKS))


@dataclass(frozen=True)
class IdRange:
    """Ids ``start`` to ``stop`` of shard number ``shard`` (at ``location``), or blocks ``start``
    to ``stop`` where ``blocks`` (a shard of decoded blocks)."""

    shard: int
    location: str
    options: ShardOptions
    start: int
    stop: int
    ids: int  # how many ids the task covers (progress)
    blocks: bool = False


def plan(shards, task_ids: int = TASK_IDS) -> list[IdRange]:
    """The tasks covering every id of ``shards`` once, in shard order."""
    import numpy as np

    tasks = []
    for k, shard in enumerate(shards):
        if not shard.count:
            continue
        where, options = str(shard.path), getattr(shard, "options", NO_OPTIONS)
        view = shard.view
        if view is not None and getattr(view, "lazy", False):
            ends = np.asarray(view.starts[1:])
            lo = 0
            while lo < view.lengths.size:
                hi = max(lo + 1, int(np.searchsorted(ends, view.starts[lo] + task_ids, side="right")))
                tasks.append(IdRange(k, where, options, lo, hi, int(view.starts[hi] - view.starts[lo]), blocks=True))
                lo = hi
            continue
        for start in range(0, shard.count, task_ids):
            stop = min(shard.count, start + task_ids)
            tasks.append(IdRange(k, where, options, start, stop, stop - start))
    return tasks


def task_ids_of(task: IdRange, shard):
    """The ids a task covers, from an open shard: a slice of its map, or a view of its blocks
    (whole blocks for decoded ones; clipped, uncopied blocks for mapped ones such as Arrow's)."""
    ids = shard.open()
    if task.blocks:
        return ids.blocks(task.start, task.stop)
    return ids.window(task.start, task.stop) if hasattr(ids, "window") else ids[task.start : task.stop]


def reopen(task: IdRange):
    """The task's shard, described afresh on whichever machine runs it (cached per process, keyed
    on the file's size and modification time, so a rewritten shard is never read stale)."""
    from harness.checks.storage import location, stamp

    path = location(task.location)
    return _reopen(task.location, task.options, stamp(path))


@lru_cache(maxsize=16)
def _reopen(where: str, options: ShardOptions, _stamp):
    from harness.checks.shards import describe_shard
    from harness.checks.storage import location

    shard, problems = describe_shard(location(where), options=options)
    if shard is None:
        raise ArtifactError("; ".join(problems) or f"{where}: unreadable")
    return shard


def count_range(task: IdRange, limit: int, shard=None, device: str = "cpu", scan_ids: int = 0):
    """The histogram (``limit + 1`` bins, the last out-of-vocab) of one task's ids.

    ``scan_ids`` (the whole scan's length, given to tasks run in other processes) lets a Ray
    worker count with torch when the scan repays importing it: numpy's ``bincount`` holds the GIL
    while it counts, so a worker counting with numpy gains little from its cores past two, and a
    4-core task counted at 0.69× of one torch process on the same 16 cores."""
    from harness.checks.entropy import histogram, torch_pays

    if scan_ids and device.startswith("cpu"):
        torch_pays(scan_ids)  # imported once per worker process: Ray reuses its workers
    return histogram(task_ids_of(task, shard if shard is not None else reopen(task)), limit, device=device)


def first_bad_id(task: IdRange, limit: int, shard=None) -> str | None:
    """The first id of a task outside ``[0, limit)``, as a finding naming the shard."""
    from harness.checks.shards import range_problem

    shard = shard if shard is not None else reopen(task)
    offset = int(shard.open().starts[task.start]) if task.blocks else task.start
    return range_problem(shard, limit, task_ids_of(task, shard), offset)


def failure(task: IdRange, exc: BaseException) -> str:
    """A failed task as a finding naming its shard (an ``ArtifactError`` already names it)."""
    text = str(exc).strip() or type(exc).__name__
    return text if text.startswith(task.location) else f"{task.location}: read failed ({type(exc).__name__}: {text})"


def _counted(shards, limit: int, device: str, engine: str | None, address: str | None, task_ids: int | None):
    """(tasks planned, an iterator of (task, its histogram or the exception it raised))."""
    from harness.engines import resolve, run_tasks

    scan_ids = sum(s.count for s in shards)
    on_ray = resolve(engine, address)[0] == "ray"
    task_ids = task_ids or default_task_ids(on_ray, scan_ids)
    if not device.startswith("cpu"):  # the GPU path stages a whole shard at once; cutting it costs set-up per task
        task_ids = max([task_ids, *(s.count for s in shards)])
    elif not on_ray:  # this process counts every id: torch, where that pays
        from harness.checks.entropy import torch_pays

        torch_pays(scan_ids)
    tasks = plan(shards, task_ids)
    local = lambda t: count_range(t, limit, shards[t.shard], device)  # noqa: E731
    return tasks, run_tasks(count_range, tasks, (limit, None, "cpu", scan_ids), engine, address, local=local)


def count_shards(shards, limit: int, device: str = "cpu", engine: str | None = None, address: str | None = None, progress=None, task_ids: int | None = None):
    """(each shard's histogram, or None where a task of it failed; the failures as findings).
    One histogram per shard is held: for a corpus of many shards use ``count_corpus``."""
    import numpy as np

    _, results = _counted(shards, limit, device, engine, address, task_ids)
    counts: list = [np.zeros(limit + 1, dtype=np.int64) for _ in shards]
    failures: list[str] = []
    for task, found in results:
        if isinstance(found, BaseException):
            if counts[task.shard] is not None:
                failures.append(failure(task, found))
            counts[task.shard] = None
        elif counts[task.shard] is not None:
            counts[task.shard] += found
        if progress is not None:
            progress(task.ids)
    return counts, failures


def count_corpus(shards, limit: int, device: str = "cpu", engine: str | None = None, address: str | None = None, progress=None, task_ids: int | None = None):
    """(the histogram of every shard whose ids were all read, each shard's out-of-vocab count or None
    where a task of it failed, the failures as findings), holding one histogram for the corpus and
    one per shard still being read — not one per shard: at 1.2 MB a histogram (Qwen2.5's vocab),
    40,000 shards would hold 48 GB on the driver. A shard's counts join the total only when its
    last task is in, so a shard that fails part-way leaves nothing of itself behind."""
    from collections import Counter

    import numpy as np

    tasks, results = _counted(shards, limit, device, engine, address, task_ids)
    remaining = Counter(task.shard for task in tasks)
    total = np.zeros(limit + 1, dtype=np.int64)
    oov: list = [0] * len(shards)
    reading: dict[int, object] = {}
    failures: list[str] = []
    for task, found in results:
        k = task.shard
        remaining[k] -= 1
        if isinstance(found, BaseException):
            if oov[k] is not None:
                failures.append(failure(task, found))
            oov[k] = None
            reading.pop(k, None)
        elif oov[k] is not None:
            if k in reading:
                reading[k] += found
            else:
                reading[k] = np.array(found, dtype=np.int64)
            if not remaining[k]:
                whole = reading.pop(k)
                oov[k] = int(whole[limit])
                total += whole
        if progress is not None:
            progress(task.ids)
    return total, oov, failures


def range_problems(shards, limit: int, engine: str | None = None, address: str | None = None, progress=None, task_ids: int | None = None) -> list[str]:
    """Per shard, its first id outside ``[0, limit)`` (in id order) or why it could not be read."""
    from harness.engines import resolve, run_tasks

    tasks = plan(shards, task_ids or default_task_ids(resolve(engine, address)[0] == "ray", sum(s.count for s in shards)))
    found: dict[int, list] = {}
    for task, problem in run_tasks(first_bad_id, tasks, (limit,), engine, address, local=lambda t: first_bad_id(t, limit, shards[t.shard])):
        if isinstance(problem, BaseException):
            problem = failure(task, problem)
        if problem:
            found.setdefault(task.shard, []).append((task.start, problem))
        if progress is not None:
            progress(task.ids)
    return [min(found[k])[1] for k in sorted(found)]
