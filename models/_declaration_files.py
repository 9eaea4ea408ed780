"""Reading of the YAML files that declare segments and audits, with error messages."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError

from models.yaml_files import read_yaml_file


def read_entries(path: Path, key: str) -> list[Any]:
    """Read the list under ``key`` of a YAML mapping file.

    Raises:
        ValueError: the file is not valid YAML or has no such list.
    """
    raw = read_yaml_file(path, f"with a list of {key}")
    if not isinstance(raw, dict) or not isinstance(raw.get(key), list):
        msg = f"{path}: expected a mapping with a list under {key!r}, got {raw!r}"
        raise ValueError(msg)
    unknown = sorted(set(raw) - {key})
    if unknown:
        msg = f"{path}: unknown top-level keys {unknown}; expected only {key!r}"
        raise ValueError(msg)
    return list(raw[key])


def entry_location(path: Path, key: str, index: int, raw: object) -> str:
    """Return ``file: key[index] (name)`` for error messages."""
    name = raw.get("name") if isinstance(raw, dict) else None
    return f"{path}: {key}[{index}] ({name if name is not None else 'no name'})"


def describe_error(
    location: str, raw: object, error: ValidationError, expected: dict[str, str]
) -> str:
    """Turn the first pydantic error into ``location: field 'x': got ...,
    expected ...``.

    An unknown field is reported first, because a misspelt field name also
    makes the field it was meant to be look missing.
    """
    errors = error.errors()
    first = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
    if not isinstance(raw, dict) or not first["loc"]:
        return f"{location}: expected a mapping of fields, got {raw!r}"
    field = str(first["loc"][0])
    if first["type"] == "extra_forbidden":
        return (
            f"{location}: field {field!r}: got {first['input']!r}, expected no such "
            f"field; known fields: {', '.join(expected)}"
        )
    if first["type"] == "missing":
        return f"{location}: field {field!r}: missing, expected {expected[field]}"
    if first["type"] == "value_error":
        wanted = str(first["ctx"]["error"])
    else:
        wanted = expected.get(field, first["msg"])
    value = raw.get(field)
    message = f"{location}: field {field!r}: got {value!r}, expected {wanted}"
    if first["type"] == "string_type" and value is not None:
        # YAML reads TRUE, 2024 or 0.5 as a bool or a number, not as text. In
        # a list, the error's location ends with the index of the item.
        item = first["input"]
        read = f"YAML read the value as {_article(type(item).__name__)}"
        if len(first["loc"]) > 1:
            read = (
                f"YAML read item {first['loc'][-1]}, {item!r}, as "
                f"{_article(type(item).__name__)}"
            )
        message += f" ({read}; put it in quotes to keep it as text)"
    return message


def _article(noun: str) -> str:
    return f"an {noun}" if noun[0] in "aeiou" else f"a {noun}"
