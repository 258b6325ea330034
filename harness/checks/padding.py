"""Where a batch's padding is, from the best evidence there is, so that loss-mask judges padding
and never text.

In order: the batch's attention mask (positions it leaves out are padding), the subject's
declared ``pad_id``, the subject saying it never pads (``pads = False``), the subject's tokenizer's
pad token — and only with none of these, inference from what text cannot produce: one id filling
the ends of rows (runs of ``min_run`` or more) that, across everything scanned, occurs mostly in
such runs. Source code ends rows in runs of indentation tokens too, but those tokens occur far
more often inside rows; a pad id (even an end-of-text id reused as pad) does not.
"""

from __future__ import annotations

from dataclasses import dataclass, field


def trailing_run(row, pad_id: int | None = None) -> int:
    """Length of the run of one id at the end of ``row`` (of ``pad_id`` only, when given)."""
    last = int(row[-1])
    if pad_id is not None and last != pad_id:
        return 0
    run = 1
    while run < row.size and int(row[-run - 1]) == last:
        run += 1
    return run


@dataclass
class PadCounter:
    """Scored targets inside padding, accumulated row by row; ``result()`` decides at the end."""

    ignore_index: int
    pad_id: int | None = None
    min_run: int = 8
    min_trailing_fraction: float = 0.5
    never_pads: bool = False  # the subject says so: nothing is padding, nothing is inferred
    source: str = "none"  # where padding comes from; the attention mask or inference may set it
    scored: int = 0
    scored_pad: int = 0
    padded: int = 0
    # inference: per candidate id, [positions in trailing runs, scored targets in them]
    candidates: dict[int, list[int]] = field(default_factory=dict)
    occurrences: object = None  # numpy counts of every input id scanned

    def add(self, inputs, targets, target_is_padding=None) -> None:
        """One batch; ``target_is_padding`` (aligned with the targets, from the attention mask)
        when the batch has one."""
        import numpy as np

        in_loss = targets != self.ignore_index
        self.scored += int(in_loss.sum())
        if self.never_pads:
            return
        if target_is_padding is not None:  # exact: the collator said which positions are padding
            self.source = "attention_mask"
            self.padded += int(target_is_padding.sum())
            self.scored_pad += int((in_loss & target_is_padding).sum())
            return
        if self.pad_id is not None:
            for row_in, row_t in zip(inputs, targets):
                run = trailing_run(row_in, self.pad_id)
                self.padded += run
                # positions inside the padding predict padding (the one before it predicts the end
                # of the text, which a model may legitimately learn)
                self.scored_pad += int((row_t[row_t.size - run :] != self.ignore_index).sum()) if run else 0
            return
        counts = np.bincount(inputs.reshape(-1).clip(min=0))
        self.occurrences = counts if self.occurrences is None else _add(self.occurrences, counts)
        for row_in, row_t in zip(inputs, targets):
            run = trailing_run(row_in)
            if run >= self.min_run:
                entry = self.candidates.setdefault(int(row_in[-1]), [0, 0])
                entry[0] += run
                entry[1] += int((row_t[row_t.size - run :] != self.ignore_index).sum())

    def inferred(self) -> list[int]:
        """Candidate ids that are padding: most of their occurrences sit in trailing runs."""
        if self.occurrences is None:
            return []
        out = []
        for pad, (in_runs, _) in self.candidates.items():
            total = int(self.occurrences[pad]) if pad < self.occurrences.size else 0
            if total and in_runs / total >= self.min_trailing_fraction:
                out.append(pad)
        return sorted(out)

    def result(self) -> dict:
        if self.never_pads or self.source == "attention_mask" or self.pad_id is not None:
            scored_pad, padded = self.scored_pad, self.padded
        else:
            pads = self.inferred()
            scored_pad = sum(self.candidates[p][1] for p in pads)
            padded = sum(self.candidates[p][0] for p in pads)
            self.source = f"inferred: id {', '.join(map(str, pads))} fills row ends" if pads else self.source
        return {"scored": self.scored, "scored_pad": scored_pad, "padded": padded, "source": self.source}


def _add(a, b):
    import numpy as np

    if a.size < b.size:
        a = np.concatenate([a, np.zeros(b.size - a.size, dtype=a.dtype)])
    a[: b.size] += b
    return a
