"""The contract model and its validation: text in, model and findings out. Pure: no pytest, no
torch, and no file reads (``harness.snapshot`` reads contract files and hands their text here)."""

from harness.contract.loader import load_contract_text
from harness.contract.model import (
    FALSIFIER_STATUSES,
    MANAGED_CONTRACT_STATUSES,
    Contract,
    Falsifier,
    Hypothesis,
    Promotion,
)

__all__ = [
    "FALSIFIER_STATUSES",
    "MANAGED_CONTRACT_STATUSES",
    "Contract",
    "Falsifier",
    "Hypothesis",
    "Promotion",
    "load_contract_text",
]
