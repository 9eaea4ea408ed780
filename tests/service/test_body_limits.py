"""Responses of BodyLimitMiddleware, on a small app without a loaded model."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient
from starlette.exceptions import HTTPException as StarletteHTTPException

from service.app_errors import _http_error
from service.app_middleware import BodyLimitMiddleware

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
