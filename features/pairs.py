"""Features of a (user, restaurant) pair, defined once for training and serving.

Training calls :func:`pair_features` on every candidate pair of a split;
the service calls it on one user's row joined to every restaurant in memory.
Both pass the same columns, those of ``FeatureTables.users()`` and
``FeatureTables.restaurants()``, so a feature cannot drift between the two.
"""

from __future__ import annotations

import polars as pl

from features.cities import EARTH_RADIUS_KM
from features.schema import USER_ID

# The model's inputs, in the order the booster expects them.
MODEL_FEATURES: tuple[str, ...] = (
    "distance_km",
    "history_distance_km",
    "same_city",
    "declared_cuisine_match",
    "history_cuisine_affinity",
    "price_budget_gap",
    "restaurant_price_level",
    "restaurant_is_chain",
    "restaurant_visit_share",
    "restaurant_user_count",
    "restaurant_mean_rating",
    "user_visit_count",
    "user_mean_rating",
    "user_budget_level",
)

_PAIR_INDEX = "_pair"


def pair_features(pairs: pl.DataFrame) -> pl.DataFrame:
    """Add the pair features to ``pairs`` and return it, row order kept.

    ``pairs`` has one row per (user, restaurant): ``user_id`` and the user's
    and the restaurant's feature columns side by side. Missing inputs (a user without
    coordinates, a restaurant without cuisines) give null features, which
    LightGBM treats as missing.
    """
    indexed = pairs.with_row_index(_PAIR_INDEX)
    affinity = _history_cuisine_affinity(indexed)
    return (
        indexed.join(affinity, on=_PAIR_INDEX, how="left")
        .sort(_PAIR_INDEX)
        .with_columns(
            _haversine_km(
                "user_latitude",
                "user_longitude",
                "restaurant_latitude",
                "restaurant_longitude",
            ).alias("distance_km"),
            _haversine_km(
                "user_history_latitude",
                "user_history_longitude",
                "restaurant_latitude",
                "restaurant_longitude",
            ).alias("history_distance_km"),
            (pl.col("user_city") == pl.col("restaurant_city"))
            .cast(pl.Int64)
            .alias("same_city"),
            pl.col("restaurant_cuisines")
            .list.set_intersection(pl.col("user_liked_cuisines"))
            .list.len()
            .cast(pl.Int64)
            .alias("declared_cuisine_match"),
            pl.col("history_cuisine_affinity").fill_null(0.0),
            (pl.col("restaurant_price_level") - pl.col("user_budget_level")).alias(
                "price_budget_gap"
            ),
        )
        .drop(_PAIR_INDEX)
    )


def _haversine_km(
    latitude_a: str, longitude_a: str, latitude_b: str, longitude_b: str
) -> pl.Expr:
    phi_a = pl.col(latitude_a).radians()
    phi_b = pl.col(latitude_b).radians()
    d_phi = phi_b - phi_a
    d_lambda = (pl.col(longitude_b) - pl.col(longitude_a)).radians()
    a = (d_phi / 2).sin().pow(2) + phi_a.cos() * phi_b.cos() * (d_lambda / 2).sin().pow(
        2
    )
    return 2 * EARTH_RADIUS_KM * a.sqrt().arcsin()


def _history_cuisine_affinity(indexed: pl.DataFrame) -> pl.DataFrame:
    """Per pair: for the restaurant's cuisine the user visited most often, the
    share of the user's visits that were to a restaurant serving it."""
    # Counted once per user, not once per pair: a user has many candidates.
    history = (
        indexed.select(USER_ID, pl.col("user_history_cuisines").alias("cuisine"))
        .unique(USER_ID)
        .explode("cuisine")
        .drop_nulls("cuisine")
        .group_by(USER_ID, "cuisine")
        .agg(pl.len().alias("visits"))
    )
    offered = (
        indexed.select(
            _PAIR_INDEX,
            USER_ID,
            "user_visit_count",
            pl.col("restaurant_cuisines").alias("cuisine"),
        )
        .explode("cuisine")
        .drop_nulls("cuisine")
    )
    return (
        offered.join(history, on=[USER_ID, "cuisine"], how="inner")
        .group_by(_PAIR_INDEX)
        .agg(
            (pl.col("visits") / pl.col("user_visit_count"))
            .max()
            .alias("history_cuisine_affinity")
        )
    )
