"""Every default holds over 12 seeds on healthy real subjects: no false alarm from one unlucky
init, batch or sample (the issue's user saw label smoothing raise one on 1 seed of 12).

One pytest session (a subprocess) over a temporary project: one contract per (falsifier, healthy
subject), twelve falsifiers in it that differ only in ``seed``. Marked slow; the default lane runs it.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from harness.snapshot import load_contract

SEEDS = range(12)
PAIRS = [
    ("eval-sanity-bound", "tiny_lm"),
    ("eval-sanity-bound", "tiny_lm_label_smoothing"),
    ("eval-sanity-bound", "gru_lm"),
    ("train-pollution", "tiny_lm"),
    ("train-pollution", "tiny_lm_label_smoothing"),
    ("train-pollution", "gru_lm"),
    ("eval-purity", "tiny_lm"),
    ("eval-purity", "gru_lm"),
    ("label-alignment", "tiny_lm"),
    ("label-alignment", "tiny_lm_label_smoothing"),
    ("causal-mask", "tiny_lm"),
    ("causal-mask", "gru_lm"),
    ("vocab-id-agreement", "qwen_stdlib_pipeline"),
    ("overfit-one-batch", "tiny_lm"),
    ("overfit-one-batch", "tiny_lm_label_smoothing"),
    ("overfit-one-batch", "gru_lm"),
]


@pytest.fixture(scope="module")
def statuses(tmp_path_factory):
    root = tmp_path_factory.mktemp("seeds")
    (root / "pyproject.toml").write_text("[tool.pytest.ini_options]\naddopts = '-p no:cacheprovider'\n")
    (root / "conftest.py").write_text('pytest_plugins = ["harness.demo.fixtures"]\n')  # the demo's subjects, loaded as a project would
    (root / "contracts").mkdir()
    for name, subject in PAIRS:
        lines = ["metadata:", "  version: 1.0.0", "  status: DRAFT", "falsification_tests:"]
        for seed in SEEDS:
            lines += [
                f"- id: {name.upper()}-{subject.upper()}-SEED-{seed}",
                f"  test: builtin:{name}",
                f"  subject: {subject}",
                "  params:",
                f"    seed: {seed}",
            ]
        (root / "contracts" / f"{name}--{subject}.yaml").write_text("\n".join(lines) + "\n")
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:randomly"], cwd=root, capture_output=True, text=True, check=False)
    out = {}
    for name, subject in PAIRS:
        contract, findings = load_contract(root / "contracts" / f"{name}--{subject}.yaml", root=root)
        assert contract is not None, findings
        for f in contract.falsifiers:
            record = json.loads((root / f.evidence / "results.json").read_text())["falsifiers"][f.id] if f.evidence else {}
            out[f.id] = (f.status, record.get("message", ""), record.get("measurements", {}))
    out["<stdout>"] = run.stdout
    return out


@pytest.mark.slow
@pytest.mark.parametrize(("name", "subject"), PAIRS, ids=[f"{n}-{s}" for n, s in PAIRS])
def test_defaults_hold_over_twelve_seeds_on_healthy_subjects(statuses, name, subject):
    results = {seed: statuses[f"{name.upper()}-{subject.upper()}-SEED-{seed}"] for seed in SEEDS}
    alarms = {seed: message for seed, (status, message, _) in results.items() if status != "DISCHARGED"}
    assert not alarms, f"{name} on {subject}: false alarms on seeds {sorted(alarms)}: {list(alarms.values())[:2]}\n{statuses['<stdout>'][-2000:]}"
