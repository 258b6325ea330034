"""The pre-merge gate's verdict: does any contract on disk claim more than the evidence shows?

Checks, in order: validate; lint (new findings only, against the baseline); CUDA verdicts backed by
CUDA evidence for the current fingerprint; the CPU falsifiers re-run read-only
(``pytest -m "not cuda" --harness-check``). The judges here are pure (a snapshot and the run's
report in, problems out); ``harness.cli.gate.run_gate`` reads the project and runs pytest.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from harness.contract import Contract
from harness.ledger import Claim, cuda_backing_problem
from harness.lint import lint_contract, split_new


@dataclass(frozen=True)
class GateProblem(Claim):
    """A claim not backed, and which of the gate's checks found it; where it is (the contract file
    and line a CI annotation points at) and a stable rule id, once located."""

    check: str = "run"  # validate | lint | cuda-evidence | falsified | run
    path: str | None = None
    line: int = 0
    rule: str = ""

    def render(self) -> str:
        return f"[{self.check}] {super().render()}"


LOCATION_FIELDS = ("path", "line", "rule")  # kept out of --json: its shape is a published interface


def located(problems: list[GateProblem], contracts: list[Contract]) -> list[GateProblem]:
    """Each problem with the file and line it concerns: a finding's own, else the falsifier's entry
    in its contract (the contract's first line without one); the rule id ``harness/<lint rule>``
    or ``harness/<falsifier id>``, stable across commits."""
    import dataclasses
    import re

    by_key = {c.key: c for c in contracts}
    out = []
    for p in problems:
        if p.path is not None:
            out.append(p)
            continue
        contract = by_key.get(p.contract)
        if contract is not None:
            f = contract.falsifier(p.falsifier) if p.falsifier else None
            line = contract.line_of(f) if f is not None else 1
            out.append(dataclasses.replace(p, path=contract.display_path, line=line, rule=f"harness/{p.falsifier or p.check}"))
            continue
        where = re.match(r"^(?P<path>[^:]+?)(?::(?P<line>\d+))?(?::\d+)?$", p.contract or "")
        rule = re.search(r"\[([A-Za-z0-9_.-]+)\]$", p.reason)
        out.append(
            dataclasses.replace(
                p,
                path=where.group("path") if where and p.contract not in ("-", "") else None,
                line=int(where.group("line") or 0) if where else 0,
                rule=f"harness/{rule.group(1) if rule else p.check}",
            )
        )
    return out


@dataclass
class GateResult:
    contracts: int = 0
    problems: list[GateProblem] = field(default_factory=list)
    checks: dict[str, str] = field(default_factory=dict)  # check → "pass" | "fail" | "skipped"
    pytest_exit: int | None = None
    judged: list = field(default_factory=list, repr=False)  # the contracts judged (for summaries; not in --json)
    measurements: dict = field(default_factory=dict, repr=False)  # (contract key, falsifier id) → a refuted claim's measurements

    @property
    def passed(self) -> bool:
        return not self.problems

    def as_json(self) -> dict:
        return {
            "passed": self.passed,
            "contracts": self.contracts,
            "checks": self.checks,
            "problems": [{k: v for k, v in asdict(p).items() if k not in LOCATION_FIELDS} for p in self.problems],
            "pytest_exit": self.pytest_exit,
        }


def cuda_evidence_problems(contract: Contract, snapshot) -> list[GateProblem]:
    """A CUDA falsifier marked DISCHARGED needs verified CUDA evidence for its current fingerprint."""
    problems = []
    for f in contract.bound_falsifiers:
        if not f.needs_cuda or f.status != "DISCHARGED":
            continue
        current = snapshot.current_fingerprint(contract, f)
        # a claim whose test is gone is never backed, whatever a lint baseline says
        problem = f"its test {f.test} no longer exists" if current is None else cuda_backing_problem(contract, f, snapshot.store, current)
        if problem:
            problems.append(GateProblem(contract.key, f.id, f"DISCHARGED, but {problem}", check="cuda-evidence"))
    return problems


def falsified_problems(contracts: list[Contract]) -> list[GateProblem]:
    """A claim the ledger says is refuted: a merge that leaves it so is blocked (as Pact's
    can-i-deploy blocks a failed verification), unless the team tracks it on purpose."""
    from harness.status import FALSIFIED

    return [
        GateProblem(
            c.key,
            f.id,
            "FALSIFIED: the claim is refuted on disk; fix the pipeline and re-run it, or track known-broken claims on purpose "
            "(harness gate --allow-falsified, or the ini key harness_allow_falsified = true)",
            check="falsified",
        )
        for c in contracts
        for f in c.bound_falsifiers
        if f.status == FALSIFIED
    ]


def judge_static(snapshot, contracts: list[Contract], allow_falsified: bool = False) -> GateResult:
    """The gate's checks that need no run: validate, lint (new findings against the baseline),
    CUDA evidence and refuted claims, over the snapshot."""
    result = GateResult(contracts=len(contracts))
    falsified = falsified_problems(contracts)
    if falsified and not allow_falsified:
        result.problems.extend(falsified)
    result.checks["falsified"] = "allowed" if falsified and allow_falsified else "fail" if falsified else "pass"
    validate_fail = False
    for finding in snapshot.findings:
        if finding.is_error:
            validate_fail = True
            result.problems.append(GateProblem(finding.location, None, f"{finding.message} [{finding.rule}]", check="validate"))
    result.checks["validate"] = "fail" if validate_fail else "pass"
    lint_findings = [f for c in contracts for f in lint_contract(c, snapshot) if f.is_error]
    new, _known = split_new(lint_findings, snapshot.baseline)
    for finding in new:
        result.problems.append(GateProblem(finding.location, None, f"{finding.message} [{finding.rule}]", check="lint"))
    result.checks["lint"] = "fail" if new else "pass"
    cuda = [p for c in contracts for p in cuda_evidence_problems(c, snapshot)]
    result.problems.extend(cuda)
    result.checks["cuda-evidence"] = "fail" if cuda else "pass"
    return result


def claimed_on_cpu(contracts: list[Contract]) -> list[tuple[Contract, object]]:
    """The CPU claims the gate's own run must back: every DISCHARGED falsifier that needs no GPU."""
    return [(c, f) for c in contracts for f in c.bound_falsifiers if f.status == "DISCHARGED" and not f.needs_cuda]


def judge_run(claimed, report: dict | None, exit_code: int, output_tail: list[str]) -> list[GateProblem]:
    """What the gate's own falsifier run (``pytest --harness-check``) says of the claims: its report
    names the unbacked ones, and every claim must have passed in it."""
    problems: list[GateProblem] = []
    if report is None:
        if claimed or exit_code not in (0, 5):
            problems.append(GateProblem("-", None, f"the falsifier run produced no report (pytest exit {exit_code}): " + " | ".join(output_tail), check="run"))
        return problems
    for claim in report.get("claims", []):
        problems.append(GateProblem(claim["contract"], claim["falsifier"], claim["reason"], check="run"))
    for error in report.get("errors", []):
        problems.append(GateProblem("-", None, error, check="run"))
    for key, falsifiers in (report.get("results") or {}).items():  # a claim the gate's run could not judge is not backed either
        for fid, seen in (falsifiers or {}).items():
            if isinstance(seen, dict) and seen.get("outcome") == "error":
                why = str(seen.get("message") or "")[:300]
                problems.append(GateProblem(key, fid, f"could not be judged: it errored in the gate's own run ({why})", check="run"))
    named = {(p.contract, p.falsifier) for p in problems}
    for contract, f in claimed:  # whatever the plugin reported, a claim must have passed here
        seen = (report.get("results") or {}).get(contract.key, {}).get(f.id)
        if (contract.key, f.id) not in named and (seen is None or seen.get("outcome") != "passed"):
            outcome = "never ran" if seen is None else f"was {seen.get('outcome')}"
            problems.append(GateProblem(contract.key, f.id, f"DISCHARGED on disk, but it {outcome} in the gate's own run", check="run"))
    return problems
