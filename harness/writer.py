"""Change values in a contract in place and write it atomically, keeping everything else.

Edits are surgical: the new scalar replaces exactly the old one's characters (keeping its quote
style), and a missing key is inserted as one new line beside its siblings. Every edit is verified
by re-parsing; only if the surgical text does not parse to the intended data does the writer fall
back to a ruamel round-trip dump (also verified). Nothing is written when nothing changed.
"""

from __future__ import annotations

import contextlib
import copy
import io
import os
import re
import stat
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.contract.yamlio import load_text, to_plain

_PLAIN_SAFE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_./:@+-]*$")
_NUMBER_LIKE = re.compile(r"^[-+]?(\.?[0-9][0-9_]*)(\.[0-9_]*)?([eE][-+]?[0-9]+)?$|^0[xob]|^[0-9]+:[0-9]")
_RESERVED_PLAIN = {"true", "false", "yes", "no", "on", "off", "null", "~", "y", "n"}


class WriteError(Exception):
    """A contract or evidence file could not be written; the old file is untouched."""


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


def _scalar_span(line: str, col: int) -> tuple[int, int, str | None] | None:
    """(start, end, quote) of a one-line scalar token starting at ``col``; None if not one-line."""
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
    comment = line.find(" #", col)
    if comment != -1:
        end = comment
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


def _surgical(text: str, doc: Any, edits: Sequence[Edit]) -> str | None:
    lines = text.splitlines(keepends=True)
    newline = "\r\n" if text.count("\r\n") > text.count("\n") / 2 else "\n"
    replacements: list[tuple[int, int, int, str]] = []  # (line, start, end, new)
    insertions: list[tuple[int, int, str]] = []  # (insert before this line index, order, text)
    inserted_at: dict[tuple[int, Any], int] = {}  # (parent, new key) → line index it goes before
    for edit in edits:
        parent = _node_at(doc, edit.path[:-1])
        key = edit.path[-1]
        if not isinstance(parent, dict) or (getattr(parent, "fa", None) is not None and parent.fa.flow_style()):
            return None
        if key in parent:
            old = parent[key]
            if isinstance(old, (dict, list)):
                return None
            line_no, col = parent.lc.value(key)
            span = _scalar_span(lines[line_no], col)
            if span is None:
                return None
            start, end, quote = span
            replacements.append((line_no, start, end, _format_scalar(edit.value, quote)))
        else:
            keys = list(parent.keys())
            if not keys:
                return None
            if (id(parent), edit.after) in inserted_at:  # chain after a key inserted by this batch
                index = inserted_at[(id(parent), edit.after)]
                key_col = parent.lc.key(keys[0])[1]
                inserted_at[(id(parent), key)] = index
                insertions.append((index, len(insertions), " " * key_col + f"{key}: {_format_scalar(edit.value, None)}{newline}"))
                continue
            anchor = edit.after if edit.after in parent else keys[-1]
            anchor_value = parent[anchor]
            if isinstance(anchor_value, (dict, list)):
                anchor = keys[0]
                anchor_value = parent[anchor]
                if isinstance(anchor_value, (dict, list)):
                    return None
            key_line, key_col = parent.lc.key(anchor)
            value_line, value_col = parent.lc.value(anchor)
            if value_line != key_line or _scalar_span(lines[value_line], value_col) is None:
                return None
            inserted_at[(id(parent), key)] = value_line + 1
            insertions.append((value_line + 1, len(insertions), " " * key_col + f"{key}: {_format_scalar(edit.value, None)}{newline}"))
    for line_no, start, end, new in sorted(replacements, key=lambda r: (r[0], -r[1])):
        line = lines[line_no]
        lines[line_no] = line[:start] + new + line[end:]
    for index, _, new_line in sorted(insertions, key=lambda i: (-i[0], -i[1])):
        if index > 0 and not lines[index - 1].endswith(("\n", "\r")):
            lines[index - 1] += newline
        lines.insert(index, new_line)
    return "".join(lines)


def _dump_roundtrip(text: str, edits: Sequence[Edit]) -> str:
    from ruamel.yaml import YAML

    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096
    sequence_offset = 0 if re.search(r"^[A-Za-z_][^\n]*:\s*\n- ", text, re.M) else 2
    yaml.indent(mapping=2, sequence=sequence_offset + 2, offset=sequence_offset)
    doc = yaml.load(text)
    for edit in edits:
        _node_at(doc, edit.path[:-1])[edit.path[-1]] = edit.value
    out = io.StringIO()
    yaml.dump(doc, out)
    return out.getvalue()


def apply_edits(text: str, edits: Sequence[Edit]) -> str:
    """The new contract text with ``edits`` applied; verified to parse to exactly the intended data."""
    loaded, findings = load_text(text, "<contract>")
    if loaded is None:
        raise WriteError(f"cannot edit a contract that does not parse: {findings[0].render() if findings else 'invalid YAML'}")
    edits = [e for e in edits if _current(loaded.doc, e.path) != e.value]
    if not edits:
        return text
    expected = _expected_plain(loaded.plain, edits)
    candidate = _surgical(text, loaded.doc, edits)
    if candidate is not None and _parses_to(candidate, expected):
        return candidate
    candidate = _dump_roundtrip(text, edits)
    if _parses_to(candidate, expected):
        return candidate
    raise WriteError("the edited contract did not re-parse to the intended values; nothing written")


def _current(doc: Any, path: Sequence[Any]) -> Any:
    try:
        return str(_node_at(doc, path))
    except (KeyError, IndexError, TypeError):
        return None


def _parses_to(text: str, expected: Any) -> bool:
    loaded, _ = load_text(text, "<contract>")
    return loaded is not None and to_plain(loaded.doc) == expected


def write_atomic(path: Path, data: str | bytes, *, default_mode: int = 0o644) -> None:
    """Write ``data`` to ``path`` atomically: temp file beside it, fsync, rename; mode kept.

    A new file gets ``default_mode`` (minus the umask), never the 0600 that mkstemp gives.
    """
    path = Path(path)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        mode = default_mode & ~umask
    except OSError as exc:
        raise WriteError(f"{path}: {exc.strerror or exc}") from None
    tmp_name = None
    try:
        fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp_name, mode)
        os.replace(tmp_name, path)
        tmp_name = None
        with contextlib.suppress(OSError):
            dir_fd = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
    except OSError as exc:
        raise WriteError(f"{path}: cannot write ({exc.strerror or exc}); the old file is unchanged") from None
    finally:
        if tmp_name is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp_name)


def update_file(path: Path, edits: Sequence[Edit]) -> bool:
    """Apply ``edits`` to the file at ``path``; write only if the text changed. Returns changed."""
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise WriteError(f"{path}: cannot read ({exc.strerror or exc})") from None
    text = raw.decode("utf-8")
    new = apply_edits(text, edits)
    if new == text:
        return False
    write_atomic(path, new)
    return True


def remove_stale_temp_files(directory: Path) -> list[Path]:
    """Temp files a killed writer left behind (``.NAME.*.tmp``); removed so no run trips on them."""
    removed = []
    for leftover in Path(directory).glob(".*.tmp"):
        with contextlib.suppress(OSError):
            leftover.unlink()
            removed.append(leftover)
    return removed


@contextlib.contextmanager
def contracts_lock(directory: Path, timeout: float = 120.0) -> Iterator[None]:
    """An OS-level lock (flock) on the contracts directory: released when its holder dies."""
    from filelock import FileLock, Timeout

    lock = FileLock(str(Path(directory) / ".harness.lock"), timeout=timeout)
    try:
        with lock:
            yield
    except Timeout:
        raise WriteError(f"{directory}: another harness session held the contracts lock for {timeout:.0f}s") from None
