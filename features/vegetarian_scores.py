"""Evaluation of the vegetarian classifier against a labelled dish list."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import polars as pl

DEV_HALF = "dev"
TEST_HALF = "test"
DISH_LABEL_SCHEMA = {
    "name": pl.String,
    "description": pl.String,
    "is_vegetarian": pl.Boolean,
    "language": pl.String,
}


def holdout_half(name: str) -> str:
    """Assign a dish to the ``dev`` or ``test`` half by a SHA-256 hash of its name.

    The lexicon is tuned on ``dev`` only. Rows that share a name share a half.
    """
    first_byte = hashlib.sha256(name.encode("utf-8")).digest()[0]
    return DEV_HALF if first_byte % 2 == 0 else TEST_HALF


def read_dish_labels(path: Path) -> pl.DataFrame:
    """Read a labelled dish list and add its ``half`` column.

    The CSV has the columns of ``DISH_LABEL_SCHEMA``; ``description`` may be
    empty. See ``tests/features/data/dish_labels.md``.

    Raises:
        ValueError: a name or label is empty; names the CSV line.
    """
    frame = pl.read_csv(path, schema=DISH_LABEL_SCHEMA)
    for column in ("name", "is_vegetarian"):
        missing = frame.with_row_index("line", offset=2).filter(
            pl.col(column).is_null()
        )
        if not missing.is_empty():
            msg = f"{path}: line {missing['line'][0]} has no {column}"
            raise ValueError(msg)
    return frame.with_columns(
        pl.col("name").map_elements(holdout_half, return_dtype=pl.String).alias("half")
    )


@dataclass(frozen=True)
class Scores:
    """Confusion counts of the vegetarian class and the scores derived from them.

    A score whose denominator is zero is NaN, so that a threshold check on it
    fails.
    """

    true_positives: int
    false_positives: int
    false_negatives: int
    true_negatives: int

    @property
    def precision(self) -> float:
        predicted = self.true_positives + self.false_positives
        return self.true_positives / predicted if predicted else math.nan

    @property
    def recall(self) -> float:
        actual = self.true_positives + self.false_negatives
        return self.true_positives / actual if actual else math.nan

    @property
    def f1(self) -> float:
        total = self.precision + self.recall
        return 2 * self.precision * self.recall / total if total else math.nan

    @property
    def count(self) -> int:
        return (
            self.true_positives
            + self.false_positives
            + self.false_negatives
            + self.true_negatives
        )


def score_predictions(predicted: Iterable[bool], expected: Iterable[bool]) -> Scores:
    """Count predictions against labels, with "vegetarian" as the positive class.

    Raises:
        ValueError: the two sequences differ in length.
    """
    pairs = list(zip(predicted, expected, strict=True))
    return Scores(
        true_positives=sum(1 for p, e in pairs if p and e),
        false_positives=sum(1 for p, e in pairs if p and not e),
        false_negatives=sum(1 for p, e in pairs if not p and e),
        true_negatives=sum(1 for p, e in pairs if not p and not e),
    )
