"""Write one contract's results: the one place a run's verdicts reach the ledger.

Under the contracts lock the contract is re-read (an edit made during the run must be seen), its
entries checked against what ran, the ledger edits planned from the results and the evidence,
the run's evidence written, the contract rewritten in place, and ``LATEST`` moved — in that
order, so a failure leaves either the old contract and no evidence, or the new contract with its
evidence. The pytest session and the tripwires both write through here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from harness.atomic import WriteError, writable_target
from harness.evidence import digest_of, discard_run, latest_problem, new_run_id, render_readme, results_payload, write_latest, write_run
from harness.fingerprint import declaration_digest
from harness.ledger import ContractUpdate, RunResult, plan_update
from harness.snapshot import Layout, load_contract
from harness.snapshot.evidence import read_evidence
from harness.status import Outcome
from harness.writer import update_file


@dataclass
class Recorded:
    """What recording one contract did: the plan, whether it wrote, and what it could not."""

    update: ContractUpdate | None
    written: bool = False
    evidence_rel: str | None = None
    warnings: list[str] = field(default_factory=list)


def record_results(layout: Layout, path, results: dict[str, RunResult], dispatch: Mapping) -> Recorded:
    """Re-read the contract at ``path``, plan and write this run's results (call under
    ``atomic.contracts_lock``). Raises ``WriteError`` when nothing could be written."""
    root = layout.root
    contract, findings = load_contract(
        path, root=root, falsifiers_dir=layout.falsifiers, evidence_dir=layout.evidence, contracts_dir=layout.contracts_dir, pv_rules=layout.pv_rules
    )
    if contract is None:
        raise WriteError("changed on disk and no longer valid: " + "; ".join(f.render() for f in findings[:3]))
    for fid, result in list(results.items()):
        f = contract.falsifier(fid)
        if f is None or (result.declaration and declaration_digest(f) != result.declaration):
            results[fid] = RunResult(fid, Outcome.NOT_RUN, nodeid=result.nodeid, message="its contract entry changed during the run; no verdict written")
    update = plan_update(contract, results, read_evidence(root, layout.evidence, [contract.key]))
    if not update.changed:
        return Recorded(update)
    run_id = new_run_id()
    evidence_rel = f"{layout.evidence}/{contract.key}/{run_id}"
    payload = results_payload(contract.key, contract.id, run_id, dict(dispatch), update.rows, update.status_before, update.status_after, update.hypotheses)
    edits = update.point_evidence(evidence_rel, digest_of(payload))
    readme = render_readme(contract.id, run_id, update.status_before, update.status_after, update.rows, update.hypotheses)
    writable_target(contract.path, root)  # a read-only or escaping contract: refuse before any evidence
    if update.evidence_pointer_targets:
        latest_problem(root, layout.evidence, contract.key)  # before anything is written
    run_dir = None
    try:
        if update.evidence_pointer_targets:
            run_dir = write_run(root, layout.evidence, contract.key, run_id, payload, readme, dict(dispatch))
        update_file(contract.path, edits, root=root)
    except BaseException:
        if run_dir is not None:
            discard_run(run_dir)
        raise
    recorded = Recorded(update, written=True, evidence_rel=evidence_rel if run_dir is not None else None)
    if run_dir is not None:
        try:
            write_latest(root, layout.evidence, contract.key, run_id)
        except (WriteError, OSError) as exc:  # the contract is written: say so, and what was not
            recorded.warnings.append(f"{contract.display_path}: rewritten with evidence in {evidence_rel}, but its LATEST pointer was not updated: {exc}")
    update.evidence_rel = recorded.evidence_rel  # the summary names only what was written
    update.written = True
    return recorded
