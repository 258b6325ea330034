"""The lifecycle: the transition table, and properties that must hold for every contract."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.contract.model import Contract, Falsifier, Hypothesis, Promotion
from harness.status import (
    Judgement,
    Outcome,
    derive_contract_status,
    derive_hypothesis_status,
    judge_measurements,
    next_falsifier_status,
)

STATUSES = ["OPEN", "DISCHARGED", "FALSIFIED", "METHODOLOGY_SUSPECT"]
SUSPECT = Judgement(implausible=("val_loss=0.0008 outside plausible [1.5, 2.5]",))


@pytest.mark.parametrize("old", [None, *STATUSES])
@pytest.mark.parametrize(
    ("outcome", "judgement", "expected"),
    [
        (Outcome.PASSED, None, "DISCHARGED"),
        (Outcome.PASSED, SUSPECT, "METHODOLOGY_SUSPECT"),
        (Outcome.FAILED, None, "FALSIFIED"),
        (Outcome.ERROR, None, "keep"),
        (Outcome.SKIPPED, None, "keep"),
        (Outcome.XFAILED, None, "keep"),
        (Outcome.XPASSED, None, "keep"),
        (Outcome.NOT_RUN, None, "keep"),
    ],
)
def test_transition_table(old, outcome, judgement, expected):
    new = next_falsifier_status(old, outcome, judgement)
    assert new == ((old or "OPEN") if expected == "keep" else expected)


def test_skip_never_discharges_even_from_open():
    for outcome in (Outcome.SKIPPED, Outcome.XFAILED, Outcome.XPASSED, Outcome.ERROR, Outcome.NOT_RUN):
        assert next_falsifier_status("OPEN", outcome) == "OPEN"


def test_incident_val_loss_passes_numerically_but_is_suspect():
    # the incident: val_loss 0.00075 "passes" < 9.38 but lies far outside the plausible 1.5–2.5
    judgement = judge_measurements({"val_loss": (1.5, 2.5)}, {"val_loss": 0.00075})
    assert judgement.suspect
    assert next_falsifier_status("OPEN", Outcome.PASSED, judgement) == "METHODOLOGY_SUSPECT"


def test_missing_expected_measurement_is_suspect():
    judgement = judge_measurements({"entropy_bits": (4.0, 17.3)}, {})
    assert judgement.missing == ("entropy_bits",)
    assert next_falsifier_status("OPEN", Outcome.PASSED, judgement) == "METHODOLOGY_SUSPECT"


def test_nan_measurement_is_never_plausible():
    assert judge_measurements({"loss": (0.0, 100.0)}, {"loss": float("nan")}).suspect


def _contract(statuses: list[str], written: str | None = "DRAFT", promotion: Promotion | None = None, external: int = 0) -> Contract:
    falsifiers = [
        Falsifier(
            id=f"F-{i}", test=f"falsifiers/test_x.py::test_{i}", index=i, line=i, bound=True, test_file="falsifiers/test_x.py", test_func=f"test_{i}", status=s
        )
        for i, s in enumerate(statuses)
    ]
    falsifiers += [Falsifier(id=f"E-{j}", test="LIVE: run it", index=len(statuses) + j, line=0, bound=False) for j in range(external)]
    return Contract(
        path=Path("c.yaml"),
        display_path="c.yaml",
        text="",
        _doc={},
        key="c",
        id="c",
        status=written,
        status_location="metadata",
        falsifiers=falsifiers,
        promotion=promotion,
    )


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        (["OPEN", "OPEN"], "DRAFT"),
        (["DISCHARGED", "OPEN"], "DRAFT_PARTIAL_DISCHARGE"),
        (["METHODOLOGY_SUSPECT", "OPEN"], "DRAFT_PARTIAL_DISCHARGE"),
        (["DISCHARGED", "DISCHARGED"], "ACTIVE_RUNTIME"),
        (["DISCHARGED", "METHODOLOGY_SUSPECT"], "DRAFT_PARTIAL_DISCHARGE"),
        (["DISCHARGED", "FALSIFIED"], "FALSIFIED"),
    ],
)
def test_contract_status_table(statuses, expected):
    assert derive_contract_status(_contract(statuses)) == expected


def test_promotion_needs_the_measurement_in_range():
    promotion = Promotion(measurements={"F-1:val_loss": (1.5, 2.5)})
    contract = _contract(["DISCHARGED", "DISCHARGED"], promotion=promotion)
    assert derive_contract_status(contract, measurements={"F-1": {"val_loss": 0.00081}}) == "DRAFT_PARTIAL_DISCHARGE"
    assert derive_contract_status(contract, measurements={"F-1": {"val_loss": 1.9}}) == "ACTIVE_RUNTIME"
    assert derive_contract_status(contract, measurements={}) == "DRAFT_PARTIAL_DISCHARGE"


def test_foreign_status_is_kept_as_written():
    assert derive_contract_status(_contract(["FALSIFIED"], written="PARTIAL_ALGORITHM_LEVEL")) is None


def test_contract_without_bound_falsifiers_is_kept_as_written():
    assert derive_contract_status(_contract([], external=3)) is None


def test_hypotheses():
    h = Hypothesis(id="H1A", statement="stale buffer", refuted_by=("F-0",), supported_by=("F-1",))
    assert derive_hypothesis_status(h, {"F-0": "OPEN", "F-1": "OPEN"}) == "OPEN"
    assert derive_hypothesis_status(h, {"F-0": "DISCHARGED", "F-1": "OPEN"}) == "REFUTED"
    assert derive_hypothesis_status(h, {"F-0": "OPEN", "F-1": "FALSIFIED"}) == "SUPPORTED"
    assert derive_hypothesis_status(h, {"F-0": "DISCHARGED", "F-1": "FALSIFIED"}) == "CONTESTED"
    assert derive_hypothesis_status(h, {"F-0": "FALSIFIED", "F-1": "OPEN"}) == "SUPPORTED"


statuses_strategy = st.lists(st.sampled_from(STATUSES), min_size=0, max_size=8)
written_strategy = st.sampled_from([None, "DRAFT", "DRAFT_PARTIAL_DISCHARGE", "ACTIVE_RUNTIME", "FALSIFIED"])


@settings(max_examples=300, deadline=None)
@given(statuses_strategy, written_strategy)
def test_property_any_falsified_is_never_active(statuses, written):
    derived = derive_contract_status(_contract(statuses, written))
    if "FALSIFIED" in statuses:
        assert derived == "FALSIFIED"
    assert derived != "ACTIVE_RUNTIME" or (statuses and all(s == "DISCHARGED" for s in statuses))


@settings(max_examples=300, deadline=None)
@given(statuses_strategy, written_strategy)
def test_property_deriving_is_idempotent(statuses, written):
    first = derive_contract_status(_contract(statuses, written))
    second = derive_contract_status(_contract(statuses, first or written))
    assert first == second or first is None


@settings(max_examples=300, deadline=None)
@given(st.sampled_from([None, *STATUSES]), st.lists(st.sampled_from(list(Outcome)), max_size=10))
def test_property_only_a_genuine_pass_discharges(old, outcomes):
    status = old
    for outcome in outcomes:
        new = next_falsifier_status(status, outcome)
        if new == "DISCHARGED" and status != "DISCHARGED":
            assert outcome is Outcome.PASSED
        status = new
