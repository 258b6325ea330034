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

from harness.contract import Contract
from harness.fingerprint import current_fingerprint
from harness.ledger import Claim, cuda_backing_problem
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


def cuda_evidence_problems(contract: Contract, root: Path, evidence_dir: str = "evidence") -> list[GateProblem]:
    """A CUDA falsifier marked DISCHARGED needs verified CUDA evidence for its current fingerprint."""
    problems = []
    for f in contract.bound_falsifiers:
        if not f.needs_cuda or f.status != "DISCHARGED":
            continue
        current = current_fingerprint(root, contract, f)
        # a claim whose test is gone is never backed, whatever a lint baseline says
        problem = f"its test {f.test} no longer exists" if current is None else cuda_backing_problem(contract, f, root, evidence_dir, current)
        if problem:
            problems.append(GateProblem(contract.key, f.id, f"DISCHARGED, but {problem}", check="cuda-evidence"))
    return problems


def run_gate(root: Path, names: list[str] | None = None, run_falsifiers: bool = True, junitxml: str | None = None) -> GateResult:
    """Every DISCHARGED claim must either run and pass in the gate's own run, or be backed by
    verified evidence a CUDA lane wrote for the current fingerprint; otherwise the gate fails
    naming it."""
    from harness.project import load_contracts, read_layout, select_contracts

    layout = read_layout(Path(root))
    result = GateResult()
    project = load_contracts(layout)
    validate_fail = False
    for finding in project.findings:
        if finding.is_error:
            validate_fail = True
            result.problems.append(GateProblem(finding.location, None, f"{finding.message} [{finding.rule}]", check="validate"))
    contracts = select_contracts(project.contracts, names) if names else project.contracts  # SelectionError is a ValueError: a usage error
    result.contracts = len(contracts)
    result.checks["validate"] = "fail" if validate_fail else "pass"
    lint_findings = [f for c in contracts for f in lint_contract(c, root, layout) if f.is_error]
    new, _known = split_new(lint_findings, load_baseline(root))
    for finding in new:
        result.problems.append(GateProblem(finding.location, None, f"{finding.message} [{finding.rule}]", check="lint"))
    result.checks["lint"] = "fail" if new else "pass"
    cuda = [p for c in contracts for p in cuda_evidence_problems(c, root, layout.evidence)]
    result.problems.extend(cuda)
    result.checks["cuda-evidence"] = "fail" if cuda else "pass"
    if not run_falsifiers:
        result.checks["run"] = "skipped"
        return result
    claimed = [(c, f) for c in contracts for f in c.bound_falsifiers if f.status == "DISCHARGED" and not f.needs_cuda]
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "check.json"
        argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "not cuda", "--harness-check", f"--harness-check-report={report}"]
        argv += [f"--contract={c.key}" for c in contracts] if names else []
        if junitxml:
            argv.append(f"--junitxml={junitxml}")
        argv += [str(layout.falsifiers_dir)] if layout.falsifiers_dir.is_dir() else []
        argv.append(str(layout.contracts_dir))  # reaches the contracts' builtin: falsifiers
        env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
        proc = subprocess.run(argv, cwd=root, capture_output=True, text=True, check=False, env=env)
        result.pytest_exit = proc.returncode
        try:
            data = json.loads(report.read_text()) if report.exists() else None
        except ValueError:
            data = None
    run_problems: list[GateProblem] = []
    if data is None:
        if claimed or proc.returncode not in (0, 5):
            tail = (proc.stdout + proc.stderr).strip().splitlines()[-5:]
            run_problems.append(
                GateProblem("-", None, f"the falsifier run produced no report (pytest exit {proc.returncode}): " + " | ".join(tail), check="run")
            )
    else:
        for claim in data["claims"]:
            run_problems.append(GateProblem(claim["contract"], claim["falsifier"], claim["reason"], check="run"))
        for error in data.get("errors", []):
            run_problems.append(GateProblem("-", None, error, check="run"))
        named = {(p.contract, p.falsifier) for p in run_problems}
        for contract, f in claimed:  # whatever the plugin reported, a claim must have passed here
            seen = (data.get("results") or {}).get(contract.key, {}).get(f.id)
            if (contract.key, f.id) not in named and (seen is None or seen.get("outcome") != "passed"):
                outcome = "never ran" if seen is None else f"was {seen.get('outcome')}"
                run_problems.append(GateProblem(contract.key, f.id, f"DISCHARGED on disk, but it {outcome} in the gate's own run", check="run"))
    result.problems.extend(run_problems)
    result.checks["run"] = "fail" if run_problems else "pass"
    return result
