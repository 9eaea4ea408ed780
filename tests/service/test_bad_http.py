"""Requests that are not valid HTTP get a JSON 400 from ``recommender serve``."""

from __future__ import annotations

import json
import socket
import subprocess
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from urllib.parse import urlsplit

import httpx2
import pytest

from service.http_protocol import (
    INVALID_HTTP_DETAIL,
    MAX_URL_BYTES,
    UNSUPPORTED_UPGRADE_WARNING,
    JsonErrorH11Protocol,
)

pytestmark = pytest.mark.slow

MALFORMED = {
    "request-line": b"NOT AN HTTP REQUEST\r\n\r\n",
    "content-length": (
        b"POST /v1/recommendations HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Length: ten\r\n\r\n"
    ),
    "header-without-colon": (
        b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nno colon here\r\n\r\n"
    ),
    "raw-bytes": b"GET /v1/users/\xff\xfe/recommendations HTTP/1.1\r\n\r\n",
}


def _exchange(port: int, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send raw bytes, read until the server closes, and return the status,
    the headers (lower-case names) and the body."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as client:
        client.sendall(request)
        chunks = []
        while chunk := client.recv(65536):
            chunks.append(chunk)
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), headers, body


def _assert_json_400(port: int, request: bytes) -> None:
    status, headers, body = _exchange(port, request)

    assert status == 400
    assert headers["content-type"] == "application/json"
    assert int(headers["content-length"]) == len(body)
    assert headers["connection"] == "close"
    assert json.loads(body) == {"detail": INVALID_HTTP_DETAIL}


@pytest.mark.parametrize("workers", [1, 2])
def test_serve_bad_http_json_400(
    pipeline_var_dir: Path,
    start_workers: Callable[..., tuple[str, subprocess.Popen[bytes]]],
    workers: int,
) -> None:
    url, _ = start_workers(pipeline_var_dir, {}, workers=workers)
    port = urlsplit(url).port
    assert port is not None

    for name, request in MALFORMED.items():
        try:
            _assert_json_400(port, request)
        except AssertionError as error:
            raise AssertionError(f"{name}: {error}") from error

    # The server keeps serving after the bad requests.
    assert httpx2.get(f"{url}/healthz", timeout=10).status_code == 200


# The service has no WebSocket route. uvicorn's WebSocket support responded to an
# upgrade request with a plain-text 400 or an empty 403 before the app saw it.
WEBSOCKET_UPGRADE = (
    b"GET /v1/restaurants/nothing/similar HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    b"Connection: Upgrade, close\r\nUpgrade: websocket\r\n"
    b"Sec-WebSocket-Version: 13\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
)


@pytest.mark.parametrize("key", [True, False])
def test_serve_websocket_upgrade_plain_http(
    pipeline_var_dir: Path,
    start_workers: Callable[..., tuple[str, subprocess.Popen[bytes]]],
    log_tail: Callable[[str, Path], str],
    key: bool,
) -> None:
    url, _ = start_workers(pipeline_var_dir, {}, workers=1)
    port = urlsplit(url).port
    assert port is not None
    request = WEBSOCKET_UPGRADE
    if not key:
        request = request.replace(
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", b""
        )

    status, headers, body = _exchange(port, request)

    assert status == 404
    assert headers["content-type"] == "application/json"
    assert json.loads(body) == {"detail": "restaurant 'nothing' not found"}
    log = log_tail(url, pipeline_var_dir)
    assert UNSUPPORTED_UPGRADE_WARNING in log
    assert "No supported WebSocket library" not in log


def test_h11_protocol_json_400(
    pipeline_var_dir: Path,
    serve_in_thread: Callable[..., AbstractContextManager[int]],
) -> None:
    """The fallback used where httptools is not installed."""
    with serve_in_thread(pipeline_var_dir, http=JsonErrorH11Protocol) as port:
        for name, request in MALFORMED.items():
            try:
                _assert_json_400(port, request)
            except AssertionError as error:
                raise AssertionError(f"{name}: {error}") from error


def test_long_request_target_json_414(
    pipeline_var_dir: Path,
    serve_in_thread: Callable[..., AbstractContextManager[int]],
) -> None:
    query = "k=10&" + "&".join(["exclude_cuisines=" + "a" * 100] * 700)
    target = f"/v1/users/U1077/recommendations?{query}".encode("ascii")
    request = b"GET " + target + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    assert len(target) > MAX_URL_BYTES

    with serve_in_thread(pipeline_var_dir) as port:
        status, headers, body = _exchange(port, request)
        short_status, _, _ = _exchange(port, request.replace(b"a" * 100, b"a"))

    assert status == 414
    assert headers["content-type"] == "application/json"
    assert json.loads(body) == {
        "detail": f"request target too long: {len(target)} bytes, at most "
        "65535. Send fewer or shorter query parameters."
    }
    # The same parameters, short enough to parse, reach the app and its
    # limit of 20 excluded cuisines.
    assert short_status == 422


def test_short_body_times_out_408(
    pipeline_var_dir: Path,
    serve_in_thread: Callable[..., AbstractContextManager[int]],
) -> None:
    # The body declares 40 bytes and sends 8, then waits.
    request = (
        b"POST /v1/recommendations HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/json\r\nContent-Length: 40\r\n\r\n"
        b'{"k": 3,'
    )

    with serve_in_thread(pipeline_var_dir, body_timeout_seconds=1.0) as port:
        started = time.monotonic()
        status, headers, body = _exchange(port, request)
        waited = time.monotonic() - started
        after = httpx2.post(
            f"http://127.0.0.1:{port}/v1/recommendations", json={"k": 3}, timeout=10
        )

    assert status == 408
    assert headers["content-type"] == "application/json"
    assert headers["connection"] == "close"
    assert json.loads(body) == {
        "detail": "request body not received in 1 s: got 8 bytes before the "
        "time ran out"
    }
    # _exchange reads until the server closes, within its 10 s timeout.
    assert 1.0 <= waited < 10
    assert after.status_code == 200
