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
