"""Baselines that the ranker must beat, behind one interface.

A baseline is fitted on the training part of a split (a :class:`StoreFrames`
whose orders are the training orders) and then scores candidate rows: a
DataFrame with ``user_id`` and ``restaurant_id`` and the feature columns the
ranker reads. Higher scores rank first.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import numpy as np
import polars as pl

from features.transforms import StoreFrames


class Baseline(Protocol):
    """A model fitted on training orders that scores candidate rows."""

    name: str

    def fit(self, frames: StoreFrames) -> None: ...

    def score(self, rows: pl.DataFrame) -> np.ndarray: ...


# Builds a fresh, unfitted baseline; evaluation builds one per split.
BaselineFactory = Callable[[], Baseline]


class PopularityBaseline:
    """Ranks restaurants by how many visible orders they received."""

    name = "popularity"

    def fit(self, frames: StoreFrames) -> None:
        """Nothing to fit: the order counts are a column of the rows."""

    def score(self, rows: pl.DataFrame) -> np.ndarray:
        return rows["restaurant_order_count"].fill_null(0).cast(pl.Float64).to_numpy()


def default_baselines() -> list[BaselineFactory]:
    """The baselines that every evaluation reports next to the ranker."""
    return [PopularityBaseline]
