"""From one run's results to a contract's new ledger: the edits to write, the evidence rows,
and — in read-only mode — the claims the run does not back. Pure: no pytest, no I/O but reading
earlier evidence.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from harness.contract.model import Contract, Falsifier
from harness.evidence import FalsifierResult, measurements_from_evidence
from harness.status import (
    DISCHARGED,
    FALSIFIED,
    OPEN,
    SUSPECT,
    Outcome,
    claims_success,
    derive_contract_status,
    derive_hypothesis_status,
    judge_measurements,
    next_falsifier_status,
    status_rank,
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
    declaration: str = ""  # digest of the contract entry that ran (params, bands, subject, test)
    item_measurements: list = field(default_factory=list)  # one dict per test item, each judged
    suspicions: list = field(default_factory=list)  # what the falsifier said it did not see (``falsifier.suspect``)

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
        return bool(self.edits or self.evidence_pointer_targets)

    def point_evidence(self, evidence_rel: str, digest: str) -> list[Edit]:
        """The full edit list once the run's evidence and its digest are known."""
        edits = list(self.edits)
        for fid in self.evidence_pointer_targets:
            f = self.contract.falsifier(fid)
            edits.append(Edit(_falsifier_path(f, "evidence"), evidence_rel, after="fingerprint"))
            edits.append(Edit(_falsifier_path(f, "digest"), digest, after="evidence"))
        return edits


def _falsifier_path(f: Falsifier, key: str) -> tuple:
    return ("falsification_tests", f.index, key)


def judge_result(f: Falsifier, result: RunResult):
    """The plausibility judgement of a pass: every item's measurements against the bands."""
    if result.outcome is not Outcome.PASSED:
        return None
    from harness.status import Judgement

    per_item = result.item_measurements or [result.measurements]
    judgements = [judge_measurements(f.plausible, m) for m in per_item]
    worst = next((j for j in judgements if j.suspect), judgements[0])
    reasons = list(result.suspicions)
    if f.full_scan and (f.params.get("sample") is not None or result.measurements.get("sampled")):
        # the claim needs every id read: a verdict from a sample is never written as a discharge
        reasons.append("the contract asks for a full scan (full_scan: true); this verdict was judged from a sample")
    if reasons:
        worst = Judgement((*worst.implausible, *dict.fromkeys(reasons)), worst.missing)
    return worst


def _promotion_bands(contract: Contract, fid: str) -> dict[str, tuple[float, float]]:
    if contract.promotion is None:
        return {}
    bands = {}
    for name, band in contract.promotion.measurements.items():
        owner, _, short = name.rpartition(":")
        if owner in ("", fid):
            bands[short] = band
    return bands


def _promotion_judgement_moved(bands: Mapping[str, tuple[float, float]], before: Mapping[str, float], after: Mapping[str, float]) -> bool:
    """Whether the promotion rule reads a different answer from this run's measurements: a value
    crossing its band (or appearing, or vanishing). A measurement that wobbled within its band (a
    trained run differs by 1% across machines) does not move the evidence pointer."""

    def inside(values: Mapping[str, float], name: str, band: tuple[float, float]) -> bool | None:
        value = values.get(name)
        return None if value is None else band[0] <= float(value) <= band[1]

    return any(inside(before, name, band) != inside(after, name, band) for name, band in bands.items())


def plan_update(contract: Contract, results: Mapping[str, RunResult], evidence) -> ContractUpdate:
    """The ledger edits this run justifies. Only falsifiers with a result are touched; only
    verdicts (PASSED/FAILED) change a status or a fingerprint. The evidence pointer (and its
    digest) moves to this run when the verdict, the fingerprint or a measurement the promotion
    rule reads changed, so lint derives the same status from the evidence as the run did.
    ``evidence`` is the snapshot's store (``harness.snapshot.evidence``); nothing is read here."""
    statuses = {f.id: f.effective_status for f in contract.falsifiers}
    measurements = measurements_from_evidence(evidence, contract)
    edits: list[Edit] = []
    rows: list[FalsifierResult] = []
    movers: list[str] = []
    for f in contract.bound_falsifiers:
        result = results.get(f.id)
        if result is None:
            continue
        before = f.effective_status
        judgement = judge_result(f, result)
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
        previous_measurements = measurements.get(f.id, {})
        measurements[f.id] = dict(result.measurements)
        moved = _promotion_judgement_moved(_promotion_bands(contract, f.id), previous_measurements, result.measurements)
        if f.status != after:
            edits.append(Edit(_falsifier_path(f, "status"), after, after="test"))
            moved = True
        if result.fingerprint and f.fingerprint != result.fingerprint:
            edits.append(Edit(_falsifier_path(f, "fingerprint"), result.fingerprint, after="status"))
            moved = True
        if moved or not f.evidence or not f.digest:
            movers.append(f.id)
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


def cuda_backing_problem(contract: Contract, f: Falsifier, evidence, current_fingerprint: str | None) -> str | None:
    """Why the evidence behind a DISCHARGED CUDA falsifier does not back it, or None when a CUDA
    lane's verified evidence for the current fingerprint does."""
    from harness.evidence import verify_evidence

    verified = verify_evidence(evidence, contract, f, require_signature=True)
    record = verified.record
    if verified.problem:
        return verified.problem
    if not str(record.get("device", "")).startswith("cuda"):
        return f"its evidence ran on {record.get('device') or 'an unknown device'}, not CUDA"
    if record.get("outcome") != "passed":
        return f"its CUDA evidence records outcome {record.get('outcome')!r}"
    if current_fingerprint is None:
        return "its test no longer exists, so no evidence can be for the current test"
    if record.get("fingerprint") != current_fingerprint:
        return "no CUDA evidence for the current test and params (fingerprint changed since the GPU run)"
    return None


def _first_line(text: str) -> str:
    return text.splitlines()[0] if text else ""


def unbacked_claims(contract: Contract, results: Mapping[str, RunResult], fresh_fingerprints: Mapping[str, str], evidence) -> list[Claim]:
    """Where the contract on disk claims more than this run shows. ``results`` holds every bound
    falsifier this run was meant to cover (NOT_RUN for those that never became a test item)."""
    claims: list[Claim] = []
    for f in contract.bound_falsifiers:
        if f.status not in (DISCHARGED, SUSPECT):
            continue
        result = results.get(f.id)
        fresh = fresh_fingerprints.get(f.id)
        if fresh and f.fingerprint != fresh:
            claims.append(Claim(contract.key, f.id, f"{f.status} is stale: recorded fingerprint {f.fingerprint} ≠ current {fresh}"))
        if result is None:
            continue
        if result.outcome is Outcome.FAILED:
            claims.append(Claim(contract.key, f.id, f"{f.status} on disk, but it fails now: {_first_line(result.message)}"))
        elif f.status != DISCHARGED:
            continue
        elif result.outcome is Outcome.ERROR:
            claims.append(Claim(contract.key, f.id, f"DISCHARGED on disk, but it errored now: {_first_line(result.message)}"))
        elif result.outcome is Outcome.PASSED:
            judgement = judge_result(f, result)
            if judgement is not None and judgement.suspect:
                claims.append(Claim(contract.key, f.id, "DISCHARGED on disk, but this run is METHODOLOGY_SUSPECT: " + "; ".join(judgement.reasons())))
        elif f.needs_cuda:
            problem = cuda_backing_problem(contract, f, evidence, fresh)
            if problem:
                claims.append(Claim(contract.key, f.id, f"DISCHARGED on CUDA and not run here ({result.outcome.value}), and {problem}"))
        else:
            claims.append(
                Claim(contract.key, f.id, f"DISCHARGED on disk, but it did not run ({result.outcome.value}{': ' + result.message if result.message else ''})")
            )
    statuses = {f.id: f.effective_status for f in contract.falsifiers}
    derived = derive_contract_status(contract, statuses, measurements_from_evidence(evidence, contract))
    if derived is not None and derived != contract.status:
        claims.append(Claim(contract.key, None, f"status {contract.status} does not follow from its falsifiers ({derived})"))
    planned = plan_update(contract, results, evidence)
    if derived is not None and status_rank(contract.status) > status_rank(planned.status_after):
        claims.append(Claim(contract.key, None, f"status {contract.status} on disk, but this run's results give {planned.status_after}"))
    falsified = sorted(f.id for f in contract.falsifiers if f.status == FALSIFIED)
    if claims_success(contract.status) and falsified:
        claims.append(Claim(contract.key, None, f"status {contract.status} claims the contract holds, but {', '.join(falsified)} is FALSIFIED"))
    return claims
