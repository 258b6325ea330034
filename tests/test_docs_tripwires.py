"""docs/tripwires.md's snippets, run as a reader would: in a fresh project, after
``harness init --tripwire …``, the shared set-up then each integration (own loop, Hugging Face
``Trainer``, Lightning) trains to the end with every tripwire green and the contract untouched.
A doc snippet that does not run misleads the reader who copies it."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

ROOT = Path(__file__).parent.parent
BLOCKS = re.findall(r"```python\n(.*?)```", (ROOT / "docs" / "tripwires.md").read_text(), re.S)
SETUP, INTEGRATIONS = BLOCKS[0], {"loop": BLOCKS[1], "hf": BLOCKS[2], "lightning": BLOCKS[3]}


def test_the_doc_shows_the_three_integrations():
    assert "Tripwire(" in INTEGRATIONS["loop"]
    assert "harness.tripwires.hf import HarnessCallback" in INTEGRATIONS["hf"]
    assert "harness.tripwires.lightning import HarnessCallback" in INTEGRATIONS["lightning"]


PAD_IN_LABELS = ("input_ids.masked_fill(attention_mask == 0, -100)", "input_ids.clone()")  # the collator bug, planted in the doc's own set-up


@pytest.mark.parametrize("planted", [False, True], ids=["healthy", "pad-in-labels"])
@pytest.mark.parametrize("framework", ["loop", "hf", "lightning"])
def test_each_snippet_runs_as_the_doc_says(tmp_path, framework, planted):
    if framework == "lightning":
        pytest.importorskip("lightning.pytorch")
    (tmp_path / "pyproject.toml").write_text("[project]\nname='p'\n")
    init = subprocess.run([sys.executable, "-m", "harness", "init", "--tripwire", framework], cwd=tmp_path, capture_output=True, text=True, check=False)
    assert init.returncode == 0, init.stderr
    assert "add to your training script" in init.stdout and 'contracts/pipeline-v1.yaml"' in init.stdout
    contract = tmp_path / "contracts" / "pipeline-v1.yaml"
    before = contract.read_text()
    script = tmp_path / "train.py"
    assert PAD_IN_LABELS[0] in SETUP
    setup = SETUP.replace(*PAD_IN_LABELS) if planted else SETUP
    script.write_text(setup + "\n" + INTEGRATIONS[framework])
    run = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, check=False, timeout=600)
    if planted:  # the snippet's own assert fails: the run stopped at step 0, the contract says why
        assert run.returncode != 0 and "FALSIFY-LIVE-LOSS-MASK" in run.stderr
        assert re.search(r"id: FALSIFY-LIVE-LOSS-MASK-\d+\n(?:  .*\n)*?  status: FALSIFIED", contract.read_text())
        return
    assert run.returncode == 0, run.stderr[-3000:]
    assert contract.read_text() == before  # a healthy run: nothing falsified, nothing written
    assert not (tmp_path / "evidence").exists()
