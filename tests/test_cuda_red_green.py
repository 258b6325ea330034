"""CUDA lane: the eval falsifiers on the Qwen2.5-0.5B architecture, red on the planted CUDA
defects and green on the reference trainer. Skipped (never passed) without a GPU."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness.snapshot import load_contract

REPO = Path(__file__).parent.parent
pytestmark = pytest.mark.cuda

CASES = {
    "cuda-sanity-green": ("builtin:eval-sanity-bound", "qwen2_0_5b", {"seq_len": 512}),
    "cuda-sanity-red-unsynced-loss": ("builtin:eval-sanity-bound", "qwen2_0_5b_unsynced_loss", {"seq_len": 512}),
    "cuda-pollution-green": ("builtin:train-pollution", "qwen2_0_5b", {"seq_len": 512}),
    "cuda-pollution-red-stale-buffer": (
        "builtin:train-pollution",
        "qwen2_0_5b_stale_logits",
        {"seq_len": 512},
    ),
    "cuda-purity-green": ("builtin:eval-purity", "qwen2_0_5b", {"seq_len": 512}),
}


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory):
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    root = tmp_path_factory.mktemp("cuda-redgreen")
    (root / "falsifiers").mkdir()  # the built-ins ship with the plugin: nothing to copy
    shutil.copy(REPO / "conftest.py", root / "conftest.py")
    (root / "pyproject.toml").write_text("[tool.pytest.ini_options]\naddopts = '-p no:cacheprovider'\n")
    (root / "contracts").mkdir()
    for case, (test, subject, params) in CASES.items():
        lines = [
            "metadata:",
            "  version: 1.0.0",
            "falsification_tests:",
            f"- id: {case.upper()}",
            f"  test: {test}",
            f"  subject: {subject}",
            "  requires: [cuda]",
            "  params:",
        ]
        lines += [f"    {k}: {json.dumps(v)}" for k, v in params.items()]
        (root / "contracts" / f"{case}.yaml").write_text("\n".join(lines) + "\n")
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-m", "cuda", "--require-cuda"], cwd=root, capture_output=True, text=True, check=False)
    out = {"<stdout>": run.stdout}
    for case in CASES:
        contract, _ = load_contract(root / "contracts" / f"{case}.yaml", root=root)
        f = contract.falsifiers[0]
        record = json.loads((root / f.evidence / "results.json").read_text())["falsifiers"][f.id] if f.evidence else {}
        out[case] = (f.status, record)
    return out


@pytest.mark.parametrize(
    ("case", "status"),
    [
        ("cuda-sanity-green", "DISCHARGED"),
        ("cuda-sanity-red-unsynced-loss", "FALSIFIED"),
        ("cuda-pollution-green", "DISCHARGED"),
        ("cuda-pollution-red-stale-buffer", "FALSIFIED"),
        ("cuda-purity-green", "DISCHARGED"),
    ],
)
def test_cuda_falsifiers(outcomes, case, status):
    got, record = outcomes[case]
    assert got == status, outcomes["<stdout>"][-4000:]
    assert record.get("device", "").startswith("cuda")
