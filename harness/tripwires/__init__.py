"""Tripwires: the contract's built-in falsifiers inside a training run (``docs/tripwires.md``).

``Tripwire`` for a custom loop; ``harness.tripwires.hf.HarnessCallback`` for ``transformers.Trainer``;
``harness.tripwires.lightning.HarnessCallback`` for Lightning. Each framework is imported only by
its own module.
"""

from harness.tripwires.engine import Tripwire, TripwireFalsified, TripwireStopped, batches_from

__all__ = ["Tripwire", "TripwireFalsified", "TripwireStopped", "batches_from"]
