"""The session's per-item records: refuse what cannot give a verdict before any fixture runs,
record each phase's outcome and measurements on the item, and carry the records (and each
worker's manifest of collected items) from xdist workers to the controller."""

from __future__ import annotations

import os

import pytest

from harness.plugin.binding import Binding
from harness.plugin.keys import MANIFEST_KEY, REPORT_ATTR, binding_key, record_key, run_key
from harness.plugin.outcomes import combine, outcome_of_phase
from harness.status import Outcome


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


class RecordHooks:
    """Per-item hooks; state lives on the session (``HarnessSession``)."""

    # ----------------------------------------------------------------- running
    @pytest.hookimpl(tryfirst=True)  # before any fixture: a param mismatch fails the set-up
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        binding = item.stash.get(binding_key, None)
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
        item.stash[run_key] = "no-cuda"
        pytest.skip(f"needs CUDA: {reason}")

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo):
        record = item.stash.get(record_key, None)
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
            if item.stash.get(run_key, None) == "no-cuda":
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
