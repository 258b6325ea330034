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
from harness.plugin.outcomes import aggregate_items, combine, outcome_of_phase
from harness.status import Outcome

MANIFEST_KEY = "harness_manifest"  # workeroutput: binding key → item uids collected by a worker
REPORT_ATTR = "harness_result"  # the per-item record, carried on the teardown report (xdist too)
_binding_key = pytest.StashKey[Binding]()
_uid_key = pytest.StashKey[str]()
_record_key = pytest.StashKey[dict]()
_run_key = pytest.StashKey[object]()
_FALSIFIER_MARK = pytest.mark.falsifier
_CUDA_MARK = pytest.mark.cuda


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


def _assertions_stripped(item: pytest.Item) -> str | None:
    """Under ``python -O`` / ``PYTHONOPTIMIZE`` plain ``assert`` statements are compiled away, so a
    falsifier could never fail. pytest rewrites the asserts of test modules (and of the shipped
    falsifiers) into explicit raises that survive ``-O``; any other bound module gets no verdict."""
    import sys

    if not sys.flags.optimize:
        return None
    module = getattr(item, "module", None)
    if module is not None and "@py_builtins" in vars(module):
        return None
    return (
        f"Python runs with -O (PYTHONOPTIMIZE={sys.flags.optimize}) and {getattr(module, '__name__', 'the test module')} was not "
        "assertion-rewritten by pytest: its asserts are stripped, so it could not fail; no verdict (run without -O, or without --assert=plain)"
    )


def _subject_shadowed(item: pytest.Item, binding: Binding) -> str | None:
    """A project fixture named ``subject`` replaces the harness's for every bound test: the
    falsifier would judge whatever that fixture returns, not the subject the contract names."""
    if not binding.falsifier.subject:
        return None
    info = getattr(item, "_fixtureinfo", None)
    defs = (info.name2fixturedefs.get("subject") if info is not None else None) or ()
    if not defs:
        return None
    from harness.plugin import provided

    used = defs[-1]
    function = getattr(used.func, "__wrapped__", used.func)
    if function is provided.subject or getattr(function, "__module__", "") == provided.__name__:
        return None
    where = f"{getattr(function, '__module__', '?')}.{getattr(function, '__qualname__', 'subject')}"
    try:
        import inspect

        where = f"{inspect.getsourcefile(function)}:{inspect.getsourcelines(function)[1]}"
    except (OSError, TypeError):
        pass
    return (
        f"{binding.key} names subject {binding.falsifier.subject!r}, but a fixture named 'subject' ({where}) shadows the harness's: "
        f"the falsifier would judge what that fixture returns. Rename that fixture (the contract's subject: {binding.falsifier.subject!r} reaches the test through the harness)"
    )


class HarnessSession:
    def __init__(self, config: pytest.Config, contracts_dir: Path) -> None:
        from harness.project import Layout

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

    # ----------------------------------------------------------------- loading and binding
    def _load(self) -> None:
        import gc

        from harness.project import load_contracts

        # What exists now (pytest, plugins, imported modules) lives for the whole session, and so
        # will the contracts: keep the cyclic collector from walking them again and again while
        # the contracts load and at every collection after (pytest collects twice at exit; 500
        # contracts made that 0.15 s, and loading them in a full interpreter another 0.05 s).
        gc.freeze()
        loaded = load_contracts(self.layout)
        self.contracts = loaded.contracts
        self.load_findings = [f for f in loaded.findings if f.is_error]
        if self.selected_names:
            self.contracts = self._select(self.selected_names)
        self.bindings = bindings_for(self.contracts)
        for b in self.bindings:
            self.by_key[b.key] = b
            self.by_test.setdefault((b.test_path(self.root), b.falsifier.test_func), []).append(b)
        gc.freeze()

    def _select(self, names: list[str]) -> list:
        """``--contract`` (harness.project.select_contracts); a bad name is a usage error."""
        from harness.project import SelectionError, select_contracts

        refused = {}
        for f in self.load_findings:
            refused.setdefault(Path(f.path).name.rsplit(".", 1)[0], f)
        try:
            return select_contracts(self.contracts, names, refused)
        except SelectionError as exc:
            raise pytest.UsageError(f"--contract: {exc}") from None

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
        if "falsifier" not in metafunc.fixturenames or metafunc.cls is not None:
            return  # a method of the same name in a class is not the bound ``file::func``
        path = os.path.normcase(os.path.realpath(str(metafunc.definition.path)))
        bindings = self.by_test.get((path, metafunc.function.__name__), [])
        if not bindings:
            return
        params = []
        for b in bindings:
            marks = [_FALSIFIER_MARK, _CUDA_MARK] if b.falsifier.needs_cuda else [_FALSIFIER_MARK]
            if self.is_worker:  # only xdist's workers read the group (``--dist loadgroup``)
                marks.append(pytest.mark.xdist_group(name=b.group))
            params.append(pytest.param(b, id=b.key, marks=marks))
        # Direct, not indirect: collection swaps each item's Binding for its own FalsifierRun
        # (pytest_collection_modifyitems), so no fixture function or request object runs per item.
        metafunc.parametrize("falsifier", params)

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_modifyitems(self, session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
        """Runs before ``-k``, ``-m`` and ``--deselect``: every item of every falsifier is counted
        here, so a run that keeps only some of them is partial, never a pass."""
        from harness.fingerprint import context_digest
        from harness.fingerprint import stamps as falsifier_stamps

        items.extend(self._builtin_items(session))
        keep, drop = [], []
        stamps: dict[str, tuple[str, str]] = {}
        params: dict[tuple[str, object], tuple] = {}
        for item in items:
            callspec = getattr(item, "callspec", None)
            binding = callspec.params.get("falsifier") if callspec else None
            uses_falsifier = "falsifier" in getattr(item, "fixturenames", ())
            if isinstance(binding, Binding):
                callspec.params["falsifier"] = self._run_for(item, binding, params)
                uids = self.expected.setdefault(binding.key, [])
                uid = f"{binding.key}#{len(uids)}"
                uids.append(uid)
                if binding.key not in stamps:  # the fingerprint of the test as collected (imported) now
                    test = self.test_info(binding)
                    context = context_digest(self.root, self._contract(binding), binding.falsifier, test) if test.exists else ""
                    stamps[binding.key] = falsifier_stamps(binding.falsifier, test, context)
                item.stash[_binding_key] = binding
                item.stash[_uid_key] = uid
                item.stash[_record_key] = {
                    "key": binding.key,
                    "uid": uid,
                    "falsifier_id": binding.falsifier.id,
                    "nodeid": item.nodeid,
                    "outcome": None,
                    "duration": 0.0,
                    "message": "",
                    "fingerprint": stamps[binding.key][0],
                    "declaration": stamps[binding.key][1],
                }
                keep.append(item)
            elif uses_falsifier or self.selected_names:
                drop.append(item)  # an unbound falsifier test, or not in the selected contracts
            else:
                keep.append(item)
        if drop:
            config.hook.pytest_deselected(items=drop)
            items[:] = keep

    def _run_for(self, item: pytest.Item, binding: Binding, cache: dict):
        """The item's own FalsifierRun; its params resolved once per (binding, test function)."""
        from harness.plugin.fixtures import FalsifierRun, ParamError, resolve_params

        function = getattr(item, "function", None)
        where = (binding.key, function)
        if where not in cache:
            try:
                cache[where] = (resolve_params(binding, getattr(function, "__harness_accepts__", None), self.root), None)
            except ParamError as exc:
                cache[where] = (None, str(exc))
        resolved, error = cache[where]
        return FalsifierRun(binding, resolved, item, params_error=error)

    def pytest_deselected(self, items) -> None:
        for item in items:
            uid = item.stash.get(_uid_key, None)
            if uid is not None:
                self.deselected.add(uid)

    def contract_problems(self) -> list[str]:
        """Refused contracts and broken bindings, each with file:line. They fail the run's exit
        status and are listed in the summary, but never stop the collection: unrelated tests and
        other contracts' falsifiers still run (one bad file must not block a repository)."""
        if self._problems is not None:
            return self._problems
        from harness.fingerprint import collectable_problem

        problems = [f.render() for f in self.load_findings]
        python_files = self.config.getini("python_files")
        python_functions = self.config.getini("python_functions")
        verdicts: dict[tuple[str | None, str | None], str | None] = {}  # one verdict per bound test
        covers: dict[str | None, bool] = {}
        for b in self.bindings:
            if b.falsifier.test_file not in covers:
                covers[b.falsifier.test_file] = self._covers_binding(b)
            if not covers[b.falsifier.test_file]:
                continue
            test = self.test_info(b)
            if not test.exists:
                what = "does not exist" if not test.file_exists else f"has no function {b.falsifier.test_func!r}"
                problems.append(f"{self._where(b)}: falsifier {b.falsifier.id} binds {b.falsifier.test}, but {b.falsifier.test_file} {what} [missing-test]")
                continue
            where = (b.falsifier.test_file, b.falsifier.test_func)
            if where not in verdicts:
                verdicts[where] = None if b.falsifier.builtin else collectable_problem(test, python_files, python_functions)
            why = verdicts[where]
            if why:
                problems.append(f"{self._where(b)}: falsifier {b.falsifier.id} binds {b.falsifier.test}, but {why} [not-a-test]")
        self._problems = problems
        return problems

    def test_info(self, binding: Binding):
        """The bound test as this session found it (read once per file and function: a session
        judges the code it collected)."""
        from harness.fingerprint import find_test

        where = (binding.falsifier.test_file, binding.falsifier.test_func)
        if where not in self._tests:
            self._tests[where] = find_test(self.root, *where)
        return self._tests[where]

    def _contract(self, binding: Binding):
        if not hasattr(self, "_by_contract_key"):
            self._by_contract_key = {c.key: c for c in self.contracts}
        return self._by_contract_key.get(binding.contract_key)

    def _where(self, binding: Binding) -> str:
        """``file:line`` of a binding's falsifier — its line found only when there is a problem to
        report (positions need the round-trip parse the fast load path skips)."""
        contract = next(c for c in self.contracts if c.key == binding.contract_key)
        return f"{binding.contract_display}:{contract.line_of(binding.falsifier)}"

    def _covers_binding(self, binding: Binding) -> bool:
        """Whether this run reaches a binding: its test file, or — for a built-in, which lives in
        the installed package — the project's contracts or falsifiers folder."""
        if binding.falsifier.builtin:
            return self._covers(self.contracts_dir) or self._covers(self.layout.falsifiers_dir)
        return self._covers(self.root / binding.falsifier.test_file)

    def _builtin_items(self, session: pytest.Session) -> list[pytest.Item]:
        """Collect the shipped modules that selected contracts bind with ``builtin:`` references."""
        modules = sorted({b.falsifier.test_file for b in self.bindings if b.falsifier.builtin and self._covers_binding(b)})
        items: list[pytest.Item] = []
        parent = self._root_directory(session)
        for path in modules:
            name = Path(path).relative_to(Path(path).parents[1]).as_posix()  # falsifiers/<module>.py
            module = pytest.Module.from_parent(parent, path=Path(path), nodeid=f"builtin:harness/{name}")
            for node in session.genitems(module):
                items.append(node)
        return items

    def _root_directory(self, session: pytest.Session):
        """The collector of the project root: the shipped modules hang under it, so the fixtures of
        the project's root ``conftest.py`` are visible to them (pytest ≥ 9.1 ties conftest fixtures
        to their directory's node, not to node-id prefixes)."""
        cache = getattr(session, "_collection_cache", None) or {}
        for node in cache:
            if isinstance(node, pytest.Directory) and Path(node.path) == self.root:
                return node
        return session

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
    @pytest.hookimpl(tryfirst=True)  # before any fixture: a param mismatch fails the set-up
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        binding = item.stash.get(_binding_key, None)
        if binding is None:
            return
        run = item.callspec.params["falsifier"]
        run.begin()
        if run.params_error:
            pytest.fail(run.params_error, pytrace=False)
        refusal = _assertions_stripped(item) or _subject_shadowed(item, binding)
        if refusal:
            pytest.fail(refusal, pytrace=False)
        if not binding.falsifier.needs_cuda:
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
        record = item.stash.get(_record_key, None)
        if record is not None and call.when == "teardown":
            # properties must be on the item before the teardown report is made (JUnit XML)
            item.user_properties.append(("falsifier", record["falsifier_id"]))
            item.user_properties.append(("contract", record["key"].rsplit("::", 1)[0]))
            item.user_properties.append(("outcome", record["outcome"] or Outcome.NOT_RUN.value))
        report = yield
        if record is None:
            return report
        when = call.when
        record["duration"] += getattr(report, "duration", 0.0) or 0.0
        if when == "call" or not report.passed:  # a passing set-up or teardown says nothing new
            is_assertion = call.excinfo is not None and call.excinfo.errisinstance(AssertionError)
            outcome, message = outcome_of_phase(when, report, is_assertion)
            if outcome is not None:
                previous = Outcome(record["outcome"]) if record["outcome"] else None
                record["outcome"] = combine(previous, outcome).value
                if message and (record["message"] == "" or outcome in (Outcome.FAILED, Outcome.ERROR)):
                    record["message"] = message
        if when == "teardown":
            run = item.callspec.params["falsifier"]
            record["measurements"] = dict(run.measurements)
            record["attachments"] = dict(run.attachments)
            record["suspicions"] = list(run.suspicions)
            record["device"] = run.device
            if item.stash.get(_run_key, None) == "no-cuda":
                record["skip_reason_no_cuda"] = True
            setattr(report, REPORT_ATTR, dict(record))  # serialised with the report under xdist
        return report

    def pytest_runtest_logreport(self, report) -> None:
        """Every process places the records it sees (serial: its own; xdist controller: the
        workers'), by the binding key and item uid they carry."""
        record = getattr(report, REPORT_ATTR, None)
        if not isinstance(record, dict):
            return
        if record.get("key") not in self.by_key or not isinstance(record.get("uid"), str):
            self.unplaced.append(f"{report.nodeid}: a falsifier result for {record.get('key')!r} that this session has no binding for")
            return
        self.item_results[record["uid"]] = record

    # ----------------------------------------------------------------- xdist
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus) -> None:
        if self.is_worker:
            self.config.workeroutput[MANIFEST_KEY] = {"expected": self.expected, "deselected": sorted(self.deselected)}  # type: ignore[attr-defined]
            return
        self._finish(session)

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node, error) -> None:
        manifest = (getattr(node, "workeroutput", None) or {}).get(MANIFEST_KEY) or {}
        self.deselected.update(manifest.get("deselected") or ())
        for key, uids in (manifest.get("expected") or {}).items():
            if key not in self.by_key:
                self.unplaced.append(f"worker {getattr(node, 'gateway', node)!s}: collected items for {key!r}, which this session has no binding for")
                continue
            if len(uids) > len(self.expected.get(key, [])):
                self.expected[key] = list(uids)

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

    def _fresh_fingerprints(self, contract) -> dict[str, str]:
        from harness.fingerprint import current_fingerprint

        out = {}
        for f in contract.bound_falsifiers:
            fresh = current_fingerprint(self.root, contract, f)
            if fresh is not None:
                out[f.id] = fresh
        return out

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

        for contract in self.contracts:
            results = by_contract.get(contract.key)
            if results is None:
                continue
            self.claims.extend(unbacked_claims(contract, results, self._fresh_fingerprints(contract), self.root, self.layout.evidence))
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
        from harness.evidence import dispatch_info
        from harness.ledger import plan_update
        from harness.writer import WriteError, contracts_lock, remove_stale_temp_files

        contracts = {c.key: c for c in self.contracts}
        pending = []
        for key, results in by_contract.items():
            contract = contracts.get(key)
            if contract is None:
                continue
            update = plan_update(contract, results, self.root)
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
        from harness.contract import load_contract
        from harness.evidence import digest_of, discard_run, latest_problem, new_run_id, render_readme, results_payload, write_latest, write_run
        from harness.fingerprint import declaration_digest
        from harness.ledger import RunResult, plan_update
        from harness.writer import WriteError, update_file, writable_target

        # Always re-read under the lock: an edit of the same size within the file system's mtime
        # granularity (params changed mid-run) keeps (mtime_ns, size); only the content tells.
        contract, findings = load_contract(
            known.path,
            root=self.root,
            falsifiers_dir=self.falsifiers_dir,
            evidence_dir=self.layout.evidence,
            contracts_dir=self.contracts_dir,
            pv_rules=self.layout.pv_rules,
        )
        if contract is None:
            raise WriteError("changed on disk and no longer valid: " + "; ".join(f.render() for f in findings[:3]))
        for fid, result in list(results.items()):
            f = contract.falsifier(fid)
            if f is None or (result.declaration and declaration_digest(f) != result.declaration):
                results[fid] = RunResult(fid, Outcome.NOT_RUN, nodeid=result.nodeid, message="its contract entry changed during the run; no verdict written")
        update = plan_update(contract, results, self.root)
        if not update.changed:
            self._summarise(contract.key, results, update)
            return
        run_id = new_run_id()
        evidence_rel = f"{self.layout.evidence}/{contract.key}/{run_id}"
        payload = results_payload(contract.key, contract.id, run_id, dispatch, update.rows, update.status_before, update.status_after, update.hypotheses)
        edits = update.point_evidence(evidence_rel, digest_of(payload))
        readme = render_readme(contract.id, run_id, update.status_before, update.status_after, update.rows, update.hypotheses)
        writable_target(contract.path, self.root)  # a read-only or escaping contract: refuse before any evidence
        if update.evidence_pointer_targets:
            latest_problem(self.root, self.layout.evidence, contract.key)  # before anything is written
        run_dir = None
        try:
            if update.evidence_pointer_targets:
                run_dir = write_run(self.root, self.layout.evidence, contract.key, run_id, payload, readme, dispatch)
            update_file(contract.path, edits, root=self.root)
        except BaseException:
            if run_dir is not None:
                discard_run(run_dir)
            raise
        if run_dir is not None:
            try:
                write_latest(self.root, self.layout.evidence, contract.key, run_id)
            except (WriteError, OSError) as exc:  # the contract is written: say so, and what was not
                self.write_errors.append(f"{contract.display_path}: rewritten with evidence in {evidence_rel}, but its LATEST pointer was not updated: {exc}")
        update.evidence_rel = evidence_rel if run_dir is not None else None  # the summary names only what was written
        update.written = True
        self._summarise(contract.key, results, update)

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
