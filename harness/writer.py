"""Change values in a contract in place and write it atomically, keeping everything else.

Edits are surgical: the new scalar replaces exactly the old one's characters (keeping its quote
style), and a missing key is inserted as one new line beside its siblings. Every edit is verified
by re-parsing with the parser that validates contracts; when no surgical edit parses to the
intended data the contract is not rewritten (a clear error says what to set by hand) — a user's file
is never re-formatted. Nothing is written when nothing changed, nothing outside the project is
written through a symlink, and a read-only file is left alone.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.atomic import WriteError, writable_target, write_atomic
from harness.contract.yamlio import load_plain_fast, load_roundtrip, load_text

_PLAIN_SAFE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_./:@+-]*$")
_NUMBER_LIKE = re.compile(r"^[-+]?(\.?[0-9][0-9_]*)(\.[0-9_]*)?([eE][-+]?[0-9]+)?$|^0[xob]|^[0-9]+:[0-9]")
_RESERVED_PLAIN = {"true", "false", "yes", "no", "on", "off", "null", "~", "y", "n"}


@dataclass(frozen=True)
class Edit:
    """Set the string scalar at ``path`` (keys and list indices); insert the key if missing.

    ``after`` names the sibling key after which a missing key is inserted, when present.
    """

    path: tuple[Any, ...]
    value: str
    after: str | None = None


def _format_scalar(value: str, quote: str | None) -> str:
    if quote == "'" and "'" not in value and "\n" not in value:
        return f"'{value}'"
    if quote == '"' or not _PLAIN_SAFE.match(value) or value.lower() in _RESERVED_PLAIN or _NUMBER_LIKE.match(value):
        import json

        return json.dumps(value, ensure_ascii=False)
    return value


def _scalar_span(line: str, col: int, flow: bool = False) -> tuple[int, int, str | None] | None:
    """(start, end, quote) of a one-line scalar token starting at ``col``; None if not one-line.
    In a flow collection a plain scalar also ends at ``,`` ``]`` ``}``."""
    if col >= len(line):
        return None
    first = line[col]
    if first in "|>[{&*!":
        return None
    if first == "'":
        i = col + 1
        while i < len(line):
            if line[i] == "'":
                if i + 1 < len(line) and line[i + 1] == "'":
                    i += 2
                    continue
                return col, i + 1, "'"
            i += 1
        return None
    if first == '"':
        i = col + 1
        while i < len(line):
            if line[i] == "\\":
                i += 2
                continue
            if line[i] == '"':
                return col, i + 1, '"'
            i += 1
        return None
    end = len(line.rstrip("\r\n"))
    comment = re.search(r"[ \t]#", line[col:])
    if comment is not None:
        end = col + comment.start()
    if flow:
        stop = re.search(r"[,\]}]", line[col:end])
        if stop is not None:
            end = col + stop.start()
    while end > col and line[end - 1] in " \t":
        end -= 1
    return col, end, None


def _node_at(doc: Any, path: Sequence[Any]) -> Any:
    node = doc
    for step in path:
        node = node[step]
    return node


def _expected_plain(plain: Any, edits: Sequence[Edit]) -> Any:
    expected = copy.deepcopy(plain)
    for edit in edits:
        parent = _node_at(expected, edit.path[:-1])
        parent[str(edit.path[-1])] = edit.value
    return expected


def _own_keys(mapping: Any) -> list[Any]:
    """The keys written in this mapping itself (not those a ``<<`` merge key supplies)."""
    own = getattr(mapping, "_ok", None)
    keys = list(mapping.keys())
    return [k for k in keys if own is None or k in own]


def _is_flow(mapping: Any) -> bool:
    return getattr(mapping, "fa", None) is not None and mapping.fa.flow_style()


def _block_insertion(lines: list[str], parent: Any, key: Any, value: str, after: str | None, newline: str) -> tuple[int, str] | None:
    """Where and what to insert for a missing key in a block mapping: just after ``after`` — before
    the line of the key that follows it, or after ``after``'s own one-line value — so a block
    scalar or nested value beside it is never split."""
    keys = _own_keys(parent)
    if not keys:
        return None
    key_col = parent.lc.key(keys[0])[1]
    text = " " * key_col + f"{key}: {_format_scalar(value, None)}{newline}"
    anchor = after if after in keys else keys[-1]
    index = keys.index(anchor)
    if index + 1 < len(keys):
        return parent.lc.key(keys[index + 1])[0], text
    value_line, value_col = parent.lc.value(anchor)
    key_line = parent.lc.key(anchor)[0]
    if value_line == key_line and not isinstance(parent[anchor], (dict, list)) and _scalar_span(lines[value_line], value_col) is not None:
        return value_line + 1, text
    if index > 0:
        return key_line, text  # before ``after`` itself: its value spans lines
    return None


def _flow_insertion(lines: list[str], parent: Any, key: Any, value: str) -> tuple[int, int, str] | None:
    """(line, column, text) to insert a missing key right after a flow mapping's ``{``, in the
    file's own JSON-compatible style."""
    import json

    line, col = parent.lc.line, parent.lc.col
    if line >= len(lines) or col >= len(lines[line]) or lines[line][col] != "{":
        return None
    sep = ", " if _own_keys(parent) else ""
    return line, col + 1, f"{json.dumps(str(key))}: {json.dumps(value, ensure_ascii=False)}{sep}"


def _surgical(text: str, doc: Any, edits: Sequence[Edit]) -> str | None:
    lines = text.splitlines(keepends=True)
    newline = "\r\n" if text.count("\r\n") > text.count("\n") / 2 else "\n"
    replacements: list[tuple[int, int, int, str]] = []  # (line, start, end, new)
    insertions: list[tuple[int, int, str]] = []  # (insert before this line index, order, text)
    inline: list[tuple[int, int, int, str]] = []  # (line, col, order, text) inserted inside a line
    for edit in edits:
        parent = _node_at(doc, edit.path[:-1])
        key = edit.path[-1]
        if not isinstance(parent, dict):
            return None
        if key in _own_keys(parent):
            if isinstance(parent[key], (dict, list)):
                return None
            line_no, col = parent.lc.value(key)
            span = _scalar_span(lines[line_no], col, flow=_is_flow(parent))
            if span is None:
                return None
            start, end, quote = span
            replacements.append((line_no, start, end, _format_scalar(edit.value, quote)))
        elif _is_flow(parent):
            found = _flow_insertion(lines, parent, key, edit.value)
            if found is None:
                return None
            inline.append((found[0], found[1], len(inline), found[2]))
        else:
            found = _block_insertion(lines, parent, key, edit.value, edit.after, newline)
            if found is None:
                return None
            insertions.append((found[0], len(insertions), found[1]))
    for line_no, start, end, new in sorted(replacements, key=lambda r: (r[0], -r[1])):
        line = lines[line_no]
        lines[line_no] = line[:start] + new + line[end:]
    for line_no, col, _, new in sorted(inline, key=lambda i: (i[0], -i[1], -i[2])):
        line = lines[line_no]
        lines[line_no] = line[:col] + new + line[col:]
    for index, _, new_line in sorted(insertions, key=lambda i: (-i[0], -i[1])):
        if index > 0 and not lines[index - 1].endswith(("\n", "\r")):
            lines[index - 1] += newline
        lines.insert(index, new_line)
    return "".join(lines)


def parse_plain(text: str) -> Any | None:
    """The data of a contract text as validation reads it: the fast C loader where it applies,
    else the careful round-trip path. None when the text does not load."""
    plain = load_plain_fast(text)
    if plain is not None:
        return plain
    loaded, _ = load_text(text, "<contract>")
    return None if loaded is None else loaded.plain


def apply_edits(text: str, edits: Sequence[Edit]) -> str:
    """The new contract text with ``edits`` applied surgically; verified to parse (as validation
    parses) to exactly the intended data. Raises WriteError rather than re-format the file."""
    plain = parse_plain(text)
    if plain is None:
        _, findings = load_text(text, "<contract>")
        raise WriteError(f"cannot edit a contract that does not parse: {findings[0].render() if findings else 'invalid YAML'}")
    try:
        doc = load_roundtrip(text)
    except Exception as exc:
        raise WriteError(f"cannot locate values to edit ({type(exc).__name__}); not rewritten") from None
    edits = [e for e in edits if _current(plain, e.path) != e.value]
    if not edits:
        return text
    expected = _expected_plain(plain, edits)
    try:
        candidate = _surgical(text, doc, edits)
    except (KeyError, IndexError, TypeError, AttributeError):
        candidate = None
    if candidate is not None and parse_plain(candidate) == expected:
        return candidate
    wanted = "; ".join(f"{'.'.join(str(p) for p in e.path)} = {e.value}" for e in edits)
    raise WriteError(f"cannot edit it surgically without re-formatting the file; not rewritten. Set by hand: {wanted}")


def _current(doc: Any, path: Sequence[Any]) -> Any:
    try:
        return str(_node_at(doc, path))
    except (KeyError, IndexError, TypeError):
        return None


def update_file(path: Path, edits: Sequence[Edit], root: Path | None = None) -> bool:
    """Apply ``edits`` to the file at ``path``; write only if the text changed. Returns changed."""
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise WriteError(f"{path}: cannot read ({exc.strerror or exc})") from None
    text = raw.decode("utf-8")
    new = apply_edits(text, edits)
    if new == text:
        return False
    write_atomic(writable_target(path, root), new)
    return True
