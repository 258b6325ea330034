"""The harness's pytest session: bind contract falsifiers to tests, collect honest outcomes,
and at the end — in the controlling process only — rewrite contracts and write evidence.

The session is one object registered with the plugin manager; its hooks come in three parts, each
in its own module: collection and binding (``collection``), per-item records and their xdist
transport (``records``), and the finish — results → ledger → write → summary (``finish``). State
lives on this object, not in module globals.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import pytest

from harness.plugin.binding import Binding
from harness.plugin.collection import CollectionHooks
from harness.plugin.finish import FinishHooks
from harness.plugin.keys import MANIFEST_KEY, REPORT_ATTR
from harness.plugin.records import RecordHooks, cuda_unavailable_reason

__all__ = ["MANIFEST_KEY", "REPORT_ATTR", "HarnessSession", "cuda_unavailable_reason"]


class HarnessSession(CollectionHooks, RecordHooks, FinishHooks):
    def __init__(self, config: pytest.Config, contracts_dir: Path) -> None:
        from harness.snapshot import Layout

        self.config = config
        self.root = Path(config.rootpath)
        self.layout = Layout(
            self.root,
            contracts=config.getini("harness_contracts"),
            evidence=config.getini("harness_evidence"),
            falsifiers=config.getini("harness_falsifiers"),
            skip=tuple(config.getini("harness_skip")),
            pv_rules=config.getini("harness_pv_rules") or "auto",
        )
        self.contracts_dir = contracts_dir
        self.falsifiers_dir = self.layout.falsifiers
        self.selected_names: list[str] = list(config.getoption("contract") or [])
        self.require_cuda: bool = config.getoption("require_cuda")
        self.check_mode: bool = config.getoption("harness_check")
        self.no_write: bool = self.check_mode or config.getoption("harness_no_write")
        self.is_worker = hasattr(config, "workerinput")
        self._tests: dict = {}
        if self.is_worker:
            # share the cores between xdist workers: torch's spinning OpenMP threads otherwise
            # oversubscribe them and a run slows down by an order of magnitude
            workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1)
            os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // workers)))
        self.contracts = []
        self.load_findings = []
        self.bindings: list[Binding] = []
        self.by_key: dict[str, Binding] = {}
        self.by_test: dict[tuple[str, str], list[Binding]] = {}
        # what the run saw: binding key → item uids collected (before any deselection), and
        # item uid → the item's record; both travel from xdist workers without node-id parsing
        self.expected: dict[str, list[str]] = {}
        self.deselected: set[str] = set()
        self.item_results: dict[str, dict] = {}
        self.unplaced: list[str] = []
        self._problems: list[str] | None = None
        self.summary_lines: list[tuple[str, str]] = []  # (markup style, text)
        self.claims = []
        self.write_errors: list[str] = []
        self._covers_cache: dict[str, bool] = {}
        self.totals: Counter = Counter()
        self.contracts_seen = 0
        self._data_dirs = {Path(contracts_dir), self.layout.evidence_dir}
        self.contracts_listed = 0
        self._load()
