"""The evaluation report's summary over the splits, its Markdown table and files."""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path
from typing import Any

from models.report_render import analysis_markdown, summary_rows


def summarize(
    results: list[dict[str, Any]],
) -> dict[str, dict[str, dict[str, float | None]]]:
    """Mean and sample standard deviation of each metric over the splits; the
    deviation is None (null in JSON) for a single split."""
    summary: dict[str, dict[str, dict[str, float | None]]] = {}
    for name, metrics in results[0]["models"].items():
        summary[name] = {}
        for metric in metrics:
            values = [result["models"][name][metric] for result in results]
            spread = statistics.stdev(values) if len(values) > 1 else None
            summary[name][metric] = {
                "mean": statistics.fmean(values),
                "std": spread,
            }
    return summary


def format_table(report: dict[str, Any]) -> str:
    """Format the summary as a Markdown table, one row per model."""
    metrics, rows = summary_rows(report["summary"])
    header = "| model | " + " | ".join(metrics) + " |"
    rule = "| --- | " + " | ".join("---:" for _ in metrics) + " |"
    lines = [header, rule]
    lines.extend("| " + " | ".join(row) + " |" for row in rows)
    settings = report["settings"]
    lines.append("")
    if report.get("split_kind") == "temporal":
        windows = [split["test_from"][:10] for split in report["splits"]]
        horizon = report["ranker"]["cutoffs"]["horizon_days"]
        if len(windows) == 1:
            # One window has no spread, so the table shows its values alone.
            lines.append(
                f"One test window of {horizon} days starting {windows[0]}; it "
                "trains on the orders before it."
            )
        else:
            lines.append(
                f"Mean ± sample standard deviation over {len(windows)} test "
                f"windows of {horizon} days starting {', '.join(windows)}; each "
                "trains on the orders before its window."
            )
    elif settings["n_splits"] == 1:
        lines.append(
            f"One random {1 - settings['test_fraction']:.0%}/"
            f"{settings['test_fraction']:.0%} split (seed {settings['seed']})."
        )
    else:
        lines.append(
            f"Mean ± sample standard deviation over {settings['n_splits']} random "
            f"{1 - settings['test_fraction']:.0%}/{settings['test_fraction']:.0%} "
            f"splits (seeds {settings['seed']} to "
            f"{settings['seed'] + settings['n_splits'] - 1})."
        )
    lines.append(f"Relevant: {report['relevance']}.")
    if "candidate_recall" in report:
        lines.append(
            f"Candidate recall: {report['candidate_recall']:.4f} of the relevant "
            "restaurants were among the candidates that every model ranks."
        )
    return "\n".join(lines)


def without_nan(value: Any) -> Any:
    """Replace nan by None, since strict JSON has no nan."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {key: without_nan(item) for key, item in value.items()}
    if isinstance(value, list):
        return [without_nan(item) for item in value]
    return value


def write_report(report: dict[str, Any], reports_dir: Path) -> tuple[Path, Path]:
    """Write ``report.json`` and ``report.md``; return their paths."""
    reports_dir.mkdir(parents=True, exist_ok=True)
    json_path = reports_dir / "report.json"
    markdown_path = reports_dir / "report.md"
    json_path.write_text(json.dumps(without_nan(report), indent=2) + "\n")
    markdown = "# Offline evaluation\n\n" + format_table(report) + "\n"
    if "analysis" in report:
        markdown += "\n" + analysis_markdown(report) + "\n"
    markdown_path.write_text(markdown)
    return json_path, markdown_path
