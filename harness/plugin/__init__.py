"""The pytest plugin (entry point ``pytest11: harness``).

This module is all pytest imports at start-up: options, ini keys and markers. The session
object — contracts, bindings, results, the rewrite — is created only when the project has a
contracts directory or ``--contract`` is given, so the plugin costs nothing where unused.
"""

from __future__ import annotations

from pathlib import Path

import pytest

# the shipped falsifiers get pytest's assertion introspection, like any test module
pytest.register_assert_rewrite("harness.falsifiers")

MARKERS = (
    "falsifier: a test bound to a contract falsifier (added by the harness)",
    "cuda: needs a CUDA device; skipped (never discharged) without one, an error with --require-cuda",
)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("harness", "contract falsifiers (falsifier-harness)")
    group.addoption(
        "--contract",
        action="append",
        default=[],
        metavar="NAME",
        help="run only this contract's falsifiers (file stem or metadata.id); repeatable",
    )
    group.addoption(
        "--require-cuda",
        action="store_true",
        default=False,
        help="a CUDA falsifier on a machine without CUDA is an error, not a skip (GPU runners)",
    )
    group.addoption(
        "--harness-check",
        action="store_true",
        default=False,
        help="read-only: write nothing, fail when contracts claim more than this run shows",
    )
    group.addoption(
        "--harness-no-write",
        action="store_true",
        default=False,
        help="run falsifiers and report, but do not rewrite contracts or write evidence",
    )
    group.addoption(
        "--harness-check-report",
        default=None,
        metavar="PATH",
        help="with --harness-check: also write the unbacked claims and outcomes as JSON to PATH",
    )
    parser.addini("harness_contracts", "directory of contract YAML files", default="contracts")
    parser.addini("harness_evidence", "directory for run evidence", default="evidence")
    parser.addini("harness_falsifiers", "directory of falsifier test modules", default="falsifiers")
    parser.addini("harness_pv_rules", "pv's own rules: auto (for pv-shaped contracts), error, warning or off", default="auto")
    parser.addini("harness_engine", "where whole-corpus passes run: local (default) or ray (harness.engines)", default="local")
    parser.addini("harness_engine_address", "with harness_engine = ray: the cluster to join (auto, ray://host:10001); none starts one here", default="")
    parser.addini(
        "harness_allow_falsified", "harness gate passes with FALSIFIED claims on disk (known-broken contracts tracked on purpose)", type="bool", default=False
    )
    parser.addini("harness_skip", "globs of non-contract YAML under the contracts directory (besides pv's own skip rules)", type="args", default=[])


def pytest_configure(config: pytest.Config) -> None:
    for marker in MARKERS:
        config.addinivalue_line("markers", marker)
    from harness.plugin import gpus

    gpus.configure(config)  # before any CUDA context: each xdist worker of the CUDA lane owns a GPU
    _configure_engine(config)
    contracts_dir = Path(config.rootpath) / config.getini("harness_contracts")
    if not contracts_dir.is_dir() and not config.getoption("contract"):
        return
    from harness.plugin.session import HarnessSession

    session = HarnessSession(config, contracts_dir)
    config.pluginmanager.register(session, "harness-session")


def _configure_engine(config: pytest.Config) -> None:
    """The ini's engine becomes the default of every pass a falsifier does not pin (``engine:``)."""
    from harness.engines import EngineError, configure

    try:
        configure(config.getini("harness_engine") or None, config.getini("harness_engine_address") or None)
    except EngineError as exc:
        raise pytest.UsageError(f"harness_engine: {exc}") from None


@pytest.hookimpl(optionalhook=True, tryfirst=True)  # before xdist's own (one per core)
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int | None:
    """``-n auto`` on the CUDA lane: one worker per visible GPU (see ``harness.plugin.gpus``)."""
    from harness.plugin import gpus

    return gpus.auto_workers(config)


# The fixtures must be visible wherever the plugin is loaded; their module imports only pytest.
from harness.plugin.provided import falsifier, subject  # noqa: E402,F401
