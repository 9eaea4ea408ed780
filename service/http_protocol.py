"""uvicorn's HTTP/1.1 protocol with a JSON body on the 400 it sends for a
request it cannot parse.

uvicorn itself rejects a malformed request line, bytes that are not HTTP, or
a bad ``Content-Length`` before the request reaches the app, with a plain-text
``Invalid HTTP request received.``. The classes here send the same
status with a JSON ``detail``, like every other error of the API. uvicorn still
logs its warning for each such request. They use httptools
when it is installed and h11 otherwise, the choice of uvicorn's "auto".

The service has no WebSocket route, so ``recommender serve`` runs uvicorn
with ``ws=WEBSOCKET_PROTOCOL``, "none". With uvicorn's WebSocket support, an
``Upgrade: websocket`` request got a plain-text 400 from the websockets
library, or an empty 403, before it reached the app. Without it, uvicorn
serves the request as plain HTTP and logs a warning about the upgrade.

With httptools, a request target (path and query) longer than 65,535 bytes
gets ``414 URI Too Long`` with its length in the ``detail``, because httptools
0.9 cannot parse a longer URL. h11 rejects a request line over its 16 KiB
buffer (h11 0.16's default, which uvicorn keeps) with the 400 above.
"""

from __future__ import annotations

import asyncio
import json

from uvicorn.protocols.http.h11_impl import H11Protocol

INVALID_HTTP_DETAIL = (
    "invalid HTTP request: the request line, a header or the body framing "
    "could not be parsed as HTTP/1.1"
)
# uvicorn's ``ws`` setting: no WebSocket protocol.
WEBSOCKET_PROTOCOL = "none"
# Maximum length in bytes of a request target that httptools 0.9 parses,
# because its URL offsets are 16-bit.
MAX_URL_BYTES = 65_535


UNSUPPORTED_UPGRADE_WARNING = (
    "Unsupported upgrade request; served as plain HTTP, since the service has "
    "no WebSocket route."
)


class JsonErrorH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a JSON body on its 400."""

    def _unsupported_upgrade_warning(self) -> None:
        # uvicorn 0.55 adds that no WebSocket library is installed and
        # suggests installing one, which does not apply with ws="none".
        self.logger.warning(UNSUPPORTED_UPGRADE_WARNING)

    def send_400_response(self, msg: str) -> None:
        self.transport.write(
            _response_bytes(self.server_state.default_headers, INVALID_HTTP_DETAIL)
        )
        self.transport.close()


HTTP_PROTOCOL: type[asyncio.Protocol]
try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:  # httptools is an optional dependency of uvicorn
    HTTP_PROTOCOL = JsonErrorH11Protocol
else:

    class JsonErrorHttpToolsProtocol(HttpToolsProtocol):
        """uvicorn's httptools protocol with a JSON body on its 400, and a 414
        for a request target that httptools cannot parse for its length."""

        def _unsupported_upgrade_warning(self) -> None:
            # As in JsonErrorH11Protocol.
            self.logger.warning(UNSUPPORTED_UPGRADE_WARNING)

        def send_400_response(self, msg: str) -> None:
            # on_message_begin resets url, so it is this request's target.
            length = len(getattr(self, "url", b""))
            if length > MAX_URL_BYTES:
                detail = (
                    f"request target too long: {length} bytes, at most "
                    f"{MAX_URL_BYTES}. Send fewer or shorter query parameters."
                )
                status = b"414 URI Too Long"
            else:
                detail, status = INVALID_HTTP_DETAIL, b"400 Bad Request"
            headers = self.server_state.default_headers
            self.transport.write(_response_bytes(headers, detail, status))
            self.transport.close()

    HTTP_PROTOCOL = JsonErrorHttpToolsProtocol


def _response_bytes(
    default_headers: list[tuple[bytes, bytes]],
    detail: str,
    status: bytes = b"400 Bad Request",
) -> bytes:
    """Return a whole error response with uvicorn's default headers (server,
    date) and ``detail`` in a JSON body."""
    body = json.dumps({"detail": detail}).encode("ascii")
    lines = [b"HTTP/1.1 " + status]
    lines += [name + b": " + value for name, value in default_headers]
    lines += [
        b"content-type: application/json",
        b"content-length: " + str(len(body)).encode("ascii"),
        b"connection: close",
    ]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body
