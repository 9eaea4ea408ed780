"""The quality benchmark's report: its Markdown table and files.

``bench/quality_bench.py`` builds the report as a mapping; this module
renders it as the table it prints and the ``quality_bench.md`` it writes next
to ``quality_bench.json``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from models.evaluate import without_nan
from models.ranker import LightGBMRanker

RANKER = LightGBMRanker.name
PREVIOUS = "ranker_v1"


def format_summary(report: dict[str, Any]) -> str:
    """Format the summary as a Markdown table, mean ± sd per model and metric."""
    summary = report["summary"]
    metrics = list(next(iter(summary.values())))
    lines = [
        "| model | " + " | ".join(metrics) + " |",
        "| --- | " + " | ".join("---:" for _ in metrics) + " |",
    ]
    for name, values in summary.items():
        cells = [_mean_and_spread(values[metric]) for metric in metrics]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def to_markdown(report: dict[str, Any]) -> str:
    """Render the report as Markdown: table, checks, splits, machine."""
    machine_info = report["machine"]
    peer = next(iter(report["peers"].values()))
    packages = ", ".join(
        f"{name} {version}" for name, version in machine_info["packages"].items()
    )
    lines = [
        "# Quality benchmark",
        "",
        f"Command: `{report['command']}`, started {report['started_at']}, "
        f"{report['elapsed_s']} s.",
        "",
        format_summary(report),
        "",
        f"{describe_splits(report)} Relevant: "
        f"{report['relevance']}. `{RANKER}` reads the "
        f"`{report['ranker']['feature_service']}` feature service and "
        f"`{PREVIOUS}` the `{report['previous_ranker']['feature_service']}` one. "
        f"LightFM: {peer['loss']} loss, {peer['components']} components, "
        f"{peer['epochs']} epochs, one thread, seed {peer['seed']}.",
        "",
        "## Checks",
        "",
        "| check | against | ranker | bound | result |",
        "| --- | --- | ---: | ---: | --- |",
    ]
    for check in report["checks"]:
        lines.append(
            f"| {check['name']} | {check['reference'] or 'n/a'} "
            f"| {format_number(check['ranker'])} | {format_number(check['bound'])} "
            f"| {'pass' if check['passed'] else 'FAIL'} |"
        )
    lines += [
        "",
        f"Machine: {machine_info['cpu']}, {machine_info['logical_cores']} logical "
        f"cores, {machine_info['memory_gb']} GB, {machine_info['os']}, Python "
        f"{machine_info['python']}, {packages}; commit "
        f"{machine_info['git_commit']}.",
        "",
    ]
    return "\n".join(lines)


def describe_splits(report: dict[str, Any]) -> str:
    """Describe the splits of the report in a sentence: weekly test windows
    when the orders have times, else random splits of the orders."""
    settings = report["settings"]
    # One split has no spread, so its table shows the values alone.
    if report.get("split_kind") == "temporal":
        windows = [split["test_from"][:10] for split in report["splits"]]
        horizon = report["ranker"]["cutoffs"]["horizon_days"]
        if len(windows) == 1:
            return (
                f"Values of one test window of {horizon} days starting "
                f"{windows[0]}, each model trained on the orders before it."
            )
        return (
            f"Mean ± sample standard deviation over {len(windows)} test windows "
            f"of {horizon} days starting {', '.join(windows)}, each model "
            "trained on the orders before the window."
        )
    fractions = f"{1 - settings['test_fraction']:.0%}/{settings['test_fraction']:.0%}"
    if settings["n_splits"] == 1:
        return (
            f"Values of one random {fractions} split of the orders, seed "
            f"{report['split_seeds'][0]}."
        )
    return (
        f"Mean ± sample standard deviation over {settings['n_splits']} random "
        f"{fractions} splits of the orders, seeds {report['split_seeds']}."
    )


def write_report(report: dict[str, Any], out_dir: Path) -> tuple[Path, Path]:
    """Write ``quality_bench.json`` and ``quality_bench.md``; return their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = out_dir / "quality_bench.json"
    markdown_path = out_dir / "quality_bench.md"
    json_path.write_text(json.dumps(without_nan(report), indent=2) + "\n")
    markdown_path.write_text(to_markdown(report))
    return json_path, markdown_path


def format_number(value: float | None) -> str:
    """Format a metric with four decimals, or ``n/a`` when it has no value."""
    if value is None or math.isnan(value):
        return "n/a"
    return f"{value:.4f}"


def _mean_and_spread(value: dict[str, float | None]) -> str:
    mean, spread = value["mean"], value["std"]
    if spread is None:
        return format_number(mean)
    return f"{format_number(mean)} ± {format_number(spread)}"
