"""Where a whole-corpus pass runs. ``local``: this process, every core through threads (the
default). ``ray``: Ray tasks over shards and id ranges (``harness.checks.scan``), on a cluster
started on this machine or the one at ``address`` (``auto``: the cluster ``ray start`` made).

The engine is chosen, most specific first, by a falsifier's ``engine`` param, the ini keys
``harness_engine`` / ``harness_engine_address`` (``configure``), or ``harness probe shards
--engine``. Every engine yields each task's result, or the exception it raised, as tasks finish;
merging is the caller's (exact, by addition), so the choice never changes a verdict."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from harness.engines.errors import EngineError

ENGINES = ("local", "ray")

_defaults = {"engine": "local", "address": None}


def configure(engine: str | None = None, address: str | None = None) -> None:
    """The engine a pass uses when its caller names none (the pytest plugin sets it from ini)."""
    if engine:
        if engine not in ENGINES:
            raise EngineError(f"engine {engine!r} is not one of {', '.join(ENGINES)}")
        _defaults["engine"] = engine
    if address:
        _defaults["address"] = address


def resolve(engine: str | None = None, address: str | None = None) -> tuple[str, str | None]:
    name = engine or _defaults["engine"]
    if name not in ENGINES:
        raise EngineError(f"engine {name!r} is not one of {', '.join(ENGINES)}")
    return name, address or _defaults["address"]


def run_tasks(
    fn: Callable,
    tasks: Iterable,
    args: tuple = (),
    engine: str | None = None,
    address: str | None = None,
    local: Callable | None = None,
) -> Iterator[tuple[object, object]]:
    """(task, ``fn(task, *args)`` or the exception it raised), as tasks finish. On the local engine
    ``local(task)`` runs instead where given (it may reuse shards this process has open)."""
    name, address = resolve(engine, address)
    if name == "ray":
        from harness.engines.on_ray import run_on_ray

        yield from run_on_ray(fn, list(tasks), args, address)
        return
    for task in tasks:
        try:
            yield task, (local(task) if local is not None else fn(task, *args))
        except Exception as exc:  # reported per task, naming its shard, by the caller
            yield task, exc
