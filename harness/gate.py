"""The pre-merge gate: does any contract on disk claim more than the evidence shows?

Checks, in order: validate; lint (new findings only, against the baseline); CUDA verdicts backed by
CUDA evidence for the current fingerprint; the CPU falsifiers re-run read-only
(``pytest -m "not cuda" --harness-check``). Writes nothing in the repository.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from harness.binding import find_test, fingerprint
from harness.contract import Contract, discover, load_contract
from harness.evidence import falsifier_record
from harness.ledger import Claim
from harness.lint import lint_contract, load_baseline, split_new


@dataclass(frozen=True)
class GateProblem(Claim):
    """A claim not backed, and which of the gate's checks found it."""

    check: str = "run"  # validate | lint | cuda-evidence | run

    def render(self) -> str:
        return f"[{self.check}] {super().render()}"


@dataclass
class GateResult:
    contracts: int = 0
    problems: list[GateProblem] = field(default_factory=list)
    checks: dict[str, str] = field(default_factory=dict)  # check → "pass" | "fail" | "skipped"
    pytest_exit: int | None = None

    @property
    def passed(self) -> bool:
        return not self.problems

    def as_json(self) -> dict:
        return {
            "passed": self.passed,
            "contracts": self.contracts,
            "checks": self.checks,
            "problems": [asdict(p) for p in self.problems],
            "pytest_exit": self.pytest_exit,
        }


def cuda_evidence_problems(contract: Contract, root: Path) -> list[GateProblem]:
    """A CUDA falsifier marked DISCHARGED needs CUDA evidence recorded for its current fingerprint."""
    problems = []
    for f in contract.bound_falsifiers:
        if not f.needs_cuda or f.status != "DISCHARGED":
            continue
        test = find_test(root, f.test_file, f.test_func)
        current = fingerprint(f, test) if test.exists else None
        record = falsifier_record(root, f.evidence, f.id)
        if record is None:
            problems.append(GateProblem(contract.key, f.id, "DISCHARGED on CUDA without any evidence record", check="cuda-evidence"))
        elif not str(record.get("device", "")).startswith("cuda"):
            problems.append(
                GateProblem(
                    contract.key, f.id, f"DISCHARGED, but its evidence ran on {record.get('device') or 'an unknown device'}, not CUDA", check="cuda-evidence"
                )
            )
        elif record.get("outcome") != "passed":
            problems.append(
                GateProblem(contract.key, f.id, f"DISCHARGED, but its CUDA evidence records outcome {record.get('outcome')!r}", check="cuda-evidence")
            )
        elif current is not None and record.get("fingerprint") != current:
            problems.append(
                GateProblem(
                    contract.key, f.id, "no CUDA evidence for the current test and params (fingerprint changed since the GPU run)", check="cuda-evidence"
                )
            )
    return problems


def run_gate(root: Path, names: list[str] | None = None, run_falsifiers: bool = True, junitxml: str | None = None) -> GateResult:
    result = GateResult()
    files, _ = discover([root / "contracts"])
    contracts: list[Contract] = []
    known: set[str] = {p.stem for p in files}
    validate_fail = False
    for path in files:
        contract, findings = load_contract(path, root=root)
        if contract is not None:
            known |= contract.names()
        for finding in findings:
            if finding.is_error:
                validate_fail = True
                result.problems.append(GateProblem(finding.location, None, f"{finding.message} [{finding.rule}]", check="validate"))
        if contract is not None and (not names or contract.names() & set(names)):
            contracts.append(contract)
    if names:
        unknown = [n for n in names if n not in known]
        if unknown:
            raise ValueError(f"unknown contract {', '.join(unknown)}; known: {', '.join(sorted(p.stem for p in files))}")
    result.contracts = len(contracts)
    result.checks["validate"] = "fail" if validate_fail else "pass"
    lint_findings = [f for c in contracts for f in lint_contract(c, root) if f.is_error]
    new, _known = split_new(lint_findings, load_baseline(root))
    for finding in new:
        result.problems.append(GateProblem(finding.location, None, f"{finding.message} [{finding.rule}]", check="lint"))
    result.checks["lint"] = "fail" if new else "pass"
    cuda = [p for c in contracts for p in cuda_evidence_problems(c, root)]
    result.problems.extend(cuda)
    result.checks["cuda-evidence"] = "fail" if cuda else "pass"
    if not run_falsifiers:
        result.checks["run"] = "skipped"
        return result
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "check.json"
        argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "not cuda", "--harness-check", f"--harness-check-report={report}"]
        argv += [f"--contract={c.key}" for c in contracts] if names else []
        if junitxml:
            argv.append(f"--junitxml={junitxml}")
        argv.append(str(root / "falsifiers"))
        env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
        proc = subprocess.run(argv, cwd=root, capture_output=True, text=True, check=False, env=env)
        result.pytest_exit = proc.returncode
        data = json.loads(report.read_text()) if report.exists() else None
    if data is None:
        if proc.returncode in (0, 5) and not contracts:
            result.checks["run"] = "pass"
            return result
        tail = (proc.stdout + proc.stderr).strip().splitlines()[-5:]
        result.problems.append(
            GateProblem("-", None, f"the falsifier run produced no report (pytest exit {proc.returncode}): " + " | ".join(tail), check="run")
        )
        result.checks["run"] = "fail"
        return result
    for claim in data["claims"]:
        result.problems.append(GateProblem(claim["contract"], claim["falsifier"], claim["reason"], check="run"))
    result.checks["run"] = "fail" if data["claims"] else "pass"
    return result
