"""Timed comparisons that cannot flatter one side: both sides are warmed up first, then run in
alternation (A B, B A, A B, ...) so drift in clocks, caches and load falls on both, and each is
reported as the median over the pairs with its spread (min–max). Every benchmark here that prints a
ratio takes its figures from ``paired``."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Timing:
    """One side's seconds over the pairs."""

    samples: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def spread(self) -> tuple[float, float]:
        return min(self.samples), max(self.samples)

    def describe(self, unit: str = "ms") -> str:
        scale = {"s": 1.0, "ms": 1e3, "us": 1e6}[unit]
        lo, hi = self.spread
        return f"{self.median * scale:9.2f} {unit} (spread {lo * scale:.2f}–{hi * scale:.2f})"


def paired(sides: dict[str, Callable[[], object]], pairs: int = 7, warmup: int = 1, sync: Callable[[], None] | None = None) -> dict[str, Timing]:
    """Seconds for each named side, warmed ``warmup`` times, then timed ``pairs`` rounds in
    alternating order. ``sync`` (e.g. ``torch.cuda.synchronize``) is called before and after each
    timed call so asynchronous work is inside its own timing."""
    sync = sync or (lambda: None)
    names = list(sides)
    for _ in range(warmup):
        for name in names:
            sides[name]()
            sync()
    samples: dict[str, list[float]] = {name: [] for name in names}
    for round_ in range(max(pairs, 5)):
        order = names if round_ % 2 == 0 else names[::-1]
        for name in order:
            sync()
            start = time.perf_counter()
            sides[name]()
            sync()
            samples[name].append(time.perf_counter() - start)
    return {name: Timing(tuple(values)) for name, values in samples.items()}
