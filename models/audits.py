"""Release audits: a threshold on one metric of one segment (configs/audits.yaml).

An audit names the failure it guards against, a metric (``ndcg@10``,
``meat_only_share@10``, ``exposure_ratio``...) and a segment of
``configs/segments.yaml``, or ``all`` for every user, or ``each`` for every
measured segment (less those its ``exclude`` list names). It sets a threshold
and a direction: ``max`` passes when the
value is at most the threshold, ``min`` when it is at least the threshold.

The metrics are measured elsewhere and passed in as a mapping from
``(metric, segment)`` to a value. An audit whose value is missing or nan is
``not_measured``: it is reported with the reason, and it is not a pass.

``signed_off: true`` records that the owner reviewed the threshold. It is not a
waiver: a signed-off audit that fails is still ``failed`` and still makes
:func:`audit_exit_code` return 1.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from models._audit_segments import (
    ALL_SEGMENTS,
    EACH_SEGMENT,
    _check_entity,
    _check_exclude,
    _check_segment,
)
from models._declaration_files import describe_error, entry_location, read_entries
from models.segments import NAME_PATTERN, SegmentSpec

AuditStatus = Literal["passed", "failed", "not_measured"]
PASSED: AuditStatus = "passed"
FAILED: AuditStatus = "failed"
NOT_MEASURED: AuditStatus = "not_measured"

# A metric name, with an optional cutoff rank: ndcg@10, exposure_ratio.
# A ranked metric ends in @ and the list length, or @k for the run's --k.
METRIC_PATTERN = r"^[a-z][a-z0-9_]*(@([1-9][0-9]*|k))?$"
# Owners are team roles such as ranking or data.
OWNER_PATTERN = r"^[a-z][a-z0-9_-]*$"

_AUDIT_FIELDS = {
    "name": "a name of lower-case letters, digits and underscores",
    "failure_mode": "one sentence naming the failure the audit guards against",
    "metric": "a metric name such as ndcg@10 or exposure_ratio",
    "segment": f"a segment name, {ALL_SEGMENTS!r} or {EACH_SEGMENT!r}",
    "threshold": "a finite number",
    "direction": "'max' (value <= threshold) or 'min' (value >= threshold)",
    "owner": "a team role in lower case, such as ranking or data",
    "signed_off": "true or false",
    "note": "a sentence",
    "min_users": "a positive integer",
    "exclude": "a list of segment names",
}
_OPERATORS = {"max": "<=", "min": ">="}

# The metrics the segment analysis measures (models/analysis.py): those read
# at the evaluation's list length k take ``@k``.
RANKED_METRICS = ("favourite_recall", "meat_only_share", "ndcg")
PLAIN_METRICS = (
    "exposure_ratio",
    "false_negative_rate",
    "false_positive_rate",
    "ndcg_minus_popularity",
    "ndcg_ratio_to_overall",
    "segment_false_negative_rate",
    "segment_false_positive_rate",
)
# Metrics that are shares, so that only thresholds from 0 to 1 can fail or
# pass depending on the model.
SHARE_METRICS = (
    *RANKED_METRICS,
    "false_negative_rate",
    "false_positive_rate",
    "segment_false_negative_rate",
    "segment_false_positive_rate",
)
# The values each metric can take, and what it is, for the threshold check.
_THRESHOLD_RANGES: dict[str, tuple[float, float, str]] = {
    **{name: (0.0, 1.0, "a share") for name in SHARE_METRICS},
    "ndcg_minus_popularity": (-1.0, 1.0, "a difference of two NDCGs"),
    "ndcg_ratio_to_overall": (0.0, math.inf, "a ratio"),
    "exposure_ratio": (0.0, math.inf, "a ratio"),
}


def known_metrics(k: int) -> list[str]:
    """Return the metric names an audit can read when lists have length ``k``."""
    return sorted([*(f"{name}@{k}" for name in RANKED_METRICS), *PLAIN_METRICS])


class AuditSpec(BaseModel):
    """One audit declaration, as written in the YAML file."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    name: str = Field(pattern=NAME_PATTERN)
    failure_mode: str = Field(min_length=1)
    metric: str = Field(pattern=METRIC_PATTERN)
    segment: str = Field(min_length=1)
    threshold: float = Field(allow_inf_nan=False)
    direction: Literal["max", "min"]
    owner: str = Field(pattern=OWNER_PATTERN)
    signed_off: bool = False
    note: str | None = None
    # Segments with fewer members are out of scope: left out of ``each``, and
    # ``not_measured`` when named. Applies only when run_audits gets sizes.
    min_users: int | None = Field(default=None, ge=1)
    # Segments an ``each`` audit leaves out; a name declared with ``per``
    # leaves out all its values. Lax, so that the YAML list becomes a tuple.
    exclude: tuple[str, ...] | None = Field(default=None, strict=False)


@dataclass(frozen=True)
class AuditResult:
    """The outcome of one audit on one segment."""

    name: str
    failure_mode: str
    metric: str
    # The measured segment: one segment of ``each``, never ``each`` itself
    # unless no segment was measured.
    segment: str
    threshold: float
    direction: str
    owner: str
    signed_off: bool
    note: str | None
    # None when the metric is missing from the measurements.
    value: float | None
    status: AuditStatus
    message: str
    # Why the audit is not measured; None otherwise.
    reason: str | None = None


def load_audits(
    path: Path, segments: Sequence[SegmentSpec] | None = None, k: int | None = None
) -> list[AuditSpec]:
    """Read and validate the audit declarations of a YAML file.

    With ``segments``, each audit's segment must be ``all``, ``each``, one of
    their names, or ``name=value`` of one declared with ``per``. With ``k``,
    a metric ending in ``@k`` gets that list length, and each audit's metric
    must be one of :func:`known_metrics`.

    Raises:
        ValueError: the file is not a mapping with an ``audits`` list, or an
            audit is invalid, repeats a name or names an unknown segment or
            metric. The message names the file, the audit (index and name),
            the field, the value and what was expected.
    """
    entries = read_entries(path, "audits")
    specs: list[AuditSpec] = []
    first_index: dict[str, int] = {}
    for index, raw in enumerate(entries):
        location = entry_location(path, "audits", index, raw)
        try:
            spec = AuditSpec.model_validate(raw)
        except ValidationError as error:
            raise ValueError(
                describe_error(location, raw, error, _AUDIT_FIELDS)
            ) from None
        if spec.name in first_index:
            msg = (
                f"{location}: field 'name': got {spec.name!r}, expected a name not "
                f"already used by audits[{first_index[spec.name]}]"
            )
            raise ValueError(msg)
        if spec.exclude is not None and spec.segment != EACH_SEGMENT:
            msg = (
                f"{location}: field 'exclude': got {list(spec.exclude)}, expected "
                f"no exclude, since only an audit of segment {EACH_SEGMENT!r} "
                "leaves segments out"
            )
            raise ValueError(msg)
        exclude = spec.exclude or ()
        repeated = sorted({name for name in exclude if exclude.count(name) > 1})
        if repeated:
            msg = (
                f"{location}: field 'exclude': got {repeated[0]!r} more than once, "
                "expected each segment once"
            )
            raise ValueError(msg)
        if segments is not None:
            _check_segment(location, spec.segment, segments)
            _check_entity(location, spec, segments)
            _check_exclude(location, spec, segments)
        if k is not None and spec.metric.endswith("@k"):
            spec = spec.model_copy(update={"metric": f"{spec.metric[:-1]}{k}"})
        base = spec.metric.partition("@")[0]
        low, high, kind = _THRESHOLD_RANGES.get(base, (-math.inf, math.inf, ""))
        if not low <= spec.threshold <= high:
            span = (
                f"from {low:g} to {high:g}"
                if high < math.inf
                else f"of {low:g} or more"
            )
            msg = (
                f"{location}: field 'threshold': got {spec.threshold:g}, expected "
                f"a value {span}, because {base} is {kind}"
            )
            raise ValueError(msg)
        if k is not None and spec.metric not in known_metrics(k):
            msg = (
                f"{location}: field 'metric': got {spec.metric!r}, expected one of "
                f"{', '.join(known_metrics(k))}"
            )
            raise ValueError(msg)
        first_index[spec.name] = index
        specs.append(spec)
    return specs


def run_audits(
    specs: Sequence[AuditSpec],
    measured: Mapping[tuple[str, str], float],
    segment_sizes: Mapping[str, int] | None = None,
) -> list[AuditResult]:
    """Check every audit against the measured values.

    Args:
        specs: the audits, as :func:`load_audits` returns them.
        measured: the value of each ``(metric, segment)`` pair.
        segment_sizes: members per segment; needed only to apply
            ``min_users``, which is ignored without it.

    Returns:
        One result per audit, in order. An ``each`` audit gives one result
        per segment measured for its metric, sorted by name and without
        ``all``, or one ``not_measured`` result when there is none.
    """
    results: list[AuditResult] = []
    for spec in specs:
        if spec.segment != EACH_SEGMENT:
            results.append(_check(spec, spec.segment, measured, segment_sizes))
            continue
        names = sorted(
            segment
            for metric, segment in measured
            if metric == spec.metric and segment not in (ALL_SEGMENTS, EACH_SEGMENT)
        )
        excluded = set(spec.exclude or ())
        checked = [
            name
            for name in names
            if name not in excluded and name.partition("=")[0] not in excluded
        ]
        checked = [
            name for name in checked if not _too_small(spec, name, segment_sizes)
        ]
        if not checked:
            reason = f"{spec.metric} was measured on no segment"
            if names:
                reason = (
                    f"{spec.metric} was measured on no segment that is large "
                    "enough and not excluded"
                )
            results.append(_result(spec, EACH_SEGMENT, None, NOT_MEASURED, reason))
        results += [_check(spec, name, measured, segment_sizes) for name in checked]
    return results


def audit_exit_code(
    results: Sequence[AuditResult], *, fail_on_not_measured: bool = False
) -> int:
    """Return 1 when an audit failed, else 0.

    Signed-off audits count like the others. A ``not_measured`` audit makes
    the code 1 only with ``fail_on_not_measured``.
    """
    failing = {FAILED, NOT_MEASURED} if fail_on_not_measured else {FAILED}
    return int(any(result.status in failing for result in results))


def _too_small(
    spec: AuditSpec, segment: str, segment_sizes: Mapping[str, int] | None
) -> bool:
    if spec.min_users is None or segment_sizes is None:
        return False
    size = segment_sizes.get(segment)
    return size is not None and size < spec.min_users


def _check(
    spec: AuditSpec,
    segment: str,
    measured: Mapping[tuple[str, str], float],
    segment_sizes: Mapping[str, int] | None,
) -> AuditResult:
    """Compare one measured value with the threshold."""
    if segment_sizes is not None and _too_small(spec, segment, segment_sizes):
        reason = (
            f"{segment} has {segment_sizes[segment]} users, fewer than "
            f"min_users {spec.min_users}"
        )
        return _result(spec, segment, None, NOT_MEASURED, reason)
    if (spec.metric, segment) not in measured:
        reason = _unknown_value_segment(segment, measured) or (
            f"{spec.metric} on {segment} has no value"
        )
        return _result(spec, segment, None, NOT_MEASURED, reason)
    value = float(measured[(spec.metric, segment)])
    if math.isnan(value):
        reason = f"{spec.metric} on {segment} has no value (not a number)"
        return _result(spec, segment, value, NOT_MEASURED, reason)

    if spec.direction == "max":
        passed = value <= spec.threshold
    else:
        passed = value >= spec.threshold
    return _result(spec, segment, value, PASSED if passed else FAILED, None)


def _unknown_value_segment(
    segment: str, measured: Mapping[tuple[str, str], float]
) -> str | None:
    """Return why a ``per`` segment such as ``city=Atlantis`` has no value, or
    None. The reason applies when no segment of that name was measured but
    others of its column were, and it lists up to 10 of their names."""
    column, equals, _ = segment.partition("=")
    names = {name for _, name in measured}
    if not equals or segment in names:
        return None
    known = sorted(name for name in names if name.partition("=")[0] == column)
    if not known:
        return None
    listed = ", ".join(known[:10]) + (" and more" if len(known) > 10 else "")
    return (
        f"no {column} segment is named {segment}; the measured ones are "
        f"{listed} (names match exactly, case included)"
    )


def _result(
    spec: AuditSpec,
    segment: str,
    value: float | None,
    status: AuditStatus,
    reason: str | None,
) -> AuditResult:
    """Build the result and its one-line message."""
    threshold = _format_number(spec.threshold)
    if reason is None and value is not None:
        value_text = _format_number(value)
        if value_text == threshold and value != spec.threshold:
            value_text = repr(value)
        outcome = f"{status}: {spec.metric} on {segment} is {value_text}"
    else:
        outcome = f"not measured: {reason}"
    signed = "signed off" if spec.signed_off else "not signed off"
    message = (
        f"audit {spec.name} {outcome}, threshold {_OPERATORS[spec.direction]} "
        f"{threshold} (owner {spec.owner}, {signed})"
    )
    return AuditResult(
        name=spec.name,
        failure_mode=spec.failure_mode,
        metric=spec.metric,
        segment=segment,
        threshold=spec.threshold,
        direction=spec.direction,
        owner=spec.owner,
        signed_off=spec.signed_off,
        note=spec.note,
        value=value,
        status=status,
        message=message,
        reason=reason,
    )


def _format_number(value: float) -> str:
    """Format with three significant digits: 0.137, 0.02, 0.8, 0."""
    return f"{value:.3g}"
