"""Turn pytest's per-phase reports into one honest Outcome per falsifier.

Only an AssertionError in the call phase is a verdict against the claim (FAILED); any other
exception is a crash (ERROR). Skips, xfails and xpasses are never verdicts.
"""

from __future__ import annotations

from harness.status import Outcome


def _message(report) -> str:
    longrepr = getattr(report, "longrepr", None)
    if longrepr is None:
        return ""
    if isinstance(longrepr, tuple) and len(longrepr) == 3:  # skip: (file, line, reason)
        return str(longrepr[2])
    crash = getattr(getattr(longrepr, "reprcrash", None), "message", None)
    text = crash or str(longrepr)
    return text.strip()[:2000]


def outcome_of_phase(when: str, report, excinfo_is_assertion: bool) -> tuple[Outcome | None, str]:
    """The outcome one phase's report implies, or None when the phase says nothing new."""
    xfail = hasattr(report, "wasxfail")
    if when == "setup":
        if report.failed:
            return Outcome.ERROR, "setup: " + _message(report)
        if report.skipped:
            return (Outcome.XFAILED, report.wasxfail) if xfail else (Outcome.SKIPPED, _message(report))
        return None, ""
    if when == "call":
        if report.passed:
            return (Outcome.XPASSED if xfail else Outcome.PASSED), ""
        if report.skipped:
            return (Outcome.XFAILED, report.wasxfail) if xfail else (Outcome.SKIPPED, _message(report))
        if report.failed:
            if excinfo_is_assertion:
                return Outcome.FAILED, _message(report)
            return Outcome.ERROR, _message(report) or "crashed"
        return None, ""
    if when == "teardown" and report.failed:
        return Outcome.ERROR, "teardown: " + _message(report)
    return None, ""


def combine(previous: Outcome | None, new: Outcome) -> Outcome:
    """Fold the reports of one item (phases, subtests, reruns): a falsified verdict stays
    falsified whatever passes after it, and an error is never washed out by a later pass."""
    if previous is None:
        return new
    if previous is Outcome.FAILED:
        return previous
    if previous is Outcome.ERROR and new is not Outcome.FAILED:
        return previous
    return new


_OUTCOMES = {o.value: o for o in Outcome}  # a record's outcome value → the Outcome (None, "" → NOT_RUN)


def aggregate_items(expected: int, records: list[dict]) -> tuple[Outcome, str]:
    """One outcome for a falsifier from its items' outcomes. DISCHARGED needs every item of the
    falsifier to have run in this run and passed; any failing item falsifies, whatever the order;
    a partial run is NOT RUN, never a pass."""
    outcomes = [_OUTCOMES.get(o, Outcome.NOT_RUN) if isinstance(o := r.get("outcome"), str) else Outcome.NOT_RUN for r in records]

    def first(kind: Outcome) -> str:
        return next((r.get("message") or "" for r, o in zip(records, outcomes) if o is kind), "")

    if Outcome.FAILED in outcomes:
        return Outcome.FAILED, first(Outcome.FAILED)
    if Outcome.ERROR in outcomes:
        return Outcome.ERROR, first(Outcome.ERROR)
    passed = outcomes.count(Outcome.PASSED)
    if expected and passed == expected == len(outcomes):
        return Outcome.PASSED, ""
    for kind in (Outcome.XPASSED, Outcome.XFAILED, Outcome.SKIPPED):
        if kind in outcomes and passed == 0 and len(outcomes) == expected:
            return kind, first(kind)
    if not expected:
        return Outcome.NOT_RUN, "never became a test item (not collected)"
    ran = sum(1 for o in outcomes if o is not Outcome.NOT_RUN)
    if ran == 0:
        return Outcome.NOT_RUN, ""
    detail = ", ".join(f"{outcomes.count(o)} {o.value}" for o in Outcome if outcomes.count(o) and o is not Outcome.NOT_RUN)
    return Outcome.NOT_RUN, f"partial: {ran} of {expected} items ran ({detail})"
