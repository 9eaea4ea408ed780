"""Feedback log tests on real SQLite and DuckDB files and real writer processes."""

from __future__ import annotations

import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from features import store
from features.rejects import RejectLog
from features.schema import FEEDBACK_EVENTS
from service.feedback import (
    LOG_FILE_NAME,
    MAX_APPEND_EVENTS,
    AppendResult,
    FeedbackEvent,
    FeedbackLog,
    FeedbackLogError,
    IngestResult,
    ingest,
)
from service.feedback_ingest import _insert_into_store, _last_seq, _read_pending

CLICK_ID = "0b6f4f6e-2c1d-4d8e-9a55-3e1f2b7c9d10"
ORDER_ID = "7a1c3e5f-9b2d-4f6a-8c0e-1d3f5a7b9c2e"
IMPRESSION_ID = "c4e2a9d1-5f3b-4e7c-a1d8-6b0f2e4c8a3d"

# A writer process: appends one new event per loop, resends the previous one as a
# retrying client would, and prints every acknowledged event id once append
# returns. It stops when the stop file exists.
WRITER_SCRIPT = """
import sys
from pathlib import Path

from service.feedback import FeedbackEvent, FeedbackLog

folder, name, stop = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
log = FeedbackLog(folder)
previous = None
number = 0
while not stop.exists():
    number += 1
    event = FeedbackEvent(
        request_id=f"{name}-{number}", restaurant_id="R1", kind="impression"
    )
    batch = [event] if previous is None else [event, previous]
    for event_id in log.append(batch).event_ids:
        print(event_id, flush=True)
    previous = event
"""
WRITERS = 4


def make_event(**fields: Any) -> FeedbackEvent:
    """A valid click event, with ``fields`` replacing its values."""
    values: dict[str, Any] = {
        "event_id": CLICK_ID,
        "request_id": "req-1",
        "user_id": "U1077",
        "restaurant_id": "135052",
        "kind": "click",
        "occurred_at": "2024-05-01T14:00:00+02:00",
        "position": 2,
    }
    values.update(fields)
    return FeedbackEvent.model_validate(values)


def stored_rows(store_path: Path) -> list[tuple[Any, ...]]:
    """The store's feedback events without the server times, by request_id."""
    connection = store.connect(store_path, read_only=True)
    try:
        return connection.execute(
            "SELECT event_id, request_id, user_id, restaurant_id, kind, occurred_at, "
            "position FROM feedback_events ORDER BY request_id"
        ).fetchall()
    finally:
        connection.close()


def stored_ids(store_path: Path) -> list[str]:
    connection = store.connect(store_path, read_only=True)
    try:
        rows = connection.execute("SELECT event_id FROM feedback_events").fetchall()
    finally:
        connection.close()
    return [row[0] for row in rows]


def acknowledged_ids(output: Path) -> list[str]:
    """Event ids a writer printed, leaving out a last line cut by a kill."""
    text = output.read_text()
    lines = text.split("\n")
    # The text after the last newline is empty, or a line the kill cut short.
    return lines[:-1]


@pytest.fixture
def log_folder(tmp_path: Path) -> Path:
    return tmp_path / "feedback"


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    return tmp_path / "store.duckdb"


def test_ingest_round_trip(log_folder: Path, store_path: Path) -> None:
    events = [
        make_event(),
        make_event(
            event_id=ORDER_ID,
            request_id="req-2",
            kind="order",
            occurred_at="2024-05-01T12:30:00Z",
        ),
        make_event(
            event_id=IMPRESSION_ID,
            request_id="req-3",
            user_id=None,
            kind="impression",
            occurred_at=datetime(2024, 5, 1, 9, 15, tzinfo=UTC),
            position=None,
        ),
    ]
    with FeedbackLog(log_folder) as log:
        appended = log.append(events)

    first = ingest(log_folder, store_path)
    second = ingest(log_folder, store_path)

    assert appended == AppendResult(
        event_ids=[CLICK_ID, ORDER_ID, IMPRESSION_ID], duplicate_ids=[]
    )
    assert first == IngestResult(read=3, inserted=3, already_present=0)
    assert second == IngestResult(read=0, inserted=0, already_present=0)
    # 14:00 at +02:00 is 12:00 UTC. The store keeps UTC without an offset.
    assert stored_rows(store_path) == [
        (CLICK_ID, "req-1", "U1077", "135052", "click", datetime(2024, 5, 1, 12), 2),
        (
            ORDER_ID,
            "req-2",
            "U1077",
            "135052",
            "order",
            datetime(2024, 5, 1, 12, 30),
            2,
        ),
        (
            IMPRESSION_ID,
            "req-3",
            None,
            "135052",
            "impression",
            datetime(2024, 5, 1, 9, 15),
            None,
        ),
    ]


def test_ingest_sets_server_times(log_folder: Path, store_path: Path) -> None:
    before = datetime.now(UTC).replace(tzinfo=None)
    with FeedbackLog(log_folder) as log:
        log.append([make_event()])
    ingest(log_folder, store_path)
    after = datetime.now(UTC).replace(tzinfo=None)

    connection = store.connect(store_path, read_only=True)
    received_at, ingested_at = connection.execute(
        "SELECT received_at, ingested_at FROM feedback_events"
    ).fetchall()[0]
    connection.close()

    assert before <= received_at <= ingested_at <= after


def test_ingest_only_new_events(log_folder: Path, store_path: Path) -> None:
    with FeedbackLog(log_folder) as log:
        log.append([make_event()])
        first = ingest(log_folder, store_path)
        log.append([make_event(event_id=ORDER_ID, request_id="req-2")])
        second = ingest(log_folder, store_path)
        pending = log.pending_count()

    assert first == IngestResult(read=1, inserted=1, already_present=0)
    assert second == IngestResult(read=1, inserted=1, already_present=0)
    assert pending == 0
    assert sorted(stored_ids(store_path)) == sorted([CLICK_ID, ORDER_ID])


def test_ingest_in_batches(log_folder: Path, store_path: Path) -> None:
    events = [make_event(event_id=str(uuid.uuid4())) for _ in range(5)]
    with FeedbackLog(log_folder) as log:
        log.append(events)

    # Batches of 2, 2 and 1 events.
    result = ingest(log_folder, store_path, batch_rows=2)

    assert result == IngestResult(read=5, inserted=5, already_present=0)
    assert sorted(stored_ids(store_path)) == sorted(event.event_id for event in events)


def test_ingest_missing_log(tmp_path: Path, store_path: Path) -> None:
    expected = str(tmp_path / "absent" / LOG_FILE_NAME)
    with pytest.raises(FileNotFoundError, match="feedback log not found") as raised:
        ingest(tmp_path / "absent", store_path)

    assert expected in str(raised.value)
    assert not (tmp_path / "absent").exists()


def test_ingest_batch_rows_zero(log_folder: Path, store_path: Path) -> None:
    FeedbackLog(log_folder).close()

    with pytest.raises(ValueError, match="batch_rows must be at least 1, got 0"):
        ingest(log_folder, store_path, batch_rows=0)


def test_ingest_interrupted_before_mark(log_folder: Path, store_path: Path) -> None:
    events = [
        make_event(),
        make_event(event_id=ORDER_ID, request_id="req-2"),
        make_event(event_id=IMPRESSION_ID, request_id="req-3"),
    ]
    with FeedbackLog(log_folder) as log:
        log.append(events)

    # The first step of ingest commits to DuckDB. The process then stops before
    # the second step marks the rows in SQLite.
    with FeedbackLog(log_folder) as log, store.connect(store_path) as connection:
        batch = _read_pending(log, _last_seq(log), 100)
        inserted = _insert_into_store(connection, batch, datetime.now(UTC))
        pending_after_crash = log.pending_count()

    rerun = ingest(log_folder, store_path)
    with FeedbackLog(log_folder) as log:
        pending_after_rerun = log.pending_count()

    assert inserted == 3
    assert pending_after_crash == 3
    assert rerun == IngestResult(read=3, inserted=0, already_present=3)
    assert pending_after_rerun == 0
    assert sorted(stored_ids(store_path)) == sorted([CLICK_ID, ORDER_ID, IMPRESSION_ID])


def test_ingested_events_survive_data_import(
    log_folder: Path, store_path: Path
) -> None:
    with FeedbackLog(log_folder) as log:
        log.append([make_event()])
    ingest(log_folder, store_path)

    # A data-set import empties every data-set table it is not given.
    with store.connect(store_path) as connection:
        store.replace_all(connection, {}, RejectLog().to_frame())

    assert stored_ids(store_path) == [CLICK_ID]


def test_append_same_event_id_twice(log_folder: Path, store_path: Path) -> None:
    with FeedbackLog(log_folder) as log:
        first = log.append([make_event()])
        # A retry that changed a field still keeps the first stored version.
        retry = log.append([make_event(kind="order")])
    result = ingest(log_folder, store_path)

    assert first == AppendResult(event_ids=[CLICK_ID], duplicate_ids=[])
    assert retry == AppendResult(event_ids=[CLICK_ID], duplicate_ids=[CLICK_ID])
    assert result == IngestResult(read=1, inserted=1, already_present=0)
    assert [row[4] for row in stored_rows(store_path)] == ["click"]


def test_append_duplicate_in_one_list(log_folder: Path) -> None:
    with FeedbackLog(log_folder) as log:
        result = log.append([make_event(), make_event(event_id=ORDER_ID), make_event()])
        pending = log.pending_count()

    assert result == AppendResult(
        event_ids=[CLICK_ID, ORDER_ID, CLICK_ID], duplicate_ids=[CLICK_ID]
    )
    assert pending == 2


def test_append_uppercase_uuid_is_same_event(log_folder: Path) -> None:
    with FeedbackLog(log_folder) as log:
        log.append([make_event()])
        result = log.append([make_event(event_id=CLICK_ID.upper())])

    assert result == AppendResult(event_ids=[CLICK_ID], duplicate_ids=[CLICK_ID])


def test_append_empty_list(log_folder: Path) -> None:
    with FeedbackLog(log_folder) as log:
        result = log.append([])
        pending = log.pending_count()

    assert result == AppendResult(event_ids=[], duplicate_ids=[])
    assert pending == 0


def test_append_too_many_events(log_folder: Path) -> None:
    count = MAX_APPEND_EVENTS + 1
    events = [make_event(event_id=str(uuid.uuid4())) for _ in range(count)]

    with FeedbackLog(log_folder) as log:
        with pytest.raises(ValueError, match=f"{count} events in one append"):
            log.append(events)
        pending = log.pending_count()

    assert pending == 0


def test_append_waits_for_write_lock(log_folder: Path) -> None:
    log = FeedbackLog(log_folder, busy_timeout=10.0)
    other = sqlite3.connect(log_folder / LOG_FILE_NAME, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    results: list[AppendResult] = []
    writer = threading.Thread(target=lambda: results.append(log.append([make_event()])))

    writer.start()
    time.sleep(0.5)
    waiting = writer.is_alive()
    other.execute("COMMIT")
    writer.join(timeout=10)
    pending = log.pending_count()
    other.close()
    log.close()

    assert waiting
    assert results == [AppendResult(event_ids=[CLICK_ID], duplicate_ids=[])]
    assert pending == 1


def test_append_lock_timeout(log_folder: Path) -> None:
    log = FeedbackLog(log_folder, busy_timeout=0.2)
    other = sqlite3.connect(log_folder / LOG_FILE_NAME, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")

    with pytest.raises(FeedbackLogError, match="database is locked") as raised:
        log.append([make_event()])
    other.execute("ROLLBACK")
    pending = log.pending_count()
    other.close()
    log.close()

    assert str(log_folder / LOG_FILE_NAME) in str(raised.value)
    assert "None was stored" in str(raised.value)
    assert pending == 0


def test_append_after_log_deleted(log_folder: Path, store_path: Path) -> None:
    with FeedbackLog(log_folder) as log:
        log.append([make_event()])
        # An operator deletes the folder while the service runs.
        shutil.rmtree(log_folder)
        result = log.append([make_event(event_id=ORDER_ID, request_id="req-2")])

    ingested = ingest(log_folder, store_path)

    assert result == AppendResult(event_ids=[ORDER_ID], duplicate_ids=[])
    assert ingested == IngestResult(read=1, inserted=1, already_present=0)
    assert stored_ids(store_path) == [ORDER_ID]


def test_append_after_log_replaced(log_folder: Path, store_path: Path) -> None:
    with FeedbackLog(log_folder) as log:
        log.append([make_event()])
        moved = log_folder.with_name("feedback-old")
        log_folder.rename(moved)
        # A new empty log takes the old one's place.
        FeedbackLog(log_folder).close()
        log.append([make_event(event_id=ORDER_ID, request_id="req-2")])

    ingest(log_folder, store_path)

    assert stored_ids(store_path) == [ORDER_ID]


def test_append_after_failed_reopen(log_folder: Path, store_path: Path) -> None:
    with FeedbackLog(log_folder) as log:
        log.append([make_event()])
        # An operator moves the folder away and back. While it is away, a
        # folder in place of the database file makes the reopen fail.
        moved = log_folder.with_name("feedback-away")
        log_folder.rename(moved)
        (log_folder / LOG_FILE_NAME).mkdir(parents=True)
        with pytest.raises(FeedbackLogError, match="unable to open"):
            log.append([make_event(event_id=ORDER_ID, request_id="req-2")])
        shutil.rmtree(log_folder)
        moved.rename(log_folder)
        result = log.append([make_event(event_id=ORDER_ID, request_id="req-2")])

    ingest(log_folder, store_path)

    assert result == AppendResult(event_ids=[ORDER_ID], duplicate_ids=[])
    assert sorted(stored_ids(store_path)) == sorted([CLICK_ID, ORDER_ID])


def test_event_defaults() -> None:
    before = datetime.now(UTC)
    first = FeedbackEvent(request_id="req-1", restaurant_id="135052", kind="click")
    second = FeedbackEvent(request_id="req-1", restaurant_id="135052", kind="click")
    after = datetime.now(UTC)

    assert uuid.UUID(first.event_id).version == 4
    assert first.event_id != second.event_id
    assert before <= first.occurred_at <= after
    assert first.user_id is None
    assert first.position is None


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("occurred_at", "2024-05-01T12:00:00", "has no UTC offset"),
        ("occurred_at", datetime(2024, 5, 1, 12), "has no UTC offset"),
        ("occurred_at", "yesterday", "must be an ISO 8601 time"),
        ("occurred_at", 1714564800, "valid datetime"),
        ("occurred_at", "0001-01-01T00:00:00+05:00", "out of range in UTC"),
        # datetime.fromisoformat (Python 3.11) reads these as midnight UTC.
        ("occurred_at", "2024-05-01\x0000:00:00Z", "control characters"),
        ("occurred_at", "2024-05-01T00:00:00\tZ", "control characters"),
        ("occurred_at", "2024-05-01T00:00:00Z\x00", "control characters"),
        ("kind", "like", "'impression', 'click' or 'order'"),
        ("kind", None, "'impression', 'click' or 'order'"),
        ("request_id", "", "at least 1 character"),
        ("request_id", "r" * 65, "at most 64 characters"),
        ("request_id", "req\n1", "should match pattern"),
        ("user_id", " U1077", "should match pattern"),
        ("restaurant_id", "135052 ", "should match pattern"),
        ("user_id", "", "at least 1 character"),
        ("user_id", 1077, "valid string"),
        ("restaurant_id", "r" * 129, "at most 128 characters"),
        ("event_id", "not-a-uuid", "must be a UUID"),
        ("position", 0, "greater than or equal to 1"),
        ("position", 2**31, "less than or equal to 2147483647"),
        ("position", "2", "valid integer"),
        ("position", True, "valid integer"),
        ("coupon", "X1", "Extra inputs are not permitted"),
    ],
    ids=lambda value: str(value)[:24],
)
def test_event_rejects_invalid_field(field: str, value: Any, message: str) -> None:
    with pytest.raises(ValidationError) as raised:
        make_event(**{field: value})

    errors = raised.value.errors()
    assert len(errors) == 1
    assert errors[0]["loc"] == (field,)
    assert message in errors[0]["msg"]


def test_store_has_feedback_table(store_path: Path) -> None:
    with store.connect(store_path) as connection:
        described = connection.execute("DESCRIBE feedback_events").fetchall()

    assert [row[0] for row in described] == FEEDBACK_EVENTS.column_names


def test_writers_killed_lose_no_event(
    tmp_path: Path, log_folder: Path, store_path: Path
) -> None:
    FeedbackLog(log_folder).close()
    stop = tmp_path / "stop"
    outputs = [tmp_path / f"writer{number}.out" for number in range(WRITERS)]
    writers = []
    for number, output in enumerate(outputs):
        with output.open("w") as handle:
            command = [sys.executable, "-c", WRITER_SCRIPT, str(log_folder)]
            command += [f"w{number}", str(stop)]
            writers.append(subprocess.Popen(command, stdout=handle))

    # Every writer has acknowledged events before the kill.
    deadline = time.monotonic() + 30
    while any(len(acknowledged_ids(output)) < 10 for output in outputs):
        assert time.monotonic() < deadline, "writers acknowledged no events in 30 s"
        time.sleep(0.05)
    time.sleep(1.0)
    writers[0].send_signal(signal.SIGKILL)
    writers[0].wait(timeout=10)
    time.sleep(0.5)
    stop.touch()
    for writer in writers[1:]:
        writer.wait(timeout=10)

    result = ingest(log_folder, store_path)
    stored = stored_ids(store_path)
    acknowledged = {i for output in outputs for i in acknowledged_ids(output)}
    with FeedbackLog(log_folder) as log:
        pending = log.pending_count()

    assert writers[0].returncode == -signal.SIGKILL
    assert [writer.returncode for writer in writers[1:]] == [0, 0, 0]
    assert len(stored) == len(set(stored))
    assert acknowledged <= set(stored)
    # Only the killed writer can have committed an event it never printed: the
    # new event of its last append.
    assert len(stored) - len(acknowledged) in (0, 1)
    assert result == IngestResult(
        read=len(stored), inserted=len(stored), already_present=0
    )
    assert pending == 0
    request_ids = [row[1] for row in stored_rows(store_path)]
    for number in range(WRITERS):
        numbers = sorted(
            int(request_id.split("-")[1])
            for request_id in request_ids
            if request_id.startswith(f"w{number}-")
        )
        # Writer w<number> numbered its requests 1, 2, 3, ... without gaps.
        assert numbers == list(range(1, len(numbers) + 1)), f"w{number}"
