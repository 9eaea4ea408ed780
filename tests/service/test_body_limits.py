"""Responses of BodyLimitMiddleware, on a small app without a loaded model."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from starlette.exceptions import HTTPException as StarletteHTTPException

from service.app import create_app
from service.app_errors import _http_error
from service.app_middleware import BodyLimitMiddleware
from service.metrics import render_metrics
from service.settings import Settings

MAX_BODY_BYTES = 1024


@pytest.fixture(scope="module")
def client() -> TestClient:
    app = FastAPI()
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_middleware(BodyLimitMiddleware, max_bytes=MAX_BODY_BYTES)

    @app.post("/echo")
    async def echo(request: Request) -> dict[str, Any]:
        return {"bytes": len(await request.body())}

    return TestClient(app)


def _pieces(size: int) -> Iterator[bytes]:
    """Yield ``size`` bytes in pieces, which httpx sends chunked."""
    for _ in range(size // 100):
        yield b"x" * 100


def test_declared_body_over_limit_closes(client: TestClient) -> None:
    response = client.post("/echo", content=b"x" * (MAX_BODY_BYTES + 1))

    assert response.status_code == 413
    assert response.headers["connection"] == "close"
    assert response.headers["content-length"] == str(len(response.content))
    assert response.json() == {"detail": "request body larger than 1024 bytes"}


def test_chunked_body_over_limit_closes(client: TestClient) -> None:
    response = client.post("/echo", content=_pieces(2 * MAX_BODY_BYTES))

    assert response.request.headers["transfer-encoding"] == "chunked"
    assert response.status_code == 413
    assert response.headers["connection"] == "close"
    assert response.json() == {"detail": "request body larger than 1024 bytes"}


def test_body_within_limit_read(client: TestClient) -> None:
    response = client.post("/echo", content=b"x" * MAX_BODY_BYTES)

    assert response.status_code == 200
    assert "connection" not in response.headers
    assert response.json() == {"bytes": MAX_BODY_BYTES}


def test_declared_413_counted_in_metrics(tmp_path: Path) -> None:
    # The service's app, not started: the 413 comes before any route runs.
    app = create_app(Settings(var_dir=tmp_path, max_body_bytes=MAX_BODY_BYTES))
    before = _requests_413()

    response = TestClient(app).post(
        "/v1/feedback",
        content=b"x" * (MAX_BODY_BYTES + 1),
        headers={"content-type": "application/json"},
    )

    assert response.status_code == 413
    assert _requests_413() == before + 1


def _requests_413() -> float:
    body, _ = render_metrics()
    return sum(
        sample.value
        for family in text_string_to_metric_families(body.decode())
        for sample in family.samples
        if sample.name == "recommender_http_requests_total"
        and sample.labels["status"] == "413"
        and sample.labels["method"] == "POST"
    )
