"""Real training code nobody here wrote (issue #39): karpathy/nanoGPT's own ``prepare.py``,
``model.py`` and ``train.py`` (vendored unchanged in ``tests/upstream/nanogpt``), run as a user
runs them, with the tripwire added exactly as ``harness init --tripwire loop`` prints it.

- healthy (char-level Shakespeare-shaped data from the standard library, and the openwebtext
  pattern with the real Qwen2.5 vocab, ``<|endoftext|>`` after each document): no crash, no
  FALSIFIED, the same losses with and without the tripwire, a checkpoint saved;
- the incident (hex-byte strings looked up in the Qwen2.5 vocab): stopped before the first
  optimizer step, exit status 1, the reason on the last line, no checkpoint.
"""

from __future__ import annotations

import os
import pickle
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

UPSTREAM = Path(__file__).parent / "upstream" / "nanogpt"
QWEN_ROWS = 151936  # Qwen2.5's embedding rows (151,643 ranks + specials, padded)

TRAIN_ARGS = [
    "--device=cpu", "--compile=False", "--dtype=float32", "--max_iters=8", "--eval_interval=4", "--eval_iters=2", "--log_interval=1",
    "--block_size=64", "--batch_size=8", "--n_layer=1", "--n_head=2", "--n_embd=32", "--dropout=0.0", "--out_dir=out", "--always_save_checkpoint=True",
]  # fmt: skip

# What a user adds to train.py, as `harness init --tripwire loop` and docs/tripwires.md say
# (nanoGPT has no loader object: its batches come from get_batch, wrapped by batches_from).
TRIPWIRE_SETUP = """
from harness.tripwires import Tripwire, batches_from
tripwire = Tripwire("contracts/pipeline-v1.yaml")
tripwire.before_training(model=raw_model, tokenizer=TOKENIZER, train_loader=batches_from(lambda: get_batch('train')),
                         eval_loader=batches_from(lambda: get_batch('val')))
while True:
"""


def tripwired(train_py: str, tokenizer: str = "None") -> str:
    """train.py with the tripwire's calls added where a user adds them."""
    out = train_py.replace("running_mfu = -1.0\nwhile True:\n", "running_mfu = -1.0\n" + TRIPWIRE_SETUP.replace("TOKENIZER", tokenizer).lstrip("\n"), 1)
    out = out.replace(
        "        print(f\"step {iter_num}: train loss {losses['train']:.4f}, val loss {losses['val']:.4f}\")\n",
        "        print(f\"step {iter_num}: train loss {losses['train']:.4f}, val loss {losses['val']:.4f}\")\n"
        "        tripwire.on_eval(iter_num, {'val_loss': float(losses['val'])})\n",
        1,
    )
    out = out.replace(
        '        print(f"iter {iter_num}: loss {lossf:.4f}, time {dt*1000:.2f}ms, mfu {running_mfu*100:.2f}%")\n',
        '        print(f"iter {iter_num}: loss {lossf:.4f}, time {dt*1000:.2f}ms, mfu {running_mfu*100:.2f}%")\n        tripwire.on_loss(iter_num, lossf)\n',
        1,
    )
    out = out.replace("if ddp:\n    destroy_process_group()", "tripwire.finish()\nif ddp:\n    destroy_process_group()", 1)
    assert out.count("tripwire.") == 4, "nanoGPT's train.py changed shape: the tripwire's lines were not all placed"
    return out


def project(root: Path, *, wide: bool = False) -> Path:
    """A scratch nanoGPT checkout (its files unchanged) that is also the harness project."""
    root.mkdir(parents=True, exist_ok=True)
    for rel in ("model.py", "train.py", "configurator.py", "config/train_shakespeare_char.py", "data/shakespeare_char/prepare.py"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(UPSTREAM / rel, root / rel)
    if wide:  # ids past 65,535 (the Qwen2.5 vocab): the one edit such a user makes to get_batch
        text = (root / "train.py").read_text()
        (root / "train.py").write_text(text.replace("dtype=np.uint16", "dtype=np.uint32"))
    (root / "pyproject.toml").write_text("[tool.pytest.ini_options]\naddopts = '-p no:cacheprovider'\n")
    init = subprocess.run([sys.executable, "-m", "harness", "--root", str(root), "init", "--tripwire", "loop"], cwd=root, capture_output=True, text=True)
    assert init.returncode == 0, init.stdout + init.stderr
    assert "exit status 1" in init.stdout  # init says what a stop looks like
    return root


def run_train(root: Path, *extra: str, tripwire: bool, tokenizer: str = "None") -> subprocess.CompletedProcess:
    source = (root / "train.py").read_text()
    script = root / ("train_tripwired.py" if tripwire else "train_plain.py")
    script.write_text(tripwired(source, tokenizer) if tripwire else source)
    shutil.rmtree(root / "out", ignore_errors=True)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), *sys.path])}
    return subprocess.run(
        [sys.executable, script.name, "config/train_shakespeare_char.py", *TRAIN_ARGS, *extra], cwd=root, capture_output=True, text=True, env=env, timeout=600
    )


def losses(out: str) -> list[str]:
    return re.findall(r"iter \d+: loss [0-9.]+|step \d+: train loss [0-9.]+, val loss [0-9.]+", out)


def statuses(root: Path) -> dict:
    from harness.snapshot import load_contract

    contract = load_contract(root / "contracts" / "pipeline-v1.yaml", root=root)[0]
    return {f.id: f.status for f in contract.falsifiers}


def stdlib_text(nbytes: int) -> str:
    from harness.demo.corpus import stdlib_documents

    return "".join(text for _, text in stdlib_documents(nbytes))


@pytest.mark.slow
def test_nanogpt_char_level_trains_healthy_with_the_tripwire_and_the_same_losses(tmp_path):
    root = project(tmp_path / "nanogpt")
    (root / "data" / "shakespeare_char" / "input.txt").write_text(stdlib_text(400_000))  # present: prepare.py downloads nothing
    prep = subprocess.run([sys.executable, "data/shakespeare_char/prepare.py"], cwd=root, capture_output=True, text=True)
    assert prep.returncode == 0, prep.stderr
    plain = run_train(root, tripwire=False)
    assert plain.returncode == 0, plain.stderr[-3000:]
    with_tw = run_train(root, tripwire=True)
    assert with_tw.returncode == 0, with_tw.stderr[-3000:]
    assert losses(plain.stdout) and losses(plain.stdout) == losses(with_tw.stdout)
    assert (root / "out" / "ckpt.pt").exists()
    assert "FALSIFIED" not in with_tw.stderr
    assert "harness tripwire (pipeline-v1): step 0" in with_tw.stderr and "finished at step" in with_tw.stderr
    assert "Traceback" not in with_tw.stderr
    assert set(statuses(root).values()) <= {None, "OPEN"}  # a tripwire never discharges, and nothing failed


def qwen_corpus(root: Path, *, incident: bool) -> None:
    """The openwebtext pattern with the Qwen2.5 vocab (``encode_ordinary`` + EOT after each
    document, uint32 since the ids pass 65,535) — or the incident's hex-byte strings looked up in
    the same vocab; ``meta.pkl`` carries the model's vocab size as nanoGPT reads it."""
    from harness.demo.corpus import stdlib_documents
    from harness.demo.qwen_vocab import qwen_tiktoken_path
    from harness.subjects.encoders import TiktokenEncoder

    encoder = TiktokenEncoder(qwen_tiktoken_path())
    texts = [t for _, t in stdlib_documents(300_000)]
    if incident:
        vocab = {encoder._enc.decode_single_token_bytes(i).decode("latin-1"): i for i in range(encoder._enc.n_vocab - 30) if True}
        unk = vocab.get("<unk>", 0)
        ids = [vocab.get(f"{b:02x}", unk) for t in texts for b in t.encode()]
    else:
        ids = [i for t in texts for i in [*encoder.encode(t), encoder.eos_id]]
    data = root / "data" / "qwen"
    data.mkdir(parents=True, exist_ok=True)
    ids = np.asarray(ids, dtype=np.uint32)
    cut = int(ids.size * 0.9)
    ids[:cut].tofile(data / "train.bin")
    ids[cut:].tofile(data / "val.bin")
    with open(data / "meta.pkl", "wb") as f:
        pickle.dump({"vocab_size": QWEN_ROWS}, f)


QWEN_TOKENIZER = (
    "__import__('harness.subjects.encoders', fromlist=['x']).TiktokenEncoder(__import__('harness.demo.qwen_vocab', fromlist=['x']).qwen_tiktoken_path())._enc"
)


@pytest.mark.slow
def test_nanogpt_openwebtext_pattern_with_eos_is_healthy_and_the_incident_stops_with_exit_1(tmp_path):
    root = project(tmp_path / "nanogpt", wide=True)
    qwen_corpus(root, incident=False)
    healthy = run_train(root, "--dataset=qwen", tripwire=True, tokenizer=QWEN_TOKENIZER)
    assert healthy.returncode == 0, healthy.stderr[-3000:]
    assert "FALSIFIED" not in healthy.stderr and (root / "out" / "ckpt.pt").exists()
    assert set(statuses(root).values()) <= {None, "OPEN"}

    qwen_corpus(root, incident=True)
    stopped = run_train(root, "--dataset=qwen", tripwire=True, tokenizer=QWEN_TOKENIZER)
    assert stopped.returncode == 1, (stopped.returncode, stopped.stderr[-3000:])
    last = stopped.stderr.strip().splitlines()[-1]
    assert "harness tripwire FALSIFIED at step 0" in last and "exit status 1" in last, last
    assert "Traceback" not in stopped.stderr
    assert not (root / "out" / "ckpt.pt").exists()
    assert not re.search(r"iter \d+: loss", stopped.stdout)  # stopped before the first optimizer step
    assert "FALSIFIED" in statuses(root).values()


# ---------------------------------------------------------------------------------------------
# Real vocabularies and data as they are (#39, items 2, 6-9)


def test_init_reads_nanogpts_char_level_meta_pkl_and_binds_the_size_checks(tmp_path):
    root = project(tmp_path / "nanogpt")
    (root / "data" / "shakespeare_char" / "input.txt").write_text(stdlib_text(100_000))
    assert subprocess.run([sys.executable, "data/shakespeare_char/prepare.py"], cwd=root, capture_output=True).returncode == 0
    proc = subprocess.run(
        [sys.executable, "-m", "harness", "--root", str(root), "init", "--name", "chars", "--vocab", "data/shakespeare_char/meta.pkl",
         "--shards", "data/shakespeare_char/*.bin", "--format", "raw", "--dtype", "uint16"],
        cwd=root, capture_output=True, text=True,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    text = (root / "contracts" / "chars.yaml").read_text()
    assert "builtin:shard-integrity" in text and "builtin:shard-entropy" in text and "builtin:vocab-id-agreement" not in text
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--contract=chars"], cwd=root, capture_output=True, text=True)
    from harness.snapshot import load_contract

    contract = load_contract(root / "contracts" / "chars.yaml", root=root)[0]
    got = {f.builtin: f.status for f in contract.falsifiers}
    assert got["shard-integrity"] == "DISCHARGED" and got["shard-entropy"] == "DISCHARGED", (got, run.stdout[-2000:])


def test_a_pickle_naming_code_is_refused_as_a_vocab(tmp_path):
    from harness.checks import ArtifactError
    from harness.checks.vocab import load_vocab

    with open(tmp_path / "meta.pkl", "wb") as f:
        pickle.dump({"vocab_size": 3, "stoi": {"a": 0}, "hook": os.system}, f)
    with pytest.raises(ArtifactError, match="plain data only"):
        load_vocab(tmp_path / "meta.pkl")


def test_a_qwen_corpus_in_uint16_is_a_verdict_naming_the_width(tmp_path):
    from harness.checks.formats import ShardOptions
    from harness.checks.passes import shard_stats

    ids = np.random.default_rng(0).integers(0, 151_000, 300_000).astype(np.uint16)  # wrapped on the way to disk
    ids.tofile(tmp_path / "train.bin")
    _, problems = shard_stats([tmp_path / "train.bin"], 151_665, options=ShardOptions(format="raw", dtype="uint16"))
    assert any("uint16 holds ids up to 65535" in p for p in problems), problems


def test_small_batches_are_read_until_there_is_enough_and_the_run_sees_the_same(tmp_path):
    import torch

    from harness.tripwires import Tripwire

    (tmp_path / "contracts").mkdir()
    (tmp_path / "contracts" / "c.yaml").write_text(
        "metadata:\n  version: 1.0.0\nfalsification_tests:\n- id: F-E\n  test: builtin:shard-entropy\n  subject: training_run\n"
    )
    g = torch.Generator().manual_seed(0)
    rows = [{"input_ids": torch.randint(0, 5000, (1, 35), generator=g)} for _ in range(200)]  # batch size 1, 35 ids
    tw = Tripwire(tmp_path / "contracts" / "c.yaml", write=False)
    tw.before_training(train_loader=torch.utils.data.DataLoader(rows, batch_size=None))
    verdict = tw.verdicts["F-E"][0]
    assert verdict.passed is True and verdict.measurements["tokens"] >= 512, verdict


def test_a_tiktoken_encoding_is_a_tokenizer_the_tripwire_reads(tmp_path):
    import torch

    from harness.demo.qwen_vocab import qwen_tiktoken_path
    from harness.subjects.encoders import TiktokenEncoder
    from harness.tripwires import Tripwire

    (tmp_path / "contracts").mkdir()
    (tmp_path / "contracts" / "c.yaml").write_text(
        "metadata:\n  version: 1.0.0\nfalsification_tests:\n- id: F-V\n  test: builtin:vocab-format\n  subject: training_run\n"
    )
    encoding = TiktokenEncoder(qwen_tiktoken_path())._enc
    ids = [i for t in stdlib_texts_small() for i in [*encoding.encode_ordinary(t), encoding.eot_token]]
    batch = torch.tensor(ids[: 16 * 64]).reshape(16, 64)
    tw = Tripwire(tmp_path / "contracts" / "c.yaml", write=False)
    tw.before_training(tokenizer=encoding, train_loader=[{"input_ids": batch}])
    verdict = tw.verdicts["F-V"][0]
    assert verdict.passed is True, verdict


def stdlib_texts_small() -> list[str]:
    from harness.demo.corpus import stdlib_documents

    return [t for _, t in stdlib_documents(60_000)]
