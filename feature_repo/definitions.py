"""Feast entities, sources, feature views and feature services.

Each feature view reads one Parquet table written by ``recommender features``
(see ``features/transforms.py`` for how every column is computed) under
``$RECOMMENDER_VAR_DIR/features``. Feature names carry their entity prefix so
that they stay unique when views are read together.
"""

import os
from datetime import timedelta
from pathlib import Path

import pandas as pd
from feast import Entity, FeatureService, FeatureView, Field, FileSource
from feast.on_demand_feature_view import on_demand_feature_view
from feast.types import Array, Float64, Int64, String
from feast.value_type import ValueType

VAR_DIR = Path(os.environ.get("RECOMMENDER_VAR_DIR", "var")).resolve()
FEATURES_DIR = VAR_DIR / "features"

# Feature tables are recomputed as a whole; a row stays valid until replaced.
NO_EXPIRY = timedelta(0)

user = Entity(
    name="user",
    join_keys=["user_id"],
    value_type=ValueType.STRING,
    description="A customer who orders from restaurants.",
)

restaurant = Entity(
    name="restaurant",
    join_keys=["restaurant_id"],
    value_type=ValueType.STRING,
    description="A restaurant that can be recommended.",
)


def _source(table: str) -> FileSource:
    return FileSource(
        name=f"{table}_source",
        path=str(FEATURES_DIR / f"{table}.parquet"),
        timestamp_field="event_timestamp",
    )


user_profile = FeatureView(
    name="user_profile",
    entities=[user],
    ttl=NO_EXPIRY,
    schema=[
        Field(name="user_latitude", dtype=Float64),
        Field(name="user_longitude", dtype=Float64),
        Field(name="user_city", dtype=String),
        Field(name="user_budget_level", dtype=Int64),
        Field(name="user_liked_cuisines", dtype=Array(String)),
    ],
    source=_source("user_profile"),
    description="Declared attributes: location, budget, liked cuisines.",
)

user_activity = FeatureView(
    name="user_activity",
    entities=[user],
    ttl=NO_EXPIRY,
    schema=[
        Field(name="user_order_count", dtype=Int64),
        Field(name="user_orders_7d", dtype=Int64),
        Field(name="user_orders_30d", dtype=Int64),
        Field(name="user_orders_90d", dtype=Int64),
        Field(name="user_days_since_last_order", dtype=Float64),
        Field(name="user_avg_order_value", dtype=Float64),
        Field(name="user_mean_rating", dtype=Float64),
        Field(name="user_visited_restaurant_ids", dtype=Array(String)),
        Field(name="user_history_latitude", dtype=Float64),
        Field(name="user_history_longitude", dtype=Float64),
    ],
    source=_source("user_activity"),
    description="How much and how recently the user ordered, and from where.",
)

user_diet = FeatureView(
    name="user_diet",
    entities=[user],
    ttl=NO_EXPIRY,
    schema=[
        Field(name="user_declared_vegetarian", dtype=Int64),
        Field(name="user_diet_order_count", dtype=Int64),
        Field(name="user_vegetarian_order_ratio", dtype=Float64),
        Field(name="user_vegetarian_item_ratio", dtype=Float64),
    ],
    source=_source("user_diet"),
    description="Declared diet and the share of vegetarian orders and items.",
)

user_cuisine = FeatureView(
    name="user_cuisine",
    entities=[user],
    ttl=NO_EXPIRY,
    schema=[
        Field(name="user_coffee_tea_share", dtype=Float64),
        Field(name="user_pizza_share", dtype=Float64),
        Field(name="user_cuisine_names", dtype=Array(String)),
        Field(name="user_cuisine_shares", dtype=Array(Float64)),
        Field(name="user_top_cuisine_share", dtype=Float64),
        Field(name="user_cuisine_diversity", dtype=Float64),
    ],
    source=_source("user_cuisine"),
    description="Share of the user's orders per cuisine, and their diversity.",
)

restaurant_profile = FeatureView(
    name="restaurant_profile",
    entities=[restaurant],
    ttl=NO_EXPIRY,
    schema=[
        Field(name="restaurant_name", dtype=String),
        Field(name="restaurant_latitude", dtype=Float64),
        Field(name="restaurant_longitude", dtype=Float64),
        Field(name="restaurant_city", dtype=String),
        Field(name="restaurant_price_level", dtype=Int64),
        Field(name="restaurant_is_chain", dtype=Int64),
        Field(name="restaurant_cuisines", dtype=Array(String)),
    ],
    source=_source("restaurant_profile"),
    description="Static content of a restaurant: place, price level, cuisines.",
)

restaurant_menu = FeatureView(
    name="restaurant_menu",
    entities=[restaurant],
    ttl=NO_EXPIRY,
    schema=[
        Field(name="restaurant_menu_item_count", dtype=Int64),
        Field(name="restaurant_vegetarian_item_share", dtype=Float64),
        Field(name="restaurant_vegetarian_main_count", dtype=Int64),
        Field(name="restaurant_median_item_price", dtype=Float64),
        Field(name="restaurant_has_vegetarian_options", dtype=Int64),
        Field(name="restaurant_vegetarian_evidence", dtype=String),
    ],
    source=_source("restaurant_menu"),
    description="Vegetarian options on the menu, and what that rests on.",
)

restaurant_popularity = FeatureView(
    name="restaurant_popularity",
    entities=[restaurant],
    ttl=NO_EXPIRY,
    schema=[
        Field(name="restaurant_days_since_opening", dtype=Float64),
        Field(name="restaurant_order_count", dtype=Int64),
        Field(name="restaurant_user_count", dtype=Int64),
        Field(name="restaurant_orders_7d", dtype=Int64),
        Field(name="restaurant_users_7d", dtype=Int64),
        Field(name="restaurant_orders_30d", dtype=Int64),
        Field(name="restaurant_users_30d", dtype=Int64),
        Field(name="restaurant_mean_rating", dtype=Float64),
        Field(name="restaurant_order_share", dtype=Float64),
    ],
    source=_source("restaurant_popularity"),
    description="Orders and users, overall and recent; rating; age.",
)


# Pair features: the transformation is features.pairs.pair_features, which the
# service also calls itself. Feast rebuilds this function from its source, so
# the import is inside it. Every output is a Float64 (NaN when unknown).
user_taste = FeatureView(
    name="user_taste",
    entities=[user],
    ttl=NO_EXPIRY,
    schema=[Field(name="user_taste_factors", dtype=Array(Float64))],
    source=_source("user_taste"),
    description="Low-rank factors of the user's orders (features/taste.py).",
)

restaurant_taste = FeatureView(
    name="restaurant_taste",
    entities=[restaurant],
    ttl=NO_EXPIRY,
    schema=[Field(name="restaurant_taste_factors", dtype=Array(Float64))],
    source=_source("restaurant_taste"),
    description="Low-rank factors of the restaurant's orders (features/taste.py).",
)

restaurant_neighbours = FeatureView(
    name="restaurant_neighbours",
    entities=[restaurant],
    ttl=NO_EXPIRY,
    schema=[
        Field(name="restaurant_neighbour_ids", dtype=Array(String)),
        Field(name="restaurant_neighbour_similarities", dtype=Array(Float64)),
    ],
    source=_source("restaurant_neighbours"),
    description="Restaurants most often ordered by the same users (features/taste.py).",
)


@on_demand_feature_view(
    sources=[
        user_profile,
        user_activity,
        user_diet,
        user_cuisine,
        restaurant_profile,
        restaurant_menu,
        user_taste,
        restaurant_taste,
        restaurant_neighbours,
    ],
    schema=[
        Field(name="distance_km", dtype=Float64),
        Field(name="history_distance_km", dtype=Float64),
        Field(name="same_city", dtype=Float64),
        Field(name="declared_cuisine_match", dtype=Float64),
        Field(name="cuisine_affinity", dtype=Float64),
        Field(name="price_budget_gap", dtype=Float64),
        Field(name="past_orders_here", dtype=Float64),
        Field(name="taste_affinity", dtype=Float64),
        Field(name="neighbour_affinity", dtype=Float64),
        Field(name="vegetarian_match", dtype=Float64),
        Field(name="vegetarian_gap", dtype=Float64),
    ],
    mode="pandas",
    description="Features of a (user, restaurant) pair; see features/pairs.py.",
)
def user_restaurant_pair(inputs: pd.DataFrame) -> pd.DataFrame:
    from features.pairs import pandas_pair_features

    return pandas_pair_features(inputs)


ranker_v1 = FeatureService(
    name="ranker_v1",
    features=[
        user_profile,
        user_activity,
        user_cuisine,
        restaurant_profile,
        restaurant_popularity,
        user_taste,
        restaurant_taste,
        restaurant_neighbours,
        user_restaurant_pair[
            [
                "distance_km",
                "history_distance_km",
                "same_city",
                "declared_cuisine_match",
                "cuisine_affinity",
                "price_budget_gap",
                "past_orders_here",
                "taste_affinity",
                "neighbour_affinity",
            ]
        ],
    ],
    description="The ranker's features without diet and vegetarian-menu ones.",
)

# A later service can extend this list: features=[*ranker_v2_features, new_view].
ranker_v2_features = [
    user_profile,
    user_activity,
    user_diet,
    user_cuisine,
    restaurant_profile,
    restaurant_menu,
    restaurant_popularity,
    user_taste,
    restaurant_taste,
    restaurant_neighbours,
    user_restaurant_pair,
]

ranker_v2 = FeatureService(
    name="ranker_v2",
    features=ranker_v2_features,
    description="Every feature: ranker_v1 plus the diet and vegetarian-menu ones.",
)
