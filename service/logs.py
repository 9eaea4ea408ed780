"""JSON-lines logging for the service.

Each record becomes one JSON object: time, level, logger, message, the
process id (which distinguishes the workers of ``serve --workers N``), and the
fields a caller passes as ``extra={"fields": {...}}`` (the request log adds
the request id, user id, strategy, status and latency). Tracebacks go into an
``error`` field, so a line never spans two lines.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

# Set to 1 for worker processes, which configure their own logging at start.
JSON_LOGS_ENV = "RECOMMENDER_JSON_LOGS"


class JsonFormatter(logging.Formatter):
    """Formats a log record as one JSON object on one line."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname.lower(),
            "logger": record.name,
            "pid": record.process,
            "message": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            entry.update(fields)
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def use_json_logs(level: int = logging.INFO) -> None:
    """Write every log record to standard error as a JSON line.

    Console handlers already on the root logger get the JSON format; other
    handlers (files, test capture) are left as they are.
    """
    root = logging.getLogger()
    consoles = [
        handler for handler in root.handlers if type(handler) is logging.StreamHandler
    ]
    if not consoles:
        consoles = [logging.StreamHandler()]
        root.addHandler(consoles[0])
    for handler in consoles:
        handler.setFormatter(JsonFormatter())
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
