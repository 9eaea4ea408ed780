"""uvicorn's HTTP/1.1 protocol with a JSON body on the 400 it sends for a
request it cannot parse.

uvicorn itself rejects a malformed request line, bytes that are not HTTP, or
a bad ``Content-Length`` before the request reaches the app, with a plain-text
``Invalid HTTP request received.``. The classes here send the same
status with a JSON ``detail``, like every other error of the API. uvicorn still
logs its warning for each such request. They use httptools
when it is installed and h11 otherwise, the choice of uvicorn's "auto".
"""

from __future__ import annotations

import asyncio
import json

from uvicorn.protocols.http.h11_impl import H11Protocol

INVALID_HTTP_DETAIL = (
    "invalid HTTP request: the request line, a header or the body framing "
    "could not be parsed as HTTP/1.1"
)
_BODY = json.dumps({"detail": INVALID_HTTP_DETAIL}).encode("ascii")
_HEADERS = [
    (b"content-type", b"application/json"),
    (b"content-length", str(len(_BODY)).encode("ascii")),
    (b"connection", b"close"),
]


class JsonErrorH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a JSON body on its 400."""

    def send_400_response(self, msg: str) -> None:
        self.transport.write(_response_bytes(self.server_state.default_headers))
        self.transport.close()


HTTP_PROTOCOL: type[asyncio.Protocol]
try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:  # httptools is an optional dependency of uvicorn
    HTTP_PROTOCOL = JsonErrorH11Protocol
else:

    class JsonErrorHttpToolsProtocol(HttpToolsProtocol):
        """uvicorn's httptools protocol with a JSON body on its 400."""

        def send_400_response(self, msg: str) -> None:
            self.transport.write(_response_bytes(self.server_state.default_headers))
            self.transport.close()

    HTTP_PROTOCOL = JsonErrorHttpToolsProtocol


def _response_bytes(default_headers: list[tuple[bytes, bytes]]) -> bytes:
    """Return a whole 400 response with uvicorn's default headers (server,
    date) and the JSON body."""
    lines = [b"HTTP/1.1 400 Bad Request"]
    lines += [name + b": " + value for name, value in default_headers]
    lines += [name + b": " + value for name, value in _HEADERS]
    return b"\r\n".join(lines) + b"\r\n\r\n" + _BODY
