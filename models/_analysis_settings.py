"""Thresholds, sizes and segment names that the error analysis reads."""

from __future__ import annotations

# Segments with fewer users are flagged: their intervals are wide.
SMALL_SEGMENT_USERS = 30
# Columns of the user attribute frame that SliceLine searches; others that a
# store lacks are skipped.
SLICE_COLUMNS = (
    "city",
    "budget",
    "age_band",
    "diet",
    "orders_before",
    "top_restaurant_orders",
    "user_vegetarian_order_ratio",
    "user_coffee_tea_share",
    "user_pizza_share",
)
BOOTSTRAP_RESAMPLES = 1000
POPULARITY = "popularity"
VEGETARIANS = "vegetarians"
FAVOURITE_SEGMENT = "has_favourite"
SMALL_INDEPENDENTS = "small_independents"
FAVOURITE_ORDERS = 3
