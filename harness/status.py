"""The status lifecycle, in one pure module: outcomes move falsifier statuses; contracts and
hypotheses derive theirs from their falsifiers.

Honesty rules: only a genuine pass discharges; a pass whose measurements are implausible (or
missing where the contract expects them) is METHODOLOGY_SUSPECT; an assertion failure falsifies;
anything else (skip, xfail, xpass, error, not run) leaves the status as it was.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from harness.contract.model import MANAGED_CONTRACT_STATUSES, Contract, Falsifier, Hypothesis

OPEN = "OPEN"
DISCHARGED = "DISCHARGED"
FALSIFIED = "FALSIFIED"
SUSPECT = "METHODOLOGY_SUSPECT"

DRAFT = "DRAFT"
PARTIAL = "DRAFT_PARTIAL_DISCHARGE"
ACTIVE = "ACTIVE_RUNTIME"


class Outcome(StrEnum):
    """What one run saw of one falsifier."""

    PASSED = "passed"
    FAILED = "failed"  # the falsifier's assertion failed: the claim is refuted
    ERROR = "error"  # setup/teardown error, crash, timeout: no verdict
    SKIPPED = "skipped"
    XFAILED = "xfailed"
    XPASSED = "xpassed"
    NOT_RUN = "not run"  # deselected, -x stop, Ctrl-C, worker crash

    @property
    def is_verdict(self) -> bool:
        return self in (Outcome.PASSED, Outcome.FAILED)


@dataclass(frozen=True)
class Judgement:
    """Why a passing falsifier is suspect: the measurements outside their bands or missing."""

    implausible: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()

    @property
    def suspect(self) -> bool:
        return bool(self.implausible or self.missing)

    def reasons(self) -> list[str]:
        return [*self.implausible, *(f"{name}: expected measurement not recorded" for name in self.missing)]


def judge_measurements(plausible: Mapping[str, tuple[float, float]], measurements: Mapping[str, float]) -> Judgement:
    """Compare measurements with their plausible bands (inclusive). NaN is never plausible."""
    implausible: list[str] = []
    missing: list[str] = []
    for name, (low, high) in plausible.items():
        if name not in measurements:
            missing.append(name)
            continue
        value = measurements[name]
        try:
            value = float(value)
        except (TypeError, ValueError):
            implausible.append(f"{name}={value!r} is not a number")
            continue
        if not (low <= value <= high):  # also false for NaN
            implausible.append(f"{name}={value:.6g} outside plausible [{low:g}, {high:g}]")
    return Judgement(tuple(implausible), tuple(missing))


def next_falsifier_status(old: str | None, outcome: Outcome, judgement: Judgement | None = None) -> str:
    """The falsifier status after one run. Only PASSED and FAILED are verdicts."""
    if outcome is Outcome.PASSED:
        return SUSPECT if judgement is not None and judgement.suspect else DISCHARGED
    if outcome is Outcome.FAILED:
        return FALSIFIED
    return old or OPEN


def promotion_satisfied(contract: Contract, statuses: Mapping[str, str], measurements: Mapping[str, Mapping[str, float]]) -> bool:
    """Whether the contract's promotion rule holds, given each falsifier's status and measurements."""
    bound = contract.bound_falsifiers
    if not bound:
        return False
    promotion = contract.promotion
    if (promotion is None or promotion.require_all_discharged) and any(statuses.get(f.id, f.effective_status) != DISCHARGED for f in bound):
        return False
    if promotion is None:
        return True
    for name, (low, high) in promotion.measurements.items():
        value = lookup_measurement(name, contract, measurements)
        if value is None or not (low <= value <= high):
            return False
    return True


def lookup_measurement(name: str, contract: Contract, measurements: Mapping[str, Mapping[str, float]]) -> float | None:
    """``FALSIFIER-ID:name`` reads one falsifier; a bare ``name`` must be recorded by exactly one."""
    if ":" in name:
        fid, short = name.split(":", 1)
        value = measurements.get(fid, {}).get(short)
        return float(value) if value is not None else None
    found = [m[name] for f in contract.falsifiers if name in (m := measurements.get(f.id, {}))]
    if len(found) != 1:
        return None
    return float(found[0])


def derive_contract_status(
    contract: Contract,
    statuses: Mapping[str, str] | None = None,
    measurements: Mapping[str, Mapping[str, float]] | None = None,
) -> str | None:
    """The contract status its bound falsifiers justify, or None to keep what is written.

    None when the contract has no bound falsifiers, or when its written status is one the
    harness does not manage (e.g. PARTIAL_ALGORITHM_LEVEL): never rewritten by guesswork.
    """
    statuses = dict(statuses or {})
    measurements = measurements or {}
    bound = contract.bound_falsifiers
    if not bound:
        return None
    if contract.status is not None and contract.status not in MANAGED_CONTRACT_STATUSES:
        return None
    current = [statuses.get(f.id, f.effective_status) for f in bound]
    if FALSIFIED in current:
        return FALSIFIED
    if all(s == DISCHARGED for s in current) and promotion_satisfied(contract, statuses, measurements):
        return contract.promotion.to if contract.promotion else ACTIVE
    if any(s in (DISCHARGED, SUSPECT) for s in current):
        return PARTIAL
    return DRAFT


def derive_hypothesis_status(hypothesis: Hypothesis, statuses: Mapping[str, str]) -> str:
    """SUPPORTED when evidence for it stands (a supporting falsifier, or one meant to rule it out,
    is FALSIFIED); REFUTED when a falsifier meant to rule it out DISCHARGED; both → CONTESTED."""
    supported = any(statuses.get(fid) == FALSIFIED for fid in (*hypothesis.supported_by, *hypothesis.refuted_by))
    refuted = any(statuses.get(fid) == DISCHARGED for fid in hypothesis.refuted_by)
    if supported and refuted:
        return "CONTESTED"
    if supported:
        return "SUPPORTED"
    if refuted:
        return "REFUTED"
    return "OPEN"


# Spellings of a contract status that claim the contract holds, managed or not ("active",
# "Discharged", "enforced"): such a claim over a FALSIFIED falsifier is never let through.
SUCCESS_WORDS = ("ACTIVE", "DISCHARGED", "ENFORCED", "STABLE", "FUNCTIONAL", "VERIFIED", "PROVEN", "PASSED", "PASSING", "SHIPPED", "GREEN")


def claims_success(status: str | None) -> bool:
    """Whether a written contract status, in any spelling, says the contract holds."""
    if not isinstance(status, str):
        return False
    word = status.strip().upper().replace("-", "_").replace(" ", "_")
    return any(word == w or word.startswith(w + "_") for w in SUCCESS_WORDS)


_RANK = {FALSIFIED: 0, DRAFT: 1, PARTIAL: 2}


def status_rank(status: str | None) -> int:
    """How much a managed contract status claims: FALSIFIED < DRAFT < PARTIAL < promoted."""
    if status is None:
        return 1
    if status in _RANK:
        return _RANK[status]
    return 3 if claims_success(status) else 1


def falsifier_statuses(falsifiers: Iterable[Falsifier]) -> dict[str, str]:
    return {f.id: f.effective_status for f in falsifiers}
