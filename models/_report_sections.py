"""The tables and notes of each section of the rendered analysis report."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from models._report_format import (
    MISSING,
    SMALL_MARK,
    _audits,
    _difference,
    _is_missing,
    _k,
    _name,
    _number,
    _Section,
    _segment_label,
    _segments,
    _share,
    _status_label,
    _Table,
    _with_interval,
)

_OPERATORS = {"max": "<=", "min": ">="}

# Overall metrics after NDCG@k, as (key without the @k suffix, heading, has @k).
_OVERALL_METRICS = (
    ("recall", "Recall", True),
    ("precision", "Precision", True),
    ("map", "MAP", True),
    ("mrr", "MRR", True),
    ("hit_rate", "Hit rate", True),
    ("coverage", "Coverage", False),
    ("popularity_bias", "Popularity bias", False),
    ("novelty", "Novelty", False),
)
_RATES = (
    ("precision", "Precision"),
    ("recall", "Recall"),
    ("f1", "F1"),
    ("false_positive_rate", "False-positive rate"),
    ("false_negative_rate", "False-negative rate"),
    ("accuracy", "Accuracy"),
)


def _sections(analysis: Mapping[str, Any]) -> list[_Section]:
    return [
        _overall_section(analysis),
        _classification_section(analysis),
        _prioritisation_section(analysis),
        _exposure_section(analysis),
        _slices_section(analysis),
        _audits_section(analysis),
        _comparison_section(analysis),
    ]


def _overall_section(analysis: Mapping[str, Any]) -> _Section:
    k = _k(analysis)
    models = analysis.get("models") or {}
    headers = ["Model", "Role", f"NDCG@{k} [95% interval]"]
    headers += [
        f"{title}@{k}" if at_k else title for _, title, at_k in _OVERALL_METRICS
    ]
    rows = []
    for model, metrics in (analysis.get("overall") or {}).items():
        row = [
            model,
            _name((models.get(model) or {}).get("role")),
            _with_interval(metrics.get(f"ndcg@{k}"), metrics.get(f"ndcg@{k}_ci")),
        ]
        for key, _, at_k in _OVERALL_METRICS:
            row.append(_number(metrics.get(f"{key}@{k}" if at_k else key)))
        rows.append(row)
    return _Section("overall", "Overall", tables=[_Table(headers, rows)])


def _classification_section(analysis: Mapping[str, Any]) -> _Section:
    views: Mapping[str, Mapping[str, Any]] = analysis.get("classification") or {}
    default_decision = f"recommended in the top {_k(analysis)}"
    tables = []
    for model, view in views.items():
        decision = _name(view.get("decision") or default_decision)
        tables.append(
            _Table(
                ["Ordered there", decision, f"not {decision}"],
                [
                    ["yes", _number(view.get("tp")), _number(view.get("fn"))],
                    ["no", _number(view.get("fp")), _number(view.get("tn"))],
                ],
                caption=f"Confusion matrix of {model}",
            )
        )
    rates = [
        [model, *(_number(view.get(key)) for key, _ in _RATES)]
        for model, view in views.items()
    ]
    tables.append(_Table(["Model", *(title for _, title in _RATES)], rates, "Rates"))
    paragraph = (
        "Each candidate restaurant of a test user is one case: actually positive "
        "when the user ordered there, predicted positive when it is "
        f"{default_decision}."
    )
    return _Section(
        "classification",
        "Classification at the decision threshold",
        paragraphs=[paragraph, _accuracy_caveat(analysis, views)],
        tables=tables,
    )


def _accuracy_caveat(
    analysis: Mapping[str, Any], views: Mapping[str, Mapping[str, Any]]
) -> str:
    """Explain, with the counts of one model, why accuracy is not the headline."""
    model = analysis.get("current")
    view = views.get(str(model)) or next(iter(views.values()), {})
    counts = [view.get(key) for key in ("tp", "fp", "fn", "tn")]
    reason = (
        "Accuracy is not the headline: relevant restaurants are a small minority "
        "of the candidates"
    )
    tp, fp, fn, tn = (count if isinstance(count, int) else -1 for count in counts)
    total = tp + fp + fn + tn
    if min(tp, fp, fn, tn) < 0 or total == 0:
        return f"{reason}, so recommending nothing already scores a high accuracy."
    return (
        f"{reason} ({tp + fn:,} of {total:,}, {_share((tp + fn) / total)}), so "
        f"recommending nothing would already score an accuracy of "
        f"{_share((fp + tn) / total)}."
    )


def _prioritisation_section(analysis: Mapping[str, Any]) -> _Section:
    k = _k(analysis)
    current = _name(analysis.get("current"))
    previous = analysis.get("previous")
    headers = [
        "Segment",
        "Users",
        "Share of users",
        "Share of errors",
        "Error rate",
        f"NDCG@{k} {current} [95% interval]",
        "Best baseline",
        f"Previous model ({_name(previous)})",
        "Reference",
        "Reference value",
        "Room",
        "Potential gain",
    ]
    rows = []
    notes = []
    for row in _segments(analysis):
        metrics = row.get("metrics") or {}
        reference = row.get("reference") or {}
        rows.append(
            [
                _segment_label(row),
                _number(row.get("users")),
                _share(row.get("share_of_users")),
                _share(row.get("share_of_errors")),
                _number(row.get("error_rate")),
                _model_cell(metrics, current, k),
                _baseline_cell(row, k),
                _model_cell(metrics, previous, k),
                _reference_name(reference),
                _number(reference.get("value")),
                _number(row.get("room")),
                _number(row.get("potential_gain")),
            ]
        )
        if row.get("small") or row.get("warning"):
            warning = row.get("warning") or "small segment"
            notes.append(f"{_segment_label(row)}: {warning}")
    paragraphs = [
        "Rows come in the order of the report, by potential gain. Room is the gap "
        f"between the reference and the current model's NDCG@{k} on the segment. "
        "The reference is the current model's overall NDCG@k, or the best "
        "baseline on the segment when that is higher. Potential gain is the room "
        "times the share of users. An error is a user with no relevant "
        f"restaurant in the top {k}."
    ]
    if any(row.get("small") for row in _segments(analysis)):
        notes.insert(0, f"{SMALL_MARK} marks a small segment: its interval is wide.")
    return _Section(
        "segments", "Where to work", paragraphs, [_Table(headers, rows)], notes
    )


def _model_cell(metrics: Mapping[str, Any], model: object, k: int) -> str:
    entry = metrics.get(str(model)) if not _is_missing(model) else None
    if not entry:
        return MISSING
    return _with_interval(entry.get(f"ndcg@{k}"), entry.get("ci"))


def _baseline_cell(row: Mapping[str, Any], k: int) -> str:
    baseline = row.get("best_baseline")
    if _is_missing(baseline):
        return MISSING
    return f"{baseline}: {_model_cell(row.get('metrics') or {}, baseline, k)}"


def _reference_name(reference: Mapping[str, Any]) -> str:
    """Name the reference as "overall" or by the baseline that sets it."""
    if reference.get("kind") == "overall":
        return "overall"
    return _name(reference.get("name") or reference.get("kind"))


def _exposure_section(analysis: Mapping[str, Any]) -> _Section:
    rows = list(analysis.get("exposure") or [])
    models = _exposure_models(rows)
    headers = ["Restaurant segment", "Restaurants", "Share of orders"]
    headers += [f"Share of exposure, {model}" for model in models]
    cells = [
        [
            _name(row.get("segment")),
            _number(row.get("restaurants")),
            _share(row.get("share_of_orders")),
            *(_share((row.get("share_of_exposure") or {}).get(m)) for m in models),
        ]
        for row in rows
    ]
    paragraph = (
        f"Exposure is the share of top-{_k(analysis)} slots that a restaurant "
        "segment receives; the share of orders is its share before the cutoff."
    )
    return _Section(
        "exposure",
        "Exposure by restaurant segment",
        [paragraph],
        [_Table(headers, cells)],
    )


def _exposure_models(rows: Iterable[Mapping[str, Any]]) -> list[str]:
    models: dict[str, None] = {}
    for row in rows:
        models.update(dict.fromkeys(row.get("share_of_exposure") or {}))
    return list(models)


def _slices_section(analysis: Mapping[str, Any]) -> _Section:
    slices = list(analysis.get("slices") or [])
    headers = ["Slice", "Users", "Error", "Overall error", "Score"]
    rows = [
        [
            _name(found.get("description")),
            _number(found.get("size")),
            _number(found.get("error")),
            _number(found.get("overall_error")),
            _number(found.get("score")),
        ]
        for found in slices
    ]
    paragraphs = [] if rows else ["SliceLine found no slice."]
    return _Section(
        "slices", "Slices found by SliceLine", paragraphs, [_Table(headers, rows)]
    )


def _audits_section(analysis: Mapping[str, Any]) -> _Section:
    headers = [
        "Audit",
        "Status",
        "Metric",
        "Segment",
        "Value",
        "Threshold",
        "Owner",
        "Signed off",
        "Message",
    ]
    rows = [
        [
            _name(audit.get("name")),
            _status_label(audit.get("status")),
            _name(audit.get("metric")),
            _name(audit.get("segment")),
            _number(audit.get("value")),
            _threshold(audit),
            _name(audit.get("owner")),
            _number(bool(audit.get("signed_off"))),
            _name(audit.get("message")),
        ]
        for audit in _audits(analysis)
    ]
    return _Section("audits", "Audits", tables=[_Table(headers, rows)])


def _threshold(audit: Mapping[str, Any]) -> str:
    operator = _OPERATORS.get(
        str(audit.get("direction")), _name(audit.get("direction"))
    )
    return f"{operator} {_number(audit.get('threshold'))}"


def _comparison_section(analysis: Mapping[str, Any]) -> _Section:
    comparison = analysis.get("comparison") or {}
    k = _k(analysis)
    current = _name(comparison.get("current"))
    previous = _name(comparison.get("previous"))
    metric = _name(comparison.get("metric"))
    meat_only = f"meat_only_share@{k}"
    headers = [
        "Segment",
        "Users",
        f"{metric} {current}",
        f"{metric} {previous}",
        "Difference",
        f"Meat-only share@{k}, {current}",
        f"Meat-only share@{k}, {previous}",
    ]
    rows = []
    for row in comparison.get("rows") or []:
        shares = row.get(meat_only) or {}
        rows.append(
            [
                _name(row.get("segment")),
                _number(row.get("users")),
                _number(row.get("current")),
                _number(row.get("previous")),
                _difference(row.get("difference")),
                _share(shares.get("current")),
                _share(shares.get("previous")),
            ]
        )
    return _Section(
        "comparison",
        "Current vs previous model per segment",
        tables=[_Table(headers, rows)],
    )
