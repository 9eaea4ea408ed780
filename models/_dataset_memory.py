"""Feature rows built from feature tables computed in memory, for evaluation."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import polars as pl

from features.pair_arrays import RestaurantArrays
from features.pair_blocks import UserArrays, pair_feature_block
from features.pairs import PAIR_FEATURES, pair_features
from features.schema import EVENT_TIMESTAMP, RESTAURANT_ID, USER_ID
from features.transforms import RESTAURANT, USER, join_entity_tables


def with_pair_features(joined: pl.DataFrame) -> pl.DataFrame:
    """Append the pair features to rows that carry user and restaurant
    features."""
    return pl.concat([joined, pair_features(joined)], how="horizontal")


def rows_in_memory(
    rows: pl.DataFrame, tables_by_cutoff: dict[datetime, dict[str, pl.DataFrame]]
) -> pl.DataFrame:
    """Join the features of each row's cutoff, from tables computed in memory.

    Row order is kept.
    """
    parts = []
    indexed = rows.with_row_index("_row")
    for cutoff, tables in tables_by_cutoff.items():
        part = indexed.filter(pl.col(EVENT_TIMESTAMP) == cutoff)
        if part.height == 0:
            continue
        part = part.join(join_entity_tables(tables, USER), on=USER_ID, how="left").join(
            join_entity_tables(tables, RESTAURANT), on=RESTAURANT_ID, how="left"
        )
        parts.append(part)
    joined = pl.concat(parts).sort("_row").drop("_row") if parts else rows.clear()
    if joined.height != rows.height:
        msg = "some rows have a cutoff without feature tables"
        raise ValueError(msg)
    return with_pair_features(joined)


class CutoffRows:
    """Feature rows of one cutoff's tables for any (user, restaurant) rows, as
    :func:`rows_in_memory` joins them, from arrays prepared once.

    Evaluation builds rows for tens of millions of candidate pairs of one
    cutoff. Here the user and restaurant columns are gathered by position,
    and the pair features come from
    :func:`features.pair_blocks.pair_feature_block`. They are within 1e-12 of
    :func:`features.pairs.pair_features`, and rows that it declines go through
    :func:`rows_in_memory`. Pair features that are integers there
    are floats here, and list columns are left out: no scorer reads them.
    """

    def __init__(self, cutoff: datetime, tables: dict[str, pl.DataFrame]) -> None:
        self.cutoff = cutoff
        self._tables = tables
        users = join_entity_tables(tables, USER)
        restaurants = join_entity_tables(tables, RESTAURANT)
        # The last row of each, all null, stands for an id without features.
        users = pl.concat([users, users.clear(1)])
        restaurants = pl.concat([restaurants, restaurants.clear(1)])
        self._user_row = _row_index(users, USER_ID)
        self._restaurant_row = _row_index(restaurants, RESTAURANT_ID)
        self._restaurant_arrays = RestaurantArrays.from_frame(restaurants)
        self._user_arrays = UserArrays.from_frame(users, self._restaurant_arrays)
        self._user_columns = _scalar_columns(users, USER_ID)
        self._restaurant_columns = _scalar_columns(restaurants, RESTAURANT_ID)

    def rows(self, part: pl.DataFrame) -> pl.DataFrame:
        """Return ``part`` (rows of this cutoff with ``user_id`` and
        ``restaurant_id``) with the user, restaurant and pair features."""
        user_rows = _positions(part[USER_ID], self._user_row)
        restaurant_rows = _positions(part[RESTAURANT_ID], self._restaurant_row)
        block = pair_feature_block(
            self._user_arrays, user_rows, self._restaurant_arrays, restaurant_rows
        )
        if block is None:
            return rows_in_memory(part, {self.cutoff: self._tables})
        pairs = pl.DataFrame(
            [pl.Series(name, block[name], nan_to_null=True) for name in PAIR_FEATURES]
        )
        return pl.concat(
            [
                part,
                self._user_columns[user_rows],
                self._restaurant_columns[restaurant_rows],
                pairs,
            ],
            how="horizontal",
        )


def _row_index(frame: pl.DataFrame, key: str) -> pl.DataFrame:
    """Position of each key's row; the last row (all null) is left out."""
    return frame.head(frame.height - 1).select(
        key, pl.int_range(pl.len(), dtype=pl.Int64).alias("_position")
    )


def _positions(ids: pl.Series, index: pl.DataFrame) -> np.ndarray:
    """Positions of ``ids`` in ``index``; an unknown id gets the null row."""
    found = ids.to_frame().join(index, on=ids.name, how="left", maintain_order="left")
    return found["_position"].fill_null(index.height).to_numpy()


def _scalar_columns(frame: pl.DataFrame, key: str) -> pl.DataFrame:
    return frame.select(
        name
        for name, dtype in frame.schema.items()
        if name != key and not isinstance(dtype, pl.List)
    )
