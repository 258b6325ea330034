"""The embedded demo: the incident reproduced, then refuted, on real data — in a scratch workspace.

``harness.demo.runner`` runs it (``harness demo``); ``harness.demo.fixtures`` holds the subjects
the plugin ships (the real Qwen2.5 vocab, the interpreter's standard library as a corpus, tiny
torch models and their planted defects). This package module imports nothing: the plugin loads
the fixtures module on every pytest run, and a run that uses no demo subject pays for none.
"""
