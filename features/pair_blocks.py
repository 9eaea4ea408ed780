"""Pair features of many users against many restaurants, computed with numpy.

:func:`features.pairs.pair_features` defines the pair features. Its polars
joins took 8.7 µs per row on a 2-core machine, which is 7 minutes for the
50 million candidate rows of 100,000 evaluated users. This module computes
the same columns from arrays built once per feature table
(:class:`UserArrays`, :class:`features.pair_arrays.RestaurantArrays`), for
any rows of (user, restaurant) positions: 1.2 µs per row there.

The values agree with :func:`pair_features` to within 1e-12 relative error,
and null in one is NaN in the other; ``tests/features/test_pair_blocks.py``
compares every column. They are not always equal to the bit, because sums
run in another order: neighbour affinity is a sparse matrix product here.
The service's per-user path (:mod:`features.pair_arrays`) is the one that
matches to the bit.

Inputs that polars rejects or that hold nulls inside a list (a null taste
factor, cuisine names and shares of different lengths, a NaN share) make
:func:`pair_feature_block` return None, and the caller falls back to
:func:`pair_features`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl
import scipy.sparse as sp

from features.cities import EARTH_RADIUS_KM
from features.pair_arrays import RestaurantArrays, taste_matrix
from features.pairs import PAIR_FEATURES
from features.schema import USER_ID

# A (users, restaurants) block of a sparse matrix up to this many cells is
# made dense to read values from. A larger block is read sparse.
_DENSE_CELLS = 8_000_000


@dataclass(frozen=True)
class UserArrays:
    """User-side inputs of the pair features, one entry per row of a user
    table in its row order, with NaN where a value is null.

    The cuisine and visit columns are laid out on the restaurant arrays the
    instance was built against (:meth:`from_frame`).
    """

    user_ids: tuple[str, ...]
    latitude: np.ndarray
    longitude: np.ndarray
    history_latitude: np.ndarray
    history_longitude: np.ndarray
    # Code of the user's city among the restaurant cities: -1 for a null
    # city, -2 for a city no restaurant is in.
    city_codes: np.ndarray
    budget_level: np.ndarray
    # (users, cuisines) over the restaurant arrays' cuisine columns.
    liked: np.ndarray
    liked_is_null: np.ndarray
    # Best share of the user's orders per cuisine column; -inf for none.
    shares: np.ndarray
    vegetarian_ratio: np.ndarray
    taste: np.ndarray
    # -1 for a null list.
    taste_lengths: np.ndarray
    # Orders per (user, id): the restaurant rows first, then the ids that
    # appear only in neighbour lists.
    visits: sp.csr_matrix
    # (ids, restaurants): similarity of each id as a neighbour of each
    # restaurant, on the ids of ``visits``.
    neighbours: sp.csr_matrix
    # Users whose inputs this module does not reproduce (see the module doc).
    unsupported: np.ndarray

    @classmethod
    def from_frame(
        cls, users: pl.DataFrame, restaurants: RestaurantArrays
    ) -> UserArrays:
        """Build the arrays of a frame with ``user_id`` and the user columns of
        :data:`features.pairs.PAIR_INPUTS`."""
        column_of = restaurants.cuisine_column_of
        liked = _memberships(users["user_liked_cuisines"], column_of)
        shares, share_problems = _shares(
            users["user_cuisine_names"], users["user_cuisine_shares"], column_of
        )
        taste, lengths, taste_null = _taste(users["user_taste_factors"])

        # Visit columns: the restaurant rows, then ids met only as neighbours.
        id_column = dict(restaurants.row_of)
        neighbour_ids = sorted(set(restaurants.neighbours_of) - set(id_column))
        for offset, neighbour in enumerate(neighbour_ids):
            id_column[neighbour] = len(restaurants) + offset
        width = len(restaurants) + len(neighbour_ids)

        return cls(
            user_ids=tuple(users[USER_ID].to_list()),
            latitude=_floats(users["user_latitude"]),
            longitude=_floats(users["user_longitude"]),
            history_latitude=_floats(users["user_history_latitude"]),
            history_longitude=_floats(users["user_history_longitude"]),
            city_codes=_city_codes(users["user_city"], restaurants.city_code_of),
            budget_level=_floats(users["user_budget_level"]),
            liked=liked,
            liked_is_null=users["user_liked_cuisines"].is_null().to_numpy(),
            shares=shares,
            vegetarian_ratio=_floats(users["user_vegetarian_order_ratio"]),
            taste=taste,
            taste_lengths=lengths,
            visits=_visits(users["user_visited_restaurant_ids"], id_column, width),
            neighbours=_neighbour_matrix(restaurants, id_column, width),
            unsupported=share_problems | taste_null,
        )

    def __len__(self) -> int:
        return len(self.user_ids)


def pair_feature_block(
    users: UserArrays,
    user_rows: np.ndarray,
    restaurants: RestaurantArrays,
    restaurant_rows: np.ndarray,
) -> dict[str, np.ndarray] | None:
    """Return the pair features of the pairs (``users`` row ``user_rows[i]``,
    ``restaurants`` row ``restaurant_rows[i]``), by name in
    :data:`features.pairs.PAIR_FEATURES` order.

    ``users`` must have been built against ``restaurants``. Returns None when
    a pair has inputs this module does not reproduce.
    """
    u, r = user_rows, restaurant_rows
    if users.unsupported[u].any() or restaurants.taste_has_null[r].any():
        return None
    user_lengths, restaurant_lengths = (
        users.taste_lengths[u],
        restaurants.taste_lengths[r],
    )
    both = (user_lengths >= 0) & (restaurant_lengths >= 0)
    if (user_lengths[both] != restaurant_lengths[both]).any():
        return None

    distance = _haversine_km(users.latitude[u], users.longitude[u], restaurants, r)
    history_distance = _haversine_km(
        users.history_latitude[u], users.history_longitude[u], restaurants, r
    )
    user_city, restaurant_city = users.city_codes[u], restaurants.city_codes[r]
    same_city = (user_city == restaurant_city).astype(np.float64)
    same_city[(user_city == -1) | (restaurant_city < 0)] = np.nan

    # Restaurants serve few of the cuisines, so each row reads the user's
    # values at its restaurant's cuisine columns only.
    served = _served_columns(restaurants.cuisine_member)[r]
    valid = served >= 0
    at = np.where(valid, served, 0)
    user_column = u[:, None]
    declared = (users.liked[user_column, at] & valid).sum(axis=1).astype(np.float64)
    declared[users.liked_is_null[u] | ~restaurants.has_cuisines[r]] = np.nan
    if served.shape[1]:
        best = np.where(valid, users.shares[user_column, at], -np.inf).max(axis=1)
        cuisine_affinity = np.where(np.isneginf(best), 0.0, best)
    else:
        cuisine_affinity = np.zeros(len(u))

    taste = np.zeros(len(u))
    width = min(users.taste.shape[1], restaurants.taste.shape[1])
    for index in range(width):
        taste += restaurants.taste[r, index] * users.taste[u, index]
    taste[~both] = np.nan

    ratio = users.vegetarian_ratio[u]
    features = {
        "distance_km": distance,
        "history_distance_km": history_distance,
        "same_city": same_city,
        "declared_cuisine_match": declared,
        "cuisine_affinity": cuisine_affinity,
        "price_budget_gap": restaurants.price_level[r] - users.budget_level[u],
        "past_orders_here": _sample(users.visits, u, r),
        "taste_affinity": taste,
        "neighbour_affinity": _neighbour_affinity(users, u, r),
        "vegetarian_match": ratio * restaurants.vegetarian_share[r],
        "vegetarian_gap": ratio * (1.0 - restaurants.has_vegetarian_options[r]),
    }
    return {name: features[name] for name in PAIR_FEATURES}


def _served_columns(member: np.ndarray) -> np.ndarray:
    """Return each restaurant's cuisine columns, padded with -1 to the longest
    list."""
    counts = member.sum(axis=1)
    width = int(counts.max()) if member.size else 0
    served = np.full((member.shape[0], width), -1, dtype=np.int64)
    rows, columns = np.nonzero(member)
    served[
        rows, np.arange(rows.size) - np.repeat(np.cumsum(counts) - counts, counts)
    ] = columns
    return served


def _haversine_km(
    latitude: np.ndarray,
    longitude: np.ndarray,
    restaurants: RestaurantArrays,
    rows: np.ndarray,
) -> np.ndarray:
    phi_a = np.radians(latitude)
    d_phi = restaurants.latitude_radians[rows] - phi_a
    d_lambda = np.radians(restaurants.longitude[rows] - longitude)
    a = np.sin(d_phi / 2) ** 2 + np.cos(phi_a) * restaurants.cos_latitude[rows] * (
        np.sin(d_lambda / 2) ** 2
    )
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(a))


def _neighbour_affinity(
    users: UserArrays, user_rows: np.ndarray, restaurant_rows: np.ndarray
) -> np.ndarray:
    """Sum of similarity times the user's orders over each restaurant's
    neighbours: one sparse product for the distinct users of the rows."""
    distinct, local = np.unique(user_rows, return_inverse=True)
    product = users.visits[distinct] @ users.neighbours
    return _sample(product, local, restaurant_rows)


def _sample(matrix: sp.csr_matrix, rows: np.ndarray, columns: np.ndarray) -> np.ndarray:
    """Values of a sparse matrix at (rows, columns), 0 where none is stored."""
    if rows.size == 0:
        return np.zeros(0)
    distinct, local = np.unique(rows, return_inverse=True)
    block = matrix[distinct]
    if block.shape[0] * block.shape[1] <= _DENSE_CELLS:
        return np.asarray(block.toarray()[local, columns], dtype=np.float64)
    return np.asarray(block[local, columns], dtype=np.float64).ravel()


def _city_codes(cities: pl.Series, code_of: dict[str, int]) -> np.ndarray:
    """Return the code of each city: -2 for a city not in ``code_of``, -1 for
    null."""
    codes = cities.replace_strict(code_of, default=-2, return_dtype=pl.Int64)
    return np.where(cities.is_null().to_numpy(), -1, codes.to_numpy())


def _column_table(name: str, column_of: Mapping[Any, int]) -> pl.DataFrame:
    """Return the ids of ``column_of`` as column ``name`` beside their
    ``_column``, to join list elements to."""
    return pl.DataFrame(
        {name: list(column_of), "_column": list(column_of.values())},
        schema={name: pl.String, "_column": pl.Int64},
    )


def _exploded(lists: pl.Series, *others: pl.Series) -> pl.DataFrame:
    """Return one row per element of ``lists`` (and of the lists of the same
    lengths in ``others``), with the position ``_row`` of its list. Null and empty
    lists give no row, so a null element is always an element of a list."""
    frame = pl.DataFrame([lists, *others]).with_row_index("_row")
    frame = frame.filter(pl.col(lists.name).list.len() > 0)
    return frame.explode([lists.name, *(other.name for other in others)])


def _memberships(lists: pl.Series, column_of: dict[str | None, int]) -> np.ndarray:
    """(rows, columns) booleans: whether each list contains each column's value.
    A null element matches the None column, as in a polars set intersection."""
    members = np.zeros((lists.len(), len(column_of)), dtype=bool)
    if lists.len() == 0 or not column_of:
        return members
    columns = _column_table(lists.name, column_of)
    found = _exploded(lists).join(columns, on=lists.name, nulls_equal=True)
    members[found["_row"].to_numpy(), found["_column"].to_numpy()] = True
    return members


def _shares(
    names: pl.Series, shares: pl.Series, column_of: dict[str | None, int]
) -> tuple[np.ndarray, np.ndarray]:
    """Best share per (user, cuisine column), and the users whose lists polars
    rejects (lengths differ, one list missing) or that hold a NaN share."""
    best = np.full((names.len(), len(column_of)), -np.inf)
    problems = (
        (names.is_null() != shares.is_null())
        | (names.list.len() != shares.list.len()).fill_null(False)
        | shares.list.eval(pl.element().is_nan()).list.any().fill_null(False)
    ).to_numpy()
    usable = ~problems & names.is_not_null().to_numpy()
    if not usable.any() or not column_of:
        return best, problems
    # A null name matches no column, since the join leaves nulls unmatched.
    columns = _column_table(names.name, column_of)
    found = (
        _exploded(names.filter(usable), shares.filter(usable))
        .drop_nulls([names.name, shares.name])
        .join(columns, on=names.name)
        .group_by("_row", "_column")
        .agg(pl.col(shares.name).max())
    )
    # _row counts the usable users only.
    rows = np.flatnonzero(usable)[found["_row"].to_numpy()]
    best[rows, found["_column"].to_numpy()] = found[shares.name].to_numpy()
    return best, problems


def _taste(factors: pl.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`features.pair_arrays.taste_matrix` of a list column, without a
    Python list per row when every list has one length."""
    lengths = factors.list.len().fill_null(-1).to_numpy().astype(np.int64)
    present = lengths[lengths >= 0]
    if present.size == 0 or (present != present[0]).any():
        return taste_matrix(factors.to_list())
    width = int(present[0])
    has_null = (
        factors.list.eval(pl.element().is_null()).list.any().fill_null(False).to_numpy()
    )
    matrix = (
        factors.list.eval(pl.element().cast(pl.Float64).fill_null(0.0))
        .list.to_array(width)
        .to_numpy()
    )
    matrix = np.nan_to_num(np.asarray(matrix, dtype=np.float64).reshape(-1, width))
    return matrix, lengths, has_null


def _visits(lists: pl.Series, id_column: dict[str, int], width: int) -> sp.csr_matrix:
    columns = _column_table(lists.name, id_column)
    found = _exploded(lists).join(columns, on=lists.name)
    matrix = sp.csr_matrix(
        (
            np.ones(found.height),
            (found["_row"].to_numpy(), found["_column"].to_numpy()),
        ),
        shape=(lists.len(), width),
    )
    matrix.sum_duplicates()
    return matrix


def _neighbour_matrix(
    restaurants: RestaurantArrays, id_column: dict[str, int], width: int
) -> sp.csr_matrix:
    rows: list[np.ndarray] = []
    columns: list[np.ndarray] = []
    values: list[np.ndarray] = []
    for neighbour, (targets, similarities) in restaurants.neighbours_of.items():
        rows.append(np.full(len(targets), id_column[neighbour], dtype=np.int64))
        columns.append(targets)
        values.append(similarities)
    if not rows:
        return sp.csr_matrix((width, len(restaurants)))
    matrix = sp.csr_matrix(
        (np.concatenate(values), (np.concatenate(rows), np.concatenate(columns))),
        shape=(width, len(restaurants)),
    )
    matrix.sum_duplicates()
    return matrix


def _floats(series: pl.Series) -> np.ndarray:
    return series.cast(pl.Float64).fill_null(np.nan).to_numpy().astype(np.float64)
