"""Run evidence: what one session saw, written beside the contracts and read back by lint/gate.

``evidence/<contract-key>/<run-id>/`` holds ``dispatch.txt`` (how and where it ran),
``results.json`` (per falsifier: outcome, status before → after, measurements, duration,
message) and a ``README.md`` rendered from them. Timestamps and run ids live here, never in the
contract, so re-running with the same results changes no contract byte.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import secrets
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from harness.writer import WriteError, write_atomic

EVIDENCE_DIR = "evidence"
RESULTS_FILE = "results.json"


@dataclass
class FalsifierResult:
    falsifier_id: str
    nodeid: str
    outcome: str
    status_before: str
    status_after: str
    measurements: dict[str, float] = field(default_factory=dict)
    duration: float = 0.0
    message: str = ""
    fingerprint: str = ""
    suspect_reasons: list[str] = field(default_factory=list)
    device: str = "cpu"
    attachments: dict[str, Any] = field(default_factory=dict)


def new_run_id(now: _dt.datetime | None = None) -> str:
    now = now or _dt.datetime.now(_dt.UTC)
    return f"{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def _git_commit(root: Path) -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--verify", "HEAD"], cwd=root, capture_output=True, text=True, timeout=5, check=False)
        return out.stdout.strip() if out.returncode == 0 and out.stdout.strip() else "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def dispatch_info(root: Path, argv: list[str] | None = None, seeds: dict[str, Any] | None = None) -> dict[str, Any]:
    """Versions and devices of this run. torch is described only if the run already imported it."""
    from harness import __version__

    info: dict[str, Any] = {
        "command": " ".join(argv if argv is not None else sys.argv),
        "started": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "harness": __version__,
        "git_commit": _git_commit(root),
        "seeds": seeds or {},
    }
    torch = sys.modules.get("torch")
    if torch is not None:
        info["torch"] = getattr(torch, "__version__", "?")
        try:
            info["cuda"] = torch.version.cuda or "none"
            if torch.cuda.is_available():
                info["device"] = torch.cuda.get_device_name(0)
                info["driver"] = _nvidia_driver()
            else:
                info["device"] = "cpu"
        except Exception as exc:  # a broken CUDA install must not stop evidence
            info["device"] = f"unavailable ({type(exc).__name__})"
    return info


def _nvidia_driver() -> str:
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"], capture_output=True, text=True, timeout=10, check=False)
        return out.stdout.strip().splitlines()[0] if out.stdout.strip() else "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def render_readme(
    contract_id: str, run_id: str, status_before: str | None, status_after: str | None, results: list[FalsifierResult], hypotheses: list[dict[str, str]]
) -> str:
    lines = [
        f"# Evidence: {contract_id} — run {run_id}",
        "",
        f"Contract status: **{status_before or '—'} → {status_after or '—'}**",
        "",
        "| falsifier | outcome | status before → after | measurements | message |",
        "|---|---|---|---|---|",
    ]
    for r in results:
        measured = ", ".join(f"{k}={v:.6g}" if isinstance(v, (int, float)) else f"{k}={v}" for k, v in r.measurements.items()) or "—"
        message = (r.message or "; ".join(r.suspect_reasons) or "").replace("|", "\\|").replace("\n", " ")[:200]
        lines.append(f"| {r.falsifier_id} | {r.outcome} | {r.status_before} → {r.status_after} | {measured} | {message} |")
    if hypotheses:
        lines += ["", "## Hypotheses", "", "| id | status | statement |", "|---|---|---|"]
        for h in hypotheses:
            lines.append(f"| {h['id']} | {h['status']} | {h['statement'].strip().replace(chr(10), ' ')} |")
    lines += ["", "See `dispatch.txt` for how and where this ran, `results.json` for the data.", ""]
    return "\n".join(lines)


def write_run(
    root: Path,
    contract_key: str,
    contract_id: str,
    run_id: str,
    dispatch: dict[str, Any],
    results: list[FalsifierResult],
    status_before: str | None,
    status_after: str | None,
    hypotheses: list[dict[str, str]],
) -> Path:
    """Write one run's evidence; returns its directory relative to ``root``."""
    rel = Path(EVIDENCE_DIR) / contract_key / run_id
    directory = Path(root) / rel
    try:
        directory.mkdir(parents=True, exist_ok=True, mode=0o755)
    except OSError as exc:
        raise WriteError(f"{directory}: cannot create evidence directory ({exc.strerror or exc})") from None
    payload = {
        "contract": contract_id,
        "contract_key": contract_key,
        "run_id": run_id,
        "status_before": status_before,
        "status_after": status_after,
        "dispatch": dispatch,
        "falsifiers": {r.falsifier_id: asdict(r) for r in results},
        "hypotheses": hypotheses,
    }
    write_atomic(directory / "dispatch.txt", "".join(f"{k}: {v}\n" for k, v in dispatch.items()))
    write_atomic(directory / RESULTS_FILE, json.dumps(payload, indent=2, sort_keys=True, default=str) + "\n")
    write_atomic(directory / "README.md", render_readme(contract_id, run_id, status_before, status_after, results, hypotheses))
    write_atomic(Path(root) / EVIDENCE_DIR / contract_key / "LATEST", run_id + "\n")
    return rel


def read_results(root: Path, evidence: str | None) -> dict[str, Any] | None:
    """The results.json an evidence pointer names, or None when absent or unreadable."""
    if not evidence:
        return None
    base = Path(root) / evidence
    candidate = base / RESULTS_FILE if not base.name.endswith(".json") else base
    root_real = _realpath(str(root))
    real = _realpath(str(candidate))
    if not real.startswith(root_real + os.sep):
        return None
    try:
        st = os.stat(real)
    except OSError:
        return None
    return _read_json(real, st.st_mtime_ns, st.st_size)


@lru_cache(maxsize=4096)
def _realpath(path: str) -> str:
    return os.path.realpath(path)


@lru_cache(maxsize=512)
def _read_json(path: str, mtime_ns: int, size: int) -> dict[str, Any] | None:
    try:
        data = json.loads(Path(path).read_text("utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def falsifier_record(root: Path, evidence: str | None, falsifier_id: str) -> dict[str, Any] | None:
    data = read_results(root, evidence)
    if not data:
        return None
    record = (data.get("falsifiers") or {}).get(falsifier_id)
    return record if isinstance(record, dict) else None


def measurements_from_evidence(root: Path, contract) -> dict[str, dict[str, float]]:
    """Each falsifier's measurements, from the evidence its ledger points at. Only a promotion
    rule reads them, so a contract without one costs no evidence reads."""
    out: dict[str, dict[str, float]] = {}
    if contract.promotion is None or not contract.promotion.measurements:
        return out
    for f in contract.falsifiers:
        record = falsifier_record(root, f.evidence, f.id)
        if record and isinstance(record.get("measurements"), dict):
            out[f.id] = record["measurements"]
    return out
