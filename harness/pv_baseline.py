"""pv's lint baseline, ``.pv/lint-previous.json``, read and written as pv does, so a repository that
lints its contracts with both tools keeps one baseline.

pv (provable-contracts) stores a JSON array of finding fingerprints beside the contracts folder
(``<contracts>/../.pv/lint-previous.json``), each ``RULE:FILE:HASH``: the rule id, the contract's
path and 16 hex digits of Rust's ``DefaultHasher`` over (rule id, file, message) — SipHash-1-3
with zero keys, each string fed as its UTF-8 bytes and a 0xFF terminator (``str``'s ``Hash``).
The harness's own findings join the same array under rule ids ``harness/<rule>`` (the ids its
SARIF carries); pv's entries are kept as they are.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

PV_STATE = ".pv"
PV_BASELINE = "lint-previous.json"
RULE_PREFIX = "harness/"

_MASK = (1 << 64) - 1


def _rotl(x: int, b: int) -> int:
    return ((x << b) | (x >> (64 - b))) & _MASK


def siphash13(data: bytes, k0: int = 0, k1: int = 0) -> int:
    """SipHash-1-3 (Aumasson and Bernstein's SipHash, one compression and three finalisation
    rounds): Rust's ``DefaultHasher`` with its zero keys, and CPython's keyed hash."""
    v0, v1, v2, v3 = k0 ^ 0x736F6D6570736575, k1 ^ 0x646F72616E646F6D, k0 ^ 0x6C7967656E657261, k1 ^ 0x7465646279746573

    def rounds(n: int) -> None:
        nonlocal v0, v1, v2, v3
        for _ in range(n):
            v0 = (v0 + v1) & _MASK
            v1 = _rotl(v1, 13) ^ v0
            v0 = _rotl(v0, 32)
            v2 = (v2 + v3) & _MASK
            v3 = _rotl(v3, 16) ^ v2
            v0 = (v0 + v3) & _MASK
            v3 = _rotl(v3, 21) ^ v0
            v2 = (v2 + v1) & _MASK
            v1 = _rotl(v1, 17) ^ v2
            v2 = _rotl(v2, 32)

    whole = len(data) - len(data) % 8
    for (m,) in struct.iter_unpack("<Q", data[:whole]):
        v3 ^= m
        rounds(1)
        v0 ^= m
    last = int.from_bytes(data[whole:], "little") | ((len(data) & 0xFF) << 56)
    v3 ^= last
    rounds(1)
    v0 ^= last
    v2 ^= 0xFF
    rounds(3)
    return v0 ^ v1 ^ v2 ^ v3


def pv_fingerprint(rule_id: str, file: str, message: str) -> str:
    """The fingerprint pv's ``LintFinding::fingerprint`` gives a finding."""
    data = b"".join(part.encode("utf-8") + b"\xff" for part in (rule_id, file, message))
    return f"{rule_id}:{file}:{siphash13(data):016x}"


def finding_fingerprint(finding) -> str:
    """A harness lint finding's entry in pv's baseline (rule id ``harness/<rule>``)."""
    return pv_fingerprint(RULE_PREFIX + finding.rule, str(finding.path), finding.message)


def pv_baseline_path(contracts_dir: Path) -> Path:
    """Where pv keeps it: ``.pv`` beside the contracts folder."""
    return Path(contracts_dir).parent / PV_STATE / PV_BASELINE


def read_pv_baseline(contracts_dir: Path) -> frozenset[str]:
    """Every fingerprint in pv's baseline (empty when there is none or it is unreadable, as pv reads it)."""
    try:
        entries = json.loads(pv_baseline_path(contracts_dir).read_text("utf-8"))
    except (OSError, ValueError):
        return frozenset()
    return frozenset(e for e in entries if isinstance(e, str)) if isinstance(entries, list) else frozenset()


def write_pv_baseline(contracts_dir: Path, findings) -> Path:
    """Replace the harness's entries in pv's baseline with ``findings``' and keep pv's own; written
    compact, as pv's ``serde_json::to_string`` writes it (sorted, so a rewrite of the same set is
    byte-identical), atomically."""
    from harness.atomic import write_atomic

    path = pv_baseline_path(contracts_dir)
    kept = {e for e in read_pv_baseline(contracts_dir) if not e.startswith(RULE_PREFIX)}
    entries = sorted(kept | {finding_fingerprint(f) for f in findings})
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, json.dumps(entries, separators=(",", ":")))
    return path
