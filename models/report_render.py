"""Markdown and HTML renderings of the ``analysis`` section of the evaluation report.

Both renderings show the same tables, built once from the report: overall
metrics, the classification view, the prioritisation of user segments,
restaurant exposure, SliceLine slices, audits and the current model against
the previous one. The HTML page adds four plots as inline SVG and has no
script and no external resource, so it opens offline.

A missing value (JSON null or NaN, as an empty segment produces) renders as an
em dash. Numbers have 4 decimals, integers thousands separators and the fields
whose name says ``share`` are percentages with one decimal.
"""

from __future__ import annotations

import html
import io
import math
import os
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

MISSING = "—"
SMALL_MARK = "†"
HTML_FILE = "report.html"

_OPERATORS = {"max": "<=", "min": ">="}
_STATUS_LABELS = {
    "passed": "passed",
    "failed": "failed",
    "not_measured": "not measured",
}
_STATUS_COLOURS = {"passed": "#2e7d32", "failed": "#c62828", "not_measured": "#757575"}
# An unmeasured audit has no value, so it has no marker.
_STATUS_MARKERS = {"passed": "o", "failed": "X"}
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
_XLINK_NAMESPACE = ' xmlns:xlink="http://www.w3.org/1999/xlink"'
_CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 80em;
  padding: 0 1em; color: #212121; }
table { border-collapse: collapse; margin: 0.5em 0 1em; font-variant-numeric:
  tabular-nums; }
caption { text-align: left; font-weight: bold; padding: 0.3em 0; }
th, td { border: 1px solid #bdbdbd; padding: 0.25em 0.5em; vertical-align: top; }
th { background: #eeeeee; text-align: left; }
.summary { padding: 0.5em 1em; border-left: 0.4em solid #2e7d32;
  background: #e8f5e9; font-weight: bold; }
.summary.failed { border-color: #c62828; background: #ffebee; }
.summary.unmeasured { border-color: #ef6c00; background: #fff3e0; }
figure { margin: 1em 0; }
svg { max-width: 100%; height: auto; }
"""


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


def analysis_markdown(report: Mapping[str, Any]) -> str:
    """Render the report's ``analysis`` section as Markdown.

    Raises:
        ValueError: the report has no ``analysis`` mapping.
    """
    analysis = _analysis_of(report)
    parts = ["## Analysis", *_summary_lines(analysis), _describe_run(report, analysis)]
    for section in _sections(analysis):
        parts.append(f"### {section.title}")
        parts.extend(_markdown_text(paragraph) for paragraph in section.paragraphs)
        parts.extend(_markdown_table(table) for table in section.tables)
        if section.notes:
            parts.append(
                "\n".join(f"- {_markdown_text(note)}" for note in section.notes)
            )
    return "\n\n".join(parts) + "\n"


def analysis_html(report: Mapping[str, Any]) -> str:
    """Render the report's ``analysis`` section as one self-contained HTML page.

    The same input gives the same bytes: the SVG ids derive from a fixed salt
    per plot, and the SVG metadata, which contains the date, is left out.

    Raises:
        ValueError: the report has no ``analysis`` mapping.
    """
    analysis = _analysis_of(report)
    plots = _plots(analysis)
    statuses = {audit.get("status") for audit in _audits(analysis)}
    # Red for a failure; amber when nothing failed but an audit could not be
    # measured, which is not a pass.
    summary_class = "summary"
    if "failed" in statuses:
        summary_class = "summary failed"
    elif "not_measured" in statuses:
        summary_class = "summary unmeasured"
    parts = [
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">',
        f"<title>Release evaluation</title>\n<style>{_CSS}</style>\n</head>\n<body>",
        "<h1>Release evaluation</h1>",
        *(
            f'<p class="{summary_class}">{html.escape(line)}</p>'
            for line in _summary_lines(analysis)
        ),
        f"<p>{html.escape(_describe_run(report, analysis))}</p>",
    ]
    splits_section = _splits_section(report)
    if splits_section is not None:
        parts.append(_html_section(splits_section, []))
    for section in _sections(analysis):
        parts.append(_html_section(section, plots.get(section.key, [])))
    parts.append("</body>\n</html>")
    return "\n".join(parts) + "\n"


def write_html(report: Mapping[str, Any], reports_dir: Path) -> Path:
    """Write the HTML page to ``reports_dir / "report.html"`` and return its path.

    The page goes to a temporary file in the same folder first and then
    replaces ``report.html`` in one rename, so a crash leaves either the old
    page or the new one, never part of a page.
    """
    page = analysis_html(report)
    reports_dir.mkdir(parents=True, exist_ok=True)
    target = reports_dir / HTML_FILE
    temporary = reports_dir / f".{HTML_FILE}.{os.getpid()}.{uuid.uuid4().hex}.tmp"
    # Mode 0o666 lets the umask set the permissions, as open() does. The
    # tempfile module would create a file that only the owner can read.
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(page)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return target


def _analysis_of(report: Mapping[str, Any]) -> Mapping[str, Any]:
    analysis = report.get("analysis")
    if not isinstance(analysis, Mapping):
        msg = (
            f"report field 'analysis' is {type(analysis).__name__}, expected a "
            "mapping of the error-analysis sections that models.analysis builds"
        )
        raise ValueError(msg)
    return analysis


# Formatting -------------------------------------------------------------------


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


# Content shared by both renderings --------------------------------------------


def _audits(analysis: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return list(analysis.get("audits") or [])


def _segments(analysis: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return list(analysis.get("segments") or [])


def _k(analysis: Mapping[str, Any]) -> int:
    return int(analysis.get("k") or 10)


def _segment_label(row: Mapping[str, Any]) -> str:
    return _name(row.get("name")) + (SMALL_MARK if row.get("small") else "")


def _summary_lines(analysis: Mapping[str, Any]) -> list[str]:
    """Return the audit summary: the failed audits, then any unmeasured ones."""
    audits = _audits(analysis)
    lines = []
    for status, verb in (("failed", "failed"), ("not_measured", "not measured")):
        names = [_name(a.get("name")) for a in audits if a.get("status") == status]
        if status == "failed" or names:
            listed = f": {', '.join(names)}" if names else ""
            lines.append(f"{len(names)} of {len(audits)} audits {verb}{listed}.")
    return lines


def _describe_run(report: Mapping[str, Any], analysis: Mapping[str, Any]) -> str:
    """Describe the run in one sentence. The analysis covers the report's
    first split: the latest weekly window, or the random split of the first
    seed."""
    splits = report.get("splits")
    first = splits[0] if isinstance(splits, list) and splits else {}
    if not isinstance(first, Mapping):
        first = {}
    if report.get("split_kind") == "temporal":
        test_from = first.get("test_from")
        window = str(test_from)[:10] if isinstance(test_from, str) else None
        split = f"Temporal split, test window from {_name(window)}"
    elif report.get("split_kind") == "random":
        split = f"Random split of seed {_name(first.get('seed'))}"
    else:
        split = f"{_name(report.get('split_kind')).capitalize()} split"
    users = analysis.get("test_users", first.get("test_users"))
    return (
        f"Created {_name(report.get('created_at'))}. "
        f"{split}, {_number(users)} test users. "
        f"Relevance: {_name(report.get('relevance'))}. "
        f"Current model {_name(analysis.get('current'))}, previous model "
        f"{_name(analysis.get('previous'))}, best baseline "
        f"{_name(analysis.get('best_baseline'))}."
    )


def _splits_section(report: Mapping[str, Any]) -> _Section | None:
    """Return the mean and spread of each model over every split, as the
    Markdown report opens with; None for a report without a summary."""
    summary = report.get("summary")
    if not isinstance(summary, Mapping) or not summary:
        return None
    metrics, rows = summary_rows(summary)
    splits = report.get("splits")
    count = len(splits) if isinstance(splits, list) else 0
    unit = "test window" if report.get("split_kind") == "temporal" else "split"
    unit = unit if count == 1 else f"{unit}s"
    return _Section(
        key="splits",
        title="Every split",
        paragraphs=[
            f"Mean ± sample standard deviation over {count} {unit}. The "
            "sections below analyse the first of them."
        ],
        tables=[_Table(["model", *metrics], rows)],
    )


def summary_rows(
    summary: Mapping[str, Mapping[str, Any]],
) -> tuple[list[str], list[list[str]]]:
    """Return the metric names of a report's summary, and one row per model:
    its name, then each metric's mean ± sample standard deviation."""
    metrics = list(next(iter(summary.values())))
    rows = [
        [str(model), *(_mean_and_spread(values[metric]) for metric in metrics)]
        for model, values in summary.items()
    ]
    return metrics, rows


def _mean_and_spread(value: Mapping[str, float | None]) -> str:
    mean, spread = value["mean"], value["std"]
    if mean is None:
        return MISSING
    if spread is None:
        return f"{mean:.4f}"
    return f"{mean:.4f} ± {spread:.4f}"


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


# Markdown and HTML ---------------------------------------------------------------


def _markdown_text(text: str) -> str:
    """Escape the characters that would start Markdown markup or break a table."""
    text = " ".join(text.split())
    text = re.sub(r"([\\`*|])", r"\\\1", text)
    # Brackets form a link only when "]" is followed by "(", "[" or ":".
    text = re.sub(r"\](?=[(\[:])", r"\\]", text)
    # "<" starts raw HTML only before a letter, "/", "!" or "?", and "&" only
    # before an entity name, so "<=" and "a & b" stay readable.
    text = re.sub(r"<(?=[A-Za-z/!?])", r"\\<", text)
    return re.sub(r"&(?=#?\w+;)", r"\\&", text)


def _markdown_table(table: _Table) -> str:
    lines = [f"**{_markdown_text(table.caption)}**", ""] if table.caption else []
    lines.append("| " + " | ".join(map(_markdown_text, table.headers)) + " |")
    lines.append("|" + " --- |" * len(table.headers))
    for row in table.rows:
        lines.append("| " + " | ".join(map(_markdown_text, row)) + " |")
    return "\n".join(lines)


def _html_section(section: _Section, plots: Sequence[str]) -> str:
    parts = [f'<section id="{section.key}">', f"<h2>{html.escape(section.title)}</h2>"]
    parts.extend(f"<p>{html.escape(text)}</p>" for text in section.paragraphs)
    parts.extend(_html_table(table) for table in section.tables)
    if section.notes:
        items = "".join(f"<li>{html.escape(note)}</li>" for note in section.notes)
        parts.append(f"<ul>{items}</ul>")
    parts.extend(f"<figure>\n{svg}</figure>" for svg in plots)
    parts.append("</section>")
    return "\n".join(parts)


def _html_table(table: _Table) -> str:
    caption = (
        f"<caption>{html.escape(table.caption)}</caption>" if table.caption else ""
    )
    head = "".join(f"<th>{html.escape(cell)}</th>" for cell in table.headers)
    body = "\n".join(
        "<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>"
        for row in table.rows
    )
    return (
        f"<table>{caption}\n<thead><tr>{head}</tr></thead>\n"
        f"<tbody>\n{body}\n</tbody></table>"
    )


# Plots ------------------------------------------------------------------------


def _plots(analysis: Mapping[str, Any]) -> dict[str, list[str]]:
    """Draw the four plots as SVG markup, keyed by the section that shows them."""
    # svg.fonttype "none" writes text as <text> elements instead of glyph paths.
    # text.parse_math off keeps a "$" in a segment name from starting mathtext.
    with matplotlib.rc_context(
        {
            "svg.fonttype": "none",
            "text.parse_math": False,
            "font.size": 9,
            "axes.spines.top": False,
            "axes.spines.right": False,
        }
    ):
        return {
            "segments": [
                _svg(_plot_segment_ndcg(analysis), "segment-ndcg"),
                _svg(_plot_potential_gain(analysis), "potential-gain"),
            ],
            "exposure": [_svg(_plot_exposure(analysis), "exposure")],
            "audits": [_svg(_plot_audits(analysis), "audits")],
        }


def _svg(figure: Figure, name: str) -> str:
    """Save a figure as an ``<svg>`` element to place inside an HTML page.

    ``name`` salts the hashed ids of markers and clip paths and prefixes every
    id, so the ids stay the same from run to run and differ between plots.
    """
    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.hashsalt": name}):
        # A None value drops the entry, and with all four the metadata element.
        metadata = dict.fromkeys(("Creator", "Date", "Format", "Type"))
        figure.savefig(buffer, format="svg", metadata=metadata)
    svg = buffer.getvalue()
    # HTML needs neither the XML declaration and DOCTYPE before <svg> nor the
    # xlink namespace once xlink:href is written as the SVG 2 href.
    svg = svg[svg.index("<svg") :].replace(_XLINK_NAMESPACE, "", 1)
    # Text content has "<" escaped, so the pattern matches tags only.
    return re.sub(r"<[^>]*>", lambda tag: _prefix_ids(tag.group(0), name), svg)


def _prefix_ids(tag: str, prefix: str) -> str:
    tag = tag.replace(' id="', f' id="{prefix}-')
    tag = tag.replace(' xlink:href="#', f' href="#{prefix}-')
    return tag.replace("url(#", f"url(#{prefix}-")


def _plot_segment_ndcg(analysis: Mapping[str, Any]) -> Figure:
    k = _k(analysis)
    rows = _segments(analysis)
    figure = Figure(figsize=(7.5, 1.8 + 0.5 * max(len(rows), 1)), layout="constrained")
    axes = figure.add_subplot()

    plotted = False
    for index, (label, models, marker) in enumerate(_ndcg_series(analysis, rows)):
        points = _ndcg_points(rows, models, k)
        if not points:
            continue
        positions, values, below, above = zip(*points, strict=True)
        # Offsets keep the three models of one segment on separate lines.
        axes.errorbar(
            values,
            [position + (index - 1) * 0.22 for position in positions],
            xerr=[below, above],
            fmt=marker,
            capsize=3,
            label=label,
        )
        plotted = True

    _label_rows(axes, [_segment_label(row) for row in rows])
    axes.set_xlabel(f"NDCG@{k} with 95% interval")
    axes.set_ylabel("User segment")
    axes.set_title(f"NDCG@{k} per user segment ({SMALL_MARK}: small segment)")
    if plotted:
        figure.legend(loc="outside lower center", ncols=3)
    else:
        _note_empty(axes, "No segment has an NDCG value.")
    return figure


def _ndcg_series(
    analysis: Mapping[str, Any], rows: Sequence[Mapping[str, Any]]
) -> list[tuple[str, list[object], str]]:
    """Return (legend label, model of each row, marker) per plotted series."""
    current = analysis.get("current")
    previous = analysis.get("previous")
    baselines = [row.get("best_baseline") for row in rows]
    named = sorted({str(name) for name in baselines if not _is_missing(name)})
    baseline_label = (
        f"best baseline: {named[0]}" if len(named) == 1 else "best baseline per segment"
    )
    return [
        (f"current: {_name(current)}", [current] * len(rows), "o"),
        (f"previous: {_name(previous)}", [previous] * len(rows), "s"),
        (baseline_label, baselines, "D"),
    ]


def _ndcg_points(
    rows: Sequence[Mapping[str, Any]], models: Sequence[object], k: int
) -> list[tuple[int, float, float, float]]:
    """Return (row, NDCG, distance to the lower bound, to the upper bound)."""
    points = []
    for index, (row, model) in enumerate(zip(rows, models, strict=True)):
        if _is_missing(model):
            continue
        entry = (row.get("metrics") or {}).get(str(model)) or {}
        value = _float_or_none(entry.get(f"ndcg@{k}"))
        if value is None:
            continue
        low, high = _bounds(entry.get("ci")) or (value, value)
        points.append((index, value, max(0.0, value - low), max(0.0, high - value)))
    return points


def _plot_potential_gain(analysis: Mapping[str, Any]) -> Figure:
    k = _k(analysis)
    gains = []
    for row in _segments(analysis):
        gain = _float_or_none(row.get("potential_gain"))
        if gain is not None:
            gains.append((_segment_label(row), gain))
    gains.sort(key=lambda item: -item[1])
    figure = Figure(figsize=(7.5, 1.6 + 0.4 * max(len(gains), 1)), layout="constrained")
    axes = figure.add_subplot()
    if gains:
        bars = axes.barh(
            range(len(gains)), [gain for _, gain in gains], color="#1565c0"
        )
        axes.bar_label(bars, labels=[f"{gain:.4f}" for _, gain in gains], padding=3)
        axes.margins(x=0.15)
    else:
        _note_empty(axes, "No segment has a potential gain.")
    _label_rows(axes, [label for label, _ in gains])
    axes.set_xlabel(f"Potential gain: share of users times room in NDCG@{k}")
    axes.set_ylabel("User segment")
    axes.set_title(f"Where to work, largest gain first ({SMALL_MARK}: small segment)")
    return figure


def _plot_exposure(analysis: Mapping[str, Any]) -> Figure:
    k = _k(analysis)
    rows = list(analysis.get("exposure") or [])
    series = [("share of orders", [row.get("share_of_orders") for row in rows])]
    for model in _exposure_models(rows):
        shares = [(row.get("share_of_exposure") or {}).get(model) for row in rows]
        series.append((f"exposure: {model}", shares))

    height = 0.8 / len(series)
    figure = Figure(
        figsize=(7.5, 1.8 + 0.22 * len(series) * max(len(rows), 1)),
        layout="constrained",
    )
    axes = figure.add_subplot()

    for index, (label, values) in enumerate(series):
        points = [(row, _float_or_none(value)) for row, value in enumerate(values)]
        bars = [(row, 100 * value) for row, value in points if value is not None]
        offset = (index - (len(series) - 1) / 2) * height
        # Hatching distinguishes the order share from the exposure bars in grey print.
        is_orders = index == 0
        axes.barh(
            [row + offset for row, _ in bars],
            [share for _, share in bars],
            height=height,
            label=label,
            color="#bdbdbd" if is_orders else None,
            hatch="///" if is_orders else None,
            edgecolor="#424242" if is_orders else None,
        )

    _label_rows(axes, [_name(row.get("segment")) for row in rows])
    axes.set_xlabel("Share (%)")
    axes.set_ylabel("Restaurant segment")
    axes.set_title(f"Share of top-{k} slots against share of orders")
    if rows:
        figure.legend(loc="outside lower center", ncols=min(len(series), 3))
    else:
        _note_empty(axes, "No restaurant segment in this report.")
    return figure


def _plot_audits(analysis: Mapping[str, Any]) -> Figure:
    audits = _audits(analysis)
    figure = Figure(
        figsize=(7.5, 1.0 + 1.1 * max(len(audits), 1)), layout="constrained"
    )
    if not audits:
        _note_empty(figure.add_subplot(), "No audit in this report.")
        return figure
    grid = figure.subplots(len(audits), 1, squeeze=False)
    for axes, audit in zip(grid[:, 0], audits, strict=True):
        _draw_audit(axes, audit)
    legend = [
        Line2D([], [], color=_STATUS_COLOURS[status], marker=marker, linestyle="none")
        for status, marker in _STATUS_MARKERS.items()
    ]
    legend.append(Line2D([], [], color="#424242", linestyle="--"))
    labels = [f"value, {status}" for status in _STATUS_MARKERS] + ["threshold"]
    figure.legend(legend, labels, loc="outside lower center", ncols=len(labels))
    return figure


def _draw_audit(axes: Any, audit: Mapping[str, Any]) -> None:
    """Draw one audit: the threshold as a dashed line, the value as a marker.

    The title states the status in words, so the colour is not the only sign.
    """
    status = str(audit.get("status"))
    colour = _STATUS_COLOURS.get(status, _STATUS_COLOURS["not_measured"])
    value = _float_or_none(audit.get("value"))
    threshold = _float_or_none(audit.get("threshold"))
    if threshold is not None:
        axes.axvline(threshold, color="#424242", linestyle="--", linewidth=1)
    if value is not None:
        marker = _STATUS_MARKERS.get(status, "o")
        axes.plot([value], [0], marker=marker, markersize=9, color=colour)
    known = [number for number in (value, threshold) if number is not None]
    if known:
        low, high = min(known), max(known)
        padding = 0.3 * (high - low or abs(high) or 1.0)
        axes.set_xlim(low - padding, high + padding)
    axes.set_yticks([])
    axes.spines["left"].set_visible(False)
    axes.set_xlabel(f"{_name(audit.get('metric'))} on {_name(audit.get('segment'))}")
    title = (
        f"{_name(audit.get('name'))}: {_status_label(status).upper()}, value "
        f"{_number(audit.get('value'))}, required {_threshold(audit)}"
    )
    axes.set_title(title, loc="left", color=colour)


def _label_rows(axes: Any, labels: Sequence[str]) -> None:
    """Label one row per entry, the first entry at the top."""
    if not labels:
        return
    axes.set_yticks(range(len(labels)), labels)
    axes.set_ylim(len(labels) - 0.5, -0.5)


def _note_empty(axes: Any, text: str) -> None:
    axes.text(0.5, 0.5, text, transform=axes.transAxes, ha="center", va="center")
    axes.set_xticks([])
    axes.set_yticks([])
