"""The SVG plots of the HTML report: segment NDCG, potential gain, exposure, audits."""

from __future__ import annotations

import io
import re
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from models._report_format import (
    SMALL_MARK,
    _audits,
    _bounds,
    _float_or_none,
    _is_missing,
    _k,
    _name,
    _number,
    _segment_label,
    _segments,
    _status_label,
)
from models._report_sections import _exposure_models, _threshold

_STATUS_COLOURS = {"passed": "#2e7d32", "failed": "#c62828", "not_measured": "#757575"}
# An unmeasured audit has no value, so it has no marker.
_STATUS_MARKERS = {"passed": "o", "failed": "X"}

_XLINK_NAMESPACE = ' xmlns:xlink="http://www.w3.org/1999/xlink"'


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
