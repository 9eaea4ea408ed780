"""Comparison of two evaluation reports (``report.json`` of `recommender evaluate`).

A report is checked against :class:`EvaluationReport`, the fields that the
comparison reads, before any number is printed. A malformed report is
rejected with one line that names the file, the field, its value and what
was expected. The comparison warns about every setting that makes the two
reports' metrics incomparable: the orders, the relevance definition, the
list length k and the splits.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

NOT_MEASURED = "n/a"
# Top-level fields whose absence means the file is no evaluation report at all.
_REQUIRED_FIELDS = (
    "summary",
    "ranker",
    "data_fingerprint",
    "relevance",
    "settings",
    "split_kind",
    "splits",
)
# The expected value of each field, keyed by the field's path with every
# model name, metric name and list index replaced by "*".
_EXPECTED = {
    "summary": "a non-empty mapping from model name to that model's metrics",
    "summary.*": "a non-empty mapping from metric name to its mean and std",
    "summary.*.*": "a mapping with the keys mean and std",
    "summary.*.*.mean": (
        "a finite number, or null for a metric that could not be measured"
    ),
    "summary.*.*.std": (
        "a finite number of at least 0, or null for a single split or a metric "
        "that could not be measured"
    ),
    "ranker": "a mapping of the ranker's settings",
    "ranker.feature_service": "the name of a feature service",
    "ranker.features": "a list of feature names",
    "ranker.features.*": "a feature name",
    "ranker.cutoffs": "a mapping of the ranker's cutoff settings",
    "ranker.cutoffs.horizon_days": "a positive integer (days)",
    "data_fingerprint": "a fingerprint of the orders (a string)",
    "relevance": "a description of the relevant orders, such as 'any order'",
    "settings": "a mapping of the evaluation settings",
    "settings.n_splits": "a positive integer",
    "settings.test_fraction": "a number between 0 and 1, both excluded",
    "settings.seed": "an integer of at least 0",
    "settings.k": "a positive integer",
    "split_kind": "'random' or 'temporal'",
    "splits": "a non-empty list of splits",
    "splits.*": "a mapping of one split's settings and metrics",
    "splits.*.test_from": (
        "an ISO 8601 date-time for a temporal split, or null for a random split"
    ),
}
# Values longer than this are cut in error messages.
_MAX_VALUE_CHARS = 80


class _Checked(BaseModel):
    """A part of a report: strict types, and fields the comparison does not
    read are ignored."""

    model_config = ConfigDict(strict=True, frozen=True)


class MetricSummary(_Checked):
    """Mean and sample standard deviation of one metric over the splits."""

    # None (null in JSON) for a metric that no split could measure.
    mean: float | None = Field(allow_inf_nan=False)
    # None for a single split, or for a metric that could not be measured.
    std: float | None = Field(ge=0, allow_inf_nan=False)


class CutoffSection(_Checked):
    """The ranker's cutoff settings that change what a report measures."""

    horizon_days: int = Field(ge=1)


class RankerSection(_Checked):
    """The ranker a report evaluated."""

    feature_service: str
    features: list[str]
    cutoffs: CutoffSection


class SettingsSection(_Checked):
    """The evaluation settings (:class:`models.evaluate.EvaluationSettings`)."""

    n_splits: int = Field(ge=1)
    test_fraction: float = Field(gt=0, lt=1)
    seed: int = Field(ge=0)
    k: int = Field(ge=1)


class SplitEntry(_Checked):
    """One split of a report."""

    # The start of the test window: an ISO 8601 string in JSON, so parsed
    # laxly; None for a random split.
    test_from: datetime | None = Field(strict=False)


class EvaluationReport(_Checked):
    """The fields of an evaluation report that :func:`compare_reports` reads."""

    summary: dict[str, dict[str, MetricSummary]] = Field(min_length=1)
    ranker: RankerSection
    data_fingerprint: str
    relevance: str
    settings: SettingsSection
    split_kind: Literal["random", "temporal"]
    splits: list[SplitEntry] = Field(min_length=1)


def load_report(path: Path) -> EvaluationReport:
    """Read and check one evaluation report.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: the file is not JSON, not an evaluation report, or has a
            field of the wrong type or range. The message names the file,
            the field, its value and what was expected.
    """
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError as error:
        msg = f"evaluation report not found: {path}"
        raise FileNotFoundError(msg) from error
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        msg = f"{path}: not a readable JSON evaluation report ({error})"
        raise ValueError(msg) from error
    if not isinstance(raw, dict):
        msg = (
            f"{path}: not an evaluation report written by `recommender "
            f"evaluate`; expected a JSON object, got {_json_value(raw)}"
        )
        raise ValueError(msg)
    missing = [key for key in _REQUIRED_FIELDS if key not in raw]
    if missing:
        msg = (
            f"{path}: not an evaluation report written by `recommender "
            f"evaluate`; missing {missing}"
        )
        raise ValueError(msg)
    try:
        report = EvaluationReport.model_validate(raw)
    except ValidationError as error:
        raise ValueError(_describe_invalid(path, error)) from error
    for index, split in enumerate(report.splits):
        if (split.test_from is None) != (report.split_kind == "random"):
            value = raw["splits"][index].get("test_from")
            msg = (
                f"{path}: splits[{index}].test_from: got {_json_value(value)}, "
                f"expected {_EXPECTED['splits.*.test_from']} "
                f"(split_kind is {report.split_kind!r})"
            )
            raise ValueError(msg)
    return report


def _describe_invalid(path: Path, error: ValidationError) -> str:
    """Return ``file: field: got value, expected ...`` for the first error."""
    first = error.errors()[0]
    location = first["loc"]
    field = "".join(
        f"[{part}]" if isinstance(part, int) else f".{part}" for part in location
    ).lstrip(".")
    pattern = ".".join(
        "*"
        if isinstance(part, int) or (location[0] == "summary" and index in (1, 2))
        else str(part)
        for index, part in enumerate(location)
    )
    expected = _EXPECTED.get(pattern, first["msg"].lower())
    if first["type"] == "missing":
        return f"{path}: {field}: missing, expected {expected}"
    return f"{path}: {field}: got {_json_value(first['input'])}, expected {expected}"


def _json_value(value: Any) -> str:
    """Return ``value`` as it is written in JSON, cut to a readable length."""
    text = json.dumps(value)
    if len(text) > _MAX_VALUE_CHARS:
        return text[: _MAX_VALUE_CHARS - 3] + "..."
    return text


def compare_files(before_path: Path, after_path: Path) -> str:
    """Load two reports and compare them as :func:`compare_reports` does,
    noting when both paths name the same file."""
    before = load_report(before_path)
    after = load_report(after_path)
    text = compare_reports(before, after)
    if before_path.samefile(after_path):
        text += (
            f"\nnote: both arguments are the same file, {before_path.resolve()}, "
            "so every change is zero"
        )
    return text


def compare_reports(before: EvaluationReport, after: EvaluationReport) -> str:
    """Format each model's mean metrics in two reports, and the change from
    ``before`` to ``after``, as a Markdown table.

    Rows are the models and metrics present in both reports. A metric that a
    report could not measure (mean null) shows as n/a. Below the table come
    the features added and removed, the models and metrics that only one
    report has, and a warning for each way the two reports measured
    differently.
    """
    lines = [
        f"before: {before.ranker.feature_service} "
        f"({len(before.ranker.features)} features), "
        f"after: {after.ranker.feature_service} "
        f"({len(after.ranker.features)} features)",
        "",
        "| model | metric | before | after | change |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    metrics_before: set[str] = set()
    metrics_after: set[str] = set()
    for name, metrics in before.summary.items():
        others = after.summary.get(name)
        if others is None:
            continue
        metrics_before.update(metrics)
        metrics_after.update(others)
        for metric, value in metrics.items():
            other = others.get(metric)
            if other is not None:
                lines.append(f"| {name} | {metric} | {_cells(value, other)} |")
    added = sorted(set(after.ranker.features) - set(before.ranker.features))
    removed = sorted(set(before.ranker.features) - set(after.ranker.features))
    lines.append("")
    lines.append(f"features added: {', '.join(added) or 'none'}")
    lines.append(f"features removed: {', '.join(removed) or 'none'}")
    lines.extend(
        _left_out("models", set(before.summary), set(after.summary))
        + _left_out("metrics", metrics_before, metrics_after)
    )
    lines.extend(_incomparable(before, after))
    return "\n".join(lines)


def _cells(before: MetricSummary, after: MetricSummary) -> str:
    """Return the before, after and change cells of one metric's row."""
    old, new = before.mean, after.mean
    if old is None or new is None:
        return f"{_format_mean(old)} | {_format_mean(new)} | {NOT_MEASURED}"
    change = round(new - old, 4)
    if change == 0:
        # round() keeps the sign of a tiny negative difference, such as the
        # 1e-16 between two sums of the same numbers in another order.
        change = 0.0
    return f"{old:.4f} | {new:.4f} | {change:+.4f}"


def _format_mean(value: float | None) -> str:
    return NOT_MEASURED if value is None else f"{value:.4f}"


def _left_out(kind: str, before: set[str], after: set[str]) -> list[str]:
    """Return a line naming the ``kind`` in only one of the reports, if any."""
    only_before = sorted(before - after)
    only_after = sorted(after - before)
    if not only_before and not only_after:
        return []
    return [
        f"{kind} left out: only before: {', '.join(only_before) or 'none'}; "
        f"only after: {', '.join(only_after) or 'none'}"
    ]


def _incomparable(before: EvaluationReport, after: EvaluationReport) -> list[str]:
    """Return a warning line for each way the two reports measured differently."""
    warnings = []
    if before.data_fingerprint != after.data_fingerprint:
        warnings.append(
            "warning: the reports were evaluated on different orders (data "
            "fingerprints differ), so their metrics are not comparable"
        )
    if before.relevance != after.relevance:
        warnings.append(
            f"warning: the reports count different orders as relevant: "
            f"{before.relevance} before, {after.relevance} after, so their "
            "metrics are not comparable"
        )
    if before.settings.k != after.settings.k:
        warnings.append(
            f"warning: the reports measured lists of different lengths: "
            f"k={before.settings.k} before, k={after.settings.k} after, so their "
            "metrics are not comparable"
        )
    kinds = (before.split_kind, after.split_kind)
    counts = (len(before.splits), len(after.splits))
    if kinds[0] != kinds[1] or counts[0] != counts[1]:
        warnings.append(
            f"warning: the reports used different splits: {counts[0]} "
            f"{kinds[0]} before, {counts[1]} {kinds[1]} after"
        )
    else:
        held_out = (_held_out(before), _held_out(after))
        if held_out[0] != held_out[1]:
            warnings.append(
                f"warning: the reports held out different orders: {held_out[0]} "
                f"before, {held_out[1]} after"
            )
    return warnings


def _held_out(report: EvaluationReport) -> str:
    """Describe which orders a report's splits held out for testing."""
    if report.split_kind == "temporal":
        starts = [
            split.test_from.date().isoformat()
            for split in report.splits
            if split.test_from is not None
        ]
        return (
            f"test windows of {report.ranker.cutoffs.horizon_days} days starting "
            f"{', '.join(starts)}"
        )
    settings = report.settings
    last_seed = settings.seed + len(report.splits) - 1
    seeds = (
        f"seed {settings.seed}"
        if last_seed == settings.seed
        else f"seeds {settings.seed} to {last_seed}"
    )
    return f"test_fraction {settings.test_fraction:g} with {seeds}"
