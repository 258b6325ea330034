"""From one run's results to a contract's new ledger: the edits to write, the evidence rows,
and — in read-only mode — the claims the run does not back. Pure: no pytest, no I/O but reading
earlier evidence.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from harness.contract.model import Contract, Falsifier
from harness.evidence import FalsifierResult, measurements_from_evidence
from harness.status import (
    DISCHARGED,
    OPEN,
    SUSPECT,
    Outcome,
    derive_contract_status,
    derive_hypothesis_status,
    judge_measurements,
    next_falsifier_status,
)
from harness.writer import Edit


@dataclass
class RunResult:
    """What this run saw of one bound falsifier."""

    falsifier_id: str
    outcome: Outcome
    nodeid: str = ""
    measurements: dict[str, float] = field(default_factory=dict)
    duration: float = 0.0
    message: str = ""
    fingerprint: str = ""
    device: str = "cpu"
    attachments: dict = field(default_factory=dict)
    skip_reason_no_cuda: bool = False

    def as_json(self) -> dict:
        data = dict(self.__dict__)
        data["outcome"] = self.outcome.value
        return data

    @classmethod
    def from_json(cls, data: dict) -> RunResult:
        data = dict(data)
        data["outcome"] = Outcome(data["outcome"])
        return cls(**data)


@dataclass
class ContractUpdate:
    contract: Contract
    edits: list[Edit]
    rows: list[FalsifierResult]
    status_before: str | None
    status_after: str | None
    hypotheses: list[dict[str, str]]
    evidence_pointer_targets: list[str]  # falsifier ids whose evidence pointer moves to this run

    @property
    def changed(self) -> bool:
        return bool(self.edits)


def _falsifier_path(f: Falsifier, key: str) -> tuple:
    return ("falsification_tests", f.index, key)


def plan_update(contract: Contract, results: Mapping[str, RunResult], root: Path, evidence_rel: str) -> ContractUpdate:
    """The ledger edits this run justifies. Only falsifiers with a result are touched; only
    verdicts (PASSED/FAILED) change a status or a fingerprint."""
    statuses = {f.id: f.effective_status for f in contract.falsifiers}
    measurements = measurements_from_evidence(root, contract)
    edits: list[Edit] = []
    rows: list[FalsifierResult] = []
    movers: list[str] = []
    for f in contract.bound_falsifiers:
        result = results.get(f.id)
        if result is None:
            continue
        before = f.effective_status
        judgement = judge_measurements(f.plausible, result.measurements) if result.outcome is Outcome.PASSED else None
        after = next_falsifier_status(f.status, result.outcome, judgement)
        rows.append(
            FalsifierResult(
                falsifier_id=f.id,
                nodeid=result.nodeid,
                outcome=result.outcome.value,
                status_before=before,
                status_after=after,
                measurements=dict(result.measurements),
                duration=round(result.duration, 4),
                message=result.message,
                fingerprint=result.fingerprint,
                suspect_reasons=judgement.reasons() if judgement else [],
                device=result.device,
                attachments=dict(result.attachments),
            )
        )
        if not result.outcome.is_verdict:
            continue
        statuses[f.id] = after
        measurements[f.id] = dict(result.measurements)
        moved = False
        if f.status != after:
            edits.append(Edit(_falsifier_path(f, "status"), after, after="test"))
            moved = True
        if result.fingerprint and f.fingerprint != result.fingerprint:
            edits.append(Edit(_falsifier_path(f, "fingerprint"), result.fingerprint, after="status"))
            moved = True
        if moved or not f.evidence:
            movers.append(f.id)
    for fid in movers:
        f = contract.falsifier(fid)
        edits.append(Edit(_falsifier_path(f, "evidence"), evidence_rel, after="fingerprint"))
    derived = derive_contract_status(contract, statuses, measurements)
    status_after = contract.status
    if derived is not None and derived != contract.status:
        status_after = derived
        if contract.status_location == "top":
            edits.append(Edit(("status",), derived))
        else:
            edits.append(Edit(("metadata", "status"), derived, after="version"))
    hypotheses = []
    for h in contract.hypotheses:
        h_status = derive_hypothesis_status(h, statuses)
        hypotheses.append({"id": h.id, "status": h_status, "statement": h.statement})
        if (h.status or OPEN) != h_status:
            edits.append(Edit(("hypotheses", h.index, "status"), h_status, after="id"))
    return ContractUpdate(contract, edits, rows, contract.status, status_after, hypotheses, movers)


@dataclass(frozen=True)
class Claim:
    """A claim on disk that this run does not back (read-only mode)."""

    contract: str
    falsifier: str | None
    reason: str

    def render(self) -> str:
        who = f"{self.contract}::{self.falsifier}" if self.falsifier else self.contract
        return f"{who}: {self.reason}"


def unbacked_claims(contract: Contract, results: Mapping[str, RunResult], fresh_fingerprints: Mapping[str, str], root: Path) -> list[Claim]:
    """Where the contract on disk claims more than this run shows."""
    claims: list[Claim] = []
    for f in contract.bound_falsifiers:
        if f.status not in (DISCHARGED, SUSPECT):
            continue
        result = results.get(f.id)
        fresh = fresh_fingerprints.get(f.id)
        if fresh and f.fingerprint != fresh:
            claims.append(Claim(contract.key, f.id, f"{f.status} is stale: recorded fingerprint {f.fingerprint} ≠ current {fresh}"))
        if f.status != DISCHARGED or result is None:
            continue
        if result.outcome is Outcome.FAILED:
            claims.append(Claim(contract.key, f.id, f"DISCHARGED on disk, but it fails now: {result.message.splitlines()[0] if result.message else ''}"))
        elif result.outcome is Outcome.ERROR:
            claims.append(Claim(contract.key, f.id, f"DISCHARGED on disk, but it errored now: {result.message.splitlines()[0] if result.message else ''}"))
        elif result.outcome is Outcome.PASSED:
            judgement = judge_measurements(f.plausible, result.measurements)
            if judgement.suspect:
                claims.append(Claim(contract.key, f.id, "DISCHARGED on disk, but this run is METHODOLOGY_SUSPECT: " + "; ".join(judgement.reasons())))
        elif not result.skip_reason_no_cuda:
            claims.append(
                Claim(contract.key, f.id, f"DISCHARGED on disk, but it did not run ({result.outcome.value}{': ' + result.message if result.message else ''})")
            )
    derived = derive_contract_status(contract, {f.id: f.effective_status for f in contract.falsifiers}, measurements_from_evidence(root, contract))
    if derived is not None and derived != contract.status:
        claims.append(Claim(contract.key, None, f"status {contract.status} does not follow from its falsifiers ({derived})"))
    return claims
