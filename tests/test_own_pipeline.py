"""Using the harness on your own pipeline: run files real trainers write, declared subjects and the
protocol check, subject lint, ``harness init``, adapters for your own model, code-covering
fingerprints."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness.snapshot import load_contract
from harness.subjects.runs import RunFormatError, read_run


def cli(root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "harness", "--root", str(root), *args], cwd=root, capture_output=True, text=True, check=False)


# ----------------------------------------------------------------------------- run files
HF_STATE = {
    "best_metric": None,
    "epoch": 2.0,
    "global_step": 200,
    "log_history": [
        {"epoch": 0.5, "learning_rate": 4e-05, "loss": 3.1, "step": 50},
        {"epoch": 1.0, "learning_rate": 3e-05, "loss": 2.4, "step": 100},
        {"epoch": 1.0, "eval_loss": 2.2, "eval_runtime": 1.0, "step": 100},
        {"epoch": 2.0, "learning_rate": 1e-05, "loss": 1.20, "step": 200},
        {"epoch": 2.0, "eval_loss": 0.00081, "eval_runtime": 1.0, "step": 200},
        {"epoch": 2.0, "step": 200, "total_flos": 1.0, "train_loss": 2.2, "train_runtime": 10.0},
    ],
}

LIGHTNING_CSV = """\
epoch,step,train_loss_step,train_loss_epoch,val_loss
0,49,3.2,,
0,99,2.6,,
0,99,,2.9,
0,99,,,2.5
1,149,2.1,,
1,199,1.9,,
1,199,,2.0,
1,199,,,1.95
"""


def test_hugging_face_trainer_state_pairs_each_eval_with_the_last_train_loss(tmp_path):
    (tmp_path / "checkpoint-200").mkdir()
    (tmp_path / "checkpoint-200" / "trainer_state.json").write_text(json.dumps(HF_STATE))
    epochs = read_run(tmp_path)
    assert [(e["train_loss"], e["val_loss"]) for e in epochs] == [(2.4, 2.2), (1.20, 0.00081)]


def test_lightning_metrics_csv_gives_one_row_per_validated_epoch(tmp_path):
    (tmp_path / "metrics.csv").write_text(LIGHTNING_CSV)
    epochs = read_run(tmp_path / "metrics.csv")
    assert [(e["epoch"], e["train_loss"], e["val_loss"]) for e in epochs] == [(0.0, 2.9, 2.5), (1.0, 2.0, 1.95)]


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("metrics.csv", "epoch,step,acc\n0,1,0.5\n", "needs a train_loss and a val_loss column"),
        ("trainer_state.json", '{"global_step": 3}', "no log_history list"),
        ("trainer_state.json", "{not json", "unreadable trainer state"),
    ],
)
def test_malformed_run_files_name_the_file_and_the_problem(tmp_path, name, text, message):
    (tmp_path / name).write_text(text)
    with pytest.raises(RunFormatError, match=message) as info:
        read_run(tmp_path / name)
    assert name in str(info.value)


# ----------------------------------------------------------------------------- declared subjects, protocols, lint
CONTRACT = """\
metadata:
  version: 1.0.0
  status: DRAFT
subjects:
  finetune:
    run: runs/r1
falsification_tests:
- id: F-METRIC-001
  test: builtin:metric-plausibility
  subject: {subject}
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text("[tool.pytest.ini_options]\naddopts = '-p no:cacheprovider'\n")
    (tmp_path / "contracts").mkdir()
    run = tmp_path / "runs" / "r1"
    run.mkdir(parents=True)
    for i, (train, val) in enumerate([(2.5, 2.6), (2.0, 2.1)]):
        (run / f"epoch-{i:03d}.metadata.json").write_text(json.dumps({"train_loss": train, "val_loss": val}))
    return tmp_path


def test_a_declared_run_subject_discharges_with_no_python(project):
    (project / "contracts" / "c.yaml").write_text(CONTRACT.format(subject="finetune"))
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q"], cwd=project, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout
    assert load_contract(project / "contracts" / "c.yaml", root=project)[0].falsifier("F-METRIC-001").status == "DISCHARGED"


def test_a_subject_typo_is_a_lint_finding_with_file_and_line(project):
    (project / "contracts" / "c.yaml").write_text(CONTRACT.format(subject="fientune"))
    lint = cli(project, "lint")
    assert lint.returncode == 1
    assert "contracts/c.yaml:10:12: F-METRIC-001: subject 'fientune' is neither declared under subjects: nor a fixture" in lint.stdout, lint.stdout


def test_missing_artifacts_and_unknown_encoders_are_findings(project):
    text = CONTRACT.format(subject="finetune").replace("    run: runs/r1", "    run: runs/nope\n  data:\n    vocab: v.json\n    encoder: hexbyte")
    (project / "contracts" / "c.yaml").write_text(text)
    validate = cli(project, "validate")
    assert (
        validate.returncode == 1
        and "contracts/c.yaml:9:14: subject 'data': encoder 'hexbyte' is not one of byte_level, hex_byte, byte_fallback" in validate.stdout
    )
    (project / "contracts" / "c.yaml").write_text(text.replace("    encoder: hexbyte", "    encoder: hex_byte"))
    lint = cli(project, "lint")
    assert "contracts/c.yaml:6:10: subject 'finetune': run runs/nope does not exist [missing-artifact]" in lint.stdout, lint.stdout
    assert "subject 'data': vocab v.json does not exist [missing-artifact]" in lint.stdout


def test_a_subject_missing_a_protocol_member_is_an_error_naming_it(project):
    (project / "conftest.py").write_text(
        "import pytest\n\n@pytest.fixture\ndef half_a_trainer():\n    class T:\n        vocab_size = 10\n        device = 'cpu'\n    return T()\n"
    )
    (project / "contracts" / "c.yaml").write_text(
        "metadata:\n  version: 1.0.0\n  status: DRAFT\nfalsification_tests:\n- id: F-SANITY-001\n  test: builtin:eval-sanity-bound\n  subject: half_a_trainer\n"
    )
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-rE"], cwd=project, capture_output=True, text=True, check=False)
    assert (
        "subject 'half_a_trainer' (T) does not serve builtin:eval-sanity-bound: it lacks model, reset, make_batch, eval_batch, train_batch, state_snapshot"
        in proc.stdout
    ), proc.stdout
    assert load_contract(project / "contracts" / "c.yaml", root=project)[0].falsifier("F-SANITY-001").status is None  # an error is no verdict


def test_an_unknown_builtin_is_refused_with_the_list(project):
    (project / "contracts" / "c.yaml").write_text(CONTRACT.format(subject="finetune").replace("builtin:metric-plausibility", "builtin:metric-plausability"))
    out = cli(project, "validate")
    assert out.returncode == 1 and "'builtin:metric-plausability' is not a built-in falsifier; built-ins: builtin:vocab-format" in out.stdout


# ----------------------------------------------------------------------------- harness init
def test_init_without_arguments_writes_a_commented_template_that_validates(project):
    out = cli(project, "init")
    assert out.returncode == 0, out.stderr
    text = (project / "contracts" / "pipeline-v1.yaml").read_text()
    assert text.count("#") > 10 and "builtin:vocab-format" in text
    assert cli(project, "validate").returncode == 0


def test_init_refuses_artifacts_outside_the_project_and_bad_encoders(project, tmp_path_factory):
    outside = tmp_path_factory.mktemp("outside") / "vocab.json"
    outside.write_text("{}")
    out = cli(project, "init", "--vocab", str(outside), "--encoder", "byte_level")
    assert out.returncode == 2 and "outside the project root" in out.stderr
    out = cli(project, "init", "--run", "runs/r1", "--encoder", "bpe-ish", "--vocab", "runs/r1/epoch-000.metadata.json")
    assert out.returncode == 2 and "--encoder bpe-ish: not one of" in out.stderr
    assert not (project / "contracts" / "pipeline-v1.yaml").exists()


def test_init_split_flags_are_checked_and_bind_the_batch_falsifiers(project):
    import numpy as np

    (project / "data").mkdir()
    np.save(project / "data" / "train-0.npy", np.arange(100, dtype=np.uint32))
    np.save(project / "data" / "dev-0.npy", np.arange(100, dtype=np.uint32))
    (project / "vocab.json").write_text(json.dumps({chr(97 + i): i for i in range(26)}))
    for bad, why in (
        (["--split", "train"], "expected NAME=GLOB"),
        (["--split", "tr ain=data/*.npy"], "a split name is"),
        (["--split", "train=data/nothing-*.npy", "--vocab", "vocab.json", "--encoder", "byte_level"], "matches no file"),
        (["--split", "train=data/train-*.npy"], "--split needs --vocab"),
    ):
        out = cli(project, "init", *bad)
        assert out.returncode == 2 and why in out.stderr, (bad, out.stderr)
    assert not (project / "contracts" / "pipeline-v1.yaml").exists()
    out = cli(
        project, "init", "--vocab", "vocab.json", "--encoder", "byte_level", "--split", "train=data/train-*.npy", "--split", "dev=data/dev-*.npy", "--json"
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["falsifiers"] == ["vocab-format", "loss-mask", "model-vocab-fit", "eval-coverage", "train-coverage", "split-overlap"]
    contract = load_contract(project / "contracts" / "pipeline-v1.yaml", root=project)[0]
    params = {f.builtin: f.params for f in contract.falsifiers}
    assert params["split-overlap"] == {"train_split": "train", "val_split": "dev"}  # the eval split by its usual names
    assert params["loss-mask"] == {"splits": ["train", "dev"]}
    assert contract.subjects["pipeline"]["splits"] == {"train": "data/train-*.npy", "dev": "data/dev-*.npy"}
    # with the run beside them, its held-out loss is judged against the splits' own unigram baseline
    (project / "contracts" / "pipeline-v1.yaml").unlink()
    args = ("init", "--vocab", "vocab.json", "--encoder", "byte_level", "--split", "train=data/train-*.npy", "--split", "dev=data/dev-*.npy")
    out = cli(project, *args, "--run", "runs/r1", "--json")
    assert out.returncode == 0, out.stderr
    assert {"metric-plausibility", "learning-curve", "learns-beyond-unigram"} <= set(json.loads(out.stdout)["falsifiers"])
    contract = load_contract(project / "contracts" / "pipeline-v1.yaml", root=project)[0]
    learned = next(f for f in contract.falsifiers if f.builtin == "learns-beyond-unigram")
    assert learned.subject == "trained" and learned.params == {"train_split": "train", "val_split": "dev"}
    assert contract.subjects["trained"]["run"] == "runs/r1" and set(contract.subjects["trained"]["splits"]) == {"train", "dev"}
    assert cli(project, "validate").returncode == 0


# ----------------------------------------------------------------------------- adapters
ADAPTER_CONFTEST = '''
import pytest
import torch
from types import SimpleNamespace
from harness.subjects.adapters import ModuleTrainer, hf_causal_lm


class Plain(torch.nn.Module):
    def __init__(self, vocab=50):
        super().__init__()
        self.emb = torch.nn.Embedding(vocab, 16)
        self.out = torch.nn.Linear(16, vocab)

    def forward(self, ids):
        return self.out(self.emb(ids))


class HFLike(Plain):
    """What a transformers causal LM looks like from outside: forward(input_ids=...).logits."""

    def forward(self, input_ids=None):
        return SimpleNamespace(logits=super().forward(input_ids))


def smoothed(logits, targets):
    return torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), targets.reshape(-1), label_smoothing=0.1)


@pytest.fixture
def plain_lm():
    return ModuleTrainer(lambda seed: Plain(), vocab_size=50, loss_fn=smoothed)


@pytest.fixture
def hf_lm():
    return hf_causal_lm(lambda seed: HFLike(), vocab_size=50)
'''


def test_adapters_make_your_own_models_trainer_subjects(project):
    (project / "conftest.py").write_text(ADAPTER_CONFTEST)
    entries = []
    for subject in ("plain_lm", "hf_lm"):
        for builtin in ("eval-sanity-bound", "eval-purity", "label-alignment"):
            entries.append(f"- id: F-{subject.upper().replace('_', '-')}-{builtin.upper()}\n  test: builtin:{builtin}\n  subject: {subject}\n")
    (project / "contracts" / "c.yaml").write_text("metadata:\n  version: 1.0.0\n  status: DRAFT\nfalsification_tests:\n" + "".join(entries))
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q"], cwd=project, capture_output=True, text=True, check=False)
    contract = load_contract(project / "contracts" / "c.yaml", root=project)[0]
    assert {f.id: f.status for f in contract.falsifiers} == {f.id: "DISCHARGED" for f in contract.falsifiers}, proc.stdout[-3000:]


# ----------------------------------------------------------------------------- fingerprints cover helpers
def test_editing_a_helper_the_falsifier_imports_stales_its_verdict(project):
    (project / "falsifiers").mkdir()
    (project / "falsifiers" / "limits.py").write_text("LIMIT = 10\n")
    (project / "falsifiers" / "test_mine.py").write_text(
        "from harness import accepts\n\n@accepts()\ndef test_value(falsifier):\n    from limits import LIMIT\n    assert 3 < LIMIT\n"
    )
    (project / "contracts" / "c.yaml").write_text(
        "metadata:\n  version: 1.0.0\n  status: DRAFT\nfalsification_tests:\n- id: F-MINE-001\n  test: falsifiers/test_mine.py::test_value\n"
    )
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q"], cwd=project, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout
    assert cli(project, "lint").returncode == 0
    (project / "falsifiers" / "limits.py").write_text("LIMIT = 2\n")  # the test's own source is unchanged
    lint = cli(project, "lint")
    assert lint.returncode == 1 and "[stale]" in lint.stdout, lint.stdout


def test_a_contract_cannot_make_the_harness_import_an_installed_module(project):
    text = "metadata:\n  version: 1.0.0\n  status: DRAFT\nsubjects:\n  evil:\n    vocab: runs/r1/epoch-000.metadata.json\n    encoder: os:system\nfalsification_tests: []\n"
    (project / "contracts" / "c.yaml").write_text(text)
    out = cli(project, "validate")
    assert out.returncode == 1 and "encoder 'os:system': module 'os' is not a file of this project" in out.stdout, out.stdout
    from harness.contract.subjects import SubjectError
    from harness.subjects.declarative import ArtifactSubject

    with pytest.raises(SubjectError, match="not a file of this project"):
        ArtifactSubject("evil", project, {"vocab": "runs/r1/epoch-000.metadata.json", "encoder": "os:system"}).encoder()
    (project / "myenc.py").write_text("class E:\n    name = 'byte_level'\n    unk_id = None\n\ndef make(path):\n    return E()\n")
    assert ArtifactSubject("mine", project, {"vocab": "runs/r1/epoch-000.metadata.json", "encoder": "myenc:make"}).encoder().name == "byte_level"


# ----------------------------------------------------------------------------- SentencePiece
def test_a_sentencepiece_model_subject_green_under_byte_fallback_red_under_hex_byte(project):
    """A real SentencePiece model (trained here, offline, with byte fallback) as a declared subject:
    its own encoder discharges vocab-format, round-trip and entropy; declaring the incident's
    hex-byte encoder over the same vocab falsifies vocab-format."""
    sentencepiece = pytest.importorskip("sentencepiece")
    import numpy as np

    from harness.demo.corpus import stdlib_documents

    docs = stdlib_documents(600_000)
    raw = project / "raw"
    raw.mkdir()
    for i, (_, text) in enumerate(docs):
        (raw / f"doc-{i:04d}.txt").write_text(text, "utf-8")
    sentencepiece.SentencePieceTrainer.train(
        input=",".join(str(p) for p in sorted(raw.glob("*.txt"))[:40]), model_prefix=str(project / "sp"), vocab_size=2000,
        byte_fallback=True, model_type="bpe", minloglevel=2, input_sentence_size=20000, shuffle_input_sentence=False,
        normalization_rule_name="identity", remove_extra_whitespaces=False,  # source code: keep every byte
    )  # fmt: skip
    sentencepiece.SentencePieceTrainer.train(  # SentencePiece's defaults: NFKC, extra whitespace removed — lossy on code
        input=",".join(str(p) for p in sorted(raw.glob("*.txt"))[:40]), model_prefix=str(project / "lossy"), vocab_size=2000,
        byte_fallback=True, model_type="bpe", minloglevel=2, input_sentence_size=20000, shuffle_input_sentence=False,
    )  # fmt: skip
    sp = sentencepiece.SentencePieceProcessor(model_file=str(project / "sp.model"))
    ids = [i for e in sp.encode([t for _, t in docs]) for i in e]
    (project / "shards").mkdir()
    np.save(project / "shards" / "s0.npy", np.asarray(ids, dtype=np.uint32))
    entries = "".join(
        f"- id: F-{b.upper()}-{enc.upper().replace('_', '-')}\n  test: builtin:{b}\n  subject: {enc}\n"
        for enc in ("byte_fallback", "hex_byte")
        for b in ("vocab-format", "tokenizer-roundtrip", "shard-entropy")
    )
    subjects = "".join(
        f"  {enc}:\n    vocab: sp.model\n    encoder: {enc}\n    shards: shards/*.npy\n    documents: raw/*.txt\n" for enc in ("byte_fallback", "hex_byte")
    )
    subjects += "  lossy:\n    vocab: lossy.model\n    encoder: byte_fallback\n    documents: raw/*.txt\n"
    entries += "- id: F-TOKENIZER-ROUNDTRIP-LOSSY\n  test: builtin:tokenizer-roundtrip\n  subject: lossy\n"
    (project / "contracts" / "sp.yaml").write_text(f"metadata:\n  version: 1.0.0\n  status: DRAFT\nsubjects:\n{subjects}falsification_tests:\n{entries}")
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q"], cwd=project, capture_output=True, text=True, check=False)
    got = {f.id: f.status for f in load_contract(project / "contracts" / "sp.yaml", root=project)[0].falsifiers}
    assert got["F-VOCAB-FORMAT-BYTE-FALLBACK"] == "DISCHARGED", proc.stdout[-3000:]
    assert got["F-TOKENIZER-ROUNDTRIP-BYTE-FALLBACK"] == "DISCHARGED", proc.stdout[-3000:]
    assert got["F-SHARD-ENTROPY-BYTE-FALLBACK"] == "DISCHARGED", proc.stdout[-3000:]
    assert got["F-VOCAB-FORMAT-HEX-BYTE"] == "FALSIFIED", proc.stdout[-3000:]
    assert got["F-TOKENIZER-ROUNDTRIP-LOSSY"] == "FALSIFIED", proc.stdout[-3000:]  # default normalization loses code
