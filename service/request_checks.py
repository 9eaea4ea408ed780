"""Checks that FastAPI leaves out: query parameters, body type and JSON syntax.

FastAPI (0.165) ignores query parameters that a route does not declare and
keeps the last value of a repeated one, as :func:`json.loads` does with a
repeated key of a JSON object. It returns 400 "There was an error parsing the
body" when a JSON body is not UTF-8 or nests deeper than Python's recursion
limit, and validates a body sent with another content type as raw bytes.
:class:`CheckedRoute` rejects these requests with the API's 4xx JSON errors
before FastAPI reads the parameters.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Coroutine, Iterator
from types import UnionType
from typing import Any, Union, get_args, get_origin
from urllib.parse import unquote_to_bytes

from fastapi import HTTPException, Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BeforeValidator
from starlette.requests import ClientDisconnect

JSON_MEDIA_TYPE = "application/json"
_SEQUENCE_TYPES = (list, tuple, set, frozenset)


class CheckedRoute(APIRoute):
    """A route that rejects undeclared or repeated query parameters, and a body
    that is not JSON, with a 4xx JSON error naming the parameter or the problem.

    A query parameter declared as a list may repeat, and any other may appear
    once.
    """

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, endpoint, **kwargs)
        self.query_names: list[str] = []
        self.repeatable_query_names: set[str] = set()
        for field in _query_fields(self.dependant):
            self.query_names.append(field.alias)
            if _is_sequence(field.field_info.annotation):
                self.repeatable_query_names.add(field.alias)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        takes_body = self.body_field is not None

        async def checked_handler(request: Request) -> Response:
            check_utf8(request)
            self.check_query(request)
            if takes_body:
                await check_json_body(request)
            return await handler(request)

        return checked_handler

    def check_query(self, request: Request) -> None:
        """Raise a 422 for each query parameter the route does not declare or
        that repeats without being a list."""
        errors = []
        counts: dict[str, int] = {}
        for name, _ in request.query_params.multi_items():
            counts[name] = counts.get(name, 0) + 1
        for name, count in counts.items():
            if name not in self.query_names:
                errors.append(
                    {
                        "type": "extra_forbidden",
                        "loc": ("query", name),
                        "msg": f"unknown query parameter {name!r}; "
                        + self._known_names(),
                        "input": request.query_params.getlist(name),
                    }
                )
            elif count > 1 and name not in self.repeatable_query_names:
                errors.append(
                    {
                        "type": "multiple_values",
                        "loc": ("query", name),
                        "msg": f"query parameter {name!r} takes one value, got {count}",
                        "input": request.query_params.getlist(name),
                    }
                )
        if errors:
            raise RequestValidationError(errors)

    def _known_names(self) -> str:
        if not self.query_names:
            return "this route takes no query parameters"
        return "known parameters: " + ", ".join(self.query_names)


def check_utf8(request: Request) -> None:
    """Raise a 422 when the path or the query, once percent-decoded, is not
    UTF-8: Starlette would replace the bad bytes, so that different raw ids
    would name one user."""
    errors = []
    parts = (
        ("path", request.scope.get("raw_path") or b""),
        ("query", (request.scope.get("query_string") or b"").replace(b"+", b" ")),
    )
    for where, raw in parts:
        try:
            unquote_to_bytes(raw).decode("utf-8")
        except UnicodeDecodeError as error:
            errors.append(
                {
                    "type": "utf8_invalid",
                    "loc": (where,),
                    "msg": f"the {where} is not valid UTF-8 once percent-decoded "
                    f"(byte {error.start}: {error.reason})",
                    "input": raw.decode("latin-1"),
                }
            )
    if errors:
        raise RequestValidationError(errors)


# The forms a numeric query value must take: digits with an optional minus
# sign, and for decimals also a point and an exponent. pydantic follows
# Python's int() and float(), which also accept "3_0", "+3" and spaces around
# the digits.
_INTEGER_TEXT = re.compile(r"-?[0-9]+")
_DECIMAL_TEXT = re.compile(r"-?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?")


def _whole_number_text(value: Any) -> Any:
    """Reject a query value such as ``3.0`` or ``3_0``, which pydantic would
    read as an integer, as the JSON bodies reject the number 3.0."""
    if isinstance(value, str) and not _INTEGER_TEXT.fullmatch(value):
        msg = f"expected a whole number such as 10, got {value!r}"
        raise ValueError(msg)
    return value


def _decimal_text(value: Any) -> Any:
    """Reject a query value such as ``1_0`` or `` 4``, which pydantic would
    read as a number."""
    if isinstance(value, str) and not _DECIMAL_TEXT.fullmatch(value):
        msg = f"expected a decimal number such as 40.42, got {value!r}"
        raise ValueError(msg)
    return value


# Annotates an int query parameter that must be written as digits only.
WHOLE_NUMBER = BeforeValidator(_whole_number_text)
# Annotates a float query parameter that must be written as a plain decimal.
DECIMAL_NUMBER = BeforeValidator(_decimal_text)


async def check_json_body(request: Request) -> None:
    """Parse a non-empty body as JSON, which Starlette keeps for FastAPI.

    Raises:
        HTTPException: 415, the content type is not JSON; 400, the client
            disconnected before sending the whole body.
        RequestValidationError: the body is not valid JSON, or one of its
            objects repeats a key.
    """
    try:
        body = await request.body()
    except ClientDisconnect:
        # The client is gone, so the response is never read. A 400 keeps the
        # request out of the server errors.
        raise HTTPException(
            status_code=400,
            detail="the client disconnected before sending the whole body",
        ) from None
    if not body:
        # FastAPI reports the missing body as a missing field.
        return
    content_type = request.headers.get("content-type")
    if not _is_json(content_type):
        received = "no content type" if content_type is None else repr(content_type)
        raise HTTPException(
            status_code=415,
            detail=f"request body must be sent as {JSON_MEDIA_TYPE}, got {received}",
        )
    try:
        await request.json()
    except json.JSONDecodeError as error:
        raise _invalid_json(
            f"{error.msg} at line {error.lineno} column {error.colno}", error.pos
        ) from None
    except UnicodeDecodeError as error:
        raise _invalid_json(
            f"invalid {error.encoding} at byte {error.start} ({error.reason})",
            error.start,
        ) from None
    except RecursionError:
        raise _invalid_json(
            "arrays and objects nest deeper than the parser's limit", None
        ) from None
    except ValueError:
        # Python refuses to convert integers of more than 4,300 digits.
        raise _invalid_json(
            "a number has more digits than the parser's limit", None
        ) from None
    # json.loads keeps the last value of a repeated key, so {"k": 3, "k": 50}
    # would silently ask for 50. It also reads NaN and Infinity, which JSON
    # (RFC 8259) does not have, and decodes UTF-16 and UTF-32 bytes, where
    # RFC 8259 requires UTF-8. It turns an escaped lone surrogate such as
    # "\ud800" into a str that UTF-8 cannot encode, so that polars, SQLite or
    # the response would fail on it later. The body parsed above, so only
    # these checks fail here, or a body in UTF-16 or UTF-32 without a byte
    # order mark.
    try:
        _check_strings(
            json.loads(
                body.decode("utf-8-sig"),
                object_pairs_hook=_unique_keys,
                parse_constant=_reject_constant,
            )
        )
    except UnicodeDecodeError as error:
        raise _invalid_json(
            f"invalid utf-8 at byte {error.start} ({error.reason}); JSON is "
            "sent as UTF-8",
            error.start,
        ) from None
    except json.JSONDecodeError:
        # Starlette's parse decoded UTF-16 or UTF-32 without a byte order
        # mark, which json.detect_encoding finds by its NUL bytes. Decoded as
        # UTF-8, the same bytes contain NUL characters, which JSON rejects.
        raise _invalid_json(
            f"the body appears to be {json.detect_encoding(body)}; send JSON as UTF-8",
            None,
        ) from None
    except _NonJsonConstantError as error:
        raise _invalid_json(
            f"{error.constant} is not a JSON value; send a number or null",
            None,
        ) from None
    except _LoneSurrogateError as error:
        raise _invalid_json(
            f"a string contains the escape \\u{error.code_point:04x}, half of a "
            "UTF-16 surrogate pair without its other half (a lone surrogate), "
            "which is not a Unicode character; send the character itself or "
            "both halves of its pair",
            None,
        ) from None
    except _RepeatedKeyError as error:
        raise RequestValidationError(
            [
                {
                    "type": "json_invalid",
                    "loc": ("body", error.key),
                    "msg": f"body is not valid JSON for this API: key {error.key!r} "
                    "appears more than once in one object",
                    "input": {},
                }
            ]
        ) from None


class _RepeatedKeyError(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


class _NonJsonConstantError(ValueError):
    def __init__(self, constant: str) -> None:
        super().__init__(constant)
        self.constant = constant


class _LoneSurrogateError(ValueError):
    def __init__(self, code_point: int) -> None:
        super().__init__(code_point)
        self.code_point = code_point


def _check_text(text: str) -> None:
    """Raise _LoneSurrogateError when ``text`` cannot be encoded as UTF-8."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        raise _LoneSurrogateError(ord(text[error.start])) from None


def _check_strings(value: Any) -> Any:
    """Raise _LoneSurrogateError for a str in ``value`` or in the lists it
    nests, and return ``value``. Objects are checked by _unique_keys as they
    are parsed, so a nested object is not walked again."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            _check_text(item)
        elif isinstance(item, list):
            pending.extend(item)
    return value


def _reject_constant(constant: str) -> Any:
    """Raise _NonJsonConstantError for NaN, Infinity or -Infinity."""
    raise _NonJsonConstantError(constant)


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """Build a JSON object, raising _RepeatedKeyError on a repeated key and
    _LoneSurrogateError on a key or value that UTF-8 cannot encode."""
    result: dict[str, Any] = {}
    for key, value in pairs:
        # Checked first, because the error of a repeated key names the key.
        _check_text(key)
        if key in result:
            raise _RepeatedKeyError(key)
        result[key] = _check_strings(value)
    return result


def _invalid_json(reason: str, position: int | None) -> RequestValidationError:
    location: tuple[str | int, ...] = (
        ("body",) if position is None else ("body", position)
    )
    return RequestValidationError(
        [
            {
                "type": "json_invalid",
                "loc": location,
                "msg": f"body is not valid JSON: {reason}",
                "input": {},
            }
        ]
    )


def _is_json(content_type: str | None) -> bool:
    """Return whether a Content-Type is JSON, as FastAPI decides it:
    ``application/json`` or ``application/*+json``, parameters ignored."""
    if content_type is None:
        return False
    media_type = content_type.split(";", 1)[0].strip().lower()
    kind, _, subtype = media_type.partition("/")
    return kind == "application" and (subtype == "json" or subtype.endswith("+json"))


def _query_fields(dependant: Dependant) -> Iterator[Any]:
    """Yield the query parameter fields of a route and of its dependencies."""
    yield from dependant.query_params
    for dependency in dependant.dependencies:
        yield from _query_fields(dependency)


def _is_sequence(annotation: Any) -> bool:
    """Return whether a parameter type is a list, tuple or set, possibly optional."""
    origin = get_origin(annotation)
    if origin in (Union, UnionType):
        return any(_is_sequence(argument) for argument in get_args(annotation))
    return origin in _SEQUENCE_TYPES or annotation in _SEQUENCE_TYPES
