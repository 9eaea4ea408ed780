"""MLflow names and values for a report's metrics, settings and audits.

A name joins the report's keys with ``.``, writes ``@`` as ``_at_`` and any
other character outside letters, digits, ``_`` and ``-`` as ``_``.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections import Counter
from collections.abc import Mapping
from typing import Any

# The outcome of an evaluation's release audits, such as "2 failed, 5 passed",
# and the failed audits by name and segment.
AUDITS_TAG = "audits"
FAILED_AUDITS_TAG = "failed_audits"
AUDIT_STATUSES = ("failed", "not_measured", "passed")
# The maximum length of a tag value in MLflow 3.17 (MAX_TAG_VAL_LENGTH).
_MAX_TAG_LENGTH = 8000


# Report keys whose nested metrics are logged, and the prefix of their names.
# The summary is model -> metric -> mean and std, and the segments are
# segment -> model -> metric -> value.
REPORT_METRICS = {"summary": "", "segments": "segment"}
SPLIT_PREFIX = "split"
SEGMENT_PREFIX = "segment"


_INVALID_NAME_CHARACTERS = re.compile(r"[^\w\-]")


def metric_name(*parts: str) -> str:
    """Join report keys into an MLflow metric or parameter name."""
    cleaned = [
        _INVALID_NAME_CHARACTERS.sub("_", str(part).replace("@", "_at_")) or "_"
        for part in parts
        if part != ""
    ]
    return ".".join(cleaned)


def flatten_metrics(tree: Mapping[str, Any], prefix: str = "") -> dict[str, float]:
    """Flatten nested metric mappings into ``{"a.b.c": value}``.

    ``prefix`` is a metric name already, and the keys are cleaned with
    :func:`metric_name`. Leaves that are not finite numbers (None for the
    deviation of a single split, nan for a segment without users, strings,
    booleans) are left out, so a comparison shows n/a for them.
    """
    flat: dict[str, float] = {}
    names = _unique_names(prefix, tree)
    for key, value in tree.items():
        name = names[key]
        if isinstance(value, Mapping):
            flat.update(flatten_metrics(value, name))
        elif (
            isinstance(value, int | float)
            and not isinstance(value, bool)
            and math.isfinite(value)
        ):
            flat[name] = float(value)
    return flat


def flatten_params(tree: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Flatten nested settings into ``{"a.b": "value"}`` as MLflow params."""
    flat: dict[str, str] = {}
    names = _unique_names(prefix, tree)
    for key, value in tree.items():
        name = names[key]
        if isinstance(value, Mapping):
            flat.update(flatten_params(value, name))
        else:
            flat[name] = str(value)
    return flat


def evaluation_metrics(report: Mapping[str, Any]) -> dict[str, float]:
    """Return the report's metrics by MLflow name: per model, per segment, and
    the numbers at the report's top level (such as ``candidate_recall``)."""
    metrics: dict[str, float] = {}
    for key, prefix in REPORT_METRICS.items():
        if isinstance(report.get(key), Mapping):
            metrics.update(flatten_metrics(report[key], prefix))
    metrics.update(flatten_metrics(_numbers(report)))
    audits = _audits(report)
    if audits is not None:
        for status in AUDIT_STATUSES:
            count = sum(audit.get("status") == status for audit in audits)
            metrics[f"audits.{status}"] = float(count)
    return metrics


def audit_tags(report: Mapping[str, Any]) -> dict[str, str]:
    """Return the tags that record an evaluation's release audits: the count
    of each outcome, and the failed audits as ``name (segment)``, or no tags
    when the report has no audit results."""
    audits = _audits(report)
    if audits is None:
        return {}
    counts = [
        f"{sum(audit.get('status') == status for audit in audits)} "
        f"{status.replace('_', ' ')}"
        for status in AUDIT_STATUSES
    ]
    failed = ", ".join(
        f"{audit.get('name')} ({audit.get('segment')})"
        for audit in audits
        if audit.get("status") == "failed"
    )
    if len(failed) > _MAX_TAG_LENGTH:
        failed = failed[: _MAX_TAG_LENGTH - 3] + "..."
    return {AUDITS_TAG: ", ".join(counts), FAILED_AUDITS_TAG: failed or "none"}


def _audits(report: Mapping[str, Any]) -> list[Mapping[str, Any]] | None:
    analysis = report.get("analysis")
    if not isinstance(analysis, Mapping) or not isinstance(
        analysis.get("audits"), list
    ):
        return None
    return list(analysis["audits"])


def split_metrics(split: Mapping[str, Any]) -> dict[str, float]:
    """Return one split's metrics by MLflow name, ``split.<model>.<metric>``
    and ``split.<name>`` for the split's other numbers except its seed."""
    others = {key: value for key, value in _numbers(split).items() if key != "seed"}
    return {
        **flatten_metrics(split["models"], SPLIT_PREFIX),
        **flatten_metrics(others, SPLIT_PREFIX),
    }


def _numbers(mapping: Mapping[str, Any]) -> dict[str, Any]:
    return {
        key: value
        for key, value in mapping.items()
        if isinstance(value, int | float) and not isinstance(value, bool)
    }


def _unique_names(prefix: str, tree: Mapping[str, Any]) -> dict[Any, str]:
    """Return the MLflow name of each key of ``tree``.

    Keys that clean to one name, such as the segments ``city=Mexico City`` and
    ``city=Mexico_City``, each get the first 8 hex digits of the SHA-256 of the
    key appended, so no metric overwrites another. Keys that clean to a name of
    their own keep it.
    """
    names = {key: _join(prefix, key) for key in tree}
    counts = Counter(names.values())
    for key, name in names.items():
        if counts[name] > 1:
            digest = hashlib.sha256(str(key).encode()).hexdigest()[:8]
            names[key] = f"{name}_{digest}"
    return names


def _join(prefix: str, key: object) -> str:
    name = metric_name(str(key))
    return f"{prefix}.{name}" if prefix else name
