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

    rows = np.searchsorted(users.to_numpy(), counts[USER_ID].to_numpy())
    columns = np.searchsorted(restaurants.to_numpy(), counts[RESTAURANT_ID].to_numpy())
    matrix = sp.csr_matrix(
        (np.log1p(counts["count"].to_numpy().astype(np.float64)), (rows, columns)),
        shape=(users.len(), restaurants.len()),
    )
    start = np.random.default_rng(0).random(min(matrix.shape))
    left, values, right = svds(matrix, k=k, v0=start)
    scale = np.sqrt(values)
    user_vectors = left * scale
    restaurant_vectors = right.T * scale
    return (
        pl.DataFrame(
            {USER_ID: users, "user_taste_factors": user_vectors.tolist()},
            schema=user_schema,
        ),
        pl.DataFrame(
            {
                RESTAURANT_ID: restaurants,
                "restaurant_taste_factors": restaurant_vectors.tolist(),
            },
            schema=restaurant_schema,
        ),
    )
