"""Pure checks on real artifacts: vocab formats, token shards, entropy, eval-loss probes.

No pytest here: each check returns values (fingerprints, problems, measurements); the falsifier
tests in ``falsifiers/`` assert on them. Heavy libraries (numpy, torch, tokenizers) are imported
inside the functions that need them.
"""


class ArtifactError(Exception):
    """An artifact cannot be read or is malformed; the message names the artifact and the problem."""


class IncompleteScan(RuntimeError):
    """Some shards could not be read (to the end, or at all): statistics of the rest would judge
    part of the corpus as if it were all of it — a false pass, when the unread part is the broken
    one. A data falsifier that meets it errors, naming the shards; it never passes."""

    def __init__(self, failures: list[str]):
        super().__init__("; ".join(failures[:5]) + (f" (and {len(failures) - 5} more)" if len(failures) > 5 else ""))
        self.failures = failures
