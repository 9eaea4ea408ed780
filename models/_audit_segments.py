"""Checks of an audit against the segments file, run when audits are loaded.

They reject an audit whose segment is not declared, whose metric is never
measured on its segment's entity, or whose exclude list names a segment that
its metric is not measured on. A name=value segment of a column declared with
``per`` passes, since its values are known only once the data is read.
models.audits calls them from load_audits.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from models.segments import SegmentSpec

if TYPE_CHECKING:
    from models.audits import AuditSpec

ALL_SEGMENTS = "all"
EACH_SEGMENT = "each"


# Metrics read on restaurant segments, and metrics read on all users only;
# every other metric is read on user segments.
RESTAURANT_METRICS = ("exposure_ratio",)
ALL_USERS_METRICS = ("false_negative_rate", "false_positive_rate")


def _check_entity(
    location: str, spec: AuditSpec, segments: Sequence[SegmentSpec]
) -> None:
    """Raise ValueError for a metric that is never measured on the audit's
    segment: a restaurant metric on users, or the reverse."""
    base = spec.metric.partition("@")[0]
    if base in ALL_USERS_METRICS:
        if spec.segment != ALL_SEGMENTS:
            msg = (
                f"{location}: field 'segment': got {spec.segment!r}, expected "
                f"{ALL_SEGMENTS!r}, since {base} is measured on all users only"
            )
            raise ValueError(msg)
        return
    if spec.segment == EACH_SEGMENT:
        return
    entity_of = {segment.name: segment.entity for segment in segments}
    name = spec.segment.partition("=")[0]
    expected = "restaurant" if base in RESTAURANT_METRICS else "user"
    entity = "user" if spec.segment == ALL_SEGMENTS else entity_of.get(name, expected)
    if entity != expected:
        msg = (
            f"{location}: field 'segment': got {spec.segment!r}, a {entity} "
            f"segment, expected a {expected} segment, since {base} is measured on "
            f"{expected}s"
        )
        raise ValueError(msg)


def _check_exclude(
    location: str, spec: AuditSpec, segments: Sequence[SegmentSpec]
) -> None:
    """Raise ValueError for an excluded name that is not a segment the
    audit's metric is measured on: a declared name, or name=value of one
    declared with ``per``."""
    base = spec.metric.partition("@")[0]
    entity = "restaurant" if base in RESTAURANT_METRICS else "user"
    names = {segment.name for segment in segments if segment.entity == entity}
    per_names = {
        segment.name
        for segment in segments
        if segment.entity == entity and segment.per is not None
    }
    for name in spec.exclude or ():
        prefix, equals, _ = name.partition("=")
        if name in names or (equals and prefix in per_names):
            continue
        msg = (
            f"{location}: field 'exclude': got {name!r}, expected a {entity} "
            f"segment, since {base} is measured on {entity}s: one of "
            f"{', '.join(sorted(names))}, or name=value of one declared with "
            f"per ({', '.join(sorted(per_names)) or 'none'})"
        )
        raise ValueError(msg)


def _check_segment(
    location: str, segment: str, segments: Sequence[SegmentSpec]
) -> None:
    names = {spec.name for spec in segments}
    per_names = {spec.name for spec in segments if spec.per is not None}
    prefix, equals, _ = segment.partition("=")
    if segment in per_names:
        # A per segment is measured for each value of its column, never whole.
        msg = (
            f"{location}: field 'segment': got {segment!r}, which is declared "
            f"with per and measured for each value only; expected "
            f"{segment}=VALUE for one value, or {EACH_SEGMENT!r}"
        )
        raise ValueError(msg)
    if segment in (ALL_SEGMENTS, EACH_SEGMENT) or segment in names:
        return
    if equals and prefix in per_names:
        return
    if not names:
        msg = (
            f"{location}: field 'segment': got {segment!r}, expected "
            f"{ALL_SEGMENTS!r} or {EACH_SEGMENT!r}, since the segments file "
            "declares no segment"
        )
        raise ValueError(msg)
    msg = (
        f"{location}: field 'segment': got {segment!r}, expected {ALL_SEGMENTS!r}, "
        f"{EACH_SEGMENT!r}, one of {', '.join(sorted(names))}, or name=value of "
        f"one declared with per ({', '.join(sorted(per_names)) or 'none'})"
    )
    raise ValueError(msg)
