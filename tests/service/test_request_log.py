"""The request log line of RequestContextMiddleware, around a failing app."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from starlette.types import Message, Receive, Scope, Send

from service.app import RequestContextMiddleware


async def _failing_app(scope: Scope, receive: Receive, send: Send) -> None:
    raise RuntimeError("boom")


def test_failed_request_logged_as_500(caplog: pytest.LogCaptureFixture) -> None:
    middleware = RequestContextMiddleware(_failing_app)
    scope: dict[str, Any] = {"type": "http", "method": "GET", "path": "/x"}
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b""}

    async def send(message: Message) -> None:
        sent.append(message)

    with (
        caplog.at_level("INFO", logger="service.requests"),
        pytest.raises(RuntimeError, match="boom"),
    ):
        asyncio.run(middleware(scope, receive, send))
    lines = [r.fields for r in caplog.records if r.name == "service.requests"]

    assert len(lines) == 1
    assert lines[0]["status"] == 500
    assert lines[0]["method"] == "GET"
    assert lines[0]["request_id"] == scope["state"]["request_id"]
    assert sent == []
