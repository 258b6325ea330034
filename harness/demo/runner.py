"""Running the embedded demo (``harness demo``): the incident reproduced, then refuted, on real data — in a scratch workspace.

Act 1 (broken pipeline): the real Qwen2.5 vocab and the stdlib corpus through the hex-byte encoder;
the format, unk-share and entropy falsifiers refute the data, a tiny LM trained on those shards
reports an impossible val_loss and metric plausibility refutes it. Act 2 (fixed pipeline): the
byte-level encoder on the same vocab and corpus; the same falsifiers discharge.

The demo writes only inside its workspace (its own contract and evidence); the user's contracts are
never touched. It binds the shipped falsifiers (``builtin:`` references) to the demo subjects the
package ships (``harness.demo.fixtures``, loaded by the workspace's conftest), so it runs from an
installed wheel in any directory.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

CONTRACT_KEY = "incident-demo-v1"
BROKEN = {"pipeline": "incident_pipeline", "run": "incident_trained_run"}
FIXED = {"pipeline": "qwen_stdlib_pipeline", "run": "trained_run"}

CONTRACT = """\
# The incident's claim, as a contract the demo runs twice: broken pipeline, then fixed.
metadata:
  id: incident-demo-v1
  version: 1.0.0
  status: DRAFT
  description: |
    A tiny LM trained on Python source tokenized with the Qwen2.5 vocab reports
    honest losses: the corpus is real text under the vocab it was encoded with.

falsification_tests:
- id: FALSIFY-BPE-FORMAT-MISMATCH-001
  rule: the vocab is in the format the encoder emits
  test: builtin:vocab-format
  subject: {pipeline}
- id: FALSIFY-TOK-UNK-SHARE-002
  rule: encoding real source round-trips with almost no <unk>
  test: builtin:tokenizer-roundtrip
  subject: {pipeline}
  params:
    sample_docs: 20
- id: FALSIFY-SHARD-ENTROPY-003
  rule: the training shards carry real text
  test: builtin:shard-entropy
  subject: {pipeline}
- id: FALSIFY-SHARD-INTEGRITY-004
  rule: shards are whole and fit the vocab
  test: builtin:shard-integrity
  subject: {pipeline}
- id: FALSIFY-METRIC-PLAUSIBILITY-005
  rule: reported losses are plausible for the model
  test: builtin:metric-plausibility
  subject: {run}
  plausible:
    val_loss: [2.0, 7.9]
- id: FALSIFY-EVAL-BATCH-H1-TRAIN-POLLUTION-006
  rule: a train step does not leak into the next eval
  test: builtin:train-pollution
  subject: tiny_lm

hypotheses:
- id: H2
  statement: the encoder and the vocab disagree, so training saw <unk> only
  refuted_by: [FALSIFY-BPE-FORMAT-MISMATCH-001, FALSIFY-SHARD-ENTROPY-003]
- id: H1A
  statement: the eval path reads stale train state (a shared logits buffer)
  refuted_by: [FALSIFY-EVAL-BATCH-H1-TRAIN-POLLUTION-006]
"""


@dataclass
class ActResult:
    name: str
    contract_status: str | None
    falsifiers: dict[str, dict]
    hypotheses: dict[str, str]
    evidence: str
    exit_code: int


def prepare_workspace(workspace: Path) -> Path:
    marker = workspace / ".harness-demo"
    if workspace.exists() and any(workspace.iterdir()) and not marker.exists():
        raise FileExistsError(f"{workspace}: exists and is not a harness demo workspace; pick another --workspace")
    if workspace.exists():
        shutil.rmtree(workspace)
    workspace.mkdir(parents=True)
    marker.write_text("created by `harness demo`; safe to delete\n")
    (workspace / "pyproject.toml").write_text("[tool.pytest.ini_options]\naddopts = '-p no:cacheprovider'\n")
    # the demo's subjects are fixtures of the package's demo module, loaded as any project loads a
    # fixtures plugin (and so part of every verdict's fingerprint): the plugin itself carries none
    (workspace / "conftest.py").write_text('pytest_plugins = ["harness.demo.fixtures"]\n')
    (workspace / "contracts").mkdir()
    return workspace


def write_contract(workspace: Path, subjects: dict[str, str]) -> Path:
    """Write the demo contract for this act, keeping the ledger the previous act wrote."""
    from harness.writer import Edit, update_file

    path = workspace / "contracts" / f"{CONTRACT_KEY}.yaml"
    if not path.exists():
        path.write_text(CONTRACT.format(**subjects))
        return path
    from harness.snapshot import load_contract

    contract, _ = load_contract(path, root=workspace)
    edits = [
        Edit(("falsification_tests", f.index, "subject"), subjects["run" if f.builtin == "metric-plausibility" else "pipeline"])
        for f in contract.falsifiers
        if f.subject in (*BROKEN.values(), *FIXED.values())
    ]
    update_file(path, edits)
    return path


def run_act(workspace: Path, name: str, subjects: dict[str, str]) -> ActResult:
    from harness.snapshot import load_contract

    path = write_contract(workspace, subjects)
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--contract={CONTRACT_KEY}"],
        cwd=workspace,
        capture_output=True,
        text=True,
        check=False,
    )
    (workspace / f"pytest-{name}.log").write_text(proc.stdout + proc.stderr)
    contract, findings = load_contract(path, root=workspace)
    if contract is None:
        raise RuntimeError(f"{path}: the run left an invalid contract: {findings}")
    evidence = next((f.evidence for f in contract.falsifiers if f.evidence), "")
    results = json.loads((workspace / evidence / "results.json").read_text()) if evidence else {"falsifiers": {}, "hypotheses": []}
    falsifiers = {}
    for f in contract.falsifiers:
        record = results["falsifiers"].get(f.id, {})
        falsifiers[f.id] = {
            "status": f.status or "OPEN",
            "before": record.get("status_before"),
            "outcome": record.get("outcome"),
            "measurements": record.get("measurements", {}),
            "message": record.get("message", ""),
        }
    hypotheses = {h["id"]: h["status"] for h in results.get("hypotheses", [])}
    return ActResult(name, contract.status, falsifiers, hypotheses, evidence, proc.returncode)


def run_demo(workspace: Path, console=None) -> list[ActResult]:
    from rich.console import Console

    console = console or Console(highlight=False)
    prepare_workspace(workspace)
    acts = []
    for title, name, subjects in (
        ("Act 1 — broken pipeline: hex-byte encoder + Qwen2.5 byte-level vocab", "broken", BROKEN),
        ("Act 2 — fixed pipeline: byte-level encoder, same vocab and corpus", "fixed", FIXED),
    ):
        console.rule(f"[bold]{title}")
        with console.status("building subjects (first time only) and running the falsifiers…"):
            act = run_act(workspace, name, subjects)
        acts.append(act)
        render_act(console, act)
    summary = {
        a.name: {
            "contract_status": a.contract_status,
            "falsifiers": {k: v["status"] for k, v in a.falsifiers.items()},
            "hypotheses": a.hypotheses,
            "evidence": a.evidence,
        }
        for a in acts
    }
    (workspace / "demo-summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    console.rule("[bold]Where it went")
    console.print(f"workspace: {workspace}")
    for a in acts:
        console.print(f"  {a.name}: evidence {workspace / a.evidence}  (pytest log: pytest-{a.name}.log)")
    console.print(f"  contract: {workspace / 'contracts' / (CONTRACT_KEY + '.yaml')}; summary: demo-summary.json")
    try:
        from harness.report import write_report

        paths = write_report(workspace, workspace / "report")
        console.print(f"  report: {paths['html']}")
    except ImportError:
        console.print("  report: install matplotlib for `harness report` plots")
    return acts


def _fmt(measurements: dict, keys: tuple[str, ...]) -> str:
    return ", ".join(f"{k}={measurements[k]:.4g}" for k in keys if k in measurements)


KEY_MEASUREMENTS = ("hex_pairs", "unk_share", "entropy_bits", "top1_share", "tokens", "val_loss", "train_loss", "bytes_per_token")


def render_act(console, act: ActResult) -> None:
    from rich.table import Table

    from harness.styles import styled

    table = Table(show_lines=False, width=min(console.width, 200))
    for col in ("falsifier", "before → after", "measured", "why"):
        table.add_column(col, overflow="fold")
    for fid, f in act.falsifiers.items():
        why = (f["message"].split(": ", 2)[-1] if f["message"] else "").splitlines()[0][:110] if f["message"] else ""
        table.add_row(fid, f"{styled(f['before'] or 'OPEN')} → {styled(f['status'])}", _fmt(f["measurements"], KEY_MEASUREMENTS), why)
    console.print(table)
    console.print(f"contract status: {styled(act.contract_status)}    hypotheses: " + ", ".join(f"{k} {v}" for k, v in act.hypotheses.items()))
