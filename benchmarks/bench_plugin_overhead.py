"""Plugin overhead: 500 contracts × 4 trivial falsifiers vs 2000 plain parametrized tests.

Both suites run as pytest processes, in pairs of alternating order, several times; we report the
ratio of the best wall times and the median of the paired ratios (goal ≤ 1.15× for a steady-state
run, where statuses are already current and nothing is rewritten), the same two for CPU time
(user + system, which a busy shared machine disturbs less than wall time), and the first run
that rewrites all 500 contracts. ``--profile N`` adds the top N harness functions of one
cProfile'd steady run; ``--phases`` the median time of each phase of a run (configure,
collection, test loop, finish), harness against plain.

    python benchmarks/bench_plugin_overhead.py [--contracts 500] [--repeat 7] [--phases] [--profile 15]
"""

from __future__ import annotations

import argparse
import os
import platform
import pstats
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FALSIFIER = """\
from harness import accepts

@accepts("value")
def test_trivial(falsifier):
    assert falsifier.params["value"] >= 0
"""

PLAIN = """\
import pytest

@pytest.mark.parametrize("value", range({n}))
def test_trivial(value):
    assert value >= 0
"""

CONTRACT_HEAD = "metadata:\n  id: bench-{i}\n  version: 1.0.0\n  status: DRAFT\nfalsification_tests:\n"
ENTRY = "- id: F-{i}-{j}\n  rule: trivial\n  test: falsifiers/test_trivial.py::test_trivial\n  params:\n    value: {j}\n"


def make_harness_project(root: Path, contracts: int, per: int) -> None:
    (root / "pyproject.toml").write_text("[tool.pytest.ini_options]\naddopts = '-p no:cacheprovider'\n")
    (root / "contracts").mkdir()
    (root / "falsifiers").mkdir()
    (root / "falsifiers" / "test_trivial.py").write_text(FALSIFIER)
    for i in range(contracts):
        text = CONTRACT_HEAD.format(i=i) + "".join(ENTRY.format(i=i, j=j) for j in range(per))
        (root / "contracts" / f"bench-{i:04d}.yaml").write_text(text)


def make_plain_project(root: Path, n: int) -> None:
    (root / "pyproject.toml").write_text("[tool.pytest.ini_options]\naddopts = '-p no:cacheprovider'\n")
    (root / "test_plain.py").write_text(PLAIN.format(n=n))


def run(root: Path, *args: str) -> tuple[float, float]:
    """(wall, CPU) seconds of one pytest process; CPU is user + system of the child alone."""
    # Python as users run it: bytecode (and pytest's rewritten test modules) cached between runs
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", *args], cwd=root, capture_output=True, text=True, check=False, env=env)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"pytest failed in {root}:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return elapsed, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def profile(root: Path, top: int) -> None:
    """The top of a cProfile of one steady harness run: the harness's own functions, cumulative."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    with tempfile.NamedTemporaryFile(suffix=".prof") as out:
        subprocess.run([sys.executable, "-m", "cProfile", "-o", out.name, "-m", "pytest", "-q"], cwd=root, capture_output=True, check=True, env=env)
        stats = pstats.Stats(out.name)
        total = stats.total_tt
        rows = [(v[3], v[2], v[1], k) for k, v in stats.stats.items() if "/harness/" in k[0]]
        rows.sort(reverse=True)
        print(f"\ncProfile of one steady run ({total:.2f} s under the profiler): harness functions by cumulative time")
        for cumulative, own, calls, (file, line, name) in rows[:top]:
            where = file[file.index("/harness/") + 1 :]
            print(f"  {cumulative * 1000:7.1f} ms  own {own * 1000:6.1f} ms  {calls:6d}×  {where}:{line} {name}")


PHASE_TIMER = """\
import sys, time
import pytest

_marks = [("start", time.perf_counter())]


def _mark(name):
    _marks.append((name, time.perf_counter()))


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    _mark("before_configure")


@pytest.hookimpl(trylast=True)
def pytest_sessionstart(session):
    _mark("configure")


def pytest_collection_finish(session):
    _mark("collection")


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session):
    _mark("test_loop")


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
    _mark("finish")
    sys.stderr.write("PHASES " + " ".join(f"{n}={(t - p) * 1000:.1f}" for (n, t), (_, p) in zip(_marks[1:], _marks)) + "\\n")
"""


def phases(harness_root: Path, plain_root: Path, repeat: int) -> None:
    """Median milliseconds of each phase of a pytest run, harness project against plain, from a
    timing plugin loaded into both (what the overhead is made of, without a profiler's distortion)."""
    with tempfile.TemporaryDirectory() as plugin_dir:
        Path(plugin_dir, "harness_bench_phases.py").write_text(PHASE_TIMER)
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [plugin_dir, env.get("PYTHONPATH")]))
        runs: dict[str, list[dict[str, float]]] = {"plain": [], "harness": []}
        for _ in range(repeat):
            for name, root, extra in (("plain", plain_root, ["-p", "no:harness"]), ("harness", harness_root, [])):
                proc = subprocess.run(
                    [sys.executable, "-m", "pytest", "-q", "-p", "harness_bench_phases", *extra], cwd=root, capture_output=True, text=True, env=env, check=False
                )
                line = next(x for x in proc.stderr.splitlines() if x.startswith("PHASES "))
                runs[name].append({k: float(v) for k, v in (part.split("=") for part in line[7:].split())})
        print("\nphase medians (ms):   plain  harness  difference")
        for phase in runs["plain"][0]:
            a = statistics.median(r[phase] for r in runs["plain"])
            b = statistics.median(r[phase] for r in runs["harness"])
            print(f"  {phase:<18} {a:7.1f}  {b:7.1f}  {b - a:+8.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contracts", type=int, default=500)
    parser.add_argument("--per", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--profile", type=int, default=0, metavar="N", help="also print the top N harness functions of a cProfile'd steady run")
    parser.add_argument("--phases", action="store_true", help="also print each phase's median time, harness against plain")
    args = parser.parse_args()
    n = args.contracts * args.per
    with tempfile.TemporaryDirectory() as tmp:
        harness_root, plain_root = Path(tmp) / "harness", Path(tmp) / "plain"
        harness_root.mkdir()
        plain_root.mkdir()
        make_harness_project(harness_root, args.contracts, args.per)
        make_plain_project(plain_root, n)
        first = run(harness_root)  # rewrites every contract: OPEN → DISCHARGED, evidence written
        run(plain_root, "-p", "no:harness")  # warm both: bytecode written, files in the page cache
        plain, steady, loaded, ratios, cpu_ratios = [], [], [], [], []
        for i in range(args.repeat):
            # pairs in alternating order, so drift on a shared machine falls on both sides
            if i % 2:
                h = run(harness_root)
                p = run(plain_root, "-p", "no:harness")  # baseline: plugin disabled
            else:
                p = run(plain_root, "-p", "no:harness")
                h = run(harness_root)
            plain.append(p)
            steady.append(h)
            ratios.append(h[0] / p[0])
            cpu_ratios.append(h[1] / p[1])
            loaded.append(run(plain_root))  # plugin loaded through its entry point, no contracts
        best_plain, best_steady, best_loaded = (min(t[0] for t in runs) for runs in (plain, steady, loaded))
        cpu_plain, cpu_steady = min(t[1] for t in plain), min(t[1] for t in steady)
        print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, pytest {pytest_version()}")
        print(f"{n} plain parametrized tests, no plugin: {best_plain:6.2f} s  (1.00×)   CPU {cpu_plain:5.2f} s")
        print(f"plugin merely loaded (no contracts):        {best_loaded:6.2f} s  ({best_loaded / best_plain:.2f}×)")
        print(
            f"{args.contracts} contracts × {args.per} falsifiers, steady: {best_steady:6.2f} s  ({best_steady / best_plain:.2f}× best of {args.repeat}; "
            f"paired median {statistics.median(ratios):.2f}×)   CPU {cpu_steady:5.2f} s ({cpu_steady / cpu_plain:.2f}×; paired median {statistics.median(cpu_ratios):.2f}×)"
        )
        print(f"first run (rewrites {args.contracts} contracts + evidence): {first[0]:6.2f} s  ({first[0] / best_plain:.2f}×)")
        if args.phases:
            phases(harness_root, plain_root, args.repeat)
        if args.profile:
            profile(harness_root, args.profile)


def pytest_version() -> str:
    from importlib.metadata import version

    return version("pytest")


if __name__ == "__main__":
    main()
