"""Things falsifiers drive: the embedded corpus and vocab, encoders (byte-level and the incident's
hex-byte one), token-shard pipelines built from them, and (in ``models``) trainers."""
