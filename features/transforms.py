"""Feature tables of users and restaurants, computed from a set of interactions.

A table computed from the training interactions alone is what keeps held-out
interactions out of training: evaluation passes the training part of each
split, serving passes every order in the store. Column names carry their
entity prefix (``user_``, ``restaurant_``) so that feature names stay unique
across Feast feature views.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import polars as pl

from features.schema import EVENT_TIMESTAMP, RESTAURANT_ID, USER_ID

BUDGET_LEVELS = {"low": 1, "medium": 2, "high": 3}


@dataclass(frozen=True)
class FeatureTables:
    """The four feature tables, one row per entity, as of one point in time."""

    user_profile: pl.DataFrame
    user_history: pl.DataFrame
    restaurant_profile: pl.DataFrame
    restaurant_popularity: pl.DataFrame

    def as_dict(self) -> dict[str, pl.DataFrame]:
        return {
            "user_profile": self.user_profile,
            "user_history": self.user_history,
            "restaurant_profile": self.restaurant_profile,
            "restaurant_popularity": self.restaurant_popularity,
        }

    def users(self) -> pl.DataFrame:
        """User profile and history joined, one row per user."""
        return self.user_profile.drop(EVENT_TIMESTAMP).join(
            self.user_history.drop(EVENT_TIMESTAMP), on=USER_ID, how="left"
        )

    def restaurants(self) -> pl.DataFrame:
        """Restaurant profile and popularity joined, one row per restaurant."""
        return self.restaurant_profile.drop(EVENT_TIMESTAMP).join(
            self.restaurant_popularity.drop(EVENT_TIMESTAMP),
            on=RESTAURANT_ID,
            how="left",
        )


def build_feature_tables(
    users: pl.DataFrame,
    restaurants: pl.DataFrame,
    interactions: pl.DataFrame,
    as_of: datetime,
) -> FeatureTables:
    """Compute every feature table from the store tables and ``interactions``.

    Args:
        users: rows of the ``users`` store table.
        restaurants: rows of the ``restaurants`` store table.
        interactions: orders the features may see, with ``user_id``,
            ``restaurant_id`` and ``rating``; held-out orders must not be here.
        as_of: the ``event_timestamp`` written on every row, in UTC.
    """
    stamp = pl.lit(as_of, pl.Datetime("us", "UTC")).alias(EVENT_TIMESTAMP)
    return FeatureTables(
        user_profile=_user_profile(users).with_columns(stamp),
        user_history=_user_history(users, restaurants, interactions).with_columns(
            stamp
        ),
        restaurant_profile=_restaurant_profile(restaurants).with_columns(stamp),
        restaurant_popularity=_restaurant_popularity(
            restaurants, interactions
        ).with_columns(stamp),
    )


def _user_profile(users: pl.DataFrame) -> pl.DataFrame:
    return users.select(
        USER_ID,
        pl.col("latitude").alias("user_latitude"),
        pl.col("longitude").alias("user_longitude"),
        pl.col("city").alias("user_city"),
        pl.col("budget")
        .replace_strict(BUDGET_LEVELS, default=None, return_dtype=pl.Int64)
        .alias("user_budget_level"),
        pl.col("liked_cuisines").alias("user_liked_cuisines"),
    )


def _user_history(
    users: pl.DataFrame, restaurants: pl.DataFrame, interactions: pl.DataFrame
) -> pl.DataFrame:
    visits = interactions.select(USER_ID, RESTAURANT_ID, "rating").join(
        restaurants.select(RESTAURANT_ID, "latitude", "longitude", "cuisines"),
        on=RESTAURANT_ID,
        how="inner",
    )
    history = visits.group_by(USER_ID).agg(
        pl.len().cast(pl.Int64).alias("user_visit_count"),
        pl.col("rating").mean().alias("user_mean_rating"),
        pl.col(RESTAURANT_ID).sort().alias("user_visited_restaurant_ids"),
        # One entry per (visit, cuisine): counts show how often a cuisine recurs.
        pl.col("cuisines")
        .list.explode(keep_nulls=False, empty_as_null=False)
        .sort()
        .alias("user_history_cuisines"),
        pl.col("latitude").mean().alias("user_history_latitude"),
        pl.col("longitude").mean().alias("user_history_longitude"),
    )
    empty_list = pl.lit([], pl.List(pl.String))
    return (
        users.select(USER_ID)
        .join(history, on=USER_ID, how="left")
        .with_columns(
            pl.col("user_visit_count").fill_null(0),
            pl.col("user_visited_restaurant_ids").fill_null(empty_list),
            pl.col("user_history_cuisines").fill_null(empty_list),
        )
    )


def _restaurant_profile(restaurants: pl.DataFrame) -> pl.DataFrame:
    return restaurants.select(
        RESTAURANT_ID,
        pl.col("name").alias("restaurant_name"),
        pl.col("latitude").alias("restaurant_latitude"),
        pl.col("longitude").alias("restaurant_longitude"),
        pl.col("city").alias("restaurant_city"),
        pl.col("price_level").cast(pl.Int64).alias("restaurant_price_level"),
        pl.col("is_chain").cast(pl.Int64).alias("restaurant_is_chain"),
        pl.col("cuisines").alias("restaurant_cuisines"),
    )


def _restaurant_popularity(
    restaurants: pl.DataFrame, interactions: pl.DataFrame
) -> pl.DataFrame:
    total = max(interactions.height, 1)
    counts = interactions.group_by(RESTAURANT_ID).agg(
        pl.len().cast(pl.Int64).alias("restaurant_visit_count"),
        pl.col(USER_ID).n_unique().cast(pl.Int64).alias("restaurant_user_count"),
        pl.col("rating").mean().alias("restaurant_mean_rating"),
    )
    return (
        restaurants.select(RESTAURANT_ID)
        .join(counts, on=RESTAURANT_ID, how="left")
        .with_columns(
            pl.col("restaurant_visit_count").fill_null(0),
            pl.col("restaurant_user_count").fill_null(0),
        )
        .with_columns(
            # A share rather than a count, so that tables computed from samples
            # of different sizes (inner training folds, full data) agree.
            (pl.col("restaurant_visit_count") / total).alias("restaurant_visit_share")
        )
    )
