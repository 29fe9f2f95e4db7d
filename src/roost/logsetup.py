"""roost's log records go to stderr through Rich (roost/output.py), imported when the first one is
emitted: a converged `roost apply` logs nothing and starts its reads before Rich is loaded."""

from __future__ import annotations

import logging


class _OnDemand(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self._handler: logging.Handler | None = None

    def emit(self, record: logging.LogRecord) -> None:  # called under this handler's lock
        if self._handler is None:
            from roost.output import log_handler

            self._handler = log_handler()
            self._handler.setFormatter(self.formatter)
        self._handler.emit(record)


def setup_logging(verbose: int) -> None:
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(message)s", handlers=[_OnDemand()])
