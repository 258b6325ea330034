"""Two sessions at once lose no update; a writer killed at any moment leaves a whole contract."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from harness.atomic import remove_stale_temp_files
from harness.snapshot import load_contract
from tests.conftest import DATA

SLOW_TEST = """\
import time
from pathlib import Path
from harness import accepts

@accepts("value")
def test_slow(falsifier):
    time.sleep(0.6)
    assert falsifier.params["value"] < 10
"""


def test_two_sessions_on_one_contract_lose_no_update(tmp_path):
    (tmp_path / "pyproject.toml").write_text("[tool.pytest.ini_options]\naddopts = '-p no:cacheprovider'\n")
    (tmp_path / "contracts").mkdir()
    (tmp_path / "falsifiers").mkdir()
    (tmp_path / "falsifiers" / "test_slow.py").write_text(SLOW_TEST)
    entries = "".join(f"- id: F-{i}\n  test: falsifiers/test_slow.py::test_slow\n  params:\n    value: {3 if i % 2 == 0 else 30}\n" for i in range(4))
    path = tmp_path / "contracts" / "c-v1.yaml"
    path.write_text("metadata:\n  version: 1.0.0\n  status: DRAFT\nfalsification_tests:\n" + entries)
    sessions = [  # a serial session and an xdist session, at once, over the same contract
        subprocess.Popen(
            [sys.executable, "-m", "pytest", "-q", "-k", selector, *extra], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        for selector, extra in (("F-0 or F-1", []), ("F-2 or F-3", ["-n", "2"]))
    ]
    for proc in sessions:
        proc.communicate(timeout=120)
    contract, findings = load_contract(path, root=tmp_path)
    assert contract is not None, findings
    assert {f.id: f.status for f in contract.falsifiers} == {"F-0": "DISCHARGED", "F-1": "FALSIFIED", "F-2": "DISCHARGED", "F-3": "FALSIFIED"}
    assert contract.status == "FALSIFIED"


WRITER_LOOP = """\
import sys
from pathlib import Path
from harness.writer import Edit, update_file

path = Path(sys.argv[1])
statuses = ["DRAFT", "FALSIFIED"]
i = 0
while True:
    update_file(path, [Edit(("metadata", "status"), statuses[i % 2]),
                       Edit(("falsification_tests", 0, "status"), "OPEN" if i % 2 == 0 else "FALSIFIED", after="test")])
    i += 1
"""


def _writer_loop_setup(tmp_path: Path) -> tuple[Path, str, Path]:
    """A comment-heavy contract to rewrite, its original text, and the rewrite-loop script."""
    path = tmp_path / "pv-shaped-v1.yaml"
    original = (DATA / "pv-shaped-v1.yaml").read_text()
    path.write_text(original.replace("status: PARTIAL_ALGORITHM_LEVEL", "status: DRAFT"))
    script = tmp_path / "loop.py"
    script.write_text(textwrap.dedent(WRITER_LOOP))
    return path, original, script


def test_writer_killed_at_random_moments_never_leaves_a_broken_contract(tmp_path):
    path, original, script = _writer_loop_setup(tmp_path)
    rng = random.Random(1234)
    seen = set()
    kills = 0
    rounds = int(os.environ.get("HARNESS_KILLS", "25"))  # HARNESS_KILLS=200 for the long run
    for _ in range(rounds):
        proc = subprocess.Popen([sys.executable, str(script), str(path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.2 + rng.random() * 0.3)
        os.kill(proc.pid, rng.choice([signal.SIGKILL, signal.SIGTERM, signal.SIGINT]))
        proc.wait(timeout=30)
        kills += 1
        contract, findings = load_contract(path, root=tmp_path)
        assert contract is not None, findings
        state = (contract.status, contract.falsifiers[0].status)
        assert state in {("DRAFT", "OPEN"), ("FALSIFIED", "FALSIFIED"), ("DRAFT", None)}, state
        seen.add(state)
        # everything but the two ledger lines is byte-identical to the original
        body = [line for line in path.read_text().splitlines() if "status:" not in line]
        assert body == [line for line in original.splitlines() if "status:" not in line]
        remove_stale_temp_files(tmp_path)
        assert not list(tmp_path.glob(".*.tmp"))
    assert kills == rounds
    assert len(seen) >= 2, seen  # the kills landed at different points of the cycle


def test_readers_never_see_a_partial_contract_while_a_writer_rewrites_it(tmp_path):
    path, _, script = _writer_loop_setup(tmp_path)
    writer = subprocess.Popen([sys.executable, str(script), str(path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    reads, states = 0, set()
    try:
        time.sleep(0.5)  # the writer is looping
        deadline = time.monotonic() + 3.0
        while time.monotonic() < deadline:
            text = path.read_text()
            reads += 1
            assert "verification_summary:" in text and text.endswith("kept.\n"), f"read {reads}: a partial file ({len(text)} bytes)"
            states.add(("status: DRAFT" in text, "status: FALSIFIED" in text))
    finally:
        writer.kill()
        writer.wait(timeout=10)
    assert reads > 500 and len(states) >= 2, (reads, states)
