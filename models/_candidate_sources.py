"""The proposals of the candidate sources other than a user's history.

Each returns (user, restaurant, weight) rows, or restaurants with a weight
for the ``popular`` source, which every user shares. models.candidates pools
and caps them.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import scipy.sparse as sp

from features.schema import RESTAURANT_ID, USER_ID


def _most_popular(popularity: pl.DataFrame, limit: int) -> pl.DataFrame:
    """Return the ``limit`` most ordered restaurants, with weight 0."""
    return (
        popularity.sort(["_popularity", RESTAURANT_ID], descending=[True, False])
        .head(limit)
        .select(RESTAURANT_ID, pl.lit(0.0).alias("_weight"))
    )


def _co_visited(
    neighbours: pl.DataFrame, visited: pl.DataFrame, restaurants: int
) -> pl.DataFrame:
    """(user, restaurant, weight): restaurants co-ordered with the user's own,
    weighted by the sum of their similarities (features.taste.co_ordered).

    The sums are a sparse product of the visits and the similarities, much
    faster than a join and a group-by on tens of millions of pairs.
    """
    if visited.height == 0 or neighbours.height == 0:
        return pl.DataFrame(
            schema={
                USER_ID: visited.schema[USER_ID],
                RESTAURANT_ID: neighbours.schema["neighbour_id"],
                "_weight": pl.Float64,
            }
        )
    users = int(visited[USER_ID].to_numpy().max()) + 1
    visits = sp.csr_matrix(
        (
            np.ones(visited.height),
            (visited[USER_ID].to_numpy(), visited[RESTAURANT_ID].to_numpy()),
        ),
        shape=(users, restaurants),
    )
    similar = sp.csr_matrix(
        (
            neighbours["similarity"].to_numpy(),
            (
                neighbours[RESTAURANT_ID].to_numpy(),
                neighbours["neighbour_id"].to_numpy(),
            ),
        ),
        shape=(restaurants, restaurants),
    )
    weights = (visits @ similar).tocoo()
    return pl.DataFrame(
        {
            USER_ID: weights.row,
            RESTAURANT_ID: weights.col,
            "_weight": weights.data,
        }
    ).cast(
        {USER_ID: visited.schema[USER_ID], RESTAURANT_ID: visited.schema[RESTAURANT_ID]}
    )


def _same_cuisine(
    store_users: pl.DataFrame,
    store_restaurants: pl.DataFrame,
    users: pl.DataFrame,
    visited: pl.DataFrame,
    popularity: pl.DataFrame,
    limit: int,
) -> pl.DataFrame:
    """(user, restaurant, weight): restaurants serving a cuisine the user ordered
    (weight: orders of that cuisine) or declared liking (weight 1)."""
    cuisines = store_restaurants.select(
        RESTAURANT_ID, pl.col("cuisines").alias("_cuisine")
    ).explode("_cuisine")
    cuisines = cuisines.filter(pl.col("_cuisine").is_not_null())
    ordered = (
        visited.join(cuisines, on=RESTAURANT_ID)
        .group_by(USER_ID, "_cuisine")
        .len("_liking")
        .with_columns(pl.col("_liking").cast(pl.Float64))
    )
    declared = (
        store_users.join(users, on=USER_ID, how="semi")
        .select(USER_ID, pl.col("liked_cuisines").alias("_cuisine"))
        .explode("_cuisine")
        .filter(pl.col("_cuisine").is_not_null())
        .with_columns(pl.lit(1.0).alias("_liking"))
    )
    # Only the most ordered restaurants of each cuisine can make a user's
    # list, so the product stays small on large catalogues.
    best = (
        cuisines.join(popularity, on=RESTAURANT_ID)
        .sort(
            ["_cuisine", "_popularity", RESTAURANT_ID], descending=[False, True, False]
        )
        .filter(pl.int_range(pl.len()).over("_cuisine") < limit)
        .select(RESTAURANT_ID, "_cuisine")
    )
    # weight[user, restaurant] = sum over cuisines of liking[user, cuisine] x
    # serves[cuisine, restaurant]: a sparse product, on tens of millions of
    # pairs much faster than a join and a group-by. The likings are whole
    # numbers, so the sums are exact in any order.
    liking = pl.concat([ordered, declared])
    names = pl.concat([liking["_cuisine"], best["_cuisine"]]).unique().sort()
    column = {name: code for code, name in enumerate(names.to_list())}
    users_width = int(liking[USER_ID].to_numpy().max(initial=0)) + 1
    restaurants_width = popularity.height
    likes = sp.csr_matrix(
        (
            liking["_liking"].to_numpy(),
            (
                liking[USER_ID].to_numpy(),
                liking["_cuisine"].replace_strict(column).to_numpy(),
            ),
        ),
        shape=(users_width, len(column)),
    )
    serves = sp.csr_matrix(
        (
            np.ones(best.height),
            (
                best["_cuisine"].replace_strict(column).to_numpy(),
                best[RESTAURANT_ID].to_numpy(),
            ),
        ),
        shape=(len(column), restaurants_width),
    )
    weights = (likes @ serves).tocoo()
    return pl.DataFrame(
        {
            USER_ID: weights.row.astype(np.uint32),
            RESTAURANT_ID: weights.col.astype(np.uint32),
            "_weight": weights.data,
        }
    ).cast({USER_ID: liking[USER_ID].dtype, RESTAURANT_ID: best[RESTAURANT_ID].dtype})


def _same_city(
    store_users: pl.DataFrame,
    store_restaurants: pl.DataFrame,
    users: pl.DataFrame,
    popularity: pl.DataFrame,
    limit: int,
) -> pl.DataFrame:
    """(user, restaurant, weight 0): the ``limit`` most ordered open restaurants
    of the user's city."""
    user_cities = store_users.join(users, on=USER_ID, how="semi").select(
        USER_ID, "city"
    )
    best_in_city = (
        store_restaurants.select(RESTAURANT_ID, "city")
        .filter(pl.col("city").is_not_null())
        .join(popularity, on=RESTAURANT_ID)
        .sort(["city", "_popularity", RESTAURANT_ID], descending=[False, True, False])
        .filter(pl.int_range(pl.len()).over("city") < limit)
    )
    return (
        user_cities.join(best_in_city, on="city")
        .select(USER_ID, RESTAURANT_ID)
        .with_columns(pl.lit(0.0).alias("_weight"))
    )
