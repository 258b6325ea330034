"""The session's collection: load the contracts (one snapshot), bind each bound falsifier to its
test, make one item per (contract, falsifier), and say which bindings are broken."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from harness.plugin.binding import Binding, bindings_for
from harness.plugin.keys import binding_key, record_key, uid_key

_FALSIFIER_MARK = pytest.mark.falsifier
_CUDA_MARK = pytest.mark.cuda


class CollectionHooks:
    """Loading and binding; state lives on the session (``HarnessSession``)."""

    # ----------------------------------------------------------------- loading and binding
    def _load(self) -> None:
        import gc

        from harness.snapshot import read_snapshot

        # What exists now (pytest, plugins, imported modules) lives for the whole session, and so
        # will the contracts: keep the cyclic collector from walking them again and again while
        # the contracts load and at every collection after (pytest collects twice at exit; 500
        # contracts made that 0.15 s, and loading them in a full interpreter another 0.05 s).
        gc.freeze()
        snapshot = read_snapshot(self.layout, evidence=False, sources=False, baseline=False)
        self.contracts = list(snapshot.contracts)
        self.load_findings = [f for f in snapshot.findings if f.is_error]
        if self.selected_names:
            self.contracts = self._select(self.selected_names)
        self.snapshot = snapshot.select(self.contracts)
        self.bindings = bindings_for(self.contracts)
        for b in self.bindings:
            self.by_key[b.key] = b
            self.by_test.setdefault((b.test_path(self.root), b.falsifier.test_func), []).append(b)
        gc.freeze()

    def _select(self, names: list[str]) -> list:
        """``--contract`` (harness.project.select_contracts); a bad name is a usage error."""
        from harness.contract.keys import SelectionError, select_contracts

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
        closures: dict = {}  # one walk of a test's imports for all the falsifiers bound to it
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
                    context = context_digest(self.root, self._contract(binding), binding.falsifier, test, closures) if test.exists else ""
                    stamps[binding.key] = falsifier_stamps(binding.falsifier, test, context)
                item.stash[binding_key] = binding
                item.stash[uid_key] = uid
                item.stash[record_key] = {
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
            uid = item.stash.get(uid_key, None)
            if uid is not None:
                self.deselected.add(uid)

    def contract_problems(self) -> list[str]:
        """Refused contracts and broken bindings, each with file:line. They fail the run's exit
        status and are listed in the summary, but never stop the collection: unrelated tests and
        other contracts' falsifiers still run (one bad file must not block a repository)."""
        if self._problems is not None:
            return self._problems
        from harness.sources import collectable_problem

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
        from harness.sources import find_test

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
