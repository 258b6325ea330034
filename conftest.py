"""This repository's own fixtures. The embedded demo's subjects (``qwen_stdlib_pipeline``,
``incident_pipeline``, ``tiny_lm``, ``qwen2_0_5b``, trained runs and planted defects) ship in the
package as ``harness.demo.fixtures``; this repository loads them as any project would load a
fixtures plugin. A fixture defined here with the same name would override one.
"""

pytest_plugins = ["harness.demo.fixtures"]
