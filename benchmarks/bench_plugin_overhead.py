"""Plugin overhead: 500 contracts × 4 trivial falsifiers vs 2000 plain parametrized tests.

Both suites run in the same process tree, one after the other, several times; we report the
ratio of the best times (goal ≤ 1.15× for a steady-state run, where statuses are already
current and nothing is rewritten), plus the first run that rewrites all 500 contracts.

    python benchmarks/bench_plugin_overhead.py [--contracts 500] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
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


def run(root: Path, *args: str) -> float:
    # Python as users run it: bytecode (and pytest's rewritten test modules) cached between runs
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", *args], cwd=root, capture_output=True, text=True, check=False, env=env)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"pytest failed in {root}:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contracts", type=int, default=500)
    parser.add_argument("--per", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    n = args.contracts * args.per
    with tempfile.TemporaryDirectory() as tmp:
        harness_root, plain_root = Path(tmp) / "harness", Path(tmp) / "plain"
        harness_root.mkdir()
        plain_root.mkdir()
        make_harness_project(harness_root, args.contracts, args.per)
        make_plain_project(plain_root, n)
        first = run(harness_root)  # rewrites every contract: OPEN → DISCHARGED, evidence written
        plain_times, harness_times, loaded_times = [], [], []
        for _ in range(args.repeat):
            plain_times.append(run(plain_root, "-p", "no:harness"))  # baseline: plugin disabled
            harness_times.append(run(harness_root))
            loaded_times.append(run(plain_root))  # plugin loaded through its entry point, no contracts
        plain, steady, loaded = min(plain_times), min(harness_times), min(loaded_times)
        print(f"{n} plain parametrized tests, no plugin: {plain:6.2f} s  (1.00×)")
        print(f"plugin merely loaded (no contracts):      {loaded:6.2f} s  ({loaded / plain:.2f}×)")
        print(f"{args.contracts} contracts × {args.per} falsifiers, steady: {steady:6.2f} s  ({steady / plain:.2f}×)")
        print(f"first run (rewrites {args.contracts} contracts + evidence): {first:6.2f} s  ({first / plain:.2f}×)")


if __name__ == "__main__":
    main()
