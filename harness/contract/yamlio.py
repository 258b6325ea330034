"""Safe round-trip YAML reading: every failure becomes a Finding, never an exception.

Safety rules, because contracts arrive in pull requests: no language-specific tags (nothing is
ever constructed from a tag), a bounded number of aliases and of expanded nodes (no alias bombs),
bounded size and depth, strict UTF-8, duplicate keys rejected.
"""

from __future__ import annotations

import datetime as _dt
import math
import re
import warnings
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from harness.findings import Finding

MAX_BYTES = 2 * 1024 * 1024
MAX_ALIASES = 64
MAX_NODES = 200_000
MAX_DEPTH = 64

_CORE_TAGS = {f"tag:yaml.org,2002:{name}" for name in ("str", "int", "float", "bool", "null", "map", "seq", "timestamp", "binary")}


class _TooBig(Exception):
    pass


@dataclass
class Loaded:
    text: str
    doc: Any  # ruamel round-trip document
    plain: Any  # plain python (dict/list/str/int/float/bool/None) for schema validation


def _yaml():
    from ruamel.yaml import YAML

    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    yaml.preserve_quotes = True
    return yaml


def _mark_finding(display: str, exc: Any, rule: str, fallback: str) -> Finding:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    line = (mark.line + 1) if mark is not None else 0
    col = (mark.column + 1) if mark is not None else 0
    problem = getattr(exc, "problem", None) or fallback
    context = getattr(exc, "context", None)
    message = f"{context}: {problem}" if context and rule == "yaml-syntax" else str(problem)
    return Finding(display, line, col, rule, message.strip())


def decode(data: bytes, display: str) -> tuple[str | None, list[Finding]]:
    if len(data) > MAX_BYTES:
        return None, [Finding(display, 0, 0, "file-too-large", f"{len(data)} bytes, over the {MAX_BYTES}-byte limit for a contract")]
    if not data.strip():
        return None, [Finding(display, 0, 0, "empty-file", "file is empty; a contract needs at least `metadata`")]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        col = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        return None, [Finding(display, line, col, "encoding", f"invalid UTF-8 byte 0x{data[exc.start]:02x}; contracts must be UTF-8 text")]
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        return None, [Finding(display, line, 0, "binary-file", "NUL byte in file; this is not a YAML text file")]
    return text, []


def nesting_finding(text: str, display: str, limit: int = MAX_DEPTH) -> Finding | None:
    """A linear scan for flow nesting (``[``/``{``) deeper than ``limit``, outside quotes and
    comments: ruamel needs tens of seconds to refuse 5,000 nested ``[``; this takes microseconds."""
    if text.count("[") + text.count("{") <= limit:
        return None
    depth = 0
    quote = ""
    line = 1
    col = 0
    previous = "\n"
    for char in text:
        col += 1
        if char == "\n":
            line, col = line + 1, 0
            if quote == "'" or quote == '"':
                previous = char
                continue
            quote = ""  # a comment ends with its line
        elif quote == "#":
            pass
        elif quote:
            if char == quote:
                quote = ""
        elif char in "'\"" and previous in " \t\n[{,:":
            quote = char
        elif char == "#" and previous in " \t\n":
            quote = "#"
        elif char in "[{":
            depth += 1
            if depth > limit:
                return Finding(display, line, col, "too-deep", f"flow nesting deeper than {limit} levels; refusing it before parsing")
        elif char in "]}":
            depth = max(0, depth - 1)
        previous = char
    return None


def _prescan(text: str, display: str) -> list[Finding]:
    """Walk the event stream: reject foreign tags and too many aliases before constructing."""
    from ruamel.yaml.error import MarkedYAMLError, YAMLError
    from ruamel.yaml.events import AliasEvent

    findings: list[Finding] = []
    aliases = 0
    documents = 0
    try:
        for event in _yaml().parse(text):
            name = type(event).__name__
            if name == "DocumentStartEvent":
                documents += 1
                if documents > 1:
                    mark = event.start_mark
                    findings.append(
                        Finding(display, mark.line + 1, mark.column + 1, "multiple-documents", "a contract is one YAML document; found a second `---`")
                    )
                    break
            if isinstance(event, AliasEvent):
                aliases += 1
                if aliases > MAX_ALIASES:
                    mark = event.start_mark
                    findings.append(
                        Finding(
                            display,
                            mark.line + 1,
                            mark.column + 1,
                            "yaml-alias",
                            f"more than {MAX_ALIASES} aliases; refusing a document that may expand without bound",
                        )
                    )
                    break
            tag = getattr(event, "tag", None)
            if tag is not None and not isinstance(tag, str):
                tag = str(tag)
            if tag and tag not in _CORE_TAGS:
                mark = event.start_mark
                findings.append(
                    Finding(
                        display,
                        mark.line + 1,
                        mark.column + 1,
                        "yaml-tag",
                        f"tag {tag!r} is not allowed; contracts are plain data (no language-specific or custom tags)",
                    )
                )
                break
    except MarkedYAMLError as exc:
        return [_mark_finding(display, exc, "yaml-syntax", "invalid YAML")]
    except YAMLError as exc:  # pragma: no cover - ruamel raises Marked errors in practice
        return [Finding(display, 0, 0, "yaml-syntax", str(exc).splitlines()[0] if str(exc) else "invalid YAML")]
    except RecursionError:
        return [Finding(display, 0, 0, "too-deep", f"nesting deeper than the parser can follow (limit {MAX_DEPTH})")]
    return findings


def to_plain(node: Any, _depth: int = 0, _count: list[int] | None = None) -> Any:
    """Convert a ruamel round-trip tree to plain JSON-like python, bounded in depth and size."""
    if _count is None:
        _count = [0]
    _count[0] += 1
    if _count[0] > MAX_NODES:
        raise _TooBig(f"document expands to more than {MAX_NODES} nodes (aliases?)")
    if _depth > MAX_DEPTH:
        raise _TooBig(f"nesting deeper than {MAX_DEPTH} levels")
    if isinstance(node, dict):
        return {str(k): to_plain(v, _depth + 1, _count) for k, v in node.items()}
    if isinstance(node, (list, tuple)):
        return [to_plain(v, _depth + 1, _count) for v in node]
    if isinstance(node, bool):
        return bool(node)
    if type(node).__name__ == "ScalarBoolean":
        return bool(node)
    if isinstance(node, str):
        return str(node)
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    if isinstance(node, (_dt.date, _dt.datetime)):
        return node.isoformat()
    if node is None:
        return None
    return str(node)


# Anything that could be an anchor, alias, tag or a second document sends a file down the
# careful path (event pre-scan + round-trip load); plain files take the fast C-parser path.
_RISKY = re.compile(r"(^|[\s\[{,:-])[&*!]|^---|^\.\.\.", re.M)


def load_plain_fast(text: str) -> Any | None:
    """Plain data through ruamel's C safe loader, or None when the text needs the careful path
    (risky constructs, any error, or no C extension): the caller then uses ``load_text``."""
    if _RISKY.search(text) or nesting_finding(text, "") is not None:
        return None
    try:
        yaml = _fast_yaml()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            data = yaml.load(text)
        return to_plain(data)
    except Exception:  # any problem: the careful path will find and position it
        return None


@lru_cache(maxsize=1)
def _fast_yaml():
    from ruamel.yaml import YAML

    yaml = YAML(typ="safe", pure=False)
    yaml.allow_duplicate_keys = False
    return yaml


def load_roundtrip(text: str) -> Any:
    """The round-trip document of a text already known to load (for positions and edits).

    ruamel's pure scanner refuses a tab after a plain scalar (``status: DRAFT<TAB># c``) that YAML
    and the validating C loader allow; a tab→space copy keeps every line and column, so positions
    stay exact."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return _yaml().load(text)
        except Exception:
            if "\t" not in text:
                raise
            return _yaml().load(text.replace("\t", " "))


def load_text(text: str, display: str) -> tuple[Loaded | None, list[Finding]]:
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    deep = nesting_finding(text, display)
    if deep is not None:
        return None, [deep]
    findings = _prescan(text, display)
    if findings:
        return None, findings
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            doc = _yaml().load(text)
    except MarkedYAMLError as exc:
        rule = "duplicate-key" if type(exc).__name__ == "DuplicateKeyError" else "yaml-syntax"
        finding = _mark_finding(display, exc, rule, "invalid YAML")
        if rule == "duplicate-key":
            finding = Finding(finding.path, finding.line, finding.col, rule, finding.message.split("\n")[0])
        return None, [finding]
    except YAMLError as exc:
        return None, [Finding(display, 0, 0, "yaml-syntax", str(exc).splitlines()[0] if str(exc) else "invalid YAML")]
    except RecursionError:
        return None, [Finding(display, 0, 0, "too-deep", "nesting too deep to load")]
    try:
        plain = to_plain(doc)
    except _TooBig as exc:
        return None, [Finding(display, 0, 0, "too-large", str(exc))]
    except RecursionError:
        return None, [Finding(display, 0, 0, "too-deep", "nesting too deep to load")]
    return Loaded(text=text, doc=doc, plain=plain), []


def is_finite_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
