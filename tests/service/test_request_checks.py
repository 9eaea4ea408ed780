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
    names: list[str] = []


@pytest.fixture(scope="module")
def client() -> TestClient:
    app = FastAPI()
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.router.route_class = CheckedRoute

    @app.post("/echo")
    def echo(body: _Body) -> dict[str, Any]:
        return {"k": body.k, "names": body.names}

    # Without raising server errors, a 500 reaches the assertions.
    return TestClient(app, raise_server_exceptions=False)


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
    assert response.json() == {"k": 2, "names": []}


# A JSON escape of half a UTF-16 surrogate pair parses to a str that UTF-8
# cannot encode, in a plain str field, in a key and in a repeated key.
@pytest.mark.parametrize(
    "body",
    [
        b'{"k": 2, "names": ["\\ud800"]}',
        b'{"k": 2, "names": [["x", "a\\udfff"]]}',
        b'{"k": 2, "\\ud800": 1}',
        b'{"k": 2, "\\ud800": 1, "\\ud800": 2}',
        b'"\\ud83d"',
    ],
)
def test_json_lone_surrogate_rejected(client: TestClient, body: bytes) -> None:
    response = client.post(
        "/echo", content=body, headers={"content-type": "application/json"}
    )

    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["body"]
    assert error["type"] == "json_invalid"
    assert "lone surrogate" in error["msg"]


def test_json_surrogate_pair_accepted(client: TestClient) -> None:
    response = client.post(
        "/echo",
        content=b'{"k": 2, "names": ["\\ud83c\\udf55"]}',
        headers={"content-type": "application/json"},
    )

    assert response.status_code == 200
    assert response.json() == {"k": 2, "names": ["\U0001f355"]}
