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
import os
import re
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from models._report_format import MISSING, _audits, _name, _number, _Section, _Table
from models._report_plots import _plots
from models._report_sections import _sections

HTML_FILE = "report.html"

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


# Content shared by both renderings --------------------------------------------


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
    if count == 1:
        # One split has no spread, so the table shows its values alone.
        paragraph = f"Values of one {unit}, which the sections below analyse."
    else:
        paragraph = (
            f"Mean ± sample standard deviation over {count} {unit}s. The "
            "sections below analyse the first of them."
        )
    return _Section(
        key="splits",
        title="Every split",
        paragraphs=[paragraph],
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
