"""Contract-driven falsifier harness for ML training pipelines.

The pure core (``harness.contract``, ``harness.status``, ``harness.writer``, ``harness.checks``)
imports neither pytest nor torch; the plugin and the CLI are thin glue over it.
"""

from harness._api import accepts, records

__version__ = "0.1.0"

__all__ = ["__version__", "accepts", "records"]
