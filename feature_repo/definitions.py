"""Feast entities, sources, feature views and feature services.

Each feature view reads one Parquet table written by ``recommender features``
(see ``features/transforms.py`` for how every column is computed) under
``$RECOMMENDER_VAR_DIR/features``. Feature names carry their entity prefix so
that they stay unique when views are read together.
"""

import os
from datetime import timedelta
from pathlib import Path

from feast import Entity, FeatureService, FeatureView, Field, FileSource
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

user_history = FeatureView(
    name="user_history",
    entities=[user],
    ttl=NO_EXPIRY,
    schema=[
        Field(name="user_visit_count", dtype=Int64),
        Field(name="user_mean_rating", dtype=Float64),
        Field(name="user_visited_restaurant_ids", dtype=Array(String)),
        Field(name="user_history_cuisines", dtype=Array(String)),
        Field(name="user_history_latitude", dtype=Float64),
        Field(name="user_history_longitude", dtype=Float64),
    ],
    source=_source("user_history"),
    description="What the user's past orders say: count, places, cuisines.",
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

restaurant_popularity = FeatureView(
    name="restaurant_popularity",
    entities=[restaurant],
    ttl=NO_EXPIRY,
    schema=[
        Field(name="restaurant_visit_count", dtype=Int64),
        Field(name="restaurant_user_count", dtype=Int64),
        Field(name="restaurant_visit_share", dtype=Float64),
        Field(name="restaurant_mean_rating", dtype=Float64),
    ],
    source=_source("restaurant_popularity"),
    description="How often the restaurant was ordered from, and how it was rated.",
)

ranker_v1 = FeatureService(
    name="ranker_v1",
    features=[user_profile, user_history, restaurant_profile, restaurant_popularity],
    description="Every feature the first LightGBM ranker reads.",
)
