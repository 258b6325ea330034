"""The gate's and lint's problems where CI readers look: GitHub workflow commands (annotations on
the diff), GitLab Code Quality JSON, SARIF 2.1.0 for code scanning, and a Markdown run summary.

Pure renderers of located problems (``harness.gate.located``: a file, a line and a stable rule id
each); the commands choose which to print or write. The terminal table, ``--json`` and JUnit stay
as they were.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from pathlib import Path

from harness import __version__

TOOL_URI = "https://example.invalid/falsifier-harness"  # this repository; docs/ci.md
TITLES = {
    "validate": "invalid contract",
    "lint": "lint finding",
    "cuda-evidence": "CUDA claim without verified evidence",
    "falsified": "refuted claim",
    "run": "claim not backed by the gate's own run",
}


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def github_commands(problems: Iterable, level: str = "error") -> list[str]:
    """One ``::error file=…,line=…,title=…::message`` workflow command per problem (GitHub shows
    each on the diff at that line; a problem without a file is an annotation on the run)."""
    lines = []
    for p in problems:
        props = []
        if p.path:
            props.append(f"file={_escape_property(p.path)}")
            if p.line:
                props.append(f"line={p.line}")
        who = f"{p.falsifier}: " if p.falsifier else ""
        props.append(f"title={_escape_property(f'{p.rule or p.check} — {TITLES.get(p.check, p.check)}')}")
        lines.append(f"::{level} {','.join(props)}::{_escape_data(who + p.reason)}")
    return lines


def _fingerprint(p) -> str:
    return hashlib.sha256(f"{p.rule}|{p.path}|{p.falsifier}|{p.reason}".encode()).hexdigest()


def gitlab_code_quality(problems: Iterable) -> list[dict]:
    """GitLab's Code Quality report (a JSON array, the CodeClimate subset GitLab reads)."""
    return [
        {
            "description": (f"{p.falsifier}: " if p.falsifier else "") + p.reason,
            "check_name": p.rule or f"harness/{p.check}",
            "fingerprint": _fingerprint(p),
            "severity": "critical" if p.check in ("falsified", "run", "cuda-evidence") else "major",
            "location": {"path": p.path or ".", "lines": {"begin": max(p.line, 1)}},
        }
        for p in problems
    ]


def sarif_log(problems: Iterable, tool: str = "harness gate") -> dict:
    """A SARIF 2.1.0 log: one run, one rule per rule id, one result per problem with its file and
    line, and a partial fingerprint so code scanning follows a finding across commits."""
    problems = list(problems)
    rules: dict[str, dict] = {}
    results = []
    for p in problems:
        rule_id = p.rule or f"harness/{p.check}"
        rules.setdefault(
            rule_id,
            {"id": rule_id, "shortDescription": {"text": TITLES.get(p.check, p.check)}, "helpUri": f"{TOOL_URI}/blob/main/docs/ci.md"},
        )
        result = {
            "ruleId": rule_id,
            "level": "error",
            "message": {"text": (f"{p.falsifier}: " if p.falsifier else "") + p.reason},
            "partialFingerprints": {"harnessFinding/v1": _fingerprint(p)},
        }
        if p.path:
            region = {"startLine": max(p.line, 1)}
            result["locations"] = [{"physicalLocation": {"artifactLocation": {"uri": p.path, "uriBaseId": "%SRCROOT%"}, "region": region}}]
        results.append(result)
    return {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [
            {
                "tool": {"driver": {"name": "falsifier-harness", "version": __version__, "informationUri": TOOL_URI, "rules": list(rules.values())}},
                "automationDetails": {"id": f"{tool}/"},
                "results": results,
            }
        ],
    }


def write_json(path: str, data) -> None:
    from pathlib import Path

    Path(path).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def base_ref_from_env() -> str | None:
    """The branch a pull / merge request goes into, as CI names it: GitHub's ``GITHUB_BASE_REF``,
    GitLab's ``CI_MERGE_REQUEST_TARGET_BRANCH_NAME`` (as ``origin/<branch>``)."""
    branch = os.environ.get("GITHUB_BASE_REF") or os.environ.get("CI_MERGE_REQUEST_TARGET_BRANCH_NAME")
    return f"origin/{branch}" if branch else None


def base_statuses(contracts, ref: str) -> dict[str, dict[str, str | None] | None] | str:
    """Each contract's falsifier statuses at ``ref`` (``git show ref:path``): {key: {id: status}},
    None for a contract the base does not have; a string saying why when git cannot tell."""
    import subprocess

    from ruamel.yaml import YAML

    yaml = YAML(typ="safe")
    out: dict[str, dict[str, str | None] | None] = {}
    for c in contracts:
        try:
            top = subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=c.path.parent, capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.SubprocessError) as exc:
            return f"git is not available ({exc})"
        if top.returncode:
            return "not a git checkout"
        rel = c.path.resolve().relative_to(Path(top.stdout.strip()).resolve()).as_posix()
        shown = subprocess.run(["git", "show", f"{ref}:{rel}"], cwd=top.stdout.strip(), capture_output=True, text=True, timeout=30)
        if shown.returncode:
            known = subprocess.run(["git", "rev-parse", "--verify", "--quiet", ref], cwd=top.stdout.strip(), capture_output=True, text=True, timeout=30)
            if known.returncode:
                return f"no such revision {ref!r} (fetch it: git fetch origin <branch>)"
            out[c.key] = None
            continue
        try:
            doc = yaml.load(shown.stdout) or {}
        except Exception:  # the base's file is not ours to judge: say it changed shape
            out[c.key] = {}
            continue
        tests = doc.get("falsification_tests") if isinstance(doc, dict) else None
        out[c.key] = {str(t.get("id")): t.get("status") for t in tests or [] if isinstance(t, dict)}
    return out


def changes_markdown(contracts, base: dict | str, ref: str) -> list[str]:
    if isinstance(base, str):
        return ["", f"**Against `{ref}`**: not compared — {base}"]
    lines = []
    for c in contracts:
        before = base.get(c.key)
        if before is None:
            lines.append(f"- `{c.key}`: new contract ({len(c.bound_falsifiers)} falsifier(s))")
            continue
        for f in c.bound_falsifiers:
            old, new = before.get(f.id, "—"), f.status or "OPEN"
            if f.id not in before:
                lines.append(f"- `{c.key}::{f.id}`: new claim, {new}")
            elif (old or "OPEN") != new:
                lines.append(f"- `{c.key}::{f.id}`: {old or 'OPEN'} → **{new}**")
        lines += [f"- `{c.key}::{fid}`: removed (was {old or 'OPEN'})" for fid, old in before.items() if fid not in {f.id for f in c.falsifiers}]
    return ["", f"**Changed since `{ref}`**", "", *(lines or ["No claim changed status."])]


def _measurements(measured: dict) -> str:
    """A refuted claim's measurements, as its evidence recorded them (up to six)."""
    return "; ".join(f"{k} = {v:.4g}" if isinstance(v, float) else f"{k} = {v}" for k, v in list(measured.items())[:6])


def summary_markdown(result, contracts, base_ref: str | None = None) -> str:
    """The run summary a pull-request reader scans in ten seconds: the verdict, each contract's
    status, what changed against the base branch's contracts, the refuted claims with their
    measurements, every problem with its place."""
    from harness.status import FALSIFIED

    head = "### ✅ harness gate passed" if result.passed else "### ❌ harness gate failed"
    lines = [head, "", f"{result.contracts} contract(s); checks: " + ", ".join(f"{k} **{v}**" for k, v in result.checks.items()), ""]
    lines += ["| contract | status | falsifiers |", "|---|---|---|"]
    for c in contracts:
        counts: dict[str, int] = {}
        for f in c.bound_falsifiers:
            counts[f.effective_status] = counts.get(f.effective_status, 0) + 1
        lines.append(f"| `{c.key}` | {c.status or '—'} | " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) + " |")
    if base_ref:
        lines += changes_markdown(contracts, base_statuses(contracts, base_ref), base_ref)
    refuted = [(c, f) for c in contracts for f in c.bound_falsifiers if f.status == FALSIFIED]
    if refuted:
        lines += ["", "**Refuted claims**", ""]
        for c, f in refuted:
            where = f"{c.display_path}:{c.line_of(f)}"
            evidence = f" — evidence `{f.evidence}`" if f.evidence else ""
            measured = _measurements(getattr(result, "measurements", {}).get((c.key, f.id), {}))
            lines.append(f"- `{c.key}::{f.id}` ({f.test}) at `{where}`{evidence}" + (f" — {measured}" if measured else ""))
    if result.problems:
        lines += ["", "**Problems**", ""]
        for p in result.problems:
            where = f" (`{p.path}:{p.line}`)" if p.path else ""
            lines.append(f"- [{p.check}] `{p.contract}`" + (f"::{p.falsifier}" if p.falsifier else "") + f"{where}: {p.reason}")
    return "\n".join(lines) + "\n"
