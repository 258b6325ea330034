"""Subjects declared as artifacts in a contract, so a team binds the built-in falsifiers to its own
pipeline with no Python:

```yaml
subjects:
  corpus:
    vocab: tokenizer/tokenizer.json      # or vocab.json (+ merges.txt beside it), a .tiktoken rank file, a SentencePiece .model
    encoder: byte_level                  # byte_level | hex_byte | byte_fallback | package.module:factory
    shards: data/shards/*.npy            # globs or folders in any format harness.checks.formats reads
    format: raw                          # only where the files cannot say (raw memmaps); dtype: uint16; column: ids
    documents: data/raw/**/*.txt         # what the shards were made from
    splits:                              # the batches the model sees, per split (packed windows)
      train: data/shards/train-*.bin
      val: data/shards/val-*.bin
    seq_len: 512                         # window length (default 512), batch_size (default 8)
    model_vocab_size: 151936             # the model's embedding rows (default: the vocab's size)
  finetune:
    run: runs/finetune-01                # epoch-NNN.metadata.json, trainer_state.json or metrics.csv
```

A falsifier then names it: ``subject: corpus``. Paths are relative to the project root and must
stay inside it (or a root listed in ``$HARNESS_ARTIFACT_ROOTS``).
"""

from __future__ import annotations

import importlib
import os
import sys
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from harness.contract.subjects import ENCODER_KINDS, SubjectError, as_list, expand, project_module_problem, size_problems


def load_callable(spec: str, root: Path):
    """``package.module:attribute`` → the object (an encoder factory), from the project's own code."""
    problem = project_module_problem(spec, root)
    if problem:
        raise SubjectError(f"encoder {spec!r}: {problem}")
    module, _, attribute = spec.partition(":")
    root_str = str(root)
    if root_str not in sys.path:
        sys.path.insert(0, root_str)
    try:
        loaded = importlib.import_module(module)
    except ImportError as exc:
        raise SubjectError(f"encoder {spec!r}: cannot import it ({exc})") from None
    origin = os.path.realpath(getattr(loaded, "__file__", "") or "")
    if not origin.startswith(os.path.realpath(root) + os.sep):
        raise SubjectError(f"encoder {spec!r}: imported from {origin}, not from this project")
    try:
        return getattr(loaded, attribute)
    except AttributeError:
        raise SubjectError(f"encoder {spec!r}: {module} has no {attribute!r}") from None


@dataclass
class ArtifactSubject:
    """A data subject (and, with ``run``, a run subject) built from declared files."""

    name: str
    root: Path
    spec: dict[str, Any] = field(default_factory=dict)

    # ---------------------------------------------------------------- data protocol
    @cached_property
    def vocab_path(self) -> Path:
        vocab = self.spec.get("vocab")
        if not vocab:
            raise SubjectError(f"subject {self.name!r} declares no vocab")
        path = self.root / vocab
        if not path.exists():
            raise SubjectError(f"subject {self.name!r}: vocab {vocab} does not exist")
        return path

    @cached_property
    def _vocab(self):
        from harness.checks.vocab import load_vocab

        return load_vocab(self.vocab_path)

    @property
    def encoder_name(self) -> str:
        kind = str(self.spec.get("encoder", "byte_level"))
        if kind in ENCODER_KINDS:
            return kind
        return getattr(self.encoder(), "name", kind)

    @cached_property
    def vocab_size(self) -> int:
        if isinstance(self.spec.get("vocab_size"), int):
            return int(self.spec["vocab_size"])
        tokens = self._vocab.tokens
        size = max(tokens.values()) + 1 if tokens else 0
        if self._vocab.source_format == "tiktoken":  # a rank file holds no specials: the known encoding's follow its ranks
            from harness.subjects.encoders import KNOWN_SPECIALS

            specials = KNOWN_SPECIALS.get(size, (None, frozenset()))[1]
            size = max(size, max(specials, default=-1) + 1)
        sibling = self.vocab_path.parent / "tokenizer.json"  # HF layout: added tokens live there
        if self._vocab.source_format != "tokenizer.json" and sibling.exists():
            from harness.checks.vocab import load_vocab

            size = max(size, load_vocab(sibling).size)
        return size

    @cached_property
    def unk_id(self) -> int | None:
        if "unk_id" in self.spec:
            return self.spec["unk_id"]
        if not self.spec.get("vocab"):  # a subject declaring only vocab_size has no unknown token to count
            return None
        tokens = self._vocab.tokens
        for candidate in ("<unk>", "[UNK]", "<|unk|>"):
            if candidate in tokens:
                return tokens[candidate]
        return None

    def shard_paths(self) -> list[Path]:
        patterns = as_list(self.spec.get("shards"))
        if not patterns:
            raise SubjectError(f"subject {self.name!r} declares no shards")
        from harness.checks.shards import shard_files

        megatron = [
            f"{p}.bin" for p in patterns if "://" not in p and (self.root / f"{p}.bin").is_file() and (self.root / f"{p}.idx").is_file()
        ]  # a Megatron data prefix
        return self._confined(shard_files(expand(self.root, [p for p in patterns if f"{p}.bin" not in megatron] + megatron, folders=True)))

    def _confined(self, paths: list) -> list:
        """``paths`` when every file their readers open lies inside the project (or an allowed
        root) after its symlinks resolve — a folder's files, an index's listed shards, a ``.bin``'s
        ``.idx`` and sidecar; else a ``SubjectError`` naming the first that does not. The contract is
        untrusted data: its globs are checked as written, these as they will be read."""
        from harness.contract.subjects import reader_inputs
        from harness.paths import artifact_roots_from_env, confinement_problem

        allowed = artifact_roots_from_env()
        for path in paths:
            try:
                inputs = reader_inputs(path) if isinstance(path, Path) else [path]
            except SubjectError as exc:
                raise SubjectError(f"subject {self.name!r}: {exc}") from None
            for item in [path, *inputs]:
                why = confinement_problem(item, self.root, allowed)
                if why:
                    raise SubjectError(f"subject {self.name!r}: a shard reader would open {why}")
        return paths

    @property
    def shard_options(self):
        from harness.checks.formats import ShardOptions

        return ShardOptions.from_spec(self.spec)

    def documents(self):
        patterns = as_list(self.spec.get("documents"))
        if not patterns:
            raise SubjectError(f"subject {self.name!r} declares no documents (the text its shards were made from)")
        for path in expand(self.root, patterns):
            try:
                yield path.relative_to(self.root).as_posix(), path.read_text("utf-8")
            except UnicodeDecodeError:
                continue

    def encoder(self):
        return self._encoder

    @cached_property
    def _encoder(self):
        from harness.subjects import encoders

        kind = str(self.spec.get("encoder", "byte_level"))
        path = self.vocab_path
        if kind == "hex_byte":
            return encoders.HexByteEncoder(self._vocab.tokens, list(self._vocab.merges or []))
        if kind in ("byte_level", "byte_fallback"):
            if self._vocab.source_format == "sentencepiece":
                return encoders.SentencePieceEncoder(path, name=kind)
            if path.name.endswith(".json") and self._vocab.source_format == "tokenizer.json":
                from tokenizers import Tokenizer

                return encoders.HFTokenizerEncoder(Tokenizer.from_file(str(path)), name=kind)
            if self._vocab.source_format == "tiktoken":
                return encoders.TiktokenEncoder(path, self.spec.get("pattern"))
            merges = path.parent / "merges.txt"
            if path.suffix == ".json" and merges.exists():
                return encoders.HFTokenizerEncoder(encoders.tokenizer_for_vocab_files(path, merges), name=kind)
            raise SubjectError(
                f"subject {self.name!r}: cannot build a {kind} encoder from {path.name} (give tokenizer.json, vocab.json + merges.txt, or a .tiktoken file)"
            )
        factory = load_callable(kind, self.root)
        return factory(path) if callable(factory) else factory

    # ---------------------------------------------------------------- batches protocol
    @property
    def model_vocab_size(self) -> int:
        value = self.spec.get("model_vocab_size")
        return int(value) if isinstance(value, int) else self.vocab_size

    @property
    def pad_id(self) -> int | None:
        return self.spec.get("pad_id")

    ignore_index = -100

    def split_stream(self, split: str):
        """The ids of each of the split's shards, in order: the stream its batches are cut from
        (split-overlap indexes every window of it)."""
        from harness.checks.shards import describe_shard

        for path in self._split_paths(split):
            shard, problems = describe_shard(path, options=self.shard_options)
            if shard is None:
                from harness.checks import ArtifactError

                raise ArtifactError("; ".join(problems) or f"{path}: unreadable")
            yield shard.open()

    def _split_paths(self, split: str) -> list:
        splits = self.spec.get("splits") or {}
        if split not in splits:
            raise SubjectError(f"subject {self.name!r} declares no split {split!r} (splits: {', '.join(splits) or 'none'})")
        from harness.checks import ArtifactError
        from harness.checks.shards import shard_files

        try:
            paths = self._confined(shard_files(expand(self.root, as_list(splits[split]), folders=True)))
        except ArtifactError as exc:
            raise SubjectError(f"subject {self.name!r}: split {split!r}: {exc}") from None
        if not paths:
            raise SubjectError(f"subject {self.name!r}: split {split!r} matches no shard")
        return paths

    def batches(self, split: str):
        """Packed (inputs, targets) windows of ``seq_len + 1`` ids over the split's shards, in order:
        what a packed loader hands the model."""
        from harness.subjects.batching import packed_batches

        paths = self._split_paths(split)
        sizes = size_problems(self.name, self.spec)
        if sizes:
            raise SubjectError(sizes[0][2])
        return packed_batches(paths, int(self.spec.get("seq_len", 512)), int(self.spec.get("batch_size", 8)), self.shard_options)

    # ---------------------------------------------------------------- run protocol
    def epochs(self) -> list[dict]:
        from harness.globbing import GlobError
        from harness.paths import artifact_roots_from_env, check_artifact_path
        from harness.subjects.runs import read_run

        run = self.spec.get("run")
        if not run:
            raise SubjectError(f"subject {self.name!r} declares no run")
        why = check_artifact_path(str(run), self.root, artifact_roots_from_env())
        if why:
            raise SubjectError(f"subject {self.name!r}: run {run!r} {why}")
        try:
            return read_run(self.root / run, root=self.root)
        except GlobError as exc:
            raise SubjectError(f"subject {self.name!r}: run {run!r}: {exc}") from None

    def __repr__(self) -> str:
        return f"ArtifactSubject({self.name!r})"

    def __str__(self) -> str:
        return str(self.spec.get("run") or self.spec.get("vocab") or self.name)
