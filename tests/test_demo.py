"""The demo end to end: both verdicts read from the written contract and evidence, not from text."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness.snapshot import load_contract

pytestmark = pytest.mark.slow  # runs by default; `-m 'not slow'` leaves it out of a quick loop

REPO = Path(__file__).parent.parent


def test_demo_reproduces_then_refutes_the_incident(tmp_path):
    workspace = tmp_path / "demo"
    before = {p: p.stat().st_mtime_ns for p in (REPO / "contracts").glob("*.yaml")}
    proc = subprocess.run(
        [sys.executable, "-m", "harness", "demo", "--workspace", str(workspace), "--json"], capture_output=True, text=True, check=False, timeout=600
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    contract, findings = load_contract(workspace / "contracts" / "incident-demo-v1.yaml", root=workspace)
    assert contract is not None, findings
    # act 2 (fixed) is what the contract says now
    assert contract.status == "ACTIVE_RUNTIME"
    assert {f.id: f.status for f in contract.falsifiers} == dict.fromkeys((f.id for f in contract.falsifiers), "DISCHARGED")
    # act 1 (broken) is in the first run's evidence
    runs = sorted((workspace / "evidence" / "incident-demo-v1").glob("*/results.json"))
    assert len(runs) == 2
    broken = json.loads(runs[0].read_text())
    assert broken["status_after"] == "FALSIFIED"
    verdicts = {fid: r["status_after"] for fid, r in broken["falsifiers"].items()}
    assert verdicts["FALSIFY-BPE-FORMAT-MISMATCH-001"] == "FALSIFIED"
    assert verdicts["FALSIFY-TOK-UNK-SHARE-002"] == "FALSIFIED"
    assert verdicts["FALSIFY-SHARD-ENTROPY-003"] == "FALSIFIED"
    assert verdicts["FALSIFY-METRIC-PLAUSIBILITY-005"] == "FALSIFIED"
    assert broken["falsifiers"]["FALSIFY-SHARD-ENTROPY-003"]["measurements"]["entropy_bits"] < 0.01
    assert broken["falsifiers"]["FALSIFY-METRIC-PLAUSIBILITY-005"]["measurements"]["val_loss"] < 0.05
    assert {h["id"]: h["status"] for h in broken["hypotheses"]} == {"H2": "SUPPORTED", "H1A": "REFUTED"}
    fixed = json.loads(runs[1].read_text())
    assert {h["id"]: h["status"] for h in fixed["hypotheses"]} == {"H2": "REFUTED", "H1A": "REFUTED"}
    # the user's own contracts were not touched
    assert {p: p.stat().st_mtime_ns for p in (REPO / "contracts").glob("*.yaml")} == before


def test_demo_refuses_a_foreign_workspace(tmp_path):
    (tmp_path / "precious.txt").write_text("mine")
    proc = subprocess.run([sys.executable, "-m", "harness", "demo", "--workspace", str(tmp_path)], capture_output=True, text=True, check=False)
    assert proc.returncode == 2 and "not a harness demo workspace" in proc.stderr
    assert (tmp_path / "precious.txt").read_text() == "mine"
