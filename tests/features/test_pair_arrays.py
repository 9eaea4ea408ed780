"""The numpy pair features of one user against many restaurants, checked column
by column against :func:`features.pairs.pair_features` on random inputs.

The random restaurants and users (``random_pairs.py``) include every case
that changes a pair feature's value.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl
import pytest
from random_pairs import USER_SCHEMA, USERS, random_restaurants, random_users

from features.pair_arrays import RestaurantArrays, pair_feature_arrays
from features.pairs import PAIR_FEATURES, pair_features
from features.schema import USER_ID


@pytest.fixture(scope="module")
def restaurants() -> pl.DataFrame:
    return random_restaurants(11)


@pytest.fixture(scope="module")
def users(restaurants: pl.DataFrame) -> list[dict[str, Any]]:
    return random_users(12, restaurants)


def _expected(user: dict[str, Any], restaurants: pl.DataFrame) -> pl.DataFrame:
    frame = pl.DataFrame([user], schema=USER_SCHEMA)
    return pair_features(frame.join(restaurants, how="cross")).cast(pl.Float64)


def test_pair_arrays_match_pair_features(
    restaurants: pl.DataFrame, users: list[dict[str, Any]]
) -> None:
    arrays = RestaurantArrays.from_frame(restaurants)
    rows = np.arange(restaurants.height)
    compared = 0
    for user in users:
        fast = pair_feature_arrays(user, arrays, rows)
        assert fast is not None, user
        expected = _expected(user, restaurants)
        assert list(fast) == list(PAIR_FEATURES)
        for name in PAIR_FEATURES:
            want = expected[name].fill_null(np.nan).to_numpy()
            np.testing.assert_array_equal(fast[name], want, err_msg=name)
        compared += 1
    assert compared == USERS


def test_pair_arrays_of_a_row_subset(
    restaurants: pl.DataFrame, users: list[dict[str, Any]]
) -> None:
    arrays = RestaurantArrays.from_frame(restaurants)
    rows = np.array([45, 3, 17, 3, 59, 0], dtype=np.int64)
    subset = restaurants[rows.tolist()]
    for user in users[:50]:
        fast = pair_feature_arrays(user, arrays, rows)
        assert fast is not None
        expected = _expected(user, subset)
        for name in PAIR_FEATURES:
            want = expected[name].fill_null(np.nan).to_numpy()
            np.testing.assert_array_equal(fast[name], want, err_msg=name)


def test_pair_arrays_edge_values(restaurants: pl.DataFrame) -> None:
    arrays = RestaurantArrays.from_frame(restaurants)
    rows = np.arange(restaurants.height)
    user = {
        USER_ID: "u-edge",
        "user_liked_cuisines": [],
        "user_visited_restaurant_ids": ["r001", "r001", "r002"],
        "user_cuisine_names": ["italian", "italian"],
        "user_cuisine_shares": [0.2, 0.7],
    }

    fast = pair_feature_arrays(user, arrays, rows)

    assert fast is not None
    has_cuisines = ~restaurants["restaurant_cuisines"].is_null().to_numpy()
    np.testing.assert_array_equal(fast["declared_cuisine_match"][has_cuisines], 0.0)
    serves_italian = (
        restaurants["restaurant_cuisines"]
        .list.contains("italian")
        .fill_null(False)
        .to_numpy()
    )
    np.testing.assert_array_equal(
        fast["cuisine_affinity"], np.where(serves_italian, 0.7, 0.0)
    )
    assert fast["past_orders_here"][1] == 2.0
    assert fast["past_orders_here"][2] == 1.0
    assert np.isnan(fast["distance_km"]).all()
    assert np.isnan(fast["vegetarian_match"]).all()
    assert np.isnan(fast["taste_affinity"]).all()


def test_pair_arrays_decline_mismatched_taste(restaurants: pl.DataFrame) -> None:
    arrays = RestaurantArrays.from_frame(restaurants)
    user = {USER_ID: "u-short", "user_taste_factors": [1.0, 2.0]}

    fast = pair_feature_arrays(user, arrays, np.arange(restaurants.height))

    assert fast is None
    with pytest.raises(pl.exceptions.ShapeError):
        _expected(user, restaurants)


@pytest.mark.parametrize(
    "user",
    [
        {"user_taste_factors": [1.0, None, 0.5, 2.0]},
        {"user_cuisine_names": ["italian"], "user_cuisine_shares": [0.5, 0.5]},
        {"user_cuisine_names": ["italian"], "user_cuisine_shares": None},
        {"user_cuisine_names": ["italian"], "user_cuisine_shares": [float("nan")]},
    ],
    ids=["null taste factor", "unequal lengths", "missing shares", "nan share"],
)
def test_pair_arrays_decline_unsupported_user(
    restaurants: pl.DataFrame, user: dict[str, Any]
) -> None:
    arrays = RestaurantArrays.from_frame(restaurants)

    assert pair_feature_arrays(user, arrays, np.arange(restaurants.height)) is None
