"""Rate limit for warnings that a degraded path logs once per request.

While the online store is down, every request takes the same fallback and
would log the same warning, hundreds of times a second under load. A
:class:`WarningLimiter` logs the first warning of each message in full, then
at most one per interval, with the number of warnings it suppressed since the
last one it logged. Counters such as the Prometheus fallback counter still
count every request.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

# The minimum time between two logged warnings of one message, in seconds.
WARNING_INTERVAL_SECONDS = 10.0


class WarningLimiter:
    """Logs at most one warning per message format per interval.

    Warnings of one message format share a limit, whatever their arguments.
    Requests run on the event loop and in worker threads, so a lock guards
    the counts. ``clock`` returns seconds, and :func:`time.monotonic` is the
    default.
    """

    def __init__(
        self,
        interval: float = WARNING_INTERVAL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.interval = interval
        self.clock = clock
        self._lock = threading.Lock()
        self._last_logged: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}
        # The logger and arguments of the last suppressed warning of each
        # message, for flush.
        self._latest: dict[str, tuple[logging.Logger, tuple[object, ...]]] = {}

    def admit(self, message: str) -> int | None:
        """Return None when a warning of ``message`` falls within the
        interval of the last logged one, and count it as suppressed.
        Otherwise return the number of warnings of ``message`` suppressed
        since the last logged one, and start a new interval."""
        with self._lock:
            now = self.clock()
            last = self._last_logged.get(message)
            if last is not None and now - last < self.interval:
                self._suppressed[message] = self._suppressed.get(message, 0) + 1
                return None
            self._last_logged[message] = now
            return self._suppressed.pop(message, 0)

    def warning(self, logger: logging.Logger, message: str, *args: object) -> None:
        """Log ``message % args`` as a warning of ``logger`` unless
        :meth:`admit` suppresses it.

        A logged warning that follows suppressed ones ends with their
        number, which JSON logs also carry in the field ``suppressed``.
        """
        suppressed = self.admit(message)
        if suppressed is None:
            with self._lock:
                self._latest[message] = (logger, args)
            return
        with self._lock:
            self._latest.pop(message, None)
        _log(logger, message, args, suppressed)

    def flush(self) -> None:
        """Log the last suppressed warning of each message with the number
        suppressed before it, so that the end of a burst reaches the log.

        The app calls it at shutdown. A burst that ends while the service
        runs is counted in the log with the next warning of its message.
        """
        with self._lock:
            pending = [
                (message, logger, args, self._suppressed.pop(message, 1))
                for message, (logger, args) in self._latest.items()
            ]
            self._latest.clear()
        for message, logger, args, suppressed in pending:
            # The warning logged here is the last of those suppressed.
            _log(logger, message, args, suppressed - 1)


def _log(
    logger: logging.Logger, message: str, args: tuple[object, ...], suppressed: int
) -> None:
    if suppressed == 0:
        logger.warning(message, *args)
        return
    logger.warning(
        message + " (%d more like it suppressed since the last one logged)",
        *args,
        suppressed,
        extra={"fields": {"suppressed": suppressed}},
    )
