"""Real training code nobody here wrote (issue #39): Hugging Face's own
``examples/pytorch/language-modeling/run_clm.py`` (vendored unchanged in ``tests/upstream/hf_run_clm``),
run as its README runs it (a model trained from scratch with ``--model_type``/``--config_overrides``,
local text files, ``--do_train --do_eval``), on the standard library's source with the real
Qwen2.5 tokenizer, offline, with the one line ``harness init --tripwire hf`` prints added to its
``Trainer(...)``.

- healthy: no crash, no FALSIFIED, the same losses with and without the tripwire, the model saved,
  the eval run;
- the incident: the team's own tokenizer (shipped beside its files as remote code, as custom
  tokenizers are) splits text into hex-byte strings and looks them up in the Qwen2.5 vocab —
  stopped before the first optimizer step, exit status 1, the reason on the last line, no model
  saved and no eval run.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("datasets")
pytest.importorskip("evaluate")

from tests.test_real_code import statuses, stdlib_text

UPSTREAM = Path(__file__).parent / "upstream" / "hf_run_clm"

ARGS = [
    "--model_type", "qwen2", "--tokenizer_name", "tokenizer",
    "--config_overrides", "hidden_size=32,intermediate_size=64,num_hidden_layers=1,num_attention_heads=2,num_key_value_heads=1,max_position_embeddings=128",
    "--train_file", "train.txt", "--validation_file", "validation.txt", "--block_size", "64",
    "--do_train", "--do_eval", "--max_steps", "6", "--per_device_train_batch_size", "4", "--per_device_eval_batch_size", "4",
    "--max_eval_samples", "16", "--logging_steps", "1", "--learning_rate", "3e-3", "--seed", "0",
    "--output_dir", "out", "--save_strategy", "no", "--report_to", "none", "--use_cpu", "--disable_tqdm", "True",
]  # fmt: skip

# The `accuracy` metric run_clm loads, as a local evaluation module (evaluate.load("accuracy") finds
# ./accuracy/accuracy.py before the Hub: the test runs offline).
ACCURACY = """
import datasets
import evaluate


class Accuracy(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description="share of predictions equal to their references", citation="", inputs_description="",
            features=datasets.Features({"predictions": datasets.Value("int64"), "references": datasets.Value("int64")}),
        )

    def _compute(self, predictions, references):
        return {"accuracy": sum(int(p == r) for p, r in zip(predictions, references)) / max(len(references), 1)}
"""

# The incident's encoder as a team ships a custom tokenizer: a class beside the tokenizer's files,
# named in tokenizer_config.json's auto_map and loaded with --trust_remote_code.
HEX_TOKENIZER = '''
import json

from transformers import PreTrainedTokenizer


class HexByteTokenizer(PreTrainedTokenizer):
    """Splits text into hex-byte strings and looks each up in a byte-level BPE vocab."""

    vocab_files_names = {"vocab_file": "vocab.json"}
    model_input_names = ["input_ids", "attention_mask"]

    def __init__(self, vocab_file, **kwargs):
        with open(vocab_file, encoding="utf-8") as f:
            self.vocab = json.load(f)
        self.ids_to_tokens = {i: t for t, i in self.vocab.items()}
        super().__init__(**kwargs)

    @property
    def vocab_size(self):
        return len(self.vocab)

    def get_vocab(self):
        return dict(self.vocab)

    def _tokenize(self, text):
        return [f"{b:02x}" for b in text.encode("utf-8")]

    def _convert_token_to_id(self, token):
        return self.vocab.get(token, self.vocab.get(self.unk_token, 0))

    def _convert_id_to_token(self, index):
        return self.ids_to_tokens.get(index, self.unk_token)

    def save_vocabulary(self, save_directory, filename_prefix=None):
        path = f"{save_directory}/{filename_prefix or ''}vocab.json"
        with open(path, "w", encoding="utf-8") as f:
            json.dump(self.vocab, f)
        return (path,)
'''


def tripwired(run_clm: str) -> str:
    """run_clm.py with the lines `harness init --tripwire hf` prints added to its Trainer(...)."""
    out = run_clm.replace(
        "from transformers.testing_utils import CaptureLogger\n",
        "from transformers.testing_utils import CaptureLogger\nfrom harness.tripwires.hf import HarnessCallback\n",
        1,
    )
    out = out.replace(
        "        data_collator=default_data_collator,\n",
        '        data_collator=default_data_collator,\n        callbacks=[HarnessCallback("contracts/pipeline-v1.yaml")],\n',
        1,
    )
    assert out.count("HarnessCallback") == 2, "run_clm.py changed shape: the tripwire's lines were not both placed"
    return out


def project(root: Path, *, incident: bool = False) -> Path:
    """A scratch project: run_clm.py unchanged, local text, the tokenizer's folder, the accuracy
    metric, and the contract `harness init --tripwire hf` writes."""
    from harness.demo.pipeline import vocab_dir

    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(UPSTREAM / "run_clm.py", root / "run_clm.py")
    text = stdlib_text(240_000)
    cut = int(len(text) * 0.9)
    (root / "train.txt").write_text(text[:cut])
    (root / "validation.txt").write_text(text[cut:])
    tok = root / "tokenizer"
    tok.mkdir()
    if incident:
        shutil.copy(vocab_dir() / "vocab.json", tok / "vocab.json")
        (tok / "tokenization_hex.py").write_text(HEX_TOKENIZER)
        config = {"tokenizer_class": "HexByteTokenizer", "auto_map": {"AutoTokenizer": ["tokenization_hex.HexByteTokenizer", None]}, "model_max_length": 128}
    else:
        shutil.copy(vocab_dir() / "tokenizer.json", tok / "tokenizer.json")
        config = {"tokenizer_class": "PreTrainedTokenizerFast", "eos_token": "<|endoftext|>", "model_max_length": 128}
    (tok / "tokenizer_config.json").write_text(json.dumps(config))
    (root / "accuracy").mkdir()
    (root / "accuracy" / "accuracy.py").write_text(ACCURACY)
    (root / "pyproject.toml").write_text("[tool.pytest.ini_options]\naddopts = '-p no:cacheprovider'\n")
    init = subprocess.run([sys.executable, "-m", "harness", "--root", str(root), "init", "--tripwire", "hf"], cwd=root, capture_output=True, text=True)
    assert init.returncode == 0, init.stdout + init.stderr
    assert 'callbacks=[HarnessCallback("contracts/pipeline-v1.yaml")]' in init.stdout and "exit status 1" in init.stdout
    return root


def run_clm(root: Path, *extra: str, tripwire: bool) -> subprocess.CompletedProcess:
    source = (root / "run_clm.py").read_text()
    script = root / ("run_clm_tripwired.py" if tripwire else "run_clm_plain.py")
    script.write_text(tripwired(source) if tripwire else source)
    shutil.rmtree(root / "out", ignore_errors=True)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(root), *sys.path]),
        "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "HF_EVALUATE_OFFLINE": "1", "HF_HOME": str(root / ".hf"),
        "CUDA_VISIBLE_DEVICES": "",
    }  # fmt: skip
    return subprocess.run([sys.executable, script.name, *ARGS, *extra], cwd=root, capture_output=True, text=True, env=env, timeout=900)


def losses(out: str) -> list[str]:
    return re.findall(r"'loss': '?([0-9.]+)", out)


@pytest.mark.slow
def test_run_clm_trains_healthy_with_the_tripwire_and_the_same_losses(tmp_path):
    root = project(tmp_path / "clm")
    plain = run_clm(root, tripwire=False)
    assert plain.returncode == 0, plain.stderr[-3000:] + plain.stdout[-3000:]
    with_tw = run_clm(root, tripwire=True)
    both = with_tw.stdout + with_tw.stderr
    assert with_tw.returncode == 0, both[-4000:]
    assert len(losses(plain.stdout + plain.stderr)) == 6 and losses(plain.stdout + plain.stderr) == losses(both)
    assert (root / "out" / "model.safetensors").exists() and (root / "out" / "eval_results.json").exists()
    assert "FALSIFIED" not in both and "Traceback" not in both
    assert "harness tripwire (pipeline-v1): step 0" in both and "finished at step 6" in both
    assert (
        "not judged yet: eval-coverage, metric-plausibility, split-overlap" in both
    )  # the eval comes after training, and 6 losses are too few: said, not hidden
    assert "(causal-mask) not run" not in both and "(vocab-format) not run" not in both, both[-4000:]
    assert set(statuses(root).values()) <= {None, "OPEN"}


@pytest.mark.slow
def test_run_clm_with_the_incidents_tokenizer_stops_with_exit_1_and_saves_nothing(tmp_path):
    root = project(tmp_path / "clm", incident=True)
    stopped = run_clm(root, "--trust_remote_code", "True", tripwire=True)
    assert stopped.returncode == 1, (stopped.returncode, stopped.stderr[-4000:])
    last = stopped.stderr.strip().splitlines()[-1]
    assert "harness tripwire FALSIFIED at step 0" in last and "exit status 1" in last, last
    assert "Traceback" not in stopped.stderr
    assert not (root / "out" / "model.safetensors").exists() and not (root / "out" / "eval_results.json").exists()
    assert not losses(stopped.stdout + stopped.stderr)  # stopped before the first optimizer step
    assert "FALSIFIED" in statuses(root).values()
