"""The harness's pytest session: bind contract falsifiers to tests, collect honest outcomes,
and at the end — in the controlling process only — rewrite contracts and write evidence.

State lives on this object (registered with the plugin manager), not in module globals.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import pytest

from harness.plugin.binding import Binding, bindings_for
from harness.plugin.outcomes import combine, outcome_of_phase
from harness.status import Outcome

RESULTS_KEY = "harness_results"
_binding_key = pytest.StashKey[Binding]()
_run_key = pytest.StashKey[object]()


def cuda_unavailable_reason() -> str | None:
    """Why CUDA cannot be used here, or None when it can. Imports torch only when asked."""
    if os.environ.get("CUDA_VISIBLE_DEVICES", None) == "":
        return "CUDA_VISIBLE_DEVICES is empty"
    try:
        import torch
    except ImportError:
        return "torch is not installed"
    if torch.version.cuda is None:
        return f"torch {torch.__version__} is a CPU-only build"
    try:
        if not torch.cuda.is_available():
            return "torch.cuda.is_available() is False (no device or no driver)"
    except Exception as exc:  # a broken driver raises rather than answering
        return f"CUDA initialisation failed: {exc}"
    return None


def _stat_signature(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size)


class HarnessSession:
    def __init__(self, config: pytest.Config, contracts_dir: Path) -> None:
        self.config = config
        self.root = Path(config.rootpath)
        self.contracts_dir = contracts_dir
        self.falsifiers_dir = config.getini("harness_falsifiers")
        self.selected_names: list[str] = list(config.getoption("contract") or [])
        self.require_cuda: bool = config.getoption("require_cuda")
        self.check_mode: bool = config.getoption("harness_check")
        self.no_write: bool = self.check_mode or config.getoption("harness_no_write")
        self.is_worker = hasattr(config, "workerinput")
        if self.is_worker:
            # share the cores between xdist workers: torch's spinning OpenMP threads otherwise
            # oversubscribe them and a run slows down by an order of magnitude
            workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1)
            os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // workers)))
        self.contracts = []
        self.load_findings = []
        self.bindings: list[Binding] = []
        self.by_test: dict[tuple[str, str], list[Binding]] = {}
        self.results: dict[str, dict] = {}  # binding key → RunResult json
        self.collected: dict[str, Binding] = {}  # binding key → binding, for items that were collected
        self.summary_lines: list[tuple[str, str]] = []  # (markup style, text)
        self.claims = []
        self.write_errors: list[str] = []
        self._covers_cache: dict[str, bool] = {}
        self.totals: Counter = Counter()
        self.contracts_seen = 0
        self._data_dirs = {Path(contracts_dir), Path(config.rootpath) / config.getini("harness_evidence")}
        self.contracts_listed = 0
        self._load()

    # ----------------------------------------------------------------- loading and binding
    def _load(self) -> None:
        from harness.contract import discover, load_contract

        files, _ = discover([self.contracts_dir]) if self.contracts_dir.is_dir() else ([], [])
        for path in files:
            contract, findings = load_contract(path, root=self.root, falsifiers_dir=self.falsifiers_dir)
            self.load_findings.extend(f for f in findings if f.is_error)
            if contract is not None:
                self.contracts.append(contract)
        if self.selected_names:
            known = {name for c in self.contracts for name in c.names()}
            unknown = [n for n in self.selected_names if n not in known]
            invalid = {Path(f.path).stem: f for f in self.load_findings}
            broken = [n for n in unknown if n in invalid]
            if broken:
                raise pytest.UsageError(f"--contract: {', '.join(broken)} does not validate: {invalid[broken[0]].render()}")
            if unknown:
                listing = ", ".join(sorted(c.key for c in self.contracts)) or "(none found)"
                raise pytest.UsageError(f"--contract: unknown contract {', '.join(unknown)}; known contracts in {self.contracts_dir}: {listing}")
            self.contracts = [c for c in self.contracts if c.names() & set(self.selected_names)]
        self.bindings = bindings_for(self.contracts)
        for b in self.bindings:
            self.by_test.setdefault((b.test_path(self.root), b.falsifier.test_func), []).append(b)

    def pytest_ignore_collect(self, collection_path, config):
        """contracts/ and evidence/ hold no tests: don't make pytest walk thousands of files there."""
        if collection_path in self._data_dirs:
            return True
        return None

    def pytest_report_header(self, config):
        bound = len(self.bindings)
        cuda = sum(1 for b in self.bindings if b.falsifier.needs_cuda)
        mode = "check (read-only)" if self.check_mode else ("no-write" if self.no_write else "rewrite")
        return [f"harness: {len(self.contracts)} contract(s), {bound} bound falsifier(s) ({cuda} cuda), mode: {mode}"]

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        if "falsifier" not in metafunc.fixturenames:
            return
        path = os.path.normcase(os.path.realpath(str(metafunc.definition.path)))
        bindings = self.by_test.get((path, metafunc.function.__name__), [])
        if not bindings:
            return
        params = []
        for b in bindings:
            marks = [pytest.mark.falsifier, pytest.mark.xdist_group(name=b.group)]
            if b.falsifier.needs_cuda:
                marks.append(pytest.mark.cuda)
            params.append(pytest.param(b, id=b.key, marks=marks))
        metafunc.parametrize("falsifier", params, indirect=True)

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
        self._report_binding_errors(session, items)
        keep, drop = [], []
        for item in items:
            callspec = getattr(item, "callspec", None)
            binding = callspec.params.get("falsifier") if callspec else None
            uses_falsifier = "falsifier" in getattr(item, "fixturenames", ())
            if binding is not None:
                item.stash[_binding_key] = binding
                keep.append(item)
            elif uses_falsifier or self.selected_names:
                drop.append(item)  # an unbound falsifier test, or not in the selected contracts
            else:
                keep.append(item)
        if drop:
            config.hook.pytest_deselected(items=drop)
            items[:] = keep

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        for item in session.items:
            binding = item.stash.get(_binding_key, None)
            if binding is not None:
                self.collected[binding.key] = binding

    def _report_binding_errors(self, session: pytest.Session, items) -> None:
        from _pytest.reports import CollectReport

        from harness.binding import find_test

        problems = [(f.path, f.render()) for f in self.load_findings] if self._covers(self.root / self.falsifiers_dir) else []
        for b in self.bindings:
            if not self._covers(self.root / b.falsifier.test_file):
                continue
            test = find_test(self.root, b.falsifier.test_file, b.falsifier.test_func)
            if not test.exists:
                contract = next(c for c in self.contracts if c.key == b.contract_key)
                where = f"{b.contract_display}:{contract.line_of(b.falsifier)}"
                what = "does not exist" if not test.file_exists else f"has no function {b.falsifier.test_func!r}"
                problems.append(
                    (b.contract_display, f"{where}: falsifier {b.falsifier.id} binds {b.falsifier.test}, but {b.falsifier.test_file} {what} [missing-test]")
                )
        for nodeid, message in problems:
            report = CollectReport(nodeid, "failed", message, [])
            session.config.hook.pytest_collectreport(report=report)

    def _covers(self, path: Path) -> bool:
        """Whether this run's arguments reach ``path`` (so its binding problems concern the run)."""
        if self.selected_names:
            return True
        key = str(path)
        if key not in self._covers_cache:
            self._covers_cache[key] = self._compute_covers(path)
        return self._covers_cache[key]

    def _compute_covers(self, path: Path) -> bool:
        target = os.path.realpath(path)
        for arg in self.config.args or [str(self.root)]:
            base = os.path.realpath(Path(self.config.invocation_params.dir) / arg.split("::", 1)[0])
            if target == base or target.startswith(base.rstrip(os.sep) + os.sep) or base.startswith(target.rstrip(os.sep) + os.sep):
                return True
        return False

    # ----------------------------------------------------------------- running
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        binding = item.stash.get(_binding_key, None)
        if binding is None or not binding.falsifier.needs_cuda:
            return
        reason = cuda_unavailable_reason()
        if reason is None:
            return
        if self.require_cuda:
            pytest.fail(f"--require-cuda: {binding.key} needs CUDA, but {reason}", pytrace=False)
        item.stash[_run_key] = "no-cuda"
        pytest.skip(f"needs CUDA: {reason}")

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo):
        binding = item.stash.get(_binding_key, None)
        if binding is not None and call.when == "teardown":
            # properties must be on the item before the teardown report is made (JUnit XML)
            known = self.results.get(binding.key, {}).get("outcome")
            item.user_properties.append(("falsifier", binding.falsifier.id))
            item.user_properties.append(("contract", binding.contract_key))
            item.user_properties.append(("outcome", known or Outcome.NOT_RUN.value))
        report = yield
        if binding is None:
            return report
        is_assertion = call.excinfo is not None and call.excinfo.errisinstance(AssertionError)
        outcome, message = outcome_of_phase(call.when, report, is_assertion)
        record = self.results.setdefault(
            binding.key, {"falsifier_id": binding.falsifier.id, "nodeid": item.nodeid, "outcome": None, "duration": 0.0, "message": ""}
        )
        record["duration"] += getattr(report, "duration", 0.0) or 0.0
        if outcome is not None:
            previous = Outcome(record["outcome"]) if record["outcome"] else None
            record["outcome"] = combine(previous, outcome).value
            if message and (record["message"] == "" or outcome in (Outcome.FAILED, Outcome.ERROR)):
                record["message"] = message
        run = item.funcargs.get("falsifier") if hasattr(item, "funcargs") else None
        if run is not None:
            record["measurements"] = dict(run.measurements)
            record["attachments"] = dict(run.attachments)
            record["device"] = run.device
        if item.stash.get(_run_key, None) == "no-cuda":
            record["skip_reason_no_cuda"] = True
        return report

    # ----------------------------------------------------------------- xdist
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus) -> None:
        if self.is_worker:
            self.config.workeroutput[RESULTS_KEY] = self.results  # type: ignore[attr-defined]
            return
        self._finish(session)

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node, error) -> None:
        output = getattr(node, "workeroutput", None) or {}
        for key, record in (output.get(RESULTS_KEY) or {}).items():
            self.results[key] = record

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node, ids) -> None:
        # the controller collects nothing itself under xdist; learn the bound items from their ids
        wanted = {b.key: b for b in self.bindings}
        for nodeid in ids:
            if "[" in nodeid:
                key = nodeid.rsplit("[", 1)[1].rstrip("]")
                if key in wanted:
                    self.collected[key] = wanted[key]

    # ----------------------------------------------------------------- the rewrite
    def _run_results(self):
        from harness.ledger import RunResult

        by_contract: dict[str, dict[str, RunResult]] = {}
        for key, binding in self.collected.items():
            record = self.results.get(key)
            if record is None or record.get("outcome") is None:
                result = RunResult(binding.falsifier.id, Outcome.NOT_RUN, nodeid=record.get("nodeid", "") if record else "")
            else:
                result = RunResult(
                    falsifier_id=binding.falsifier.id,
                    outcome=Outcome(record["outcome"]),
                    nodeid=record.get("nodeid", ""),
                    measurements=dict(record.get("measurements") or {}),
                    duration=float(record.get("duration") or 0.0),
                    message=record.get("message") or "",
                    device=record.get("device") or "cpu",
                    attachments=dict(record.get("attachments") or {}),
                    skip_reason_no_cuda=bool(record.get("skip_reason_no_cuda")),
                )
            by_contract.setdefault(binding.contract_key, {})[binding.falsifier.id] = result
        return by_contract

    def _fingerprints(self, contract) -> dict[str, str]:
        from harness.binding import find_test, fingerprint

        out = {}
        for f in contract.bound_falsifiers:
            test = find_test(self.root, f.test_file, f.test_func)
            if test.exists:
                out[f.id] = fingerprint(f, test)
        return out

    def _finish(self, session: pytest.Session) -> None:
        by_contract = self._run_results()
        if not by_contract:
            return
        if self.check_mode:
            self._check(session, by_contract)
            return
        if self.no_write:
            self._summarise_without_write(by_contract)
            return
        self._rewrite(by_contract)
        if self.write_errors and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED  # a ledger we could not write is not green

    def _check(self, session, by_contract) -> None:
        from harness.ledger import unbacked_claims

        for contract in self.contracts:
            results = by_contract.get(contract.key)
            if results is None:
                continue
            self.claims.extend(unbacked_claims(contract, results, self._fingerprints(contract), self.root))
            self._summarise(contract.key, results, None)
        if self.claims and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
        report = self.config.getoption("harness_check_report")
        if report:
            import json

            payload = {
                "claims": [claim.__dict__ for claim in self.claims],
                "results": {key: {fid: r.as_json() for fid, r in results.items()} for key, results in by_contract.items()},
            }
            Path(report).write_text(json.dumps(payload, indent=2, default=str) + "\n")

    def _summarise_without_write(self, by_contract) -> None:
        for contract in self.contracts:
            if contract.key in by_contract:
                self._summarise(contract.key, by_contract[contract.key], None)

    def _rewrite(self, by_contract) -> None:
        from harness.contract import load_contract
        from harness.evidence import dispatch_info, new_run_id, write_run
        from harness.ledger import plan_update
        from harness.writer import WriteError, contracts_lock, remove_stale_temp_files, update_file

        dispatch = dispatch_info(self.root, seeds=self._seeds())
        try:
            with contracts_lock(self.contracts_dir):
                remove_stale_temp_files(self.contracts_dir)
                for key, results in by_contract.items():
                    known = next((c for c in self.contracts if c.key == key), None)
                    if known is None:
                        continue
                    # under the lock, re-read if another session wrote since we loaded
                    contract, findings = known, []
                    if _stat_signature(known.path) != known.stat_signature:
                        contract, findings = load_contract(known.path, root=self.root, falsifiers_dir=self.falsifiers_dir)
                    if contract is None:
                        self.write_errors.append(
                            f"{known.display_path}: changed on disk and no longer valid; not rewritten: " + "; ".join(f.render() for f in findings[:3])
                        )
                        continue
                    fingerprints = self._fingerprints(contract)
                    for fid, result in results.items():
                        result.fingerprint = fingerprints.get(fid, "")
                    run_id = new_run_id()
                    rel = f"{self.config.getini('harness_evidence')}/{contract.key}/{run_id}"
                    update = plan_update(contract, results, self.root, rel)
                    if update.changed:
                        write_run(
                            self.root, contract.key, contract.id, run_id, dispatch, update.rows, update.status_before, update.status_after, update.hypotheses
                        )
                        update_file(contract.path, update.edits)
                    self._summarise(contract.key, results, update)
        except WriteError as exc:
            self.write_errors.append(str(exc))

    def _seeds(self) -> dict:
        seeds = {}
        for b in self.collected.values():
            if "seed" in b.falsifier.params:
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
                    self.summary_lines.append(("purple", f"  {r.falsifier_id}: NOT RUN"))
            return
        for row in update.rows:
            if row.status_before != row.status_after:
                style = {"FALSIFIED": "red", "METHODOLOGY_SUSPECT": "yellow", "DISCHARGED": "green"}.get(row.status_after, "")
                self.summary_lines.append((style, f"  {row.falsifier_id}: {row.status_before} → {row.status_after}"))
            if row.status_after == "METHODOLOGY_SUSPECT" and row.outcome == "passed":
                self.summary_lines.append(("yellow", f"  {row.falsifier_id}: SUSPECT — " + "; ".join(row.suspect_reasons)))
            if row.outcome in ("not run", "skipped", "xfailed", "xpassed"):
                self.summary_lines.append(
                    ("purple", f"  {row.falsifier_id}: NOT RUN ({row.outcome}{': ' + row.message if row.message else ''}) — status left {row.status_after}")
                )
            elif row.outcome == "error":
                self.summary_lines.append(
                    ("red", f"  {row.falsifier_id}: ERROR ({row.message.splitlines()[0] if row.message else 'no detail'}) — status left {row.status_after}")
                )
        if update.status_before != update.status_after:
            self.summary_lines.append(("bold", f"  contract: {update.status_before} → {update.status_after}"))
        if update.changed:
            self.summary_lines.append(
                (
                    "",
                    f"  rewrote {update.contract.display_path}; evidence in {(update.edits and next((e.value for e in update.edits if e.path[-1] == 'evidence'), None)) or 'evidence/'}",
                )
            )

    def pytest_terminal_summary(self, terminalreporter, exitstatus, config) -> None:
        if not (self.contracts_seen or self.claims or self.write_errors):
            return
        tr = terminalreporter
        tr.write_sep("=", "harness: contracts")
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


@pytest.fixture
def falsifier(request):
    """The running falsifier: ``params``, ``record(name, value)``, ``attach``, ``plausible``.

    Parametrized by the plugin with the (contract, falsifier) binding of each item.
    """
    from harness.plugin.fixtures import FalsifierRun, ParamError, resolve_params

    binding = getattr(request, "param", None)
    if not isinstance(binding, Binding):
        pytest.fail("this falsifier test is not bound by any selected contract", pytrace=False)
    session = request.config.pluginmanager.get_plugin("harness-session")
    root = Path(request.config.rootpath) if session is None else session.root
    try:
        params = resolve_params(binding, getattr(request.function, "__harness_accepts__", None), root)
    except ParamError as exc:
        pytest.fail(str(exc), pytrace=False)
    return FalsifierRun(binding, params, request.node)


@pytest.fixture
def subject(request, falsifier):
    """The pipeline part the contract names (``subject: FIXTURE``), resolved by fixture name."""
    name = falsifier.binding.falsifier.subject
    if not name:
        pytest.fail(f"{falsifier.binding.key} names no subject, but its test asks for one", pytrace=False)
    return request.getfixturevalue(name)
