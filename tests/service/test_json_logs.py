"""The JSON lines that the service logs."""

from __future__ import annotations

import json
import logging
import os

from service.logs import JsonFormatter


def test_json_line_names_process() -> None:
    # Two workers log the same reload messages, so the process id
    # distinguishes their lines.
    record = logging.LogRecord(
        "service.app", logging.INFO, __file__, 1, "reloaded %s", ("v1",), None
    )

    entry = json.loads(JsonFormatter().format(record))

    assert entry["pid"] == os.getpid()
    assert entry["message"] == "reloaded v1"
    assert entry["logger"] == "service.app"
