"""Percentile bootstrap interval of the mean of the defined values."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

# Entries of one block of bootstrap draws. Each entry costs an int64 index and
# the float64 value it selects, so a block takes 16 bytes x 4,000,000 = 64 MB.
_BOOTSTRAP_BLOCK_ENTRIES = 4_000_000


def bootstrap_interval(
    values: Sequence[float] | npt.NDArray[np.floating[Any]],
    *,
    level: float = 0.95,
    resamples: int = 1000,
    seed: int = 0,
) -> tuple[float, float]:
    """Compute a percentile bootstrap interval of the mean of the defined values.

    The nan values are dropped first, as in :func:`mean_ignoring_nan`. Each of
    the ``resamples`` resamples draws n of the n remaining values with
    replacement from ``numpy.random.default_rng(seed)``. The interval runs from
    the (1 - level) / 2 to the (1 + level) / 2 quantile of the resample means,
    with numpy's default linear interpolation. Returns (nan, nan) when no value
    is defined and (v, v) for a single value v.

    Raises:
        ValueError: level is not strictly between 0 and 1, or resamples is
            below 1.
    """
    if not 0.0 < level < 1.0:
        msg = f"level must be strictly between 0 and 1, got {level}"
        raise ValueError(msg)
    if resamples < 1:
        msg = f"resamples must be a positive integer, got {resamples}"
        raise ValueError(msg)

    array = np.asarray(values, dtype=float)
    defined = array[~np.isnan(array)]
    if defined.size == 0:
        return (math.nan, math.nan)
    if defined.size == 1:
        value = float(defined[0])
        return (value, value)

    rng = np.random.default_rng(seed)
    means = _bootstrap_means(defined, resamples, rng, _BOOTSTRAP_BLOCK_ENTRIES)
    low, high = np.quantile(means, [(1.0 - level) / 2, (1.0 + level) / 2])
    return (float(low), float(high))


def _bootstrap_means(
    values: npt.NDArray[np.float64],
    resamples: int,
    rng: np.random.Generator,
    max_entries: int,
) -> npt.NDArray[np.float64]:
    """Draw the resample means in blocks of at most ``max_entries`` index draws.

    numpy's Generator produces the same index sequence whatever the block shape
    (a test checks this), so the means depend on the seed but not on
    ``max_entries``, up to rounding.
    """
    n = values.size
    means = np.empty(resamples)
    if n <= max_entries:
        rows_per_block = max_entries // n
        for start in range(0, resamples, rows_per_block):
            stop = min(start + rows_per_block, resamples)
            indices = rng.integers(0, n, size=(stop - start, n))
            means[start:stop] = values[indices].mean(axis=1)
        return means

    # When one resample does not fit in a block, sum it in slices of max_entries.
    for row in range(resamples):
        total = 0.0
        for start in range(0, n, max_entries):
            size = min(max_entries, n - start)
            total += float(values[rng.integers(0, n, size=size)].sum())
        means[row] = total / n
    return means
