"""The numpy pair features of many users at once, checked column by column
against :func:`features.pairs.pair_features` on the random inputs of
``random_pairs.py``."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from random_pairs import (
    RESTAURANT_SCHEMA,
    USER_SCHEMA,
    USERS,
    random_restaurants,
    random_users,
)

from features.pair_arrays import RestaurantArrays
from features.pair_blocks import UserArrays, pair_feature_block
from features.pairs import PAIR_FEATURES, pair_features
from features.schema import RESTAURANT_ID, USER_ID


@pytest.fixture(scope="module")
def restaurants() -> pl.DataFrame:
    return random_restaurants(21)


@pytest.fixture(scope="module")
def users(restaurants: pl.DataFrame) -> pl.DataFrame:
    return pl.DataFrame(random_users(22, restaurants), schema=USER_SCHEMA)


def _expected(
    users: pl.DataFrame,
    user_rows: np.ndarray,
    restaurants: pl.DataFrame,
    restaurant_rows: np.ndarray,
) -> pl.DataFrame:
    pairs = pl.concat(
        [users[user_rows.tolist()], restaurants[restaurant_rows.tolist()]],
        how="horizontal",
    )
    return pair_features(pairs).cast(pl.Float64)


def _assert_close(fast: dict[str, np.ndarray], expected: pl.DataFrame) -> None:
    assert list(fast) == list(PAIR_FEATURES)
    for name in PAIR_FEATURES:
        want = expected[name].fill_null(np.nan).to_numpy()
        np.testing.assert_array_equal(np.isnan(fast[name]), np.isnan(want), name)
        np.testing.assert_allclose(fast[name], want, rtol=1e-12, err_msg=name)


def test_every_user_against_every_restaurant(
    restaurants: pl.DataFrame, users: pl.DataFrame
) -> None:
    restaurant_arrays = RestaurantArrays.from_frame(restaurants)
    user_arrays = UserArrays.from_frame(users, restaurant_arrays)
    supported = np.flatnonzero(~user_arrays.unsupported)
    user_rows = np.repeat(supported, restaurants.height)
    restaurant_rows = np.tile(np.arange(restaurants.height), len(supported))

    fast = pair_feature_block(
        user_arrays, user_rows, restaurant_arrays, restaurant_rows
    )

    assert fast is not None
    _assert_close(fast, _expected(users, user_rows, restaurants, restaurant_rows))
    # The random users give every feature both values and nulls.
    for name in PAIR_FEATURES:
        assert np.isfinite(fast[name]).any(), name
    assert len(supported) > 0.8 * USERS


def test_rows_in_any_order_with_repeats(
    restaurants: pl.DataFrame, users: pl.DataFrame
) -> None:
    restaurant_arrays = RestaurantArrays.from_frame(restaurants)
    user_arrays = UserArrays.from_frame(users, restaurant_arrays)
    supported = np.flatnonzero(~user_arrays.unsupported)
    rng = np.random.default_rng(5)
    user_rows = rng.choice(supported, size=4_000)
    restaurant_rows = rng.integers(0, restaurants.height, size=4_000)

    fast = pair_feature_block(
        user_arrays, user_rows, restaurant_arrays, restaurant_rows
    )

    assert fast is not None
    _assert_close(fast, _expected(users, user_rows, restaurants, restaurant_rows))


def test_hand_computed_pair(restaurants: pl.DataFrame) -> None:
    restaurant = pl.DataFrame(
        [
            {
                RESTAURANT_ID: "r-hand",
                "restaurant_latitude": 0.0,
                "restaurant_longitude": 1.0,
                "restaurant_city": "Alpha",
                "restaurant_price_level": 3,
                "restaurant_cuisines": ["thai", "pizza"],
                "restaurant_vegetarian_item_share": 0.5,
                "restaurant_has_vegetarian_options": 1,
                "restaurant_taste_factors": [1.0, 2.0],
                "restaurant_neighbour_ids": ["r-a", "r-b"],
                "restaurant_neighbour_similarities": [0.5, 0.25],
            }
        ],
        schema=RESTAURANT_SCHEMA,
    )
    user = pl.DataFrame(
        [
            {
                USER_ID: "u-hand",
                "user_latitude": 0.0,
                "user_longitude": 0.0,
                "user_city": "Alpha",
                "user_budget_level": 1,
                "user_liked_cuisines": ["pizza", "thai", "sushi"],
                "user_visited_restaurant_ids": ["r-a", "r-a", "r-b", "r-hand"],
                "user_history_latitude": 0.0,
                "user_history_longitude": 1.0,
                "user_cuisine_names": ["thai", "pizza"],
                "user_cuisine_shares": [0.25, 0.75],
                "user_vegetarian_order_ratio": 0.8,
                "user_taste_factors": [3.0, -1.0],
            }
        ],
        schema=USER_SCHEMA,
    )
    restaurant_arrays = RestaurantArrays.from_frame(restaurant)
    user_arrays = UserArrays.from_frame(user, restaurant_arrays)
    zero = np.array([0])

    fast = pair_feature_block(user_arrays, zero, restaurant_arrays, zero)

    assert fast is not None
    # One degree of longitude on the equator: 2 pi R / 360.
    assert fast["distance_km"][0] == pytest.approx(2 * np.pi * 6371.0 / 360)
    assert fast["history_distance_km"][0] == 0.0
    assert fast["same_city"][0] == 1.0
    assert fast["declared_cuisine_match"][0] == 2.0
    assert fast["cuisine_affinity"][0] == 0.75
    assert fast["price_budget_gap"][0] == 2.0
    assert fast["past_orders_here"][0] == 1.0
    assert fast["taste_affinity"][0] == 3.0 * 1.0 - 1.0 * 2.0
    assert fast["neighbour_affinity"][0] == 2 * 0.5 + 1 * 0.25
    assert fast["vegetarian_match"][0] == pytest.approx(0.4)
    assert fast["vegetarian_gap"][0] == 0.0


def test_declines_what_polars_rejects(
    restaurants: pl.DataFrame, users: pl.DataFrame
) -> None:
    restaurant_arrays = RestaurantArrays.from_frame(restaurants)
    short = users.head(1).with_columns(
        pl.lit([1.0, 2.0], dtype=pl.List(pl.Float64)).alias("user_taste_factors")
    )
    with_taste = np.flatnonzero(
        restaurants["restaurant_taste_factors"].is_not_null().to_numpy()
    )[:1]
    user_arrays = UserArrays.from_frame(short, restaurant_arrays)

    fast = pair_feature_block(user_arrays, np.array([0]), restaurant_arrays, with_taste)

    assert fast is None
    with pytest.raises(pl.exceptions.ShapeError):
        _expected(short, np.array([0]), restaurants, with_taste)
