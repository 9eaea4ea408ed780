"""Evaluate the vegetarian classifier on the labelled dish list and time it.

Scores the lexicon of ``features/vegetarian.py`` on the three parts of
``tests/features/data/dish_labels.csv``: the dev half it was tuned on, the
held-out test half, and the whole list. For each it reports precision, recall
and F1 of the vegetarian class and the confusion matrix. It lists every
misclassified dish with the terms that decided it. Then it times
``classify_menu`` on ``--items`` menu items drawn with replacement from the
list's names and descriptions, and ``is_vegetarian_dish`` on a sample of them.
Results go to ``vegetarian_eval.json`` and ``vegetarian_eval.md`` in
``--out-dir``.

    .venv/bin/python bench/vegetarian_eval.py
    .venv/bin/python bench/vegetarian_eval.py --items 100000 --repeat 1
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from bench_arguments import int_at_least, nonempty_file, output_folder
from machine_info import describe_machine

from features.paths import default_var_dir
from features.vegetarian import (
    DEV_HALF,
    PREDICTION_COLUMN,
    TEST_HALF,
    Scores,
    classify_menu,
    explain_dish,
    is_vegetarian_dish,
    read_dish_labels,
    score_predictions,
)

REPOSITORY = Path(__file__).resolve().parent.parent
DEFAULT_LABELS = REPOSITORY / "tests" / "features" / "data" / "dish_labels.csv"
SCALAR_SAMPLE = 20_000
PACKAGES = ("polars", "numpy")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    labels = _read_labels(args.labels)
    predicted = classify_menu(labels.drop("is_vegetarian"))[PREDICTION_COLUMN]
    scored = labels.with_columns(predicted.alias(PREDICTION_COLUMN))
    halves = {
        DEV_HALF: scored.filter(pl.col("half") == DEV_HALF),
        TEST_HALF: scored.filter(pl.col("half") == TEST_HALF),
        "all": scored,
    }
    scores = {
        name: score_predictions(frame[PREDICTION_COLUMN], frame["is_vegetarian"])
        for name, frame in halves.items()
    }
    for name, score in scores.items():
        print(_score_line(name, score), flush=True)

    print(f"timing classify_menu on {args.items:,} items ...", flush=True)
    timing = time_classification(labels, args.items, args.repeat, args.seed)
    print(
        f"classify_menu: median {timing['classify_menu_s']['median']} s, "
        f"is_vegetarian_dish: {timing['is_vegetarian_dish_us']} us per item",
        flush=True,
    )

    report = {
        "command": shlex.join([Path(sys.executable).name, *sys.argv]),
        "started_at": started_at,
        "labels": _display_path(args.labels),
        "machine": describe_machine(PACKAGES),
        "scores": {name: _score_dict(score) for name, score in scores.items()},
        "misclassified": _misclassified(scored),
        "timing": timing,
    }
    args.out_dir.mkdir(parents=True, exist_ok=True)
    json_path = args.out_dir / "vegetarian_eval.json"
    json_path.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    markdown_path = args.out_dir / "vegetarian_eval.md"
    markdown_path.write_text(to_markdown(report))
    print(f"wrote {json_path} and {markdown_path}")
    return 0


def _read_labels(path: Path) -> pl.DataFrame:
    """Read the labelled dish list, or stop with one line naming the file."""
    try:
        labels = read_dish_labels(path)
    except (ValueError, OSError, pl.exceptions.PolarsError) as error:
        first_line = str(error).strip().splitlines()[0] if str(error) else ""
        msg = f"--labels {path}: invalid dish label CSV: {first_line}"
        raise SystemExit(msg) from None
    if labels.height == 0:
        msg = f"--labels {path}: expected at least one labelled dish, got none"
        raise SystemExit(msg)
    return labels


def time_classification(
    labels: pl.DataFrame, items: int, repeat: int, seed: int
) -> dict[str, Any]:
    """Time both entry points on menu items drawn from the labelled dishes.

    Names and descriptions are drawn independently, so most items pair a
    name with another dish's description (or none, as a third of the list has
    one).
    """
    rng = np.random.default_rng(seed)
    names = labels["name"].gather(rng.integers(0, labels.height, items))
    descriptions = labels["description"].gather(rng.integers(0, labels.height, items))
    menu = pl.DataFrame(
        {
            "menu_item_id": pl.int_range(items, eager=True).cast(pl.String),
            "restaurant_id": pl.Series(rng.integers(0, 2_000, items)).cast(pl.String),
            "name": names,
            "description": descriptions,
            "price": rng.uniform(2.0, 30.0, items),
            "is_vegetarian": pl.Series([None] * items, dtype=pl.Boolean),
        }
    )
    seconds = []
    for _ in range(repeat):
        started = time.perf_counter()
        classified = classify_menu(menu)
        seconds.append(time.perf_counter() - started)

    sample = min(items, SCALAR_SAMPLE)
    started = time.perf_counter()
    scalar = [
        is_vegetarian_dish(name, description)
        for name, description in zip(names[:sample], descriptions[:sample], strict=True)
    ]
    scalar_seconds = time.perf_counter() - started
    agree = scalar == classified[PREDICTION_COLUMN][:sample].to_list()
    return {
        "items": items,
        "repeat": repeat,
        "classify_menu_s": {
            "median": round(statistics.median(seconds), 3),
            "min": round(min(seconds), 3),
            "max": round(max(seconds), 3),
        },
        "items_per_s": round(items / statistics.median(seconds)),
        "vegetarian_share": round(classified[PREDICTION_COLUMN].sum() / items, 4),
        "is_vegetarian_dish_us": round(scalar_seconds / sample * 1e6, 1),
        "scalar_sample": sample,
        "scalar_agrees": agree,
    }


def to_markdown(report: dict[str, Any]) -> str:
    """Render the report as Markdown: scores, confusion matrices, errors, timing."""
    machine_info = report["machine"]
    timing = report["timing"]
    packages = ", ".join(
        f"{name} {version}" for name, version in machine_info["packages"].items()
    )
    lines = [
        "# Vegetarian classifier evaluation",
        "",
        f"Command: `{report['command']}`, started {report['started_at']}.",
        f"Labels: `{report['labels']}`. The lexicon was tuned on the dev half "
        "only; the test half is held out.",
        "",
        "| half | dishes | precision | recall | F1 | TP | FP | FN | TN |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, score in report["scores"].items():
        lines.append(
            f"| {name} | {score['count']} | {score['precision']:.3f} "
            f"| {score['recall']:.3f} | {score['f1']:.3f} "
            f"| {score['true_positives']} | {score['false_positives']} "
            f"| {score['false_negatives']} | {score['true_negatives']} |"
        )
    lines += [
        "",
        "Positive class: vegetarian. FP: a dish with meat or fish predicted "
        "vegetarian. FN: a vegetarian dish predicted not vegetarian.",
        "",
        "## Misclassified dishes",
        "",
        "| half | language | name | description | label | terms found |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for row in report["misclassified"]:
        terms = ", ".join(row["ingredient_terms"] + row["dish_terms"]) or "none"
        label = "vegetarian" if row["is_vegetarian"] else "not vegetarian"
        lines.append(
            f"| {row['half']} | {row['language']} | {row['name']} "
            f"| {row['description'] or ''} | {label} | {terms} |"
        )
    lines += [
        "",
        "## Speed",
        "",
        f"`classify_menu` on {timing['items']:,} items: median "
        f"{timing['classify_menu_s']['median']} s over {timing['repeat']} runs "
        f"(min {timing['classify_menu_s']['min']} s, max "
        f"{timing['classify_menu_s']['max']} s), "
        f"{timing['items_per_s']:,} items/s. `is_vegetarian_dish`: "
        f"{timing['is_vegetarian_dish_us']} µs per item on "
        f"{timing['scalar_sample']:,} items; same results as `classify_menu`: "
        f"{'yes' if timing['scalar_agrees'] else 'NO'}.",
        "",
        f"Machine: {machine_info['cpu']}, {machine_info['logical_cores']} logical "
        f"cores, {machine_info['os']}, Python {machine_info['python']}, "
        f"{packages}.",
        "",
    ]
    return "\n".join(lines)


def _misclassified(scored: pl.DataFrame) -> list[dict[str, Any]]:
    wrong = scored.filter(pl.col(PREDICTION_COLUMN) != pl.col("is_vegetarian"))
    rows = []
    for row in wrong.sort("half", "name").iter_rows(named=True):
        verdict = explain_dish(row["name"], row["description"])
        rows.append(
            {
                "half": row["half"],
                "language": row["language"],
                "name": row["name"],
                "description": row["description"],
                "is_vegetarian": row["is_vegetarian"],
                "ingredient_terms": list(verdict.ingredient_terms),
                "dish_terms": list(verdict.dish_terms),
            }
        )
    return rows


def _score_dict(score: Scores) -> dict[str, Any]:
    return {
        "count": score.count,
        "precision": round(score.precision, 4),
        "recall": round(score.recall, 4),
        "f1": round(score.f1, 4),
        "true_positives": score.true_positives,
        "false_positives": score.false_positives,
        "false_negatives": score.false_negatives,
        "true_negatives": score.true_negatives,
    }


def _score_line(name: str, score: Scores) -> str:
    return (
        f"{name}: {score.count} dishes, precision {score.precision:.3f}, "
        f"recall {score.recall:.3f}, F1 {score.f1:.3f} "
        f"(TP {score.true_positives}, FP {score.false_positives}, "
        f"FN {score.false_negatives}, TN {score.true_negatives})"
    )


def _display_path(path: Path) -> str:
    """Return ``path`` relative to the repository when it is inside it."""
    resolved = path.resolve()
    if resolved.is_relative_to(REPOSITORY):
        return str(resolved.relative_to(REPOSITORY))
    return str(path)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Score the vegetarian classifier on labelled dishes and time it.",
    )
    parser.add_argument(
        "--labels",
        type=nonempty_file,
        default=DEFAULT_LABELS,
        help="labelled dish list, CSV (default: %(default)s)",
    )
    parser.add_argument(
        "--items",
        type=int_at_least(1),
        default=400_000,
        help="menu items to classify in the timing runs (default: %(default)s)",
    )
    parser.add_argument(
        "--repeat",
        type=int_at_least(1),
        default=3,
        help="timing runs (default: %(default)s)",
    )
    parser.add_argument(
        "--seed",
        type=int_at_least(0),
        default=0,
        help="seed of the item draw (default: 0)",
    )
    parser.add_argument(
        "--out-dir",
        type=output_folder,
        default=str(default_var_dir() / "bench"),
        help="folder for vegetarian_eval.json and .md "
        "(default: bench/ in the var folder)",
    )
    return parser


if __name__ == "__main__":
    sys.exit(main())
