"""HEAD on the GET routes: the GET reply's status and headers, with no body."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.settings import Settings

pytestmark = pytest.mark.slow

GET_ROUTES = (
    "/healthz",
    "/readyz",
    "/metrics",
    "/v1/users/U1077/recommendations?k=3",
    "/v1/restaurants/132834/similar?k=2",
    "/openapi.json",
)


@pytest.fixture(scope="module")
def client(pipeline_var_dir: Path) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(var_dir=pipeline_var_dir))) as test_client:
        yield test_client


@pytest.mark.parametrize("url", GET_ROUTES)
def test_head_has_get_status_and_type(client: TestClient, url: str) -> None:
    got = client.get(url)
    head = client.head(url)

    assert head.status_code == got.status_code == 200
    assert head.headers["content-type"] == got.headers["content-type"]
    assert head.content == b""


def test_head_keeps_get_errors(client: TestClient) -> None:
    head = client.head("/v1/users/U1077/recommendations?k=0")

    assert head.status_code == 422
    assert head.headers["content-type"] == "application/json"
    assert head.content == b""


@pytest.mark.parametrize(
    ("url", "status"), [("/v1/feedback", 405), ("/v1/nowhere", 404)]
)
def test_head_without_get_route_unchanged(
    client: TestClient, url: str, status: int
) -> None:
    assert client.head(url).status_code == status


def test_head_counted_under_route(client: TestClient) -> None:
    client.head("/v1/users/U1077/recommendations?k=3")

    lines = client.get("/metrics").text.splitlines()
    counted = [
        line
        for line in lines
        if line.startswith("recommender_http_requests_total{")
        and 'method="HEAD"' in line
        and 'route="/v1/users/{user_id}/recommendations"' in line
    ]
    assert counted, "no HEAD count under the route template"


def test_head_over_http_keeps_connection_usable(
    pipeline_var_dir: Path,
    serve_in_thread: Callable[[Path], AbstractContextManager[int]],
) -> None:
    requests = (
        b"HEAD /readyz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
        b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    with (
        serve_in_thread(pipeline_var_dir) as port,
        socket.create_connection(("127.0.0.1", port), timeout=10) as conn,
    ):
        conn.sendall(requests)
        replies = _read_all(conn)

    head, rest = replies.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 200")
    assert b"content-length: " in head.lower()
    # The second reply follows the first's headers at once: HEAD sent no body.
    assert rest.startswith(b"HTTP/1.1 200")
    assert rest.endswith(b'{"status":"ok"}')


def _read_all(conn: socket.socket) -> bytes:
    chunks = []
    while chunk := conn.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)
