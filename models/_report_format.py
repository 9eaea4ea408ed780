"""Value formatting, table types and analysis accessors of the report renderings."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

MISSING = "—"
SMALL_MARK = "†"

_STATUS_LABELS = {
    "passed": "passed",
    "failed": "failed",
    "not_measured": "not measured",
}


@dataclass(frozen=True)
class _Table:
    headers: list[str]
    rows: list[list[str]]
    caption: str = ""


@dataclass(frozen=True)
class _Section:
    """One titled part of the report; ``key`` places the section's plots."""

    key: str
    title: str
    paragraphs: list[str] = field(default_factory=list)
    tables: list[_Table] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _is_missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _number(value: object) -> str:
    if _is_missing(value):
        return MISSING
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        magnitude = abs(value)
        # Four decimals would print hundreds of digits for a huge threshold,
        # and 0.0000 for a small value that is not 0.
        if magnitude >= 1e6 or 0 < magnitude < 0.00005:
            return f"{value:.4g}"
        return f"{value:.4f}"
    return str(value)


def _share(value: object) -> str:
    if isinstance(value, int | float) and not _is_missing(value):
        return f"{100 * value:.1f}%"
    return _number(value)


def _difference(value: object) -> str:
    if isinstance(value, int | float) and not _is_missing(value):
        return f"{value:+.4f}"
    return _number(value)


def _with_interval(value: object, interval: object) -> str:
    """Format a value and its interval as ``0.6954 [0.6840, 0.7070]``."""
    if _is_missing(value):
        return MISSING
    bounds = _bounds(interval)
    if bounds is None:
        return _number(value)
    return f"{_number(value)} [{_number(bounds[0])}, {_number(bounds[1])}]"


def _bounds(interval: object) -> tuple[float, float] | None:
    if not isinstance(interval, list | tuple) or len(interval) != 2:
        return None
    low, high = (_float_or_none(bound) for bound in interval)
    if low is None or high is None:
        return None
    return low, high


def _float_or_none(value: object) -> float | None:
    if isinstance(value, int | float) and not _is_missing(value):
        return float(value)
    return None


def _name(value: object) -> str:
    return MISSING if _is_missing(value) or value == "" else str(value)


def _status_label(status: object) -> str:
    return _STATUS_LABELS.get(str(status), _name(status))


def _audits(analysis: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return list(analysis.get("audits") or [])


def _segments(analysis: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return list(analysis.get("segments") or [])


def _k(analysis: Mapping[str, Any]) -> int:
    return int(analysis.get("k") or 10)


def _segment_label(row: Mapping[str, Any]) -> str:
    return _name(row.get("name")) + (SMALL_MARK if row.get("small") else "")
