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
serves the request as plain HTTP and logs a warning about the upgrade, and
the httptools protocol here keeps the body of such a request and the
requests pipelined after it.

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
    import httptools
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:  # httptools is an optional dependency of uvicorn
    HTTP_PROTOCOL = JsonErrorH11Protocol
else:

    class JsonErrorHttpToolsProtocol(HttpToolsProtocol):
        """uvicorn's httptools protocol with a JSON body on its 400, a 414
        for a request target that httptools cannot parse for its length, and
        upgrade requests served whole as plain HTTP.

        For a request with ``Connection: upgrade`` and an ``Upgrade`` header,
        llhttp (httptools 0.9) ends the message at its headers and stops
        parsing there, expecting the other protocol. uvicorn 0.55 then drops
        the rest of the bytes read, so the request's body and any request
        pipelined after it were lost: a POST sent by ``curl --http2``, which
        requests ``Upgrade: h2c``, got 422 for a missing body. This class
        parses such a request again without its upgrade headers.
        """

        def _unsupported_upgrade_warning(self) -> None:
            # As in JsonErrorH11Protocol.
            self.logger.warning(UNSUPPORTED_UPGRADE_WARNING)

        def _is_plain_http_upgrade(self) -> bool:
            # CONNECT also counts as an upgrade for llhttp, and it stays one.
            return (
                self.parser.should_upgrade()
                and self.parser.get_method() != b"CONNECT"
                and not self._should_upgrade()
            )

        def on_headers_complete(self) -> None:
            if self._is_plain_http_upgrade():
                # data_received parses the request again, as the class explains.
                return
            super().on_headers_complete()

        def on_message_complete(self) -> None:
            if self._is_plain_http_upgrade():
                return
            super().on_message_complete()

        def data_received(self, data: bytes) -> None:
            self._unset_keepalive_if_required()
            # A loop, not recursion, because one read may contain many pipelined
            # upgrade requests.
            while True:
                try:
                    self.parser.feed_data(data)
                except httptools.HttpParserError:
                    self.logger.warning("Invalid HTTP request received.")
                    self.send_400_response("Invalid HTTP request received.")
                except httptools.HttpParserUpgrade as upgrade:
                    if self._should_upgrade():
                        self.handle_websocket_upgrade()
                        return
                    self._unsupported_upgrade_warning()
                    if self.parser.get_method() == b"CONNECT":
                        return
                    # The exception's argument is the offset in ``data`` where
                    # llhttp stopped: the end of the upgrade request's headers.
                    data = self._head_without_upgrade() + data[upgrade.args[0] :]
                    self.parser = _request_parser(self)
                    continue
                return

        def _head_without_upgrade(self) -> bytes:
            """Return the request line and headers of the request just parsed,
            without ``Upgrade`` and the ``upgrade`` token of ``Connection``."""
            version = self.parser.get_http_version().encode("ascii")
            lines = [self.parser.get_method() + b" " + self.url + b" HTTP/" + version]
            for name, value in self.headers:
                if name == b"upgrade":
                    continue
                if name == b"connection":
                    tokens = [token.strip() for token in value.split(b",")]
                    remaining = [t for t in tokens if t and t.lower() != b"upgrade"]
                    if not remaining:
                        continue
                    value = b", ".join(remaining)
                lines.append(name + b": " + value)
            return b"\r\n".join(lines) + b"\r\n\r\n"

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

    def _request_parser(protocol: HttpToolsProtocol) -> httptools.HttpRequestParser:
        """Return a parser for ``protocol`` set up as uvicorn 0.55 sets up its
        own."""
        parser = httptools.HttpRequestParser(protocol)
        parser.set_dangerous_leniencies(lenient_data_after_close=True)
        return parser


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
