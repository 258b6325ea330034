"""The red/green harness the falsifier tests share: run one real pytest session over a temporary
project of one contract per case, then read back each case's written status and evidence record."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from harness.snapshot import load_contract


def run_cases(root: Path, cases) -> dict:
    """Run pytest in ``root`` and return ``{case: (status, evidence record)}`` plus ``"<stdout>"``."""
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:randomly"], cwd=root, capture_output=True, text=True, check=False)
    results = {}
    for case in cases:
        contract, findings = load_contract(root / "contracts" / f"{case}.yaml", root=root)
        assert contract is not None, findings
        f = contract.falsifiers[0]
        record = json.loads((root / f.evidence / "results.json").read_text())["falsifiers"][f.id] if f.evidence else {}
        results[case] = (f.status, record)
    results["<stdout>"] = run.stdout
    return results


def check(outcomes, case: str, status: str | None, message: str | None = None) -> dict:
    """The case ended in ``status`` (and its message holds ``message``); its measurements."""
    got, record = outcomes[case]
    assert got == status, f"{case}: expected {status}, got {got}: {record.get('message')!r} {record.get('measurements')}\n{outcomes['<stdout>'][-3000:]}"
    if message is not None:
        assert message in record.get("message", ""), f"{case}: {message!r} not in {record.get('message')!r}"
    return record.get("measurements", {})


def write_documents(root: Path, total: int) -> list[tuple[str, str]]:
    """Small standard-library modules (each under 12,000 characters: many documents, not a few large
    ones — 3.12's first modules are large) up to ``total`` characters, written under ``root/docs``
    as a subject's ``documents:`` glob reads them; (name, text) in order."""
    from harness.demo.corpus import stdlib_documents

    docs, size = [], 0
    for name, text in stdlib_documents(max_bytes=6_000_000):
        if len(text) < 12_000 and size < total:
            docs.append((name, text))
            size += len(text)
    for name, text in docs:
        path = root / "docs" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, "utf-8")
    return docs
