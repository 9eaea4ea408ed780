"""JSON body checks of CheckedRoute, on a small app without a loaded model."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.testclient import TestClient
from pydantic import BaseModel

from service.app_errors import _invalid_request
from service.request_checks import CheckedRoute


class _Body(BaseModel):
    k: int


@pytest.fixture(scope="module")
def client() -> TestClient:
    app = FastAPI()
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.router.route_class = CheckedRoute

    @app.post("/echo")
    def echo(body: _Body) -> dict[str, Any]:
        return {"k": body.k}

    return TestClient(app)


@pytest.mark.parametrize(
    "encoding", ["utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be"]
)
def test_json_without_byte_order_mark_rejected(
    client: TestClient, encoding: str
) -> None:
    # json.loads detects these encodings by their NUL bytes, without a mark.
    response = client.post(
        "/echo",
        content='{"k": 2}'.encode(encoding),
        headers={"content-type": "application/json"},
    )

    assert response.status_code == 422
    assert response.json() == {
        "detail": [
            {
                "loc": ["body"],
                "msg": f"body is not valid JSON: the body appears to be "
                f"{encoding}; send JSON as UTF-8",
                "type": "json_invalid",
            }
        ]
    }


def test_json_with_utf8_byte_order_mark_accepted(client: TestClient) -> None:
    response = client.post(
        "/echo",
        content=b'\xef\xbb\xbf{"k": 2}',
        headers={"content-type": "application/json"},
    )

    assert response.status_code == 200
    assert response.json() == {"k": 2}
