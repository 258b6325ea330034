"""Bindings: one per (contract, bound falsifier), the unit the plugin parametrizes over."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path

from harness.contract.model import Contract, Falsifier


@dataclass(frozen=True)
class Binding:
    contract_key: str
    contract_id: str
    contract_path: Path
    contract_display: str
    falsifier: Falsifier

    @cached_property
    def key(self) -> str:
        """The readable item id: ``contract-key::FALSIFIER-ID``."""
        return f"{self.contract_key}::{self.falsifier.id}"

    @cached_property
    def group(self) -> str:
        """The xdist group: falsifiers that share a heavy subject build it once per worker."""
        return self.falsifier.subject or self.contract_key

    def test_path(self, root: Path) -> str:
        return _real_test_path(str(root), self.falsifier.test_file)


@lru_cache(maxsize=4096)
def _real_test_path(root: str, test_file: str) -> str:
    return os.path.normcase(os.path.realpath(Path(root) / test_file))


def bindings_for(contracts: list[Contract]) -> list[Binding]:
    return [Binding(c.key, c.id, c.path, c.display_path, f) for c in contracts for f in c.bound_falsifiers]
