"""ASGI middleware of the app: the body limits, request ids and log lines."""

import asyncio
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Match

request_log = logging.getLogger("service.requests")
# The app logs its errors under one name, whichever module has the code.
error_log = logging.getLogger("service.app")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class InternalErrorMiddleware:
    """Respond with a JSON 500 to an error that the app does not handle, and
    log its traceback once, with the request id.

    Starlette's handler of such errors raises them again after responding, so
    uvicorn logged each traceback a second time. Its response also bypassed
    :class:`RequestContextMiddleware`, so a 500 had no ``X-Request-ID``.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watched(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, watched)
        except Exception:
            request_id = scope.get("state", {}).get("request_id")
            if started:
                # A response already under way cannot become a 500. The error
                # goes on to the server, which logs it and closes the connection.
                error_log.error(
                    "response to request %s cut short by an unhandled error",
                    request_id,
                )
                raise
            error_log.exception(
                "unhandled error on %s %s, request %s",
                scope["method"],
                scope["path"],
                request_id,
            )
            response = JSONResponse(
                status_code=500, content={"detail": "internal server error"}
            )
            await response(scope, receive, send)


class HeadAsGetMiddleware:
    """Respond to HEAD on a GET route with the GET response's status and
    headers, Content-Length included, and no body (RFC 9110, section 9.3.2).

    Starlette adds HEAD to each GET route, but FastAPI does not, so a HEAD
    probe of /readyz got 405. A path with a HEAD route of its own, or
    without a GET route, is passed on unchanged.
    """

    def __init__(self, app: ASGIApp, routes: list[BaseRoute]) -> None:
        self.app = app
        # The app's own list, so that routes added later are matched too.
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "HEAD"
            or not self._has_get_route(scope)
        ):
            await self.app(scope, receive, send)
            return

        async def without_body(message: Message) -> None:
            if message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        # A copy, because uvicorn reads the method from its own scope: with
        # HEAD there, it expects no body, and with GET it would expect one.
        as_get = {**scope, "method": "GET"}
        try:
            await self.app(as_get, receive, without_body)
        finally:
            # The request log and the metrics read the matched route from here.
            if "route" in as_get:
                scope["route"] = as_get["route"]

    def _has_get_route(self, scope: Scope) -> bool:
        as_get = {**scope, "method": "GET"}
        for route in self.routes:
            if route.matches(scope)[0] is Match.FULL:
                return False
            if route.matches(as_get)[0] is Match.FULL:
                return True
        return False


class BodyLimitMiddleware:
    """Respond 413 to a request whose body is larger than ``max_bytes``, and
    408 to one whose body has not all arrived ``timeout_seconds`` after the
    app started to read it.

    uvicorn has no timeout for reading a body, so a client that sends less
    than its Content-Length would hold the connection until it closes it.
    """

    def __init__(
        self, app: ASGIApp, max_bytes: int, timeout_seconds: float = 30.0
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.timeout_seconds = timeout_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None and (
            not length.isdigit() or int(length) > self.max_bytes
        ):
            await _too_large(self.max_bytes, send)
            return
        received = 0
        deadline: float | None = None
        complete = False

        async def limited() -> Message:
            nonlocal received, deadline, complete
            if complete:
                # Later calls wait for the client to disconnect, with no limit.
                return await receive()
            loop = asyncio.get_running_loop()
            if deadline is None:
                deadline = loop.time() + self.timeout_seconds
            try:
                message = await asyncio.wait_for(
                    receive(), max(deadline - loop.time(), 0.0)
                )
            except TimeoutError:
                raise _BodyTimeoutError(self.timeout_seconds, received) from None
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                raise _BodyTooLargeError(self.max_bytes)
            complete = not message.get("more_body", False)
            return message

        try:
            await self.app(scope, limited, send)
        except _BodyTooLargeError:
            await _too_large(self.max_bytes, send)


class _BodyTooLargeError(StarletteHTTPException):
    """A chunked body went past the size limit.

    An HTTP exception, because FastAPI turns any other error raised while it
    reads the body into a 400. The app's handler turns it into the same 413
    JSON response as :func:`_too_large`.
    """

    def __init__(self, max_bytes: int) -> None:
        super().__init__(
            status_code=413,
            detail=_too_large_detail(max_bytes),
            headers={"Connection": "close"},
        )


class _BodyTimeoutError(StarletteHTTPException):
    """The body did not arrive in time; an HTTP exception for the reason given
    for _BodyTooLargeError. Its response closes the connection, whose unread
    body bytes would otherwise be read as the next request."""

    def __init__(self, timeout_seconds: float, received: int) -> None:
        super().__init__(
            status_code=408,
            detail=f"request body not received in {timeout_seconds:g} s: got "
            f"{received} bytes before the time ran out",
            headers={"Connection": "close"},
        )


def _too_large_detail(max_bytes: int) -> str:
    return f"request body larger than {max_bytes} bytes"


async def _too_large(max_bytes: int, send: Send) -> None:
    """Send the 413 response and close the connection. Kept open, the
    connection would go on reading the unread body, whose declared or chunked
    length has no limit, only to discard it."""
    body = json.dumps({"detail": _too_large_detail(max_bytes)}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class RequestContextMiddleware:
    """Give each request an id, return it in the ``X-Request-ID`` header, and
    log one JSON line with the id, route, user, strategy, status and latency.

    A plain ASGI middleware: Starlette's ``BaseHTTPMiddleware`` runs each
    request in a task of its own, which cost about 0.3 ms of CPU per request
    (one uvicorn worker on a 2-core machine).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = uuid.uuid4().hex
        # Request.state reads and writes this mapping.
        state = scope.setdefault("state", {})
        state.update(request_id=request_id, user_id=None, strategy=None)
        started = time.perf_counter()
        status: int | None = None

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)["X-Request-ID"] = request_id
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            # An exception from the app still gets its log line, as a 500.
            self._log(scope, state, request_id, status or 500, started)

    @staticmethod
    def _log(
        scope: Scope,
        state: dict[str, Any],
        request_id: str,
        status: int,
        started: float,
    ) -> None:
        fields = {
            "request_id": request_id,
            "method": scope["method"],
            "route": getattr(scope.get("route"), "path", None),
            "user_id": state.get("user_id"),
            "strategy": state.get("strategy"),
            "status": status,
            "latency_ms": round((time.perf_counter() - started) * 1000, 2),
        }
        request_log.info("request", extra={"fields": fields})


class WithoutRangesMiddleware:
    """Serve every response of ``app`` whole: drop the ``Range`` and
    ``If-Range`` request headers, and the ``Accept-Ranges`` response header.

    It wraps the static files of the documentation pages. For a malformed or
    unsatisfiable Range, Starlette's FileResponse (1.10) sends a plain-text
    400 or 416 of its own, where the API sends JSON errors. RFC 9110 lets a
    server ignore Range, and browsers load these files whole.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = [
            (name, value)
            for name, value in scope.get("headers") or []
            if name.lower() not in (b"range", b"if-range")
        ]

        async def send_without_ranges(message: Message) -> None:
            if message["type"] == "http.response.start":
                del MutableHeaders(scope=message)["accept-ranges"]
            await send(message)

        await self.app({**scope, "headers": headers}, receive, send_without_ranges)
