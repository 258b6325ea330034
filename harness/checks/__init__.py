"""Pure checks on real artifacts: vocab formats, token shards, entropy, eval-loss probes.

No pytest here: each check returns values (fingerprints, problems, measurements); the falsifier
tests in ``falsifiers/`` assert on them. Heavy libraries (numpy, torch, tokenizers) are imported
inside the functions that need them.
"""


class ArtifactError(Exception):
    """An artifact cannot be read or is malformed; the message names the artifact and the problem."""
