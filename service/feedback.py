"""Record clients' feedback events durably and move them into the DuckDB store.

Each service worker appends events to one SQLite database in WAL mode, which
several processes can write at once. :func:`ingest` later copies the events into
the store's ``feedback_events`` table for the next training run, once per event.
"""

# The public names of service.feedback_event, service.feedback_log and
# service.feedback_ingest.
from service.feedback_event import MAX_POSITION, FeedbackEvent
from service.feedback_ingest import INGEST_BATCH_ROWS, IngestResult, ingest
from service.feedback_log import (
    DEFAULT_BUSY_TIMEOUT,
    FEEDBACK_DIR_NAME,
    LOG_FILE_NAME,
    MAX_APPEND_EVENTS,
    AppendResult,
    FeedbackLog,
    FeedbackLogError,
    feedback_folder,
)

__all__ = [
    "DEFAULT_BUSY_TIMEOUT",
    "FEEDBACK_DIR_NAME",
    "INGEST_BATCH_ROWS",
    "LOG_FILE_NAME",
    "MAX_APPEND_EVENTS",
    "MAX_POSITION",
    "AppendResult",
    "FeedbackEvent",
    "FeedbackLog",
    "FeedbackLogError",
    "IngestResult",
    "feedback_folder",
    "ingest",
]
