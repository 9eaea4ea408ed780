"""An unexpected error under uvicorn: a JSON 500 with its request id, logged once."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
import uvicorn
from fastapi import FastAPI

from service.app import create_app
from service.settings import Settings

pytestmark = pytest.mark.slow


class _FailingRouteError(RuntimeError):
    """The error of the test's failing route."""


def _fail() -> None:
    raise _FailingRouteError("the failing route failed")


@pytest.fixture
def failing_app(pipeline_var_dir: Path) -> FastAPI:
    app = create_app(Settings(var_dir=pipeline_var_dir))
    app.add_api_route("/failing", _fail)
    return app


@pytest.fixture
def served(failing_app: FastAPI, caplog: pytest.LogCaptureFixture) -> Iterator[int]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(failing_app, host="127.0.0.1", port=port)
    # uvicorn's own logging configuration does not pass its records to the
    # root logger, where caplog listens.
    server_logger = logging.getLogger("uvicorn.error")
    server_logger.addHandler(caplog.handler)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 60
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.1)
        assert server.started
        yield port
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        server_logger.removeHandler(caplog.handler)


def test_unhandled_error_logged_once(
    served: int, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR):
        response = httpx2.get(f"http://127.0.0.1:{served}/failing", timeout=10)
        request_id = response.headers["x-request-id"]

    with_traceback = [
        record
        for record in caplog.records
        if record.exc_info and isinstance(record.exc_info[1], _FailingRouteError)
    ]
    assert response.status_code == 500
    assert response.json() == {"detail": "internal server error"}
    assert len(with_traceback) == 1
    assert with_traceback[0].name == "service.app"
    assert request_id in with_traceback[0].getMessage()
    assert "Exception in ASGI application" not in caplog.text
