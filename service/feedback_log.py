"""The SQLite feedback log that every service worker appends events to."""

from __future__ import annotations

import logging
import sqlite3
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Self

from service.feedback_event import FeedbackEvent

# The feedback code logs under one name, service.feedback, whichever module
# defines it.
logger = logging.getLogger("service.feedback")

# Folder of the feedback log under the var folder, and its database file.
FEEDBACK_DIR_NAME = "feedback"
LOG_FILE_NAME = "events.sqlite3"

# Largest list one append accepts: a longer one holds SQLite's write lock longer,
# and every worker waits for that lock.
MAX_APPEND_EVENTS = 1_000
# Seconds an append or an ingest waits for another process's write lock before
# it fails.
DEFAULT_BUSY_TIMEOUT = 10.0

# The SQLite table mirrors FEEDBACK_EVENTS. seq is the rowid, so rows keep their
# insertion order. ingested_at stays NULL until ingest has copied the row.
_CREATE_LOG_SQL = """
CREATE TABLE IF NOT EXISTS feedback_events (
    seq INTEGER PRIMARY KEY,
    event_id TEXT NOT NULL UNIQUE,
    request_id TEXT NOT NULL,
    user_id TEXT,
    restaurant_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    occurred_at TEXT NOT NULL,
    position INTEGER,
    received_at TEXT NOT NULL,
    ingested_at TEXT
)
"""
_CREATE_PENDING_INDEX_SQL = """
CREATE INDEX IF NOT EXISTS feedback_events_pending
ON feedback_events (seq) WHERE ingested_at IS NULL
"""
_INSERT_SQL = """
INSERT INTO feedback_events (
    event_id, request_id, user_id, restaurant_id, kind, occurred_at, position,
    received_at
) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (event_id) DO NOTHING
"""


@dataclass(frozen=True)
class AppendResult:
    """Outcome of one append: every event id in request order, and which of them
    were stored already, by an earlier request or earlier in the same list, and
    so were not stored again."""

    event_ids: list[str]
    duplicate_ids: list[str]


# A device and inode that no file has, for a log whose connection is closed.
_NO_FILE = (-1, -1)


class FeedbackLogError(RuntimeError):
    """Failure of the SQLite feedback log to open, store, read or mark events."""


class FeedbackLog:
    """The feedback log of one service process: an SQLite database in ``folder``.

    Open one per process, because an SQLite connection must not cross a fork.
    Threads of the process may share it. An acknowledged append survives a kill
    of the process and, given a disk that honours flushes, a crash of the OS:

    - In WAL mode a commit appends the new pages to ``events.sqlite3-wal`` with
      write(). Once write() returns, the pages are in the kernel's page cache,
      so a SIGKILL right after the commit loses nothing, and the next
      connection reads them back from the WAL.
    - ``synchronous=FULL`` makes SQLite fsync the WAL at every commit, before
      COMMIT returns, so the commit survives an OS crash or power loss too.
      With NORMAL, SQLite's documentation of ``PRAGMA synchronous`` warns that
      a WAL commit may roll back after a power loss.

    WAL mode needs every writer on the same host, because they share memory
    through ``events.sqlite3-shm``, and a local file system.
    """

    def __init__(
        self, folder: Path, *, busy_timeout: float = DEFAULT_BUSY_TIMEOUT
    ) -> None:
        """Open the log in ``folder``, creating the folder and database if needed.

        ``busy_timeout`` is SQLite's busy timeout in seconds: how long a write
        waits for the write lock of another connection, in this process or
        another one, before it fails.
        """
        self.path = folder / LOG_FILE_NAME
        folder.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._busy_timeout = busy_timeout
        self._connection = _open(self.path, busy_timeout)
        self._file_id = _file_id(self.path)

    def append(self, events: list[FeedbackEvent]) -> AppendResult:
        """Store ``events`` in one transaction and return once it is on disk.

        An event whose id is already stored, by an earlier request or earlier
        in ``events``, is accepted and kept as first stored: its fields are not
        compared with the stored ones.

        Raises:
            ValueError: more than ``MAX_APPEND_EVENTS`` events.
            FeedbackLogError: SQLite failed or timed out waiting for the write
                lock; no event of the list was stored.
        """
        if len(events) > MAX_APPEND_EVENTS:
            msg = (
                f"{len(events)} events in one append; the maximum is "
                f"{MAX_APPEND_EVENTS}, so split the list"
            )
            raise ValueError(msg)
        if not events:
            return AppendResult(event_ids=[], duplicate_ids=[])

        received_at = _format_time(datetime.now(UTC))
        duplicates = []
        with self._lock:
            self._reopen_if_replaced()
            try:
                # IMMEDIATE takes the write lock now, waiting up to the busy
                # timeout, instead of failing at the first INSERT.
                self._connection.execute("BEGIN IMMEDIATE")
                for event in events:
                    cursor = self._connection.execute(
                        _INSERT_SQL, _log_row(event, received_at)
                    )
                    if cursor.rowcount == 0:
                        duplicates.append(event.event_id)
                self._connection.execute("COMMIT")
            except sqlite3.Error as error:
                _roll_back(self._connection)
                msg = (
                    f"appending {len(events)} feedback events to {self.path} "
                    f"failed: {error}. None was stored, so retry the request"
                )
                raise FeedbackLogError(msg) from error

        if duplicates:
            logger.info("%d feedback events were already stored", len(duplicates))
        return AppendResult(
            event_ids=[event.event_id for event in events], duplicate_ids=duplicates
        )

    def _reopen_if_replaced(self) -> None:
        """Open the log again when its file was deleted or replaced since it
        was opened. The caller holds the lock.

        SQLite keeps writing to the file it opened, so without this an append
        after the folder was deleted would be acknowledged, then lost with the
        process, and ingest would never see it.

        Raises:
            FeedbackLogError: the folder or the database cannot be created.
        """
        if _file_id(self.path) == self._file_id:
            return
        logger.warning(
            "feedback log %s was deleted or replaced while open; opening it again",
            self.path,
        )
        self._connection.close()
        # No file has this id, so until an open succeeds, each append tries
        # again instead of using the closed connection. That matters when the
        # original file comes back, as after its folder was moved away and back.
        self._file_id = _NO_FILE
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            msg = f"creating the feedback log folder {self.path.parent} failed: {error}"
            raise FeedbackLogError(msg) from error
        self._connection = _open(self.path, self._busy_timeout)
        self._file_id = _file_id(self.path)

    def pending_count(self) -> int:
        """Count the events that ingest has not copied to the store yet."""
        with self._lock:
            rows = self._connection.execute(
                "SELECT count(*) FROM feedback_events WHERE ingested_at IS NULL"
            ).fetchall()
        return int(rows[0][0])

    def close(self) -> None:
        """Close the database connection."""
        with self._lock:
            self._connection.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def feedback_folder(var_dir: Path) -> Path:
    """Return the feedback log's folder under the var folder ``var_dir``."""
    return var_dir / FEEDBACK_DIR_NAME


def _open(path: Path, busy_timeout: float) -> sqlite3.Connection:
    """Open the log database in WAL mode with FULL sync, creating its table."""
    try:
        # isolation_level=None: the sqlite3 module starts no transaction of its
        # own, so BEGIN and COMMIT are explicit. timeout sets SQLite's busy
        # timeout, which applies to every statement of the connection.
        connection = sqlite3.connect(
            path, timeout=busy_timeout, isolation_level=None, check_same_thread=False
        )
    except sqlite3.Error as error:
        msg = f"opening feedback log {path} failed: {error}"
        raise FeedbackLogError(msg) from error

    try:
        mode = connection.execute("PRAGMA journal_mode = WAL").fetchall()[0][0]
        # A per-connection setting, so every open sets it.
        connection.execute("PRAGMA synchronous = FULL")
        connection.execute(_CREATE_LOG_SQL)
        connection.execute(_CREATE_PENDING_INDEX_SQL)
    except sqlite3.Error as error:
        connection.close()
        msg = f"setting up feedback log {path} failed: {error}"
        raise FeedbackLogError(msg) from error
    if mode != "wal":
        connection.close()
        msg = f"feedback log {path} failed to switch to WAL mode: SQLite kept {mode!r}"
        raise FeedbackLogError(msg)
    return connection


def _file_id(path: Path) -> tuple[int, int] | None:
    """Return the device and inode of ``path``, or None when it is missing."""
    try:
        status = path.stat()
    except OSError:
        return None
    return status.st_dev, status.st_ino


def _log_row(event: FeedbackEvent, received_at: str) -> tuple[object, ...]:
    return (
        event.event_id,
        event.request_id,
        event.user_id,
        event.restaurant_id,
        event.kind,
        _format_time(event.occurred_at),
        event.position,
        received_at,
    )


def _format_time(moment: datetime) -> str:
    """Format an aware time as UTC text without an offset, with microseconds."""
    utc = moment.astimezone(UTC).replace(tzinfo=None)
    return utc.isoformat(timespec="microseconds")


def _roll_back(connection: sqlite3.Connection) -> None:
    if connection.in_transaction:
        try:
            connection.execute("ROLLBACK")
        except sqlite3.Error:
            logger.warning("rollback of the feedback log failed", exc_info=True)
