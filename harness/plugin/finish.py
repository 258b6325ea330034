"""The session's finish, in the controlling process only: the items' records → one result per
falsifier → the ledger plan → the contract rewrite and evidence (or, read-only, the claims this
run does not back) → the terminal summary."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from harness.plugin.outcomes import aggregate_items
from harness.status import Outcome


class FinishHooks:
    """Results, ledger, write and summary; state lives on the session (``HarnessSession``)."""

    # ----------------------------------------------------------------- results
    def _run_results(self):
        """One RunResult per bound falsifier this run covered: aggregated over all its items;
        NOT_RUN (never collected) for one whose test file the run reached but no item came of."""
        from harness.ledger import RunResult

        by_contract: dict[str, dict[str, RunResult]] = {}
        never = {"outcome": None}
        for binding in self.bindings:
            uids = self.expected.get(binding.key, [])
            if not uids and not self._covers_binding(binding):
                continue
            records = [self.item_results.get(uid, never) for uid in uids]
            outcome, message = aggregate_items(len(uids), records)
            if outcome is Outcome.NOT_RUN and not message and uids and all(uid in self.deselected for uid in uids):
                message = "deselected by this run's -k/-m/--deselect"
            ran = [r for r in records if r.get("outcome")]
            prints = {r.get("fingerprint", "") for r in ran}
            declarations = {r.get("declaration", "") for r in ran}
            if outcome.is_verdict and (len(prints) > 1 or len(declarations) > 1):
                outcome, message = Outcome.NOT_RUN, "the test or its contract entry changed during the run (items saw different versions)"
            measurements: dict = {}
            attachments: dict = {}
            duration = 0.0
            device = None
            for r in ran:
                measurements.update(r.get("measurements") or {})
                attachments.update(r.get("attachments") or {})
                duration += r.get("duration") or 0.0
                device = device or r.get("device")
            by_contract.setdefault(binding.contract_key, {})[binding.falsifier.id] = RunResult(
                falsifier_id=binding.falsifier.id,
                outcome=outcome,
                nodeid=ran[0].get("nodeid", "") if ran else "",
                measurements=measurements,
                duration=float(duration),
                message=message,
                fingerprint=next(iter(prints)) if len(prints) == 1 else "",
                device=device or "cpu",
                attachments=attachments,
                skip_reason_no_cuda=bool(ran) and all(r.get("skip_reason_no_cuda") for r in ran),
                declaration=next(iter(declarations)) if len(declarations) == 1 else "",
                item_measurements=[dict(r.get("measurements") or {}) for r in ran],
                suspicions=[str(s) for r in ran for s in (r.get("suspicions") or [])],
            )
        return by_contract

    def _finish(self, session: pytest.Session) -> None:
        problems = self.contract_problems()
        if problems and session.exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
            session.exitstatus = pytest.ExitCode.TESTS_FAILED  # a refused contract is not green
        by_contract = self._run_results()
        if self.unplaced:
            self.write_errors.extend(f"result not placed: {u}" for u in self.unplaced)
        if self.check_mode:
            self._check(session, by_contract)
        elif self.no_write:
            self._summarise_without_write(by_contract)
        elif by_contract:
            self._rewrite(by_contract)
        if self.write_errors and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED  # a ledger we could not write is not green

    def _check(self, session, by_contract) -> None:
        from harness.ledger import unbacked_claims

        ran = [c for c in self.contracts if c.key in by_contract]
        snapshot = self.snapshot.with_evidence(ran).with_sources(ran)
        for contract in ran:
            results = by_contract[contract.key]
            fresh = {f.id: snapshot.current_fingerprint(contract, f) for f in contract.bound_falsifiers}
            fresh = {fid: value for fid, value in fresh.items() if value is not None}
            self.claims.extend(unbacked_claims(contract, results, fresh, snapshot.store))
            self._summarise(contract.key, results, None)
        if self.claims and session.exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
        report = self.config.getoption("harness_check_report")
        if report:
            import json

            payload = {
                "claims": [claim.__dict__ for claim in self.claims],
                "results": {key: {fid: r.as_json() for fid, r in results.items()} for key, results in by_contract.items()},
                "errors": list(self.write_errors),
            }
            Path(report).write_text(json.dumps(payload, indent=2, default=str) + "\n")

    def _summarise_without_write(self, by_contract) -> None:
        for contract in self.contracts:
            if contract.key in by_contract:
                self._summarise(contract.key, by_contract[contract.key], None)

    def _rewrite(self, by_contract) -> None:
        """Plan every contract's edits first, without a lock: a run that changes nothing takes no
        lock and writes nothing (a read-only checkout stays untouched). Then, under the lock,
        each contract is re-read, re-planned and written on its own: one failure never stops
        the others, and a failed write leaves no evidence behind."""
        from harness.atomic import WriteError, contracts_lock, remove_stale_temp_files
        from harness.evidence import dispatch_info
        from harness.ledger import plan_update

        contracts = {c.key: c for c in self.contracts}
        # planning reads evidence only where a promotion rule reads measurements from it
        evidence = self.snapshot.with_evidence([c for c in self.contracts if c.key in by_contract and c.promotion and c.promotion.measurements]).store
        pending = []
        for key, results in by_contract.items():
            contract = contracts.get(key)
            if contract is None:
                continue
            update = plan_update(contract, results, evidence)
            if update.changed:
                pending.append(key)
            else:
                self._summarise(key, results, update)
        if not pending:
            return
        try:
            with contracts_lock(self.contracts_dir):
                remove_stale_temp_files(self.contracts_dir)
                dispatch = dispatch_info(self.root, seeds=self._seeds())
                for key in pending:
                    try:
                        self._rewrite_one(contracts[key], by_contract[key], dispatch)
                    except WriteError as exc:
                        self.write_errors.append(f"{contracts[key].display_path}: not rewritten: {exc}")
                        self._summarise(key, by_contract[key], None)
                    except Exception as exc:  # never a traceback at session end; the contract is left as it was
                        self.write_errors.append(f"{contracts[key].display_path}: not rewritten ({type(exc).__name__}: {exc})")
                        self._summarise(key, by_contract[key], None)
        except WriteError as exc:
            self.write_errors.append(str(exc))

    def _rewrite_one(self, known, results, dispatch) -> None:
        from harness.recording import record_results

        # Always re-read under the lock: an edit of the same size within the file system's mtime
        # granularity (params changed mid-run) keeps (mtime_ns, size); only the content tells.
        recorded = record_results(self.layout, known.path, results, dispatch)
        self.write_errors.extend(recorded.warnings)
        self._summarise(known.key, results, recorded.update)

    def _seeds(self) -> dict:
        seeds = {}
        for b in self.bindings:
            if b.key in self.expected and "seed" in b.falsifier.params:
                seeds[b.key] = b.falsifier.params["seed"]
        return seeds

    # ----------------------------------------------------------------- reporting
    def _summarise(self, key: str, results, update) -> None:
        counts = Counter(r.outcome.value for r in results.values())
        self.totals.update(counts)
        self.contracts_seen += 1
        order = ["passed", "failed", "error", "skipped", "xfailed", "xpassed", "not run"]
        parts = ", ".join(f"{counts[o]} {o}" for o in order if counts.get(o))
        start = len(self.summary_lines)
        self._summarise_details(results, update)
        if len(self.summary_lines) > start or self.config.get_verbosity() > 0:
            self.summary_lines.insert(start, ("bold", f"{key}: {parts}"))
            self.contracts_listed += 1

    def _summarise_details(self, results, update) -> None:
        if update is None:
            for r in results.values():
                if r.outcome is Outcome.NOT_RUN:
                    self.summary_lines.append(("purple", f"  {r.falsifier_id}: NOT RUN{' (' + r.message + ')' if r.message else ''}"))
            return
        for row in update.rows:
            if row.status_before != row.status_after:
                style = {"FALSIFIED": "red", "METHODOLOGY_SUSPECT": "yellow", "DISCHARGED": "green"}.get(row.status_after, "")
                self.summary_lines.append((style, f"  {row.falsifier_id}: {row.status_before} → {row.status_after}"))
            if row.status_after == "METHODOLOGY_SUSPECT" and row.outcome == "passed":
                self.summary_lines.append(("yellow", f"  {row.falsifier_id}: SUSPECT — " + "; ".join(row.suspect_reasons)))
            if row.outcome in ("not run", "skipped", "xfailed", "xpassed"):
                detail = row.message if row.outcome == "not run" else f"{row.outcome}{': ' + row.message if row.message else ''}"
                self.summary_lines.append(("purple", f"  {row.falsifier_id}: NOT RUN ({detail or 'not run'}) — status left {row.status_after}"))
            elif row.outcome == "error":
                self.summary_lines.append(
                    ("red", f"  {row.falsifier_id}: ERROR ({row.message.splitlines()[0] if row.message else 'no detail'}) — status left {row.status_after}")
                )
        if update.status_before != update.status_after:
            self.summary_lines.append(("bold", f"  contract: {update.status_before} → {update.status_after}"))
        if getattr(update, "written", False):
            where = f"evidence in {update.evidence_rel}" if getattr(update, "evidence_rel", None) else "no evidence written (no verdict moved)"
            self.summary_lines.append(("", f"  rewrote {update.contract.display_path}; {where}"))

    def pytest_terminal_summary(self, terminalreporter, exitstatus, config) -> None:
        problems = self.contract_problems() if not self.is_worker else []
        if not (self.contracts_seen or self.claims or self.write_errors or problems or self.selected_names):
            return
        tr = terminalreporter
        tr.write_sep("=", "harness: contracts")
        for problem in problems:
            tr.write_line(f"REFUSED: {problem}", red=True, bold=True)
        if self.selected_names:
            for c in self.contracts:  # already narrowed to the selection
                if not c.bound_falsifiers:
                    external = len(c.falsifiers)
                    tr.write_line(
                        f"{c.key}: {external} external and 0 locally bound falsifier(s); nothing for pytest to run (external ones are listed by `harness status`)"
                    )
        order = ["passed", "failed", "error", "skipped", "xfailed", "xpassed", "not run"]
        total = ", ".join(f"{self.totals[o]} {o}" for o in order if self.totals.get(o))
        quiet = self.contracts_seen - self.contracts_listed
        tr.write_line(
            f"{self.contracts_seen} contract(s): {total}" + (f"; {quiet} without status changes or unrun falsifiers (-v lists them)" if quiet > 0 else "")
        )
        colours = {"red": {"red": True}, "green": {"green": True}, "yellow": {"yellow": True}, "purple": {"purple": True}, "bold": {"bold": True}}
        for style, text in self.summary_lines:
            tr.write_line(text, **colours.get(style, {}))
        for claim in self.claims:
            tr.write_line(f"CLAIM NOT BACKED: {claim.render()}", red=True, bold=True)
        for error in self.write_errors:
            tr.write_line(f"harness: {error}", red=True, bold=True)
        if self.check_mode:
            tr.write_line("harness: read-only check; nothing written", bold=True)
