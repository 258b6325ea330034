"""Load a contract file into the model, collecting every problem as a positioned Finding.

Order: bytes → text → YAML (safe, round-trip) → JSON Schema → structure (ids, ranges, references,
paths, the harness's strict keys on bound falsifiers) → model. Never raises on bad input.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Any

from harness.builtins import parse_builtin
from harness.contract.keys import contract_key
from harness.contract.model import (
    Contract,
    Falsifier,
    Hypothesis,
    Promotion,
    new_falsifier,
    parse_node_id,
)
from harness.contract.positions import position_of
from harness.contract.rules import DIRECT_SHAPES, NESTED_FALSIFIER_KEYS, TextLayout, text_findings
from harness.contract.schema import schema_findings
from harness.contract.yamlio import load_plain_fast, load_text
from harness.findings import Finding, Severity, has_errors
from harness.paths import artifact_roots_from_env, check_artifact_path, display_path

DEFAULT_FALSIFIERS_DIR = "falsifiers"
DEFAULT_EVIDENCE_DIR = "evidence"
# Param names whose values are artifact paths: they must stay inside the repository or an allowed root.
PATH_PARAM = re.compile(r"(?:^|_)(path|paths|dir|dirs|file|files|vocab|shards|corpus|glob|metadata_dir|run_dir)$")
BUILTIN_PREFIX = "builtin:"  # also the prefix of built-in falsifier references (harness.builtins)


def _f(
    findings: list[Finding], display: str, doc: Any, path: list[Any], rule: str, message: str, *, key: bool = False, severity: Severity = Severity.ERROR
) -> None:
    line, col = position_of(doc, path, key=key)
    findings.append(Finding(display, line, col, rule, message, severity))


@lru_cache(maxsize=1024)
def _test_file_escapes(test_file: str, root: str) -> bool:
    return ".." in Path(test_file).parts or check_artifact_path(test_file, Path(root)) is not None


def _structure_findings(
    doc: Any,
    plain: dict,
    display: str,
    root: Path,
    falsifiers_dir: str,
    allowed_roots: tuple[Path, ...],
    evidence_dir: str = DEFAULT_EVIDENCE_DIR,
    pv_rules: str = "auto",
) -> list[Finding]:
    """Every check beyond the schema: the text's own and those that look at the file system."""
    return _text_findings(doc, plain, display, falsifiers_dir, evidence_dir, pv_rules) + _filesystem_findings(
        doc, plain, display, root, falsifiers_dir, allowed_roots
    )


def _filesystem_findings(doc: Any, plain: dict, display: str, root: Path, falsifiers_dir: str, allowed_roots: tuple[Path, ...]) -> list[Finding]:
    """Checks whose answer depends on the disk, not the text (where a path leads, what a symlink
    points at, whether an encoder module is the project's): run on every load, cached or not."""
    findings: list[Finding] = []
    tests = plain.get("falsification_tests")
    for index, entry in enumerate(tests if isinstance(tests, list) else ()):
        if not isinstance(entry, dict):
            continue
        test = entry.get("test")
        node = parse_node_id(test) if isinstance(test, str) else None
        bound = node is not None and not test.strip().startswith(BUILTIN_PREFIX) and node[0].startswith(falsifiers_dir.rstrip("/") + "/")
        if bound and _test_file_escapes(node[0], str(root)):
            _f(findings, display, doc, ["falsification_tests", index, "test"], "path-escape", f"test file {node[0]!r} escapes the repository")
        params = entry.get("params")
        for name, value in params.items() if isinstance(params, dict) else ():
            if not _is_path_param(name):
                continue
            for item in value if isinstance(value, list) else [value]:
                if isinstance(item, str):
                    why = check_artifact_path(item, root, allowed_roots)
                    if why:
                        _f(findings, display, doc, ["falsification_tests", index, "params", name], "path-escape", f"params.{name} = {item!r} {why}")
    subjects = plain.get("subjects")
    if isinstance(subjects, dict):
        from harness.contract.subjects import artifact_problems

        for name, spec in subjects.items():
            for where, rule, message in artifact_problems(name, spec, root):
                if rule != "missing-artifact":  # a file that is not there yet is lint's business
                    _f(findings, display, doc, ["subjects", name, *where], rule, message, key=rule == "unknown-key")
    return findings


@lru_cache(maxsize=4096)
def _is_path_param(name: str) -> bool:
    return PATH_PARAM.search(name) is not None


def _text_findings(doc: Any, plain: dict, display: str, falsifiers_dir: str, evidence_dir: str, pv_rules: str) -> list[Finding]:
    """Checks that depend on the text and the layout alone (so a cached text passed them)."""
    return text_findings(doc, plain, display, TextLayout(falsifiers_dir, evidence_dir, pv_rules))


def _text(entry: dict, *keys: str) -> str:
    return next((str(entry[k]).strip() for k in keys if isinstance(entry.get(k), (str, int, float)) and not isinstance(entry.get(k), bool)), "")


def _other_shapes(plain: dict, doc: Any) -> list[Falsifier]:
    """Falsifiers pv-family contracts keep elsewhere, read as external (listed by ``status`` and the
    report, never run): ``falsification:`` / ``falsifiers:`` / ``gates:`` entries, and the entries of
    any other block that carry their own ``falsifier`` or ``falsification`` (``invariants[]`` of
    SHIP-style files, ``obligations[]``), with their legacy keys."""
    found: list[Falsifier] = []
    for shape, block in plain.items():
        if shape == "falsification_tests" or not isinstance(block, (dict, list)):
            continue
        entries = list(block.items()) if isinstance(block, dict) else list(enumerate(block))
        for index, entry in entries:
            if shape not in DIRECT_SHAPES:
                # a block of entries that each carry their own falsifier: invariants[].falsifier
                # (SHIP-style), obligations[].falsification, …
                key = next((k for k in NESTED_FALSIFIER_KEYS if isinstance(entry, dict) and k in entry), None)
                if key is None:
                    continue
                inner = entry[key]
                entry = {**entry, **inner} if isinstance(inner, dict) else {**entry, "test": inner}
            if not isinstance(entry, dict):
                entry = {"rule": str(entry)}
            fid = _text(entry, "id", "name", "gate") or (str(index) if isinstance(index, str) else f"{shape}[{index}]")
            test = _text(entry, "test", "command", "test_harness", "check", "condition", "rule", "description")
            found.append(
                Falsifier(
                    id=fid,
                    test=test,
                    index=index if isinstance(index, int) else 0,
                    line=position_of(doc, [shape, index])[0] if doc is not None else 0,
                    bound=False,
                    shape=shape,
                    entry_key=None if isinstance(index, int) else str(index),
                )
            )
    return found


def _build(path: Path, display: str, text: str, doc: Any, plain: dict, falsifiers_dir: str, key: str) -> Contract:
    """The model. ``doc`` may be None (fast path): lines are then 0 and resolved on demand."""
    metadata = plain.get("metadata") or {}
    if isinstance(metadata.get("status"), str) or "status" not in plain:
        status, location = metadata.get("status"), "metadata"
    else:
        status, location = plain.get("status"), "top"
    falsifiers: list[Falsifier] = []
    prefix = falsifiers_dir.rstrip("/") + "/"
    for index, entry in enumerate(plain.get("falsification_tests") or []):
        test = entry.get("test")
        test = test if isinstance(test, str) else ""
        node = parse_node_id(test)
        bound = node is not None and node[0].startswith(prefix)
        builtin = parse_builtin(test)
        if builtin is not None:
            bound, node = True, (str(builtin.path), builtin.func)
        falsifiers.append(
            new_falsifier(
                id=entry["id"],
                test=test.strip(),
                index=index,
                line=position_of(doc, ["falsification_tests", index])[0] if doc is not None else 0,
                bound=bound,
                test_file=node[0] if bound else None,
                test_func=node[1] if bound else None,
                subject=entry.get("subject"),
                params=dict(entry.get("params") or {}),
                requires=tuple(entry.get("requires") or ()),
                full_scan=entry.get("full_scan") is True,
                plausible={k: (float(v[0]), float(v[1])) for k, v in entry["plausible"].items()} if entry.get("plausible") else {},
                status=entry.get("status"),
                fingerprint=entry.get("fingerprint"),
                evidence=entry.get("evidence"),
                digest=entry.get("digest"),
                ship_blocking=bool(entry.get("ship_blocking", False)),
                builtin=builtin.name if builtin is not None else None,
            )
        )
    falsifiers.extend(_other_shapes(plain, doc))
    hypotheses = [
        Hypothesis(
            id=h["id"],
            statement=h["statement"],
            refuted_by=tuple(h.get("refuted_by") or ()),
            supported_by=tuple(h.get("supported_by") or ()),
            status=h.get("status"),
            index=index,
            line=position_of(doc, ["hypotheses", index])[0] if doc is not None else 0,
        )
        for index, h in enumerate(plain.get("hypotheses") or [])
    ]
    promotion = None
    if isinstance(metadata.get("promotion"), dict):
        raw = metadata["promotion"]
        promotion = Promotion(
            to=raw.get("to", "ACTIVE_RUNTIME"),
            require_all_discharged=raw.get("require_all_discharged", True),
            measurements={k: (float(v[0]), float(v[1])) for k, v in (raw.get("measurements") or {}).items()},
        )
    return Contract(
        path=path,
        display_path=display,
        text=text,
        _doc=doc,
        key=key,
        id=metadata.get("id") or key,
        status=status,
        status_location=location,
        falsifiers=falsifiers,
        hypotheses=hypotheses,
        promotion=promotion,
        subjects=dict(plain.get("subjects") or {}),
    )


def _absolute_root(root: Path | None) -> Path:
    """The repository root as an absolute path (the working directory when none is given)."""
    if isinstance(root, Path) and root.is_absolute():
        return root  # the common case: a project's loader passes one, built once
    return Path(root or Path.cwd()).absolute()


def load_contract_text(
    text: str,
    path: Path,
    *,
    root: Path | None = None,
    falsifiers_dir: str = DEFAULT_FALSIFIERS_DIR,
    allowed_roots: tuple[Path, ...] | None = None,
    evidence_dir: str = DEFAULT_EVIDENCE_DIR,
    contracts_dir: Path | None = None,
    pv_rules: str = "auto",
) -> tuple[Contract | None, list[Finding]]:
    root = _absolute_root(root)
    display = display_path(path, root)
    key = contract_key(path, contracts_dir)
    if allowed_roots is None:
        allowed_roots = artifact_roots_from_env()
    from harness.contract import cache

    cache_key = cache.key_for(text, falsifiers_dir, evidence_dir, pv_rules)
    plain = cache.get(cache_key)
    # cached: this text passed the schema and the text's checks under this layout before (the key
    # covers the text, the layout and the checks' code); the file-system checks run again
    if isinstance(plain, dict) and not _filesystem_findings(None, plain, display, root, falsifiers_dir, allowed_roots):
        return _build(path, display, text, None, plain, falsifiers_dir, key), []
    plain = load_plain_fast(text)
    if isinstance(plain, dict):
        # fast path: validate without positions; any finding sends us down the careful path
        schema_problems = schema_findings(None, plain, display)
        findings = schema_problems + _structure_findings(None, plain, display, root, falsifiers_dir, allowed_roots, evidence_dir, pv_rules)
        if not findings:
            cache.put(cache_key, plain)
            return _build(path, display, text, None, plain, falsifiers_dir, key), []
    loaded, findings = load_text(text, display)
    if loaded is None:
        return None, findings
    if not isinstance(loaded.plain, dict):
        kind = "empty document" if loaded.plain is None else f"a {type(loaded.plain).__name__}"
        return None, [Finding(display, 1, 1, "not-a-mapping", f"a contract is a mapping with at least `metadata`; this file holds {kind}")]
    findings = schema_findings(loaded.doc, loaded.plain, display)
    findings += _structure_findings(loaded.doc, loaded.plain, display, root, falsifiers_dir, allowed_roots, evidence_dir, pv_rules)
    findings.sort(key=lambda f: (f.line, f.col, f.rule))
    if has_errors(findings):
        return None, findings
    return _build(path, display, text, loaded.doc, loaded.plain, falsifiers_dir, key), findings
