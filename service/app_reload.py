"""Reloads across the workers of one service: the signal file and its follower."""

import asyncio
import contextlib
import logging
import os
import pathlib
import time
import uuid

from service.recommender import Recommender, StoreBusyError

# The app logs under one name, service.app, whichever module defines the code.
logger = logging.getLogger("service.app")

# Seconds a client is asked to wait (Retry-After) before it repeats a reload
# that found the store locked. The reload itself waited
# features.store.LOCK_WAIT_SECONDS for the lock.
RELOAD_BUSY_RETRY_SECONDS = 10
# How often each worker looks for a reload done by another worker, in seconds.
RELOAD_POLL_SECONDS = 1.0
# Maximum wait, in seconds, before a worker retries a reload that failed
# after another worker's. The wait doubles from RELOAD_POLL_SECONDS up to it.
RELOAD_RETRY_MAX_SECONDS = 60.0


class ReloadSignal:
    """A file under the models folder whose change signals every worker of
    the service to reload, because POST /v1/admin/reload reaches one worker."""

    def __init__(self, var_dir: pathlib.Path) -> None:
        self.path = var_dir / "models" / ".reload"
        self.seen = self._stamp()

    def _stamp(self) -> int:
        try:
            return self.path.stat().st_mtime_ns
        except OSError:
            return 0

    def send(self, version: str | None = None) -> None:
        """Write the time and the model ``version`` this worker loaded to the
        file, and count the change as seen by this worker.

        A file that cannot be written, as in a read-only models folder, is
        logged: this worker has reloaded, but the others do not follow.
        """
        content = f"{time.time_ns()}\n" + ("" if version is None else f"{version}\n")
        # Written whole and renamed, so a follower never reads half a version.
        partial = self.path.with_name(f"{self.path.name}.{uuid.uuid4().hex}.partial")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            partial.write_text(content)
            os.replace(partial, self.path)
        except OSError as error:
            # A read-only file system rejects even the removal of a file that
            # was never created, with EROFS rather than ENOENT.
            with contextlib.suppress(OSError):
                partial.unlink(missing_ok=True)
            logger.error(
                "cannot write the reload signal %s, so the other workers of "
                "`serve --workers N` keep their model until they restart: %s",
                self.path,
                error,
            )
            return
        self.seen = self._stamp()

    def version(self) -> str | None:
        """Return the model version in the file, or None when it names none
        or cannot be read. With None, the follower loads the current model."""
        try:
            lines = self.path.read_text().splitlines()
        except (OSError, UnicodeDecodeError):
            return None
        if len(lines) < 2 or not lines[1].strip():
            return None
        return lines[1].strip()

    def received(self) -> bool:
        """Return whether another worker sent the signal since the last call."""
        stamp = self._stamp()
        if stamp <= self.seen:
            return False
        self.seen = stamp
        return True


async def _follow_reloads(recommender: Recommender, signal: ReloadSignal) -> None:
    """Reload whenever another worker has reloaded, until cancelled.

    The follower loads the version that the other worker loaded, not the
    model that ``current`` names when it looks, because a training or a
    promotion may have changed ``current`` since.
    A reload that fails is retried, after a wait that doubles up to
    RELOAD_RETRY_MAX_SECONDS, until one succeeds. The other worker returned
    200 to the client, so a failure here, such as a store locked by a writer
    for a moment, would otherwise leave this worker on the old model.
    """
    pending = False
    target: str | None = None
    failures = 0
    retry_at = 0.0
    while True:
        await asyncio.sleep(RELOAD_POLL_SECONDS)
        if signal.received():
            pending = True
            target = signal.version()
            failures = 0
            retry_at = 0.0
        if not pending or time.monotonic() < retry_at:
            continue
        try:
            version = await asyncio.to_thread(recommender.reload, target)
        except Exception as error:
            # Any error, from the model files or from the stores, must leave
            # this loop running, or the worker would stop following reloads.
            failures += 1
            wait = min(RELOAD_POLL_SECONDS * 2**failures, RELOAD_RETRY_MAX_SECONDS)
            retry_at = time.monotonic() + wait
            # A busy store or another reload of this worker passes, and the
            # retry handles it, so only a lasting failure is an error.
            level = (
                logging.WARNING if isinstance(error, StoreBusyError) else logging.ERROR
            )
            logger.log(
                level,
                "reload after another worker's failed (attempt %d), model %s "
                "stays loaded, next attempt in %.0f s: %s: %s",
                failures,
                recommender.model_version,
                wait,
                type(error).__name__,
                error,
            )
        else:
            pending = False
            logger.info("reloaded model %s after another worker did", version)
