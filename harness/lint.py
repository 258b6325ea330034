"""Semantic checks of valid contracts against the repository: bound tests exist and accept the
params given, recorded statuses follow from the falsifiers, verdicts carry evidence and are not
stale, promotion rules name measurements somebody records. Pure: reads source, never imports it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from harness.contract.model import Contract
from harness.contract.positions import position_of
from harness.evidence import measurements_from_evidence
from harness.findings import Finding, Severity
from harness.fingerprint import current_fingerprint, find_test
from harness.status import OPEN, claims_success, derive_contract_status, derive_hypothesis_status, falsifier_statuses
from harness.writer import write_atomic

BASELINE_FILE = ".harness/lint-baseline.json"


def _at(contract: Contract, path: list, rule: str, message: str, *, key: bool = False, severity: Severity = Severity.ERROR) -> Finding:
    line, col = position_of(contract.doc, path, key=key)
    return Finding(contract.display_path, line, col, rule, message, severity)


@dataclass(frozen=True)
class FalsifierState:
    """What lint knows of one bound falsifier: its test, and whether its verdict is current."""

    stale: bool
    test_exists: bool


def falsifier_state(falsifier, root: Path, contract: Contract | None = None) -> FalsifierState:
    if not falsifier.bound:
        return FalsifierState(False, False)
    test = find_test(root, falsifier.test_file, falsifier.test_func)
    if not test.exists:
        return FalsifierState(False, False)
    stale = falsifier.status not in (None, OPEN) and falsifier.fingerprint != current_fingerprint(root, contract, falsifier, test)
    return FalsifierState(stale, True)


def _fixture_names_in(path: Path) -> set[str]:
    """Fixture names a module defines, read with ``ast``: decorated functions (``name=`` honoured)
    and module-level names bound to a call (fixture factories such as ``x = make_fixture(...)``)."""
    import ast

    try:
        tree = ast.parse(path.read_text("utf-8"))
    except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
        return set()
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for deco in node.decorator_list:
                target = deco.func if isinstance(deco, ast.Call) else deco
                if (isinstance(target, ast.Attribute) and target.attr == "fixture") or (isinstance(target, ast.Name) and target.id == "fixture"):
                    given = [k.value.value for k in getattr(deco, "keywords", []) if k.arg == "name" and isinstance(k.value, ast.Constant)]
                    names.add(given[0] if given else node.name)
        elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return names


def known_fixtures(root: Path, falsifiers_dir: str) -> set[str]:
    """Fixtures a contract may name as a subject: the plugin's own (``falsifier``, ``subject``, the
    shipped demo subjects) and those defined in the project's conftest.py files and falsifier modules."""
    from harness.demo import fixtures as demo_fixtures

    names = {"falsifier", "subject", "tmp_path", "request"} | _fixture_names_in(Path(demo_fixtures.__file__))
    skip = {".venv", "venv", ".git", "node_modules", ".tox", "evidence", "build", "dist"}
    candidates = [p for p in Path(root).rglob("conftest.py") if not any(part in skip or part.startswith(".") for part in p.relative_to(root).parts[:-1])]
    candidates += list((Path(root) / falsifiers_dir).rglob("*.py")) if (Path(root) / falsifiers_dir).is_dir() else []
    for path in candidates:
        names |= _fixture_names_in(path)
    return names


def _subject_findings(contract: Contract, root: Path, layout) -> list[Finding]:
    from harness.subjects.declarative import artifact_problems

    findings = []
    for name, spec in contract.subjects.items():
        for where, rule, message in artifact_problems(name, spec, root):
            if rule == "missing-artifact":
                findings.append(_at(contract, ["subjects", name, *where], rule, message))
    fixtures = None
    for f in contract.bound_falsifiers:
        base = ["falsification_tests", f.index]
        if not f.subject:
            if f.builtin:
                findings.append(_at(contract, base, "no-subject", f"{f.id}: builtin:{f.builtin} needs a subject (a name under subjects:, or a fixture)"))
            continue
        if f.subject in contract.subjects:
            continue
        fixtures = fixtures if fixtures is not None else known_fixtures(root, layout.falsifiers)
        if f.subject not in fixtures:
            findings.append(
                _at(
                    contract,
                    [*base, "subject"],
                    "unknown-subject",
                    f"{f.id}: subject {f.subject!r} is neither declared under subjects: nor a fixture in this project's conftest.py files",
                )
            )
    return findings


def lint_contract(contract: Contract, root: Path, layout=None) -> list[Finding]:
    from harness.evidence import verify_evidence
    from harness.fingerprint import collectable_problem
    from harness.project import read_layout

    findings: list[Finding] = []
    root = Path(root)
    layout = layout or read_layout(root)
    findings.extend(_subject_findings(contract, root, layout))
    recorded_measurements: set[str] = set()
    for f in contract.bound_falsifiers:
        base = ["falsification_tests", f.index]
        recorded_measurements.update(f.plausible)
        test = find_test(root, f.test_file, f.test_func)
        if not test.file_exists:
            findings.append(_at(contract, [*base, "test"], "missing-test", f"{f.id}: test file {f.test_file} does not exist"))
            continue
        if not test.exists:
            why = "; ".join(test.problems) or f"no function {f.test_func!r} in {f.test_file}"
            findings.append(_at(contract, [*base, "test"], "missing-test", f"{f.id}: {why}"))
            continue
        recorded_measurements.update(test.records)
        why = None if f.builtin else collectable_problem(test, list(layout.python_files), list(layout.python_functions))
        if why:
            findings.append(_at(contract, [*base, "test"], "not-a-test", f"{f.id}: {why}; it would never run"))
        if test.accepts is None:
            if f.params:
                findings.append(
                    _at(
                        contract,
                        [*base, "params"],
                        "undeclared-params",
                        f"{f.id}: {f.test_file}::{f.test_func} does not declare its params with @accepts",
                        key=True,
                        severity=Severity.WARNING,
                    )
                )
        else:
            for name in f.params:
                if name not in test.accepts:
                    findings.append(
                        _at(
                            contract,
                            [*base, "params", name],
                            "unknown-param",
                            f"{f.id}: param {name!r} is not accepted by {f.test_func} (accepts: {', '.join(sorted(test.accepts)) or 'none'})",
                            key=True,
                        )
                    )
            for name in sorted(test.required_params() - set(f.params)):
                findings.append(_at(contract, base, "missing-param", f"{f.id}: {f.test_func} requires param {name!r}"))
        status = f.effective_status
        if f.status not in (None, OPEN):
            fresh = current_fingerprint(root, contract, f, test)
            if not f.fingerprint:
                findings.append(
                    _at(
                        contract, [*base, "status"], "no-fingerprint", f"{f.id}: status {status} carries no fingerprint; only a harness run may write a verdict"
                    )
                )
            elif f.fingerprint != fresh:
                findings.append(
                    _at(
                        contract,
                        [*base, "fingerprint"],
                        "stale",
                        f"{f.id}: {status} was recorded for another version of the test or params (fingerprint {f.fingerprint} ≠ {fresh}); re-run it",
                    )
                )
            if not f.evidence:
                findings.append(_at(contract, [*base, "status"], "no-evidence", f"{f.id}: {status} without evidence"))
            else:
                verified = verify_evidence(root, layout.evidence, contract, f)
                if verified.problem:
                    findings.append(_at(contract, [*base, "evidence"], "evidence-provenance", f"{f.id}: {verified.problem}"))
    for f in contract.falsifiers:
        if not f.bound and isinstance(f.test, str) and f.test.strip().startswith("builtin:"):
            findings.append(
                _at(
                    contract,
                    [f.shape, f.entry_key if f.entry_key is not None else f.index],
                    "external-builtin",
                    f"{f.id}: test {f.test.strip()!r} sits under {f.shape}:, which pv keeps for external checks: the harness lists it and never runs it, "
                    "so any status it carries is not the harness's; move it under falsification_tests to bind it",
                )
            )
    statuses = falsifier_statuses(contract.falsifiers)
    falsified = sorted(fid for fid, st in statuses.items() if st == "FALSIFIED")
    if claims_success(contract.status) and falsified:
        path = ["metadata", "status"] if contract.status_location == "metadata" else ["status"]
        findings.append(
            _at(
                contract, path, "claims-over-falsified", f"contract status {contract.status} claims the contract holds, but {', '.join(falsified)} is FALSIFIED"
            )
        )
    measurements = measurements_from_evidence(root, contract)
    derived = derive_contract_status(contract, statuses, measurements)
    if derived is not None and derived != contract.status:
        path = ["metadata", "status"] if contract.status_location == "metadata" else ["status"]
        findings.append(
            _at(contract, path, "status-mismatch", f"contract status {contract.status or '(none)'} does not follow from its falsifiers, which give {derived}")
        )
    for h in contract.hypotheses:
        expected = derive_hypothesis_status(h, statuses)
        if (h.status or "OPEN") != expected:
            findings.append(
                _at(
                    contract,
                    ["hypotheses", h.index, "status"],
                    "hypothesis-mismatch",
                    f"hypothesis {h.id} is written {h.status or 'OPEN'} but its falsifiers give {expected}",
                )
            )
    if contract.promotion:
        for name in contract.promotion.measurements:
            short = name.split(":", 1)[-1]
            if short not in recorded_measurements:
                findings.append(
                    _at(
                        contract,
                        ["metadata", "promotion", "measurements", name],
                        "unknown-measurement",
                        f"promotion needs measurement {name!r}, which no bound falsifier records (@records or plausible)",
                        key=True,
                    )
                )
    return findings


def _baseline_key(f: Finding) -> str:
    return f"{f.path}|{f.rule}|{f.message}"


def load_baseline(root: Path) -> set[str]:
    path = Path(root) / BASELINE_FILE
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return set()
    return set(data.get("findings", [])) if isinstance(data, dict) else set()


def save_baseline(root: Path, findings: list[Finding]) -> Path:
    path = Path(root) / BASELINE_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    keys = sorted({_baseline_key(f) for f in findings})
    write_atomic(path, json.dumps({"version": 1, "findings": keys}, indent=2) + "\n")
    return path


# Findings that decide whether a claim is backed: a baseline never quiets them (a claim whose test
# was deleted, whose verdict is stale or whose evidence does not verify is not backed, however old
# the finding). A baseline is for findings about style and declarations.
BACKING_RULES = frozenset(
    {
        "missing-test", "not-a-test", "stale", "no-fingerprint", "no-evidence", "evidence-provenance",
        "claims-over-falsified", "status-mismatch", "hypothesis-mismatch", "missing-artifact", "external-builtin",
    }
)  # fmt: skip


def split_new(findings: list[Finding], baseline: set[str]) -> tuple[list[Finding], list[Finding]]:
    """(new, known) against the baseline; a finding of ``BACKING_RULES`` is always new."""
    known_keys = {_baseline_key(f) for f in findings if f.rule not in BACKING_RULES and _baseline_key(f) in baseline}
    new = [f for f in findings if _baseline_key(f) not in known_keys]
    known = [f for f in findings if _baseline_key(f) in known_keys]
    return new, known
