"""Fingerprint what produced a status: the test's source and the code it depends on (found by
``harness.sources``), params, subject and harness version. A verdict whose fingerprint no longer
matches what would run now is stale."""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from harness.contract.model import Falsifier
from harness.sources import TestInfo, closure_digests, conftest_files, find_test, search_path


def declaration_digest(falsifier: Falsifier, declared: tuple[str, str] | None = None) -> str:
    """What the contract declares for one falsifier (test, params, requirements, subject, bands):
    a run's verdict is written only while the contract still declares what ran.

    The hash of ``json.dumps({test, params, requires, subject, plausible}, sort_keys=True,
    default=str)``, assembled from its members (see ``_declared``)."""
    members, subject = declared or _declared(falsifier)
    blob = "{" + members + ', "subject": ' + subject + ', "test": ' + _encoded(falsifier.test) + "}"
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def stamps(falsifier: Falsifier, test: TestInfo, context: str = "") -> tuple[str, str]:
    """(fingerprint, declaration digest) of a collected falsifier, sharing their encoded members."""
    declared = _declared(falsifier)
    return (fingerprint(falsifier, test, declared=declared, context=context) if test.exists else "", declaration_digest(falsifier, declared))


def context_digest(root: Path, contract: Any, falsifier: Falsifier, test: TestInfo, memo: dict | None = None) -> str:
    """What decides a verdict beyond the test function and its params: every first-party module the
    test and its helpers import (relative imports, a ``src/`` layout and folders beside the test
    included), the ``conftest.py`` files pytest loads for it with what they import (the fixtures
    that build its subject, e.g. ``mypkg/model.py``), and the subject's identity — a declared
    subject's spec and its files' content, a plugin fixture's module.

    ``memo`` (one dict for one read of a project: a snapshot, a collection) shares the code closure
    between the falsifiers bound to the same test, which import the same modules from the same
    folder: 500 contracts bound to one test walk its imports once, not 500 times."""
    from harness.identity import param_files_identity, subject_identity

    root = Path(root).absolute()
    test_path = Path(test.path) if test.path else root / falsifier.test_file
    test_dir = root if falsifier.builtin else test_path.parent
    key = (str(test_path), test.imports, str(test_dir))
    code_json = memo.get(key) if memo is not None else None
    if code_json is None:
        code = closure_digests(set(test.imports), conftest_files(root, test_dir), search_path(root, test_dir), root, skip=test_path)
        code_json = json.dumps(code, sort_keys=True, default=str)  # serialised once per test: 2,000 falsifiers on one test share it
        if memo is not None:
            memo[key] = code_json
    subject = json.dumps(subject_identity(root, contract, falsifier.subject), sort_keys=True, default=str)
    params_files = param_files_identity(root, falsifier.params)
    # json.dumps({"code", ["param_files"], "subject"}, sort_keys=True, default=str), assembled from its
    # members (keys in sorted order); param_files only where params name files, so every other
    # fingerprint stays as it was
    files = f', "param_files": {json.dumps(params_files, sort_keys=True, default=str)}' if params_files else ""
    payload = '{"code": ' + code_json + files + ', "subject": ' + subject + "}"
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def current_fingerprint(root: Path, contract: Any, falsifier: Falsifier, test: TestInfo | None = None, memo: dict | None = None) -> str | None:
    """The fingerprint a verdict on ``falsifier`` would carry now, or None when its test is gone."""
    test = test if test is not None else find_test(root, falsifier.test_file, falsifier.test_func)
    if not test.exists:
        return None
    return fingerprint(falsifier, test, context=context_digest(root, contract, falsifier, test, memo))


def _declared(falsifier: Falsifier) -> tuple[str, str]:
    """The JSON members both digests share: ``"params": …, "plausible": …, "requires": …`` (in
    key order, one encoder call) and the encoded subject."""
    plausible = {k: list(v) for k, v in sorted(falsifier.plausible.items())}
    shared = _encode({"params": falsifier.params, "plausible": plausible, "requires": sorted(falsifier.requires)})
    subject = _encoded(falsifier.subject) if isinstance(falsifier.subject, str) else "null" if falsifier.subject is None else _encode(falsifier.subject)
    return shared[1:-1], subject


def fingerprint(falsifier: Falsifier, test: TestInfo, version: str | None = None, declared: tuple[str, str] | None = None, context: str = "") -> str:
    """A short hash of what produced a verdict: the test's source and the code it depends on, the
    params and requirements, the subject and the harness version (``context``: see
    ``context_digest``; every caller that judges a verdict passes it, via ``current_fingerprint``). When any of these changes, a
    recorded status is stale.

    The hash is of ``json.dumps(payload, sort_keys=True, default=str, ensure_ascii=True)`` with
    the keys below; the document is assembled from its members so the test's source, shared by
    every falsifier bound to it, is encoded once per session rather than once per falsifier."""
    if version is None:
        from harness import __version__ as version
    members, subject = declared or _declared(falsifier)
    blob = (
        '{"code": ' + _encoded(test.code_digest)
        + ', "context": ' + _encoded(context)
        + ', "harness": ' + _encoded(version)
        + ", " + members
        + ', "source": ' + _encoded(test.source)
        + ', "subject": ' + subject
        + "}"
    )  # fmt: skip
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


_ENCODER = json.JSONEncoder(sort_keys=True, default=str, ensure_ascii=True)  # json.dumps(…) with these arguments


def _encode(value: Any) -> str:
    return _ENCODER.encode(value)


@lru_cache(maxsize=1024)
def _encoded(text: str) -> str:
    return _encode(text)
