"""Encoders a pipeline may pair with a vocab.

``ByteLevelEncoder`` is the right one for GPT-2-style vocabs (Qwen2.5): Hugging Face
``tokenizers`` does the work. ``HexByteEncoder`` is a faithful copy of the incident's encoder: it
turns each byte into a two-character hex string ("d" → "64"), applies the vocab's merges to those
symbols and looks each result up, falling back to the unk id — which, on a byte-level vocab, is
almost every byte. It is a real code path, not a flag that fakes a number.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


class ByteLevelEncoder:
    name = "byte_level"

    def __init__(self, tokenizer_json: Path) -> None:
        from tokenizers import Tokenizer

        self._tok = Tokenizer.from_file(str(tokenizer_json))
        self.vocab_size = self._tok.get_vocab_size(with_added_tokens=True)
        self.eos_id = self._tok.token_to_id("<|endoftext|>")
        unk = getattr(self._tok.model, "unk_token", None)
        self.unk_id = self._tok.token_to_id(unk) if unk else None

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        return [e.ids for e in self._tok.encode_batch(texts, add_special_tokens=False)]

    def encode(self, text: str) -> list[int]:
        return self._tok.encode(text, add_special_tokens=False).ids

    def decode(self, ids: list[int]) -> str:
        return self._tok.decode(ids, skip_special_tokens=False)


@dataclass
class HexByteEncoder:
    """The incident's encoder: hex-byte symbols, merges, vocab lookup, unk fallback."""

    vocab: dict[str, int]
    merges: list[tuple[str, str]] = field(default_factory=list)
    unk_token: str = "<unk>"
    eos_token: str = "</s>"
    name: str = "hex_byte"

    def __post_init__(self) -> None:
        self.ranks = {pair: i for i, pair in enumerate(self.merges)}
        self.unk_id = self.vocab.get(self.unk_token, max(self.vocab.values()) + 1)
        self.eos_id = self.vocab.get(self.eos_token, self.unk_id)
        self.id_to_token = {i: t for t, i in self.vocab.items()}
        self.vocab_size = max(max(self.vocab.values()) + 1, self.unk_id + 1)

    @staticmethod
    def to_bytes(text: str) -> list[str]:
        return [f"{b:02x}" for b in text.encode("utf-8")]

    def apply_merges(self, symbols: list[str]) -> list[str]:
        ranks = self.ranks
        while len(symbols) > 1:
            best = None
            for i in range(len(symbols) - 1):
                rank = ranks.get((symbols[i], symbols[i + 1]))
                if rank is not None and (best is None or rank < best[0]):
                    best = (rank, i)
            if best is None:
                break
            i = best[1]
            symbols = [*symbols[:i], symbols[i] + symbols[i + 1], *symbols[i + 2 :]]
        return symbols

    def encode(self, text: str) -> list[int]:
        ids = []
        for word in text.split(" "):  # the incident's loader split on spaces before merging
            for symbol in self.apply_merges(self.to_bytes(word)):
                ids.append(self.vocab.get(symbol, self.unk_id))
            ids.append(self.vocab.get("20", self.unk_id))  # the space, hex-encoded
        return ids[:-1] if ids else ids

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        return [self.encode(t) for t in texts]

    def decode(self, ids: list[int]) -> str:
        out = bytearray()
        for i in ids:
            token = self.id_to_token.get(i)
            if token is None or i == self.unk_id:
                out += "\ufffd".encode()
                continue
            try:
                out += bytes.fromhex(token)
            except ValueError:
                out += token.encode("utf-8")
        return out.decode("utf-8", errors="replace")


# The pre-tokenization pattern of OpenAI's cl100k_base; a tiktoken rank file does not carry its
# own, so a declarative subject may give another with ``pattern`` (a known file's is taken by default).
CL100K_PATTERN = r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""
# Qwen2.5's own pre-tokenizer: cl100k's, but digits one at a time (``\p{N}``, not ``\p{N}{1,3}``).
QWEN_PATTERN = r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""
PATTERNS_BY_RANKS = {151643: QWEN_PATTERN}  # a known rank file's own pattern; others default to cl100k's


# A tiktoken rank file holds no special tokens; the known encodings' specials, by the rank count
# of their file: (end-of-text id, every special id). Qwen2.5: 151,643 ranks, ``<|endoftext|>`` =
# 151643 and 21 more specials after it (its embedding has 151,936 rows); cl100k_base: 100,256
# ranks; GPT-2 / r50k: 50,256; o200k_base: 199,998.
KNOWN_SPECIALS: dict[int, tuple[int, frozenset[int]]] = {
    151643: (151643, frozenset(range(151643, 151665))),
    100256: (100257, frozenset({100257, 100258, 100259, 100260, 100276})),
    50256: (50256, frozenset({50256})),
    199998: (199999, frozenset({199999, 200018})),
}


class TiktokenEncoder:
    """A byte-level BPE from a tiktoken rank file (``<base64 token> <rank>`` per line). The file
    holds no special tokens: those of the known encodings are taken from ``KNOWN_SPECIALS`` (a
    Qwen2.5 corpus with ``<|endoftext|>`` after each document is healthy), others may be declared
    (``specials``: {token text: id})."""

    name = "byte_level"

    def __init__(self, rank_file: Path, pattern: str | None = None, specials: dict[str, int] | None = None) -> None:
        import base64

        import tiktoken

        ranks: dict[bytes, int] = {}
        for line in Path(rank_file).read_text("utf-8").splitlines():
            if line.strip():
                token, rank = line.split()
                ranks[base64.b64decode(token)] = int(rank)
        base = max(ranks.values()) + 1 if ranks else 0
        pattern = pattern or PATTERNS_BY_RANKS.get(base, CL100K_PATTERN)
        eos, known = KNOWN_SPECIALS.get(base, (None, frozenset()))
        if specials is None:
            specials = {f"<|special_{i}|>": i for i in sorted(known)}
            if eos is not None:
                specials = {("<|endoftext|>" if i == eos else name): i for name, i in specials.items()}
        self._enc = tiktoken.Encoding(name=Path(rank_file).stem, pat_str=pattern, mergeable_ranks=ranks, special_tokens=dict(specials))
        self.special_ids = frozenset(specials.values())
        self.vocab_size = self._enc.n_vocab
        self.unk_id = None
        self.eos_id = specials.get("<|endoftext|>", eos)

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        return self._enc.encode_ordinary_batch(texts)

    def encode(self, text: str) -> list[int]:
        return self._enc.encode_ordinary(text)

    def decode(self, ids: list[int]) -> str:
        return self._enc.decode(ids)


def tokenizer_for_vocab_files(vocab_json: Path, merges_txt: Path):
    """A Hugging Face byte-level BPE tokenizer from GPT-2-style vocab.json + merges.txt."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    tok = Tokenizer(models.BPE.from_file(str(vocab_json), str(merges_txt)))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    return tok


END_OF_TEXT_TOKENS = ("<|endoftext|>", "<|end_of_text|>", "</s>", "<eos>", "<|eot_id|>")  # GPT-2/Qwen, Llama 3, SentencePiece, Gemma


class HFTokenizerEncoder(ByteLevelEncoder):
    """Any Hugging Face ``tokenizers`` pipeline (tokenizer.json, or vocab.json + merges.txt)."""

    def __init__(self, tokenizer, name: str = "byte_level") -> None:
        self._tok = tokenizer
        self.name = name
        self.vocab_size = tokenizer.get_vocab_size(with_added_tokens=True)
        self.eos_id = next((i for i in map(tokenizer.token_to_id, END_OF_TEXT_TOKENS) if i is not None), None)
        unk = getattr(tokenizer.model, "unk_token", None)
        self.unk_id = tokenizer.token_to_id(unk) if unk else None


class SentencePieceEncoder:
    """A SentencePiece model (``.model``); byte fallback when the model was trained with it."""

    def __init__(self, model_file: Path, name: str = "byte_fallback") -> None:
        import sentencepiece

        self._sp = sentencepiece.SentencePieceProcessor(model_file=str(model_file))
        self.name = name
        self.vocab_size = self._sp.get_piece_size()
        self.unk_id = self._sp.unk_id() if self._sp.unk_id() >= 0 else None
        self.eos_id = self._sp.eos_id() if self._sp.eos_id() >= 0 else None

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        return self._sp.encode(texts)

    def encode(self, text: str) -> list[int]:
        return self._sp.encode(text)

    def decode(self, ids: list[int]) -> str:
        return self._sp.decode(list(ids))
