"""The checks a contract's text must pass beyond the JSON Schema, one named rule each.

Every rule here depends on the text and the layout alone (folder names, pv mode), so a text that
passed them once passes them again: the contract cache stores only such texts. Checks that look
at the file system (where a path leads) stay in the loader and run on every load.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from harness.builtins import BUILTINS, PREFIX, parse_builtin
from harness.contract.model import FALSIFIER_STATUSES, KNOWN_FOREIGN_STATUSES, MANAGED_CONTRACT_STATUSES, parse_node_id
from harness.contract.positions import position_of
from harness.contract.yamlio import is_finite_number
from harness.findings import Finding, Severity
from harness.paths import is_under

BOUND_KEYS = frozenset(
    {
        "id", "rule", "prediction", "test", "if_fails", "ship_blocking", "counter_example_classes",
        "subject", "params", "requires", "full_scan", "plausible", "status", "fingerprint", "evidence", "digest", "note",
    }
)  # fmt: skip
DIRECT_SHAPES = ("falsification", "falsifiers", "gates")  # blocks whose every entry is a falsifier
NESTED_FALSIFIER_KEYS = ("falsifier", "falsification")  # an entry of another block carrying its own
_FALSIF = re.compile("falsif", re.I)


@dataclass
class Report:
    """Where the rules put their findings: positioned in the document (``doc`` None: fast path,
    lines 0 and resolved on demand)."""

    display: str
    doc: Any
    findings: list[Finding] = field(default_factory=list)

    def __call__(self, path: list, rule: str, message: str, *, key: bool = False, severity: Severity = Severity.ERROR) -> None:
        line, col = position_of(self.doc, path, key=key)
        self.findings.append(Finding(self.display, line, col, rule, message, severity))

    def check_range(self, path: list, value: Any, what: str) -> None:
        if not isinstance(value, list) or len(value) != 2:
            return  # the schema already reported it
        low, high = value
        if not (is_finite_number(low) and is_finite_number(high)):
            self(path, "bad-range", f"{what}: range bounds must be finite numbers, got [{low}, {high}]")
        elif low > high:
            self(path, "bad-range", f"{what}: low {low} > high {high}")


@dataclass(frozen=True)
class TextLayout:
    falsifiers_dir: str
    evidence_dir: str
    pv_rules: str


def text_findings(doc: Any, plain: dict, display: str, layout: TextLayout) -> list[Finding]:
    """Every rule of this module over one contract's data."""
    report = Report(display, doc)
    pv_findings(report, plain, layout.pv_rules)
    status_findings(report, plain)
    ids = falsifier_findings(report, plain, layout)
    unread_block_findings(report, plain)
    hypothesis_findings(report, plain, ids)
    promotion_findings(report, plain, ids)
    return report.findings


def pv_findings(report: Report, plain: dict, mode: str) -> None:
    """pv's own rules (``harness.contract.pv_rules``), where they apply."""
    from harness.contract import pv_rules as pv

    if not pv.applies(plain, mode):
        return
    severity = Severity.WARNING if mode == "warning" else Severity.ERROR
    for path, rule, message in pv.pv_problems(plain):
        report(path, f"pv:{rule}", message, key=rule in pv.KEY_RULES, severity=Severity.WARNING if rule in pv.WARNING_RULES else severity)


def _entries(plain: dict) -> list:
    tests = plain.get("falsification_tests")
    return tests if isinstance(tests, list) else []


def binds(plain: dict) -> bool:
    """Whether the contract binds any falsifier (a built-in or a pytest node id)."""
    return any(
        isinstance(e, dict) and isinstance(e.get("test"), str) and (e["test"].strip().startswith(PREFIX) or parse_node_id(e["test"]) is not None)
        for e in _entries(plain)
    )


def status_findings(report: Report, plain: dict) -> None:
    """Contract status: managed, known foreign, or unknown — a warning only where the harness must
    derive one (the contract binds falsifiers); real pv contracts use many spellings."""
    metadata = plain.get("metadata") if isinstance(plain.get("metadata"), dict) else {}
    bound = binds(plain)
    for path, holder in ((["metadata", "status"], metadata), (["status"], plain)):
        status = holder.get("status")
        if bound and isinstance(status, str) and status not in MANAGED_CONTRACT_STATUSES + KNOWN_FOREIGN_STATUSES:
            message = f"contract status {status!r} is not one the harness knows; it is kept as written and never derived"
            report(path, "unknown-status", message, severity=Severity.WARNING)
    if isinstance(metadata.get("status"), str) and isinstance(plain.get("status"), str):
        report(["status"], "duplicate-status", "status given both at the top level and under metadata")


def _unique_id(report: Report, seen: dict[str, int], value, block: str, index: int, what: str) -> None:
    """Record an entry's id, reporting one an earlier entry of the same block already took."""
    if not isinstance(value, str):
        return
    if value in seen:
        report([block, index, "id"], "duplicate-id", f"{what} id {value!r} already used by {block}[{seen[value]}]")
    else:
        seen[value] = index


def falsifier_findings(report: Report, plain: dict, layout: TextLayout) -> dict[str, int]:
    """Each ``falsification_tests`` entry; returns the falsifier ids declared (id → index)."""
    ids: dict[str, int] = {}
    for index, entry in enumerate(_entries(plain)):
        if not isinstance(entry, dict):
            continue
        _unique_id(report, ids, entry.get("id"), "falsification_tests", index, "falsifier")
        if isinstance(entry.get("test"), str):
            entry_findings(report, entry, index, layout)
    return ids


def _is_bound(report: Report, test: str, index: int, falsifiers_dir: str) -> bool:
    """Whether ``test`` binds (a built-in, or a node id under the falsifiers folder), reporting an
    unknown built-in and a node id outside the folder."""
    node = parse_node_id(test)
    where = ["falsification_tests", index, "test"]
    if test.strip().startswith(PREFIX):
        if parse_builtin(test) is None:
            report(where, "unknown-builtin", f"{test.strip()!r} is not a built-in falsifier; built-ins: {', '.join(PREFIX + n for n in BUILTINS)}")
        return True
    bound = node is not None and node[0].startswith(falsifiers_dir.rstrip("/") + "/")
    if node is not None and not bound:
        message = f"test {test.strip()!r} looks like a pytest node id but is not under {falsifiers_dir}/; it is treated as external and never run"
        report(where, "binding-outside-falsifiers", message, severity=Severity.WARNING)
    return bound


def entry_findings(report: Report, entry: dict, index: int, layout: TextLayout) -> None:
    """One falsifier entry: the harness's strict keys on a bound one, no harness keys on an external
    one, ranges that are ranges, evidence under the evidence folder."""
    base = ["falsification_tests", index]
    fid = entry.get("id")
    if _is_bound(report, entry["test"], index, layout.falsifiers_dir):
        for key in entry:
            if key not in BOUND_KEYS:
                report([*base, key], "unknown-key", f"unknown key {key!r} in bound falsifier {fid!r} (allowed: {', '.join(sorted(BOUND_KEYS))})", key=True)
        status = entry.get("status")
        if status is not None and status not in FALSIFIER_STATUSES:
            report([*base, "status"], "unknown-status", f"falsifier status {status!r} is not one of {', '.join(FALSIFIER_STATUSES)}")
    else:
        for key in ("params", "plausible", "requires", "subject"):
            if key in entry:
                message = f"{key!r} only applies to bound falsifiers (test under {layout.falsifiers_dir}/); this one is external"
                report([*base, key], "unbound-extension", message, key=True, severity=Severity.WARNING)
    plausible = entry.get("plausible")
    for name, rng in plausible.items() if isinstance(plausible, dict) else ():
        report.check_range([*base, "plausible", name], rng, f"plausible.{name}")
    evidence = entry.get("evidence")
    if isinstance(evidence, str) and not is_under(evidence, layout.evidence_dir):
        report([*base, "evidence"], "path-escape", f"evidence {evidence!r} must be a relative path under {layout.evidence_dir}/")


def unread_block_findings(report: Report, plain: dict) -> None:
    """Falsifiers kept under a key the harness does not read: listed nowhere, a silent gap."""
    for key in plain:
        if key not in DIRECT_SHAPES and key != "falsification_tests" and _FALSIF.search(key):
            message = (
                f"falsifiers kept under `{key}:` are not read by the harness (it reads falsification_tests, {', '.join(DIRECT_SHAPES)}, "
                "and entries of other blocks that carry a falsifier: or falsification: key)"
            )
            report([key], "unread-falsifiers", message, key=True, severity=Severity.WARNING)


def hypothesis_findings(report: Report, plain: dict, ids: dict[str, int]) -> None:
    """Hypothesis ids are unique and name falsifiers this contract declares."""
    hypotheses = plain.get("hypotheses")
    seen: dict[str, int] = {}
    for index, entry in enumerate(hypotheses if isinstance(hypotheses, list) else ()):
        if not isinstance(entry, dict):
            continue
        hid = entry.get("id")
        _unique_id(report, seen, hid, "hypotheses", index, "hypothesis")
        for key in ("refuted_by", "supported_by"):
            refs = entry.get(key)
            for j, ref in enumerate(refs if isinstance(refs, list) else ()):
                if isinstance(ref, str) and ref not in ids:
                    message = f"hypothesis {hid!r}: {key} names {ref!r}, which is not a falsifier of this contract"
                    report(["hypotheses", index, key, j], "unknown-falsifier", message)


def promotion_findings(report: Report, plain: dict, ids: dict[str, int]) -> None:
    """A promotion rule's measurement bands are ranges and name falsifiers this contract declares."""
    metadata = plain.get("metadata") if isinstance(plain.get("metadata"), dict) else {}
    promotion = metadata.get("promotion")
    if not (isinstance(promotion, dict) and isinstance(promotion.get("measurements"), dict)):
        return
    for name, rng in promotion["measurements"].items():
        path = ["metadata", "promotion", "measurements", name]
        report.check_range(path, rng, f"promotion.measurements.{name}")
        if ":" in name and name.split(":", 1)[0] not in ids:
            message = f"promotion measurement {name!r} names falsifier {name.split(':', 1)[0]!r}, which this contract does not declare"
            report(path, "unknown-falsifier", message, key=True)
