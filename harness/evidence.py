"""Run evidence: what one session saw, written beside the contracts and read back by lint/gate.

``evidence/<contract-key>/<run-id>/`` holds ``dispatch.txt`` (how and where it ran),
``results.json`` (per falsifier: outcome, status before → after, measurements, duration,
message) and a ``README.md`` rendered from them. Timestamps and run ids live here, never in the
contract, so re-running with the same results changes no contract byte.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import hmac
import json
import math
import os
import platform
import secrets
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from harness.atomic import WriteError, write_atomic
from harness.contract.keys import RUN_ID

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


SIGNATURE_FILE = "results.sig"
SIGNING_KEY_ENV = "HARNESS_EVIDENCE_KEY"


def results_payload(
    contract_key: str,
    contract_id: str,
    run_id: str,
    dispatch: dict[str, Any],
    results: list[FalsifierResult],
    status_before: str | None,
    status_after: str | None,
    hypotheses: list[dict[str, str]],
) -> bytes:
    """The bytes of one run's ``results.json``: computed before anything is written, so the
    contract's ledger can carry their digest."""
    payload = {
        "contract": contract_id,
        "contract_key": contract_key,
        "run_id": run_id,
        "status_before": status_before,
        "status_after": status_after,
        "dispatch": dispatch,
        "falsifiers": {r.falsifier_id: asdict(r) for r in results},
        "hypotheses": hypotheses,
        "written_ns": time.time_ns(),  # orders runs within one second (run ids have seconds)
    }
    return (json.dumps(payload, indent=2, sort_keys=True, default=str) + "\n").encode("utf-8")


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()[:32]


def signature_of(data: bytes, key: str) -> str:
    return "hmac-sha256:" + hmac.new(key.encode("utf-8"), data, hashlib.sha256).hexdigest()


def safe_run_dir(root: Path, evidence_dir: str, contract_key: str, run_id: str) -> Path:
    """The folder for one run, refused (WriteError) when it would resolve outside the project:
    a committed symlink ``evidence/<contract> → /elsewhere`` must not make a run write there."""
    root_real = os.path.realpath(root)
    directory = Path(root) / evidence_dir / contract_key / run_id
    probe = directory
    while not probe.exists() and probe != Path(root):
        probe = probe.parent
    real = os.path.realpath(probe)
    if real != root_real and not real.startswith(root_real + os.sep):
        raise WriteError(f"{probe}: resolves to {real}, outside the project; no evidence written there")
    return directory


def write_run(root: Path, evidence_dir: str, contract_key: str, run_id: str, payload: bytes, readme: str, dispatch: dict[str, Any]) -> Path:
    """Write one run's evidence (not ``LATEST``: that moves only once the contract records the run).
    Returns the run folder."""
    directory = safe_run_dir(root, evidence_dir, contract_key, run_id)
    try:
        directory.mkdir(parents=True, exist_ok=True, mode=0o755)
    except OSError as exc:
        raise WriteError(f"{directory}: cannot create evidence directory ({exc.strerror or exc})") from None
    write_atomic(directory / "dispatch.txt", "".join(f"{k}: {v}\n" for k, v in dispatch.items()))
    write_atomic(directory / RESULTS_FILE, payload)
    key = os.environ.get(SIGNING_KEY_ENV, "")
    if key:
        write_atomic(directory / SIGNATURE_FILE, signature_of(payload, key) + "\n")
    write_atomic(directory / "README.md", readme)
    return directory


def latest_problem(root: Path, evidence_dir: str, contract_key: str) -> None:
    """Refuse (WriteError) a run whose ``LATEST`` pointer could not be written — before the contract
    or any evidence is: a folder named LATEST there, or a contracts folder beside a contract of
    the same name, would otherwise leave a rewritten contract and no pointer."""
    latest = Path(root) / evidence_dir / contract_key / "LATEST"
    if latest.is_dir() or (latest.exists() and not latest.is_file()):
        raise WriteError(f"{latest}: is not a file, so this run's LATEST pointer cannot be written; nothing written")
    for parent in latest.parents:
        if parent == Path(root):
            break
        if parent.exists() and not parent.is_dir():
            raise WriteError(f"{parent}: is not a folder, so this run's evidence cannot be written; nothing written")


def write_latest(root: Path, evidence_dir: str, contract_key: str, run_id: str) -> None:
    directory = safe_run_dir(root, evidence_dir, contract_key, run_id).parent
    write_atomic(directory / "LATEST", run_id + "\n")


def prunable_runs(store, contracts, keep: int) -> list[Path]:
    """Run folders of the given contracts that nothing needs: not pointed at by a ledger entry,
    not named by ``LATEST``, not among the newest ``keep``. Folders of contracts not loaded are
    never touched (their ledger is unknown). ``store`` is the snapshot's evidence of them."""
    doomed: list[Path] = []
    base = Path(store.root) / store.folder
    root_real = os.path.realpath(store.root)
    for contract in contracts:
        folder = base / contract.key
        if not _plainly_inside(folder, Path(store.root), root_real):  # a symlinked evidence/ (or a part of the key) leads elsewhere
            continue
        pointed = {Path(os.path.normpath(f.evidence)).name for f in contract.falsifiers if isinstance(f.evidence, str) and f.evidence}
        if contract.key in store.latest:
            pointed.add(store.latest[contract.key])
        runs = sorted(store.run_dirs.get(contract.key, ()), reverse=True)
        for index, run in enumerate(runs):
            if index >= keep and run not in pointed and _plainly_inside(folder / run, Path(store.root), root_real):
                doomed.append(folder / run)
    return doomed


def _plainly_inside(path: Path, root: Path, root_real: str) -> bool:
    """Whether ``path`` is where its name says, inside the project: no symlink on the way from the
    root (``evidence/`` itself, a contract's folder, the run folder). Deleting follows names, so
    a name that resolves elsewhere is never deleted through."""
    try:
        relative = os.path.relpath(os.path.abspath(path), os.path.abspath(root))
    except ValueError:
        return False
    if relative.startswith(os.pardir):
        return False
    return os.path.realpath(path) == os.path.normpath(os.path.join(root_real, relative))


def discard_run(directory: Path) -> None:
    """Remove a run folder whose contract could not be written: no evidence no contract records."""
    shutil.rmtree(directory, ignore_errors=True)
    with contextlib.suppress(OSError):
        directory.parent.rmdir()  # the contract's folder, if this was its only run


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def sanitise(data: dict[str, Any]) -> dict[str, Any]:
    """Evidence is input like any other: keep only numbers as measurements and strings as dispatch
    values, so a hand-edited file is a finding, never a traceback in lint, check or report."""
    out = dict(data)
    dispatch = data.get("dispatch")
    out["dispatch"] = {str(k): v if isinstance(v, str) else json.dumps(v, default=str) for k, v in dispatch.items()} if isinstance(dispatch, dict) else {}
    falsifiers = data.get("falsifiers")
    clean: dict[str, Any] = {}
    for fid, record in falsifiers.items() if isinstance(falsifiers, dict) else ():
        if not isinstance(record, dict):
            continue
        record = dict(record)
        measurements = record.get("measurements")
        record["measurements"] = {str(k): float(v) for k, v in measurements.items() if _finite(v)} if isinstance(measurements, dict) else {}
        for key in ("outcome", "device", "fingerprint", "message", "status_before", "status_after", "falsifier_id"):
            if key in record and not isinstance(record[key], str):
                record[key] = str(record[key])
        clean[str(fid)] = record
    out["falsifiers"] = clean
    if not isinstance(out.get("hypotheses"), list):
        out["hypotheses"] = []
    return out


@dataclass(frozen=True)
class VerifiedEvidence:
    """The evidence a ledger entry points at, checked: its record, or why it does not count."""

    record: dict[str, Any] | None
    problem: str | None = None
    signed: bool = False


def verify_evidence(store, contract, falsifier, *, require_signature: bool = False) -> VerifiedEvidence:
    """Provenance of a verdict's evidence: the pointer is ``<evidence>/<contract key>/<run id>``,
    results.json was written for this contract and run, records this falsifier with the ledger's
    fingerprint, and its bytes match the digest the ledger recorded. With ``HARNESS_EVIDENCE_KEY``
    set (a CI secret held by the lanes), the run's HMAC signature must verify as well. ``store``
    is the snapshot's evidence (``harness.snapshot.evidence``): nothing is read here."""
    pointer = falsifier.evidence
    if not pointer:
        return VerifiedEvidence(None, "no evidence recorded")
    parts = Path(os.path.normpath(pointer)).parts
    expected = (*Path(os.path.normpath(store.folder)).parts, *Path(contract.key).parts)
    if parts[:-1] != expected or not RUN_ID.match(parts[-1]):
        return VerifiedEvidence(None, f"evidence {pointer!r} is not a run folder of this contract ({'/'.join(expected)}/<run id>)")
    found = store.run(pointer)
    if found is None:
        return VerifiedEvidence(None, f"evidence {pointer} has no readable results.json")
    raw, data = found.raw, found.data
    if data.get("contract_key") != contract.key or data.get("run_id") != parts[-1]:
        return VerifiedEvidence(None, f"evidence {pointer} was written for {data.get('contract_key')!r} run {data.get('run_id')!r}, not this contract and run")
    record = data["falsifiers"].get(falsifier.id)
    if record is None or record.get("falsifier_id", falsifier.id) != falsifier.id:
        return VerifiedEvidence(None, f"evidence {pointer} has no record of this falsifier")
    if not falsifier.digest:
        return VerifiedEvidence(record, f"no digest recorded for evidence {pointer}; only a harness run writes one")
    if digest_of(raw) != falsifier.digest:
        return VerifiedEvidence(record, f"evidence {pointer} was changed after the run (digest {digest_of(raw)} ≠ recorded {falsifier.digest})")
    if falsifier.fingerprint and record.get("fingerprint") != falsifier.fingerprint:
        return VerifiedEvidence(record, f"evidence {pointer} records fingerprint {record.get('fingerprint')}, not the ledger's {falsifier.fingerprint}")
    key = os.environ.get(SIGNING_KEY_ENV, "")
    signed = False
    if key:
        signed = hmac.compare_digest(found.signature, signature_of(raw, key))
        if require_signature and not signed:
            return VerifiedEvidence(record, f"evidence {pointer} carries no valid signature for {SIGNING_KEY_ENV}")
    newer = superseding_run(store, contract.key, found, falsifier)
    if newer:
        return VerifiedEvidence(record, newer, signed)
    return VerifiedEvidence(record, None, signed)


_RANK = {"FALSIFIED": 0, "OPEN": 1, "METHODOLOGY_SUSPECT": 2, "DISCHARGED": 3}


def _run_order(run_id: str, data: dict[str, Any]) -> tuple[str, int]:
    written = data.get("written_ns")
    return run_id[:16], written if isinstance(written, int) and not isinstance(written, bool) else -1


def superseding_run(store, key: str, run, falsifier) -> str | None:
    """Why a verdict is older than the evidence: a later run of the same contract recorded a lower
    status for this falsifier under the same fingerprint (a contract rolled back with ``git
    checkout`` after a run falsified it). A verdict may not be older than the newest evidence for
    the same falsifier and fingerprint."""
    claimed = _RANK.get(str(falsifier.status), -1)
    if claimed <= _RANK["OPEN"]:
        return None
    mine = _run_order(run.run_id, run.data)
    for name, other in sorted(store.siblings(key).items(), reverse=True):
        if name == run.run_id:
            continue
        if name[:16] < mine[0]:
            break
        if other.data.get("run_id") != name:
            continue
        if _run_order(name, other.data) <= mine and name[:16] == mine[0] and mine[1] >= 0:
            continue
        record = other.data["falsifiers"].get(falsifier.id)
        if not isinstance(record, dict) or record.get("fingerprint") != falsifier.fingerprint or record.get("outcome") not in ("passed", "failed"):
            continue
        if _RANK.get(str(record.get("status_after")), 99) < claimed:
            return (
                f"a later run ({name}) recorded {record.get('status_after')} for the same test and params; "
                f"the ledger's {falsifier.status} (run {run.run_id}) is older than the evidence"
            )
    return None


def falsifier_record(store, evidence: str | None, falsifier_id: str) -> dict[str, Any] | None:
    data = store.results(evidence)
    if not data:
        return None
    record = (data.get("falsifiers") or {}).get(falsifier_id)
    return record if isinstance(record, dict) else None


def measurements_from_evidence(store, contract) -> dict[str, dict[str, float]]:
    """Each falsifier's measurements, from the evidence its ledger points at. Only a promotion
    rule reads them."""
    out: dict[str, dict[str, float]] = {}
    if contract.promotion is None or not contract.promotion.measurements:
        return out
    for f in contract.falsifiers:
        record = falsifier_record(store, f.evidence, f.id)
        if record and isinstance(record.get("measurements"), dict):
            out[f.id] = record["measurements"]
    return out
