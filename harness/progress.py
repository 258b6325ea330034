"""Progress of a long pass over ids, told to whoever watches: a rich bar in the CLI
(``harness.cli.render.progress_bar``), a log line per tenth in a pytest run (``TenthsLog``, on the
``harness`` logger — shown live with ``--log-cli-level=INFO``, kept in the report otherwise). The
passes (``harness.checks.scan``) call ``start(total)`` once and ``advance(ids)`` per finished task."""

from __future__ import annotations

import logging


class TenthsLog:
    """One INFO line each time another tenth of the ids is done."""

    def __init__(self, label: str, logger: logging.Logger | None = None):
        self.label = label
        self.logger = logger or logging.getLogger("harness.progress")
        self.total = 0
        self.done = 0
        self.told = 0

    def start(self, total: int) -> None:
        self.total, self.done, self.told = int(total), 0, 0

    def advance(self, ids: int) -> None:
        self.done += int(ids)
        tenth = 10 * self.done // self.total if self.total else 10
        if tenth > self.told:
            self.told = tenth
            self.logger.info("%s: %d%% (%s of %s ids)", self.label, 10 * tenth, f"{self.done:,}", f"{self.total:,}")
