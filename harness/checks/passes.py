"""The whole-corpus passes the data falsifiers and ``harness probe`` make: token statistics
(``shard_stats``: the id histogram, whose out-of-vocab bin is also a range check) and integrity
(``check_shards``: sizes, sidecars, widths, then every id against the vocab). Each describes the
shards (``harness.checks.shards``), then runs its pass as tasks on an engine
(``harness.checks.scan``) and merges their results exactly."""

from __future__ import annotations

from pathlib import Path

from harness.checks import IncompleteScan
from harness.checks.entropy import TokenStats, stats_from_counts
from harness.checks.formats import NO_OPTIONS, ShardOptions
from harness.checks.scan import count_corpus, range_problems
from harness.checks.shards import Shard, describe_shards, unjudged

__all__ = ["IncompleteScan", "NoTokens", "check_shards", "shard_stats"]


def check_shards(
    paths: list[str | Path],
    vocab_size: int | None = None,
    options: ShardOptions = NO_OPTIONS,
    engine: str | None = None,
    address: str | None = None,
    progress=None,
) -> tuple[list[Shard], list[str]]:
    """Every integrity problem across the shards (empty list: healthy), streamed chunk by chunk on
    ``engine`` (``harness.engines``); a shard whose read fails is a problem naming it."""
    shards, problems, unreadable = describe_shards(paths, vocab_size, options)
    scanned = []
    for shard in shards:
        limit = vocab_size or shard.vocab_size
        if limit is None or shard.count == 0 or shard.path in unreadable:
            if limit is None:
                problems.append(f"{shard.path}: no vocab_size given or in a sidecar; ids cannot be checked")
            continue
        scanned.append((limit, shard))
    if progress is not None:
        progress.start(sum(s.count for _, s in scanned))
    for limit in sorted({limit for limit, _ in scanned}):
        group = [s for lim, s in scanned if lim == limit]
        problems.extend(range_problems(group, limit, engine, address, progress=getattr(progress, "advance", None)))
    return shards, problems


def shard_stats(
    paths,
    vocab_size: int | None = None,
    unk_id: int | None = None,
    device: str = "cpu",
    options=None,
    engine: str | None = None,
    address: str | None = None,
    progress=None,
    partial: bool = False,
) -> tuple[TokenStats, list[str]]:
    """Token statistics over every shard, plus the integrity problems found on the way — in one
    pass over the ids: the histogram's out-of-vocab bin is the range check. The pass runs on
    ``engine`` (``harness.engines``); a shard whose read fails mid-pass is a problem naming it and
    its counts are left out — which makes the statistics partial, as does a shard that cannot be
    read at all; so unless ``partial`` is asked for (``harness probe``), ``IncompleteScan`` is raised
    instead of statistics of part of the corpus."""
    from harness.checks.formats import NO_OPTIONS

    shards, problems, unreadable = describe_shards(paths, vocab_size, options or NO_OPTIONS)
    left_out = unjudged(shards, problems, unreadable)
    if left_out and not partial:
        raise IncompleteScan(left_out)
    limit = vocab_size or (max((s.vocab_size or 0) for s in shards) if shards else None)
    if not limit:
        raise ValueError("vocab size unknown: pass it or give shards with sidecars")
    if progress is not None:
        progress.start(sum(s.count for s in shards))
    counts, oov, failures = count_corpus(shards, limit, device, engine, address, progress=getattr(progress, "advance", None))
    if failures and not partial:
        raise IncompleteScan(failures)
    problems.extend(failures)
    for shard, outside in zip(shards, oov):
        if outside:
            problems.append(f"{shard.path}: {outside} ids outside [0, {limit}) (≥ vocab size {limit}, or negative)")
    if not counts.any():
        raise NoTokens(problems or [f"{', '.join(map(str, paths))}: no ids in any shard"])
    return stats_from_counts(counts[:limit], unk_id, oov=int(counts[limit])), problems


class NoTokens(ValueError):
    """No shard yielded an id; ``problems`` says why (each naming its file)."""

    def __init__(self, problems: list[str]):
        super().__init__("; ".join(problems))
        self.problems = problems
