"""The copy of the feedback log's events into the DuckDB store, once each."""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import polars as pl

from features import store
from features.schema import FEEDBACK_EVENTS
from service.feedback_log import (
    LOG_FILE_NAME,
    FeedbackLog,
    FeedbackLogError,
    _format_time,
    _roll_back,
)

# The feedback code logs under one name, service.feedback, whichever module
# defines it.
logger = logging.getLogger("service.feedback")

# Events that ingest moves per DuckDB transaction.
INGEST_BATCH_ROWS = 50_000

# Columns read back from SQLite, in the order of FEEDBACK_EVENTS, all but
# ingested_at, which ingest sets.
_LOG_COLUMNS = [name for name in FEEDBACK_EVENTS.column_names if name != "ingested_at"]
# Times are stored in SQLite as ISO 8601 text in UTC without an offset, with
# microseconds, as datetime.isoformat writes them. This is their polars format.
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S%.f"


@dataclass(frozen=True)
class IngestResult:
    """Counts of one ingest: ``read`` events = ``inserted`` + ``already_present``."""

    read: int
    inserted: int
    already_present: int


def ingest(
    log_folder: Path, store_path: Path, *, batch_rows: int = INGEST_BATCH_ROWS
) -> IngestResult:
    """Copy the log's events that are not ingested yet into the store, once each.

    Each batch of ``batch_rows`` events takes two commits:
    :func:`_insert_into_store` commits the events to DuckDB, skipping event ids
    the table already has, then :func:`_mark_ingested` sets ``ingested_at`` in
    SQLite. A run stopped between the two commits leaves the batch unmarked,
    so the next run reads it again and DuckDB's key on event_id skips every
    event of it. Events appended while ingest runs wait for the next run. No
    event is ever deleted from the log.

    NOTE: a store file that is deleted or replaced by another one does not get
    back the events ingested into it before, because the log keeps them marked.

    Raises:
        FileNotFoundError: ``log_folder`` has no feedback log.
        ValueError: the store is open in another process (DuckDB allows one
            writer), or ``batch_rows`` is below 1.
        FeedbackLogError: SQLite failed, for example it timed out waiting for
            the write lock.
    """
    if batch_rows < 1:
        msg = f"batch_rows must be at least 1, got {batch_rows}"
        raise ValueError(msg)
    log_path = log_folder / LOG_FILE_NAME
    if not log_path.is_file():
        msg = f"feedback log not found: {log_path}; check the var folder"
        raise FileNotFoundError(msg)

    logger.info("ingesting feedback events from %s into %s", log_path, store_path)
    read = inserted = 0
    with FeedbackLog(log_folder) as log, store.connect(store_path) as connection:
        last_seq = _last_seq(log)
        while True:
            batch = _read_pending(log, last_seq, batch_rows)
            if batch.is_empty():
                break
            ingested_at = datetime.now(UTC)
            inserted += _insert_into_store(connection, batch, ingested_at)
            _mark_ingested(log, batch["seq"].to_list(), ingested_at)
            read += batch.height

    result = IngestResult(read=read, inserted=inserted, already_present=read - inserted)
    logger.info(
        "ingested feedback events: %d read, %d inserted, %d already in the store",
        result.read,
        result.inserted,
        result.already_present,
    )
    return result


def _read_pending(log: FeedbackLog, last_seq: int, limit: int) -> pl.DataFrame:
    """Read up to ``limit`` events not ingested yet with seq up to ``last_seq``,
    oldest first, as a frame of seq and the FEEDBACK_EVENTS columns but
    ingested_at."""
    columns = ", ".join(["seq", *_LOG_COLUMNS])
    with log._lock:
        try:
            rows = log._connection.execute(
                f"SELECT {columns} FROM feedback_events "
                "WHERE ingested_at IS NULL AND seq <= ? ORDER BY seq LIMIT ?",
                (last_seq, limit),
            ).fetchall()
        except sqlite3.Error as error:
            msg = f"reading feedback events from {log.path} failed: {error}"
            raise FeedbackLogError(msg) from error

    schema: dict[str, pl.DataType] = {"seq": pl.Int64()}
    for name in _LOG_COLUMNS:
        schema[name] = pl.Int32() if name == "position" else pl.String()
    frame = pl.DataFrame(rows, schema=schema, orient="row")
    return frame.with_columns(
        pl.col("occurred_at", "received_at").str.to_datetime(
            _TIME_FORMAT, time_unit="us"
        )
    )


def _insert_into_store(
    connection: duckdb.DuckDBPyConnection, batch: pl.DataFrame, ingested_at: datetime
) -> int:
    """Insert the events of ``batch`` whose event_id the store lacks, in one
    DuckDB transaction, and return how many were inserted.

    This is the first commit of an ingest batch: the events are in the store,
    but the log still lists them as pending until :func:`_mark_ingested`.
    """
    rows = batch.drop("seq").with_columns(
        pl.lit(ingested_at.replace(tzinfo=None)).alias("ingested_at")
    )
    columns = ", ".join(FEEDBACK_EVENTS.column_names)
    # One statement runs in one transaction. DO NOTHING skips an event id that
    # the table already has, so the count is of new rows only.
    with store.registered(connection, "incoming_feedback", rows):
        counts = connection.execute(
            f"INSERT INTO {FEEDBACK_EVENTS.name} ({columns}) "
            f"SELECT {columns} FROM incoming_feedback ON CONFLICT DO NOTHING"
        ).fetchall()
    return int(counts[0][0])


def _mark_ingested(log: FeedbackLog, seqs: list[int], ingested_at: datetime) -> None:
    """Set ``ingested_at`` on the log rows ``seqs`` in one SQLite transaction.

    This is the second commit of an ingest batch, after
    :func:`_insert_into_store` has committed the same rows to DuckDB.
    """
    stamp = _format_time(ingested_at)
    with log._lock:
        try:
            log._connection.execute("BEGIN IMMEDIATE")
            log._connection.executemany(
                "UPDATE feedback_events SET ingested_at = ? "
                "WHERE seq = ? AND ingested_at IS NULL",
                ((stamp, seq) for seq in seqs),
            )
            log._connection.execute("COMMIT")
        except sqlite3.Error as error:
            _roll_back(log._connection)
            msg = (
                f"marking {len(seqs)} feedback events as ingested in {log.path} "
                f"failed: {error}. They are in the store, and the next ingest "
                f"skips them there"
            )
            raise FeedbackLogError(msg) from error


def _last_seq(log: FeedbackLog) -> int:
    """Return the highest seq in the log, 0 for an empty log.

    Ingest stops there, so that writers appending all the time cannot keep it
    running forever.
    """
    with log._lock:
        rows = log._connection.execute(
            "SELECT coalesce(max(seq), 0) FROM feedback_events"
        ).fetchall()
    return int(rows[0][0])
