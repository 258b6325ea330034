"""This repository's own fixtures. The embedded demo's subjects (``qwen_stdlib_pipeline``,
``incident_pipeline``, ``tiny_lm``, ``qwen2_0_5b``, trained runs and planted defects) ship with the
plugin in ``harness.demo.fixtures``; a fixture defined here with the same name would override one.
"""
