"""Evaluation splits: rolling time windows for orders with times, seeded random
partitions for data sets without them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import polars as pl


@dataclass(frozen=True)
class Split:
    """One random partition of the interactions into train and test."""

    seed: int
    train: pl.DataFrame
    test: pl.DataFrame
    # Start of the test window of a temporal split: the training part is the
    # orders before it. None for a random split.
    test_from: datetime | None = None


def random_splits(
    interactions: pl.DataFrame,
    n_splits: int = 5,
    test_fraction: float = 0.2,
    seed: int = 0,
) -> list[Split]:
    """Draw ``n_splits`` independent random train/test partitions.

    Split ``i`` uses seed ``seed + i``; each holds out ``test_fraction`` of the
    interactions, rounded to the nearest row.
    """
    if not 0.0 < test_fraction < 1.0:
        msg = f"test_fraction must be between 0 and 1, got {test_fraction}"
        raise ValueError(msg)
    if n_splits < 1:
        msg = f"n_splits must be at least 1, got {n_splits}"
        raise ValueError(msg)

    splits = []
    n_test = round(interactions.height * test_fraction)
    for split_seed in range(seed, seed + n_splits):
        order = np.random.default_rng(split_seed).permutation(interactions.height)
        is_test = np.zeros(interactions.height, dtype=bool)
        is_test[order[:n_test]] = True
        mask = pl.Series(is_test)
        splits.append(
            Split(
                seed=split_seed,
                train=interactions.filter(~mask),
                test=interactions.filter(mask),
            )
        )
    return splits


def temporal_splits(
    orders: pl.DataFrame, n_splits: int, horizon_days: int, end: datetime
) -> list[Split]:
    """Rolling windows of ``horizon_days`` ending at ``end``, latest first.

    Split ``i`` tests on the orders placed in
    ``[end - (i + 1) * horizon, end - i * horizon)`` and trains on the orders
    before that window; later orders are in neither part, since they lie in
    the test window's future. ``seed`` is ``i``.
    """
    if n_splits < 1:
        msg = f"n_splits must be at least 1, got {n_splits}"
        raise ValueError(msg)
    horizon = timedelta(days=horizon_days)
    naive_end = end.replace(tzinfo=None)
    splits = []
    for index in range(n_splits):
        stop = naive_end - index * horizon
        start = stop - horizon
        splits.append(
            Split(
                seed=index,
                train=orders.filter(pl.col("ordered_at") < start),
                test=orders.filter(
                    (pl.col("ordered_at") >= start) & (pl.col("ordered_at") < stop)
                ),
                test_from=start.replace(tzinfo=end.tzinfo),
            )
        )
    return splits


def fold_assignment(n_rows: int, n_folds: int, seed: int) -> np.ndarray:
    """Assign each of ``n_rows`` rows to one of ``n_folds`` folds of equal size
    (within one row), in a random order fixed by ``seed``."""
    if n_folds < 2:
        msg = f"n_folds must be at least 2, got {n_folds}"
        raise ValueError(msg)

    folds = np.arange(n_rows) % n_folds
    return np.random.default_rng(seed).permutation(folds)
