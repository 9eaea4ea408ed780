"""Taste factors: a low-rank summary of who orders where.

A truncated singular value decomposition of the user x restaurant matrix of
``log(1 + orders)`` gives each user and each restaurant a short vector. The
dot product of a user's and a restaurant's vectors approximates how much that
user orders there. It is high for restaurants ordered by users with similar
orders. This is the collaborative signal of matrix factorisation, computed
from the visible orders of a snapshot, so it respects the cutoff like every
other feature.

The decomposition runs in ARPACK from a fixed start vector, so the same
orders give the same factors. A factor's sign is arbitrary, but the user's
and the restaurant's vectors flip together, so their dot product does not
change. Users and restaurants without visible orders get no vector (null).
"""

from __future__ import annotations

import numpy as np
import polars as pl
import scipy.sparse as sp
from scipy.sparse.linalg import svds

from features.schema import RESTAURANT_ID, USER_ID

TASTE_RANK = 16


def taste_factors(
    orders: pl.DataFrame, rank: int = TASTE_RANK
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Return ``(user_id, user_taste_factors)`` and
    ``(restaurant_id, restaurant_taste_factors)`` for the users and restaurants
    with orders.

    Each vector is the singular vectors scaled by the square root of the
    singular values, so the dot product reconstructs the matrix. The rank is
    at most one less than the smaller side of the matrix.
    """
    counts = orders.group_by(USER_ID, RESTAURANT_ID).len("count")
    users = counts[USER_ID].unique().sort()
    restaurants = counts[RESTAURANT_ID].unique().sort()
    user_schema: dict[str, pl.DataType] = {
        USER_ID: pl.String(),
        "user_taste_factors": pl.List(pl.Float64),
    }
    restaurant_schema: dict[str, pl.DataType] = {
        RESTAURANT_ID: pl.String(),
        "restaurant_taste_factors": pl.List(pl.Float64),
    }
    k = min(rank, users.len() - 1, restaurants.len() - 1)
    if k < 1:
        return pl.DataFrame(schema=user_schema), pl.DataFrame(schema=restaurant_schema)

    # Row and column numbers by joins: searching numpy arrays of strings
    # compares Python objects, minutes on millions of orders.
    numbered = counts.join(users.to_frame().with_row_index("_row"), on=USER_ID).join(
        restaurants.to_frame().with_row_index("_column"), on=RESTAURANT_ID
    )
    rows = numbered["_row"].to_numpy()
    columns = numbered["_column"].to_numpy()
    matrix = sp.csr_matrix(
        (np.log1p(numbered["count"].to_numpy().astype(np.float64)), (rows, columns)),
        shape=(users.len(), restaurants.len()),
    )
    start = np.random.default_rng(0).random(min(matrix.shape))
    left, values, right = svds(matrix, k=k, v0=start)
    scale = np.sqrt(values)
    user_vectors = left * scale
    restaurant_vectors = right.T * scale
    # A 2-D array becomes a fixed-width array column without a Python list per
    # row, which took seconds on hundreds of thousands of users.
    return (
        pl.DataFrame(
            {
                USER_ID: users,
                "user_taste_factors": pl.Series(user_vectors).cast(pl.List(pl.Float64)),
            },
            schema=user_schema,
        ),
        pl.DataFrame(
            {
                RESTAURANT_ID: restaurants,
                "restaurant_taste_factors": pl.Series(restaurant_vectors).cast(
                    pl.List(pl.Float64)
                ),
            },
            schema=restaurant_schema,
        ),
    )


# Neighbours kept per restaurant.
NEIGHBOURS = 30
# Co-ordering is counted over at most this many users, those with the
# smallest hashes of their id, so that its self-join stays bounded on
# millions of users.
NEIGHBOUR_USERS = 100_000


def co_ordered(
    orders: pl.DataFrame,
    neighbours: int = NEIGHBOURS,
    max_users: int = NEIGHBOUR_USERS,
) -> pl.DataFrame:
    """Return each restaurant's ``neighbours`` most similar restaurants.

    Similarity is the cosine of two restaurants' columns of the binary user x
    restaurant matrix: the users who ordered from both, divided by the square
    root of the product of each one's users. Ties keep the smaller id.
    Columns ``restaurant_id``, ``neighbour_id``, ``similarity``.
    """
    pairs = orders.select(USER_ID, RESTAURANT_ID)
    # The sample is the users whose ids hash smallest. It is taken on the
    # integer hashes before the distinct pairs, so neither step compares text.
    hashed = pairs[USER_ID].hash(seed=0)
    user_hashes = hashed.unique()
    if max_users < 1:
        pairs = pairs.clear()
    elif user_hashes.len() > max_users:
        threshold = user_hashes.sort()[max_users - 1]
        pairs = pairs.filter(hashed <= threshold)
    distinct = pairs.unique()
    users_per = distinct.group_by(RESTAURANT_ID).len("_users")
    return (
        distinct.join(distinct, on=USER_ID, suffix="_other")
        .filter(pl.col(RESTAURANT_ID) != pl.col(f"{RESTAURANT_ID}_other"))
        .group_by(RESTAURANT_ID, f"{RESTAURANT_ID}_other")
        .len("_both")
        .rename({f"{RESTAURANT_ID}_other": "neighbour_id"})
        .join(users_per, on=RESTAURANT_ID)
        .join(
            users_per.rename({RESTAURANT_ID: "neighbour_id", "_users": "_others"}),
            on="neighbour_id",
        )
        .with_columns(
            (pl.col("_both") / (pl.col("_users") * pl.col("_others")).sqrt()).alias(
                "similarity"
            )
        )
        .sort(
            [RESTAURANT_ID, "similarity", "neighbour_id"],
            descending=[False, True, False],
        )
        .filter(pl.int_range(pl.len()).over(RESTAURANT_ID) < neighbours)
        .select(RESTAURANT_ID, "neighbour_id", "similarity")
    )
