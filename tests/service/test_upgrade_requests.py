"""Requests that ask for a protocol upgrade are served whole as plain HTTP by
the protocol that ``recommender serve`` runs uvicorn with.

A small app that echoes each request is served in place of the service, since the
protocol is the same for any app.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn

from service.http_protocol import HTTP_PROTOCOL, WEBSOCKET_PROTOCOL


async def _echo(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Respond with the method, path, body and header names of the request."""
    if scope["type"] != "http":
        return
    body = b""
    more_body = True
    while more_body:
        message = await receive()
        body += message.get("body", b"")
        more_body = message.get("more_body", False)
    echoed = json.dumps(
        {
            "method": scope["method"],
            "path": scope["path"],
            "body": body.decode("latin-1"),
            "headers": sorted(name.decode() for name, _ in scope["headers"]),
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(echoed)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": echoed})


@pytest.fixture(scope="module")
def echo_port() -> Iterator[int]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    config = uvicorn.Config(
        _echo,
        host="127.0.0.1",
        port=port,
        http=HTTP_PROTOCOL,
        ws=WEBSOCKET_PROTOCOL,
        log_level="error",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started
    yield port
    server.should_exit = True
    thread.join(timeout=10)


def _responses(port: int, request: bytes, count: int) -> list[dict[str, Any]]:
    """Send raw bytes and return the first ``count`` echoed requests."""
    echoed: list[dict[str, Any]] = []
    buffer = b""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as client:
        client.sendall(request)
        while len(echoed) < count:
            head, separator, rest = buffer.partition(b"\r\n\r\n")
            length = None
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            if separator and length is not None and len(rest) >= length:
                echoed.append(json.loads(rest[:length]))
                buffer = rest[length:]
                continue
            chunk = client.recv(65536)
            assert chunk, f"connection closed after {len(echoed)} responses"
            buffer += chunk
    return echoed


H2C = b"Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AA\r\n"
WEBSOCKET = (
    b"Connection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n"
    b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
)


@pytest.mark.parametrize("upgrade", [H2C, WEBSOCKET], ids=["h2c", "websocket"])
def test_upgrade_post_keeps_body(echo_port: int, upgrade: bytes) -> None:
    # curl --http2 sends a POST to an http:// URL with these h2c headers.
    request = (
        b"POST /v1/recommendations HTTP/1.1\r\nHost: 127.0.0.1\r\n" + upgrade
    ) + b'Content-Type: application/json\r\nContent-Length: 8\r\n\r\n{"k": 3}'

    [echoed] = _responses(echo_port, request, 1)

    assert echoed["method"] == "POST"
    assert echoed["body"] == '{"k": 3}'
    assert "upgrade" not in echoed["headers"]
    assert "content-type" in echoed["headers"]


def test_upgrade_chunked_body_kept(echo_port: int) -> None:
    request = (
        b"POST /feedback HTTP/1.1\r\nHost: 127.0.0.1\r\n" + H2C
    ) + b"Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"

    [echoed] = _responses(echo_port, request, 1)

    assert echoed["body"] == "abcde"


def test_upgrade_pipelined_request_served(echo_port: int) -> None:
    request = (
        b"GET /first HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        + H2C
        + b"\r\nGET /second HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    )

    first, second = _responses(echo_port, request, 2)

    assert first["path"] == "/first"
    assert second["path"] == "/second"


def test_upgrade_body_in_later_packet(echo_port: int) -> None:
    head = (
        b"POST /late HTTP/1.1\r\nHost: 127.0.0.1\r\n" + H2C
    ) + b"Content-Length: 5\r\n\r\n"
    with socket.create_connection(("127.0.0.1", echo_port), timeout=5) as client:
        client.sendall(head)
        time.sleep(0.2)
        client.sendall(b"hello")
        response = client.recv(65536)

    status_line = response.split(b"\r\n", 1)[0]
    assert status_line == b"HTTP/1.1 200 OK"
    assert json.loads(response.partition(b"\r\n\r\n")[2])["body"] == "hello"


def test_many_pipelined_upgrades_served(echo_port: int) -> None:
    # More requests in one read than Python's default recursion limit.
    one = b"GET /many HTTP/1.1\r\nHost: 127.0.0.1\r\n" + H2C + b"\r\n"
    count = 1500

    echoed = _responses(echo_port, one * count, count)

    assert len(echoed) == count
    assert {item["path"] for item in echoed} == {"/many"}
