"""Map a path inside a loaded YAML document (keys and indices) to a 1-based line and column.

ruamel's round-trip nodes remember where each key, value and item starts; findings use this so
that every message points at the offending node rather than at the file.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def _child_position(node: Any, step: Any, want_key: bool) -> tuple[int, int] | None:
    lc = getattr(node, "lc", None)
    if lc is None:
        return None
    try:
        if isinstance(node, dict):
            line, col = lc.key(step) if want_key else lc.value(step)
        else:
            line, col = lc.item(step)
    except (KeyError, IndexError, TypeError, AttributeError):
        return None
    if line is None:
        return None
    return line + 1, (col or 0) + 1


def position_of(doc: Any, path: Sequence[Any], *, key: bool = False) -> tuple[int, int]:
    """Position of the node at ``path``; with ``key=True`` the position of its mapping key.

    Falls back to the deepest ancestor that has a position, then to line 1.
    """
    best = (1, 1)
    if doc is None:
        return best
    lc = getattr(doc, "lc", None)
    if lc is not None and lc.line is not None:
        best = (lc.line + 1, (lc.col or 0) + 1)
    node = doc
    for depth, step in enumerate(path):
        last = depth == len(path) - 1
        pos = _child_position(node, step, want_key=key and last)
        if pos is None:
            break
        best = pos
        try:
            node = node[step]
        except (KeyError, IndexError, TypeError):
            break
    return best


def line_of(doc: Any, path: Sequence[Any], *, key: bool = False) -> int:
    return position_of(doc, path, key=key)[0]
