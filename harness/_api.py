"""What a falsifier test declares about itself, readable without importing it.

``@accepts("vocab", "expected_format", min_hex_pairs=200)`` names the params a falsifier test
takes: positional names are required, keywords are optional with their default.
``@records("entropy_bits", "top1_share")`` names the measurements it records.
The lint reads both from the source with ``ast`` (an untrusted contract never makes us import
code); the plugin fills param defaults from them at run time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()


def accepts(*required: str, **optional: Any) -> Callable[[F], F]:
    """Declare the params a falsifier test accepts (required names, then optional defaults)."""

    def mark(func: F) -> F:
        spec: dict[str, Any] = dict.fromkeys(required, REQUIRED)
        spec.update(optional)
        func.__harness_accepts__ = spec  # type: ignore[attr-defined]
        return func

    return mark


def records(*names: str) -> Callable[[F], F]:
    """Declare the measurements a falsifier test records (for lint and promotion rules)."""

    def mark(func: F) -> F:
        func.__harness_records__ = tuple(names)  # type: ignore[attr-defined]
        return func

    return mark
