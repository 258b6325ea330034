"""The contract model, loader and validation. Pure: no pytest, no torch."""

from harness.contract.discovery import discover, find_project_root
from harness.contract.loader import load_contract, load_contract_text
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
    "discover",
    "find_project_root",
    "load_contract",
    "load_contract_text",
]
