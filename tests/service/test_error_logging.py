"""An unexpected error under uvicorn: a JSON 500 with its request id, logged once."""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

import httpx2
import pytest
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


def test_unhandled_error_logged_once(
    failing_app: FastAPI,
    serve_app_in_thread: Callable[[FastAPI], AbstractContextManager[int]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    # uvicorn configures its loggers when it starts, so that they do not pass
    # records to the root logger, where caplog listens.
    server_logger = logging.getLogger("uvicorn.error")
    with serve_app_in_thread(failing_app) as port, caplog.at_level(logging.ERROR):
        server_logger.addHandler(caplog.handler)
        try:
            response = httpx2.get(f"http://127.0.0.1:{port}/failing", timeout=10)
        finally:
            server_logger.removeHandler(caplog.handler)
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
