"""The embedded default subject: the real Qwen2.5 vocab exported the way HF ships it, the
interpreter's standard library as corpus, encoded into uint32 shards — once with the correct
byte-level encoder (``healthy``) and once with the incident's hex-byte encoder (``incident``).

Built into the cache directory on first use (with a progress bar), reused afterwards.
"""

from __future__ import annotations

import hashlib
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from harness.cachedir import build_lock, cache_dir
from harness.demo.corpus import DEFAULT_CORPUS_BYTES, stdlib_documents
from harness.demo.qwen_vocab import QWEN_VOCAB_SIZE, export_hf_files

BUILD_VERSION = "1"
SHARD_TOKENS = 1 << 18
KINDS = ("healthy", "incident")


@dataclass(frozen=True)
class Pipeline:
    """What a data falsifier needs of a tokenization pipeline."""

    kind: str  # healthy | incident
    encoder_name: str  # byte_level | hex_byte
    vocab_path: Path  # the vocab the pipeline imported (vocab.json, GPT-2 style)
    tokenizer_path: Path
    shards_dir: Path
    vocab_size: int
    unk_id: int | None
    eos_id: int | None

    corpus_bytes: int = DEFAULT_CORPUS_BYTES

    def shard_paths(self) -> list[Path]:
        return sorted(self.shards_dir.glob("*.bin"))

    def documents(self) -> list[tuple[str, str]]:
        """The stdlib modules the shards were encoded from."""
        return stdlib_documents(self.corpus_bytes)

    def encoder(self):
        from harness.subjects.encoders import ByteLevelEncoder, HexByteEncoder

        if self.encoder_name == "byte_level":
            return ByteLevelEncoder(self.tokenizer_path)
        from harness.checks.vocab import load_vocab

        vocab = load_vocab(self.vocab_path)
        return HexByteEncoder(vocab.tokens, list(vocab.merges or []))


def _progress():
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        transient=True,
        disable=not sys.stderr.isatty(),
    )


def _key(corpus_bytes: int) -> str:
    ident = f"{BUILD_VERSION}|{sys.version_info[:2]}|{corpus_bytes}"
    return hashlib.sha256(ident.encode()).hexdigest()[:12]


def vocab_dir() -> Path:
    directory = cache_dir() / "qwen2.5-hf"
    if not (directory / "tokenizer.json").exists():
        with build_lock("qwen2.5-hf"):
            if not (directory / "tokenizer.json").exists():
                export_hf_files(directory)
    return directory


def build_pipeline(kind: str, corpus_bytes: int = DEFAULT_CORPUS_BYTES, root: Path | None = None) -> Pipeline:
    """The shards of ``kind`` (healthy | incident), built once and cached."""
    if kind not in KINDS:
        raise ValueError(f"pipeline kind must be one of {KINDS}")
    vdir = vocab_dir()
    base = (root or cache_dir()) / f"shards-{kind}-{_key(corpus_bytes)}"
    done = base / "BUILT.json"
    encoder_name = "byte_level" if kind == "healthy" else "hex_byte"
    if not done.exists():
        with build_lock(base.name):
            if not done.exists():
                _build_shards(kind, encoder_name, vdir, base, done, corpus_bytes)
    meta = json.loads(done.read_text())
    return Pipeline(
        kind=kind,
        encoder_name=encoder_name,
        vocab_path=vdir / "vocab.json",
        tokenizer_path=vdir / "tokenizer.json",
        shards_dir=base,
        vocab_size=QWEN_VOCAB_SIZE,
        unk_id=meta["unk_id"],
        eos_id=meta["eos_id"],
        corpus_bytes=corpus_bytes,
    )


def _build_shards(kind: str, encoder_name: str, vdir: Path, base: Path, done: Path, corpus_bytes: int) -> None:
    """Encode the corpus into uint32 shards of SHARD_TOKENS ids; BUILT.json is written last."""
    import numpy as np

    from harness.checks.shards import write_shard
    from harness.subjects.encoders import ByteLevelEncoder, HexByteEncoder

    base.mkdir(parents=True, exist_ok=True)
    for stale in base.glob("*"):
        stale.unlink()
    if encoder_name == "byte_level":
        encoder = ByteLevelEncoder(vdir / "tokenizer.json")
    else:
        from harness.checks.vocab import load_vocab

        vocab = load_vocab(vdir / "vocab.json")
        encoder = HexByteEncoder(vocab.tokens, list(vocab.merges or []))
    docs = stdlib_documents(corpus_bytes)
    buffer: list[int] = []
    shard_index = 0
    with _progress() as progress:
        task = progress.add_task(f"encoding stdlib ({kind})", total=len(docs))
        for start in range(0, len(docs), 64):
            batch = [text for _, text in docs[start : start + 64]]
            for ids in encoder.encode_batch(batch):
                buffer.extend(ids)
                buffer.append(encoder.eos_id)
            while len(buffer) >= SHARD_TOKENS:
                write_shard(base / f"shard-{shard_index:05d}.bin", np.asarray(buffer[:SHARD_TOKENS], dtype=np.uint32), QWEN_VOCAB_SIZE)
                buffer = buffer[SHARD_TOKENS:]
                shard_index += 1
            progress.advance(task, len(batch))
    if buffer:
        write_shard(base / f"shard-{shard_index:05d}.bin", np.asarray(buffer, dtype=np.uint32), QWEN_VOCAB_SIZE)
    done.write_text(
        json.dumps(
            {
                "kind": kind,
                "encoder": encoder_name,
                "documents": len(docs),
                "corpus_bytes": corpus_bytes,
                "unk_id": encoder.unk_id,
                "eos_id": encoder.eos_id,
            }
        )
    )
