"""Semantic checks of valid contracts against the repository: bound tests exist and accept the
params given, recorded statuses follow from the falsifiers, verdicts carry evidence and are not
stale, promotion rules name measurements somebody records. Pure: every rule is a function of a
contract and the project's snapshot (``harness.snapshot``), which read the sources, the
evidence and the artifacts; nothing here opens a file.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.builtins import TRAINING_RUN, tripwire_builtins
from harness.contract.model import Contract, Falsifier
from harness.contract.positions import position_of
from harness.evidence import measurements_from_evidence, verify_evidence
from harness.findings import Finding, Severity
from harness.sources import collectable_problem
from harness.status import OPEN, claims_success, derive_contract_status, derive_hypothesis_status, falsifier_statuses


def _at(contract: Contract, path: list, rule: str, message: str, *, key: bool = False, severity: Severity = Severity.ERROR) -> Finding:
    line, col = position_of(contract.doc, path, key=key)
    return Finding(contract.display_path, line, col, rule, message, severity)


@dataclass(frozen=True)
class FalsifierState:
    """What lint knows of one bound falsifier: its test, and whether its verdict is current."""

    stale: bool
    test_exists: bool


def falsifier_state(falsifier: Falsifier, snapshot, contract: Contract) -> FalsifierState:
    if not falsifier.bound:
        return FalsifierState(False, False)
    test = snapshot.test(falsifier)
    if not test.exists:
        return FalsifierState(False, False)
    stale = falsifier.status not in (None, OPEN) and falsifier.fingerprint != snapshot.current_fingerprint(contract, falsifier)
    return FalsifierState(stale, True)


def _subject_findings(contract: Contract, snapshot) -> list[Finding]:
    findings = []
    for name in contract.subjects:
        for where, rule, message in snapshot.subject_problems.get((contract.key, name), ()):
            if rule == "missing-artifact":
                findings.append(_at(contract, ["subjects", name, *where], rule, message))
    for f in contract.bound_falsifiers:
        base = ["falsification_tests", f.index]
        if not f.subject:
            if f.builtin:
                findings.append(_at(contract, base, "no-subject", f"{f.id}: builtin:{f.builtin} needs a subject (a name under subjects:, or a fixture)"))
            continue
        if f.subject in contract.subjects or f.subject in (snapshot.fixtures or ()):
            continue
        if f.subject == TRAINING_RUN:
            if f.builtin not in tripwire_builtins():
                message = f"{f.id}: subject {TRAINING_RUN!r} is judged only by a tripwire inside a training run, and {f.test} is not one it runs ({', '.join(tripwire_builtins())})"
                findings.append(_at(contract, [*base, "subject"], "not-a-tripwire", message))
            continue
        findings.append(
            _at(
                contract,
                [*base, "subject"],
                "unknown-subject",
                f"{f.id}: subject {f.subject!r} is neither declared under subjects: nor a fixture in this project's conftest.py files",
            )
        )
    return findings


def _params_findings(contract: Contract, f: Falsifier, test) -> list[Finding]:
    """Params the contract gives against those the test declares with ``@accepts``."""
    base = ["falsification_tests", f.index]
    if test.accepts is None:
        if not f.params:
            return []
        message = f"{f.id}: {f.test_file}::{f.test_func} does not declare its params with @accepts"
        return [_at(contract, [*base, "params"], "undeclared-params", message, key=True, severity=Severity.WARNING)]
    findings = []
    for name in f.params:
        if name not in test.accepts:
            accepted = ", ".join(sorted(test.accepts)) or "none"
            message = f"{f.id}: param {name!r} is not accepted by {f.test_func} (accepts: {accepted})"
            findings.append(_at(contract, [*base, "params", name], "unknown-param", message, key=True))
    for name in sorted(test.required_params() - set(f.params)):
        findings.append(_at(contract, base, "missing-param", f"{f.id}: {f.test_func} requires param {name!r}"))
    return findings


def _binding_findings(contract: Contract, f: Falsifier, test, layout) -> list[Finding]:
    """The bound test exists, pytest would collect it, and it accepts the params given."""
    base = ["falsification_tests", f.index]
    if not test.file_exists:
        return [_at(contract, [*base, "test"], "missing-test", f"{f.id}: test file {f.test_file} does not exist")]
    if not test.exists:
        why = "; ".join(test.problems) or f"no function {f.test_func!r} in {f.test_file}"
        return [_at(contract, [*base, "test"], "missing-test", f"{f.id}: {why}")]
    findings = []
    why = None if f.builtin else collectable_problem(test, list(layout.python_files), list(layout.python_functions))
    if why:
        findings.append(_at(contract, [*base, "test"], "not-a-test", f"{f.id}: {why}; it would never run"))
    return findings + _params_findings(contract, f, test)


def _verdict_findings(contract: Contract, f: Falsifier, snapshot) -> list[Finding]:
    """A verdict on disk carries a current fingerprint and evidence that verifies."""
    if f.status in (None, OPEN):
        return []
    base = ["falsification_tests", f.index]
    status = f.effective_status
    findings = []
    fresh = snapshot.current_fingerprint(contract, f)
    if not f.fingerprint:
        message = f"{f.id}: status {status} carries no fingerprint; only a harness run may write a verdict"
        findings.append(_at(contract, [*base, "status"], "no-fingerprint", message))
    elif f.fingerprint != fresh:
        message = f"{f.id}: {status} was recorded for another version of the test or params (fingerprint {f.fingerprint} ≠ {fresh}); re-run it"
        findings.append(_at(contract, [*base, "fingerprint"], "stale", message))
    if not f.evidence:
        findings.append(_at(contract, [*base, "status"], "no-evidence", f"{f.id}: {status} without evidence"))
    else:
        verified = verify_evidence(snapshot.store, contract, f)
        if verified.problem:
            findings.append(_at(contract, [*base, "evidence"], "evidence-provenance", f"{f.id}: {verified.problem}"))
    return findings


def _external_builtin_findings(contract: Contract) -> list[Finding]:
    findings = []
    for f in contract.falsifiers:
        if not f.bound and isinstance(f.test, str) and f.test.strip().startswith("builtin:"):
            message = (
                f"{f.id}: test {f.test.strip()!r} sits under {f.shape}:, which pv keeps for external checks: the harness lists it and never runs it, "
                "so any status it carries is not the harness's; move it under falsification_tests to bind it"
            )
            findings.append(_at(contract, [f.shape, f.entry_key if f.entry_key is not None else f.index], "external-builtin", message))
    return findings


def _status_findings(contract: Contract, snapshot) -> list[Finding]:
    """The contract's and its hypotheses' statuses follow from the falsifiers (and the evidence's
    measurements, where a promotion rule reads them)."""
    findings = []
    statuses = falsifier_statuses(contract.falsifiers)
    path = ["metadata", "status"] if contract.status_location == "metadata" else ["status"]
    falsified = sorted(fid for fid, st in statuses.items() if st == "FALSIFIED")
    if claims_success(contract.status) and falsified:
        message = f"contract status {contract.status} claims the contract holds, but {', '.join(falsified)} is FALSIFIED"
        findings.append(_at(contract, path, "claims-over-falsified", message))
    derived = derive_contract_status(contract, statuses, measurements_from_evidence(snapshot.store, contract))
    if derived is not None and derived != contract.status:
        message = f"contract status {contract.status or '(none)'} does not follow from its falsifiers, which give {derived}"
        findings.append(_at(contract, path, "status-mismatch", message))
    for h in contract.hypotheses:
        expected = derive_hypothesis_status(h, statuses)
        if (h.status or "OPEN") != expected:
            message = f"hypothesis {h.id} is written {h.status or 'OPEN'} but its falsifiers give {expected}"
            findings.append(_at(contract, ["hypotheses", h.index, "status"], "hypothesis-mismatch", message))
    return findings


def _promotion_findings(contract: Contract, recorded: set[str]) -> list[Finding]:
    findings = []
    for name in contract.promotion.measurements if contract.promotion else ():
        if name.split(":", 1)[-1] not in recorded:
            message = f"promotion needs measurement {name!r}, which no bound falsifier records (@records or plausible)"
            findings.append(_at(contract, ["metadata", "promotion", "measurements", name], "unknown-measurement", message, key=True))
    return findings


def lint_contract(contract: Contract, snapshot) -> list[Finding]:
    """Every lint finding of one contract, judged against the snapshot (``read_snapshot``: its
    sources and evidence read)."""
    if not snapshot.sources_read:
        raise ValueError("lint needs a snapshot with its sources read (Snapshot.with_sources)")
    findings = _subject_findings(contract, snapshot)
    recorded: set[str] = set()
    for f in contract.bound_falsifiers:
        recorded.update(f.plausible)
        test = snapshot.test(f)
        findings += _binding_findings(contract, f, test, snapshot.layout)
        if not test.exists:
            continue
        recorded.update(test.records)
        findings += _verdict_findings(contract, f, snapshot)
    findings += _path_edit_findings(contract, snapshot)
    findings += _external_builtin_findings(contract)
    findings += _scan_findings(contract)
    findings += _status_findings(contract, snapshot)
    return findings + _promotion_findings(contract, recorded)


def _path_edit_findings(contract: Contract, snapshot) -> list[Finding]:
    """A conftest that edits ``sys.path`` at run time: the modules found through it cannot be
    resolved statically, so a verdict's fingerprint does not follow them (pytest's ``pythonpath``
    ini key can be, and is)."""
    edits = getattr(snapshot, "path_edits", None) or {}
    return [
        _at(
            contract,
            ["falsification_tests", f.index],
            "unfingerprinted-import-path",
            f"{f.id}: {', '.join(edits[(contract.key, f.id)][:3])} changes sys.path at run time; modules found through it are not in this "
            "verdict's fingerprint — use pytest's pythonpath ini key instead",
            severity=Severity.WARNING,
        )
        for f in contract.bound_falsifiers
        if (contract.key, f.id) in edits
    ]


def _scan_findings(contract: Contract) -> list[Finding]:
    """A claim that asks for a full scan (``full_scan: true``) judged from a sample: its verdict
    is weaker than the claim, so the gate refuses it."""
    return [
        _at(
            contract,
            ["falsification_tests", f.index, "params", "sample"],
            "sampled-not-full",
            f"{f.id}: the contract asks for a full scan (full_scan: true), but params: sample judges it from {f.params['sample']} sampled ids",
        )
        for f in contract.bound_falsifiers
        if f.full_scan and f.params.get("sample") is not None
    ]


def baseline_key(f: Finding) -> str:
    return f"{f.path}|{f.rule}|{f.message}"


# Findings that decide whether a claim is backed: a baseline never quiets them (a claim whose test
# was deleted, whose verdict is stale or whose evidence does not verify is not backed, however old
# the finding). A baseline is for findings about style and declarations.
BACKING_RULES = frozenset(
    {
        "missing-test", "not-a-test", "stale", "no-fingerprint", "no-evidence", "evidence-provenance",
        "claims-over-falsified", "status-mismatch", "hypothesis-mismatch", "missing-artifact", "external-builtin",
        "sampled-not-full",
    }
)  # fmt: skip


def split_new(findings: list[Finding], baseline: set[str]) -> tuple[list[Finding], list[Finding]]:
    """(new, known) against the baseline (the harness's keys and pv's fingerprints of
    ``.pv/lint-previous.json``); a finding of ``BACKING_RULES`` is always new."""
    from harness.pv_baseline import finding_fingerprint

    known_keys = {baseline_key(f) for f in findings if f.rule not in BACKING_RULES and (baseline_key(f) in baseline or finding_fingerprint(f) in baseline)}
    new = [f for f in findings if baseline_key(f) not in known_keys]
    known = [f for f in findings if baseline_key(f) in known_keys]
    return new, known
