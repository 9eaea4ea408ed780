"""Exception handlers of the app, which respond with JSON error bodies."""

from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from features.schema import ID_PATTERN, ID_RULE
from service.schemas import TEXT_PATTERN, TEXT_RULE


async def _invalid_request(request: Request, error: Exception) -> JSONResponse:
    """Respond 422 with one entry per invalid field: where and why."""
    assert isinstance(error, RequestValidationError)
    detail = [
        {
            "loc": list(item.get("loc", ())),
            "msg": _readable_message(item),
            "type": item.get("type", ""),
        }
        for item in error.errors()
    ]
    return JSONResponse(status_code=422, content={"detail": detail})


# The rules of the API's patterns in words, in place of the regular expression
# in pydantic's message.
_PATTERN_RULES = {ID_PATTERN: ID_RULE, TEXT_PATTERN: TEXT_RULE}


def _readable_message(item: dict[str, Any]) -> str:
    """Return pydantic's message, or the rule in words for a pattern mismatch."""
    context = item.get("ctx") or {}
    rule = _PATTERN_RULES.get(context.get("pattern", ""))
    if item.get("type") == "string_pattern_mismatch" and rule is not None:
        return f"{rule}, got {item.get('input')!r}"
    # Pydantic starts the message of a ValueError raised by a validator so.
    return str(item.get("msg", "")).removeprefix("Value error, ")


async def _http_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, StarletteHTTPException)
    return JSONResponse(
        status_code=error.status_code,
        content={"detail": error.detail},
        headers=getattr(error, "headers", None),
    )
