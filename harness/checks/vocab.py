"""Vocab loading (HF tokenizer.json, vocab.json (+ merges.txt), tiktoken rank files, plain
{token: id} JSON) and the format fingerprint that tells a hex-byte vocab from a byte-level BPE
(GPT-2 style, "Ġ" for space) from a SentencePiece byte-fallback vocab.

Thresholds from ../shared/FACTS.md: a true hex-byte vocab holds all 256 strings "00".."ff";
every real byte-level vocab measured holds 125–136 (GPT-2, Whisper) or 36 (Qwen2.5, Mistral), so
"≥ 200 of 256" separates them with room on both sides.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path

from harness.checks import ArtifactError

HEX_PAIRS = tuple(f"{b:02x}" for b in range(256))
BYTE_FALLBACK = tuple(f"<0x{b:02X}>" for b in range(256))
DEFAULT_MIN_HEX_PAIRS = 200
FORMATS = ("hex_byte", "byte_level", "byte_fallback", "unknown")
_SPECIAL = re.compile(r"^(<\|[^|]+\|>|<[a-z/][a-z_]*>|\[[A-Z]+\])$")


@lru_cache(maxsize=1)
def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible byte → printable-unicode map (the alphabet of byte-level BPE)."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    chars = printable[:]
    extra = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            chars.append(256 + extra)
            extra += 1
    return {b: chr(c) for b, c in zip(printable, chars)}


@dataclass
class Vocab:
    """Token string → id, as the pipeline's encoder sees keys; plus where it came from."""

    path: str
    source_format: str  # tokenizer.json | vocab.json | tiktoken | plain-json
    tokens: dict[str, int]
    special: list[str] = field(default_factory=list)
    merges: list[tuple[str, str]] | None = None
    model_type: str | None = None

    @property
    def size(self) -> int:
        return (max(self.tokens.values()) + 1) if self.tokens else 0


@dataclass
class VocabFingerprint:
    path: str
    source_format: str
    vocab_size: int
    hex_pairs: int
    byte_alphabet_coverage: float  # share of the 256 GPT-2 byte-alphabet chars present as keys
    g_prefixed_share: float  # share of keys starting with "Ġ" (byte-level space marker)
    byte_fallback_tokens: int
    special_tokens: list[str]
    unk_token: str | None
    format: str
    evidence: str

    def as_json(self) -> dict:
        return asdict(self)


def _read_json(path: Path):
    try:
        return json.loads(path.read_text("utf-8"))
    except UnicodeDecodeError as exc:
        raise ArtifactError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise ArtifactError(f"{path}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}") from None


def _load_hf(path: Path) -> Vocab:
    data = _read_json(path)
    model = data.get("model") if isinstance(data, dict) else None
    if not isinstance(model, dict):
        raise ArtifactError(f"{path}: not a Hugging Face tokenizer.json (no 'model' object)")
    try:
        from tokenizers import Tokenizer

        tok = Tokenizer.from_file(str(path))
        tokens = tok.get_vocab(with_added_tokens=True)
    except Exception as exc:  # tokenizers raises plain Exceptions with its own messages
        raise ArtifactError(f"{path}: tokenizers cannot load it: {exc}") from None
    special = [t["content"] for t in data.get("added_tokens") or [] if isinstance(t, dict) and t.get("special")]
    merges = None
    if model.get("type") == "BPE" and isinstance(model.get("merges"), list):
        merges = [tuple(m.split(" ", 1)) if isinstance(m, str) else tuple(m) for m in model["merges"]]
    return Vocab(str(path), "tokenizer.json", tokens, special, merges, model.get("type"))


def _load_token_json(path: Path) -> Vocab:
    data = _read_json(path)
    if not isinstance(data, dict) or not data:
        raise ArtifactError(f"{path}: expected a non-empty JSON object of token → id")
    bad = next(((k, v) for k, v in data.items() if not isinstance(v, int) or isinstance(v, bool) or v < 0), None)
    if bad is not None:
        raise ArtifactError(f"{path}: token {bad[0]!r} maps to {bad[1]!r}, not a non-negative integer id")
    merges_path = path.with_name("merges.txt")
    merges = None
    kind = "plain-json"
    if merges_path.exists():
        kind = "vocab.json"
        merges = []
        for number, line in enumerate(merges_path.read_text("utf-8").splitlines(), start=1):
            if not line or line.startswith("#version"):
                continue
            parts = line.split(" ")
            if len(parts) != 2:
                raise ArtifactError(f"{merges_path}:{number}: a merge is two space-separated symbols, got {line!r}")
            merges.append((parts[0], parts[1]))
    elif path.name == "vocab.json":
        kind = "vocab.json"
    return Vocab(str(path), kind, dict(data), [k for k in data if _SPECIAL.match(k)], merges)


def _load_tiktoken(path: Path) -> Vocab:
    alphabet = bytes_to_unicode()
    tokens: dict[str, int] = {}
    try:
        with path.open("rb") as handle:
            for number, raw in enumerate(handle, start=1):
                line = raw.strip()
                if not line:
                    continue
                parts = line.split()
                if len(parts) != 2 or not parts[1].isdigit():
                    raise ArtifactError(f"{path}:{number}: a tiktoken line is '<base64 bytes> <rank>', got {raw[:60]!r}")
                try:
                    token = base64.b64decode(parts[0], validate=True)
                except (binascii.Error, ValueError):
                    raise ArtifactError(f"{path}:{number}: invalid base64 token {parts[0][:40]!r}") from None
                tokens["".join(alphabet[b] for b in token)] = int(parts[1])
    except OSError as exc:
        raise ArtifactError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if not tokens:
        raise ArtifactError(f"{path}: empty tiktoken file")
    return Vocab(str(path), "tiktoken", tokens, [], None, "BPE")


def _load_sentencepiece(path: Path) -> Vocab:
    """A SentencePiece ``.model`` (protobuf), read by the ``sentencepiece`` library (optional extra)."""
    try:
        import sentencepiece
    except ImportError:
        raise ArtifactError(f"{path}: a SentencePiece model needs the sentencepiece package (pip install 'falsifier-harness[sentencepiece]')") from None
    try:
        sp = sentencepiece.SentencePieceProcessor(model_file=str(path))
    except (RuntimeError, OSError) as exc:
        raise ArtifactError(f"{path}: not a readable SentencePiece model ({exc})") from None
    tokens = {sp.id_to_piece(i): i for i in range(sp.get_piece_size())}
    special = [sp.id_to_piece(i) for i in (sp.unk_id(), sp.bos_id(), sp.eos_id(), sp.pad_id()) if 0 <= i < sp.get_piece_size()]
    return Vocab(str(path), "sentencepiece", tokens, special, None, "sentencepiece")


class _PlainUnpickler:
    """A pickle reader that builds only plain data (dicts, lists, strings, numbers): a ``meta.pkl``
    that names any class or function is refused, never imported (a contract is untrusted data)."""

    @staticmethod
    def load(path: Path):
        import pickle

        class Plain(pickle.Unpickler):
            def find_class(self, module, name):
                raise ArtifactError(f"{path}: the pickle names {module}.{name}; a vocab pickle holds plain data only (vocab_size, stoi, itos)")

        with open(path, "rb") as handle:
            try:
                return Plain(handle).load()
            except ArtifactError:
                raise
            except Exception as exc:  # a truncated or foreign pickle: whatever its reader raises
                raise ArtifactError(f"{path}: not a readable vocab pickle ({type(exc).__name__}: {exc})") from None


def _load_char_meta(path: Path) -> Vocab:
    """nanoGPT's char-level ``meta.pkl``: ``{"vocab_size": V, "stoi": {char: id}, "itos": {id: char}}``."""
    data = _PlainUnpickler.load(path)
    if not isinstance(data, dict) or not isinstance(data.get("stoi"), dict):
        raise ArtifactError(f"{path}: a vocab pickle is nanoGPT's meta.pkl: a dict with vocab_size, stoi and itos")
    tokens = {str(k): int(v) for k, v in data["stoi"].items()}
    size = data.get("vocab_size")
    if isinstance(size, int) and tokens and size < max(tokens.values()) + 1:
        raise ArtifactError(f"{path}: vocab_size {size} is smaller than its largest id {max(tokens.values())}")
    return Vocab(str(path), "char-meta", tokens, [], None, "char")


def load_vocab(path: str | Path) -> Vocab:
    """Read a vocab in any supported format; malformed input raises ArtifactError naming the file."""
    path = Path(path)
    if path.is_dir():
        for name in ("tokenizer.json", "vocab.json"):
            if (path / name).exists():
                return load_vocab(path / name)
        raise ArtifactError(f"{path}: directory holds neither tokenizer.json nor vocab.json")
    if not path.exists():
        raise ArtifactError(f"{path}: no such file")
    try:
        head = path.open("rb").read(4096)
    except OSError as exc:
        raise ArtifactError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if not head.strip():
        raise ArtifactError(f"{path}: empty file")
    if path.suffix == ".model":
        return _load_sentencepiece(path)
    if path.suffix == ".pkl" or head[:1] == b"\x80":
        return _load_char_meta(path)
    if head.lstrip().startswith(b"{"):
        data_is_hf = b'"model"' in head or path.name.endswith("tokenizer.json")
        if data_is_hf:
            return _load_hf(path)
        return _load_token_json(path)
    return _load_tiktoken(path)


def fingerprint_vocab(vocab: Vocab, min_hex_pairs: int = DEFAULT_MIN_HEX_PAIRS) -> VocabFingerprint:
    keys = vocab.tokens
    hex_pairs = sum(1 for p in HEX_PAIRS if p in keys)
    alphabet = bytes_to_unicode().values()
    coverage = sum(1 for ch in alphabet if ch in keys) / 256
    g_share = sum(1 for k in keys if k.startswith("Ġ")) / max(len(keys), 1)
    fallback = sum(1 for t in BYTE_FALLBACK if t in keys)
    special = sorted(set(vocab.special) | {k for k in keys if _SPECIAL.match(k)})[:50]
    unk = next((t for t in ("<unk>", "[UNK]", "<|unk|>") if t in keys), None)
    if hex_pairs >= min_hex_pairs:
        fmt, why = "hex_byte", f"{hex_pairs}/256 hex-pair keys (≥ {min_hex_pairs})"
    elif fallback >= 200:
        fmt, why = "byte_fallback", f"{fallback}/256 <0xNN> byte-fallback keys; {hex_pairs}/256 hex pairs"
    elif coverage >= 0.9:
        fmt, why = "byte_level", f"{coverage:.0%} of the GPT-2 byte alphabet, {g_share:.1%} of keys 'Ġ'-prefixed; {hex_pairs}/256 hex pairs"
    else:
        fmt, why = "unknown", f"{hex_pairs}/256 hex pairs, {coverage:.0%} byte alphabet, {fallback}/256 byte-fallback keys"
    return VocabFingerprint(
        path=vocab.path,
        source_format=vocab.source_format,
        vocab_size=vocab.size,
        hex_pairs=hex_pairs,
        byte_alphabet_coverage=round(coverage, 4),
        g_prefixed_share=round(g_share, 4),
        byte_fallback_tokens=fallback,
        special_tokens=special,
        unk_token=unk,
        format=fmt,
        evidence=why,
    )


def format_mismatch(
    fp: VocabFingerprint, expected: str, min_hex_pairs: int = DEFAULT_MIN_HEX_PAIRS, falsifier_id: str = "FALSIFY-BPE-FORMAT-MISMATCH-001"
) -> str | None:
    """The refutation message when the vocab is not in the format the encoder emits, else None."""
    if expected not in FORMATS:
        raise ValueError(f"expected format must be one of {FORMATS}, got {expected!r}")
    if expected == "hex_byte" and fp.hex_pairs < min_hex_pairs:
        return f"{falsifier_id}: {fp.path}: the encoder emits hex-byte strings but the vocab holds only {fp.hex_pairs}/256 hex-byte tokens, below {min_hex_pairs}; detected format {fp.format} ({fp.evidence})"
    if fp.format != expected:
        return f"{falsifier_id}: {fp.path}: expected a {expected} vocab, detected {fp.format} ({fp.evidence})"
    return None
