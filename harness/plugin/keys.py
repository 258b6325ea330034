"""What the session's parts share about one item: the stash keys that carry its binding, its uid
and its record, and the names its record travels under from xdist workers."""

from __future__ import annotations

import pytest

from harness.plugin.binding import Binding

MANIFEST_KEY = "harness_manifest"  # workeroutput: binding key → item uids collected by a worker
REPORT_ATTR = "harness_result"  # the per-item record, carried on the teardown report (xdist too)
binding_key = pytest.StashKey[Binding]()
uid_key = pytest.StashKey[str]()
record_key = pytest.StashKey[dict]()
run_key = pytest.StashKey[object]()
