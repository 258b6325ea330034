"""Whether the documents a pipeline declares reach its shards whole: each declared document's
id windows (its own encoding, ``window`` ids each) looked up among the windows of the shards. A
document none of whose windows occur is missing (a writer that drops its last buffer, a filter);
one with some missing is altered (a writer that strips indentation, normalises whitespace or case).
Chunking keeps every window but the few that cross a cut, so it reads as whole.

The index holds the declared documents' windows (8 bytes each), never the shards': the shards are
streamed past it. A few documents are also encoded after the edits writers make, so that an
altered corpus is named by the edit that explains it."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

EDITS: dict[str, Callable[[str], str]] = {
    "indentation stripped": lambda t: "\n".join(line.lstrip() for line in t.split("\n")),
    "trailing whitespace stripped": lambda t: "\n".join(line.rstrip() for line in t.split("\n")),
    "whitespace collapsed": lambda t: re.sub(r"\s+", " ", t),
    "lower-cased": str.lower,
    "line endings made CRLF": lambda t: t.replace("\r\n", "\n").replace("\n", "\r\n"),
    "tabs expanded": lambda t: t.expandtabs(4),
    "text stripped at both ends": str.strip,
}
EDIT_SAMPLE = 8  # documents encoded after each edit (the first ones)


@dataclass
class IntactReport:
    documents: int = 0
    judged: int = 0  # long enough to hold a window
    missing: list[int] = field(default_factory=list)  # indices into the declared order
    altered: list[int] = field(default_factory=list)
    found_share: list[float] = field(default_factory=list)  # per judged document
    edits: dict[str, float] = field(default_factory=dict)  # edit → share of the sampled documents it explains
    unjudged: list[int] = field(default_factory=list)  # shorter than a window

    def tail_missing(self) -> int:
        """How many of the missing documents are the last ones in the declared order, in a row
        (documents too short to judge neither break nor extend the run)."""
        missing, skipped, k = set(self.missing), set(self.unjudged), 0
        for index in range(self.documents - 1, -1, -1):
            if index in skipped:
                continue
            if index not in missing:
                break
            k += 1
        return k


def _encode_all(encoder, texts: list[str]) -> list[list[int]]:
    if hasattr(encoder, "encode_batch"):
        return [list(ids) for ids in encoder.encode_batch(texts)]
    return [list(encoder.encode(t)) for t in texts]


def documents_intact(
    names_texts: list[tuple[str, str]], encoder, shard_chunks: Iterable, window: int, min_found_share: float, missing_below: float = 0.05
) -> IntactReport:
    """Judge every declared document against the id chunks of the shards (1-D arrays that overlap
    by ``window - 1`` ids, so no window is lost at a chunk's edge)."""
    import numpy as np

    from harness.checks.windows import mark_found, window_hashes

    texts = [t for _, t in names_texts]
    encoded = _encode_all(encoder, texts)
    per_doc = [window_hashes(np.asarray([ids], dtype=np.int64), window) if len(ids) >= window else np.zeros(0, dtype=np.uint64) for ids in encoded]
    sample = [i for i, h in enumerate(per_doc) if h.size][:EDIT_SAMPLE]
    edited = {
        name: [
            window_hashes(np.asarray([ids], dtype=np.int64), window) if len(ids) >= window else np.zeros(0, dtype=np.uint64)
            for ids in _encode_all(encoder, [edit(texts[i]) for i in sample])
        ]
        for name, edit in EDITS.items()
    }
    everything = [*per_doc, *(h for hs in edited.values() for h in hs)]
    wanted = np.unique(np.concatenate(everything)) if everything else np.zeros(0, dtype=np.uint64)
    found = np.zeros(wanted.size, dtype=bool)
    for chunk in shard_chunks:
        mark_found(wanted, window_hashes(np.asarray(chunk, dtype=np.int64)[None, :], window), found)

    def share(hashes) -> float:
        at = np.searchsorted(wanted, hashes)
        return float(found[at].mean()) if hashes.size else 0.0

    report = IntactReport(documents=len(texts))
    for index, hashes in enumerate(per_doc):
        if not hashes.size:
            report.unjudged.append(index)
            continue
        report.judged += 1
        got = share(hashes)
        report.found_share.append(got)
        if got < missing_below:
            report.missing.append(index)
        elif got < min_found_share:
            report.altered.append(index)
    originals = [share(per_doc[i]) for i in sample]
    for name, hashes in edited.items():
        explained = [share(h) >= min_found_share > base for h, base in zip(hashes, originals)]
        if any(explained):
            report.edits[name] = sum(explained) / len(explained)
    return report
