"""The numpy pair features of one user against many restaurants, checked column
by column against :func:`features.pairs.pair_features` on random inputs.

The random restaurants and users include the cases that change a pair
feature's value. These are null coordinates, cities, lists and list
elements, empty lists, duplicate cuisines and visits, visits and neighbours
outside the table, neighbour lists whose lengths differ, and cities and
cuisines that no restaurant has.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl
import pytest

from features.pair_arrays import RestaurantArrays, pair_feature_arrays
from features.pairs import PAIR_FEATURES, PAIR_INPUTS, pair_features
from features.schema import RESTAURANT_ID, USER_ID

USER_SCHEMA: dict[str, pl.DataType] = {
    USER_ID: pl.String(),
    **{name: dtype for name, dtype in PAIR_INPUTS.items() if name.startswith("user_")},
}
RESTAURANT_SCHEMA: dict[str, pl.DataType] = {
    RESTAURANT_ID: pl.String(),
    **{
        name: dtype
        for name, dtype in PAIR_INPUTS.items()
        if name.startswith("restaurant_")
    },
}
CITIES = ["Alpha", "Beta", "Gamma"]
CUISINES = ["italian", "mexican", "cafe", "thai", "pizza", "sushi"]
FACTORS = 4
RESTAURANTS = 60
USERS = 300


def _maybe(rng: np.random.Generator, value: Any, null_share: float = 0.1) -> Any:
    return None if rng.random() < null_share else value


def _cuisine_list(rng: np.random.Generator, pool: list[str]) -> list[str | None]:
    listed: list[str | None] = [
        str(c) for c in rng.choice(pool, size=rng.integers(0, 4))
    ]
    if rng.random() < 0.05:
        listed.append(None)
    return listed


def _floats(rng: np.random.Generator, count: int) -> list[float]:
    return [float(x) for x in rng.normal(size=count)]


def _restaurant(rng: np.random.Generator, index: int, ids: list[str]) -> dict:
    neighbours = [str(n) for n in rng.choice([*ids, "gone-1", "gone-2"], size=5)]
    similarities: list[float | None] = [float(x) for x in rng.random(5)]
    if rng.random() < 0.1:
        similarities[0] = None
    if rng.random() < 0.1:
        similarities = similarities[:3]
    return {
        RESTAURANT_ID: ids[index],
        "restaurant_latitude": _maybe(rng, float(rng.uniform(-60, 60))),
        "restaurant_longitude": _maybe(rng, float(rng.uniform(-180, 180))),
        "restaurant_city": _maybe(rng, str(rng.choice(CITIES))),
        "restaurant_price_level": _maybe(rng, int(rng.integers(1, 4))),
        "restaurant_cuisines": _maybe(rng, _cuisine_list(rng, CUISINES)),
        "restaurant_vegetarian_item_share": _maybe(rng, float(rng.random())),
        "restaurant_has_vegetarian_options": _maybe(rng, int(rng.integers(0, 2))),
        "restaurant_taste_factors": _maybe(rng, _floats(rng, FACTORS)),
        "restaurant_neighbour_ids": _maybe(rng, neighbours),
        "restaurant_neighbour_similarities": _maybe(rng, similarities),
    }


def _user(rng: np.random.Generator, index: int, ids: list[str]) -> dict[str, Any]:
    visited = [str(v) for v in rng.choice([*ids, "gone-1"], size=rng.integers(0, 12))]
    if rng.random() < 0.1:
        visited.append(None)  # type: ignore[arg-type]
    names = [str(c) for c in rng.choice([*CUISINES, "ramen"], size=rng.integers(0, 5))]
    shares: list[float | None] = [float(x) for x in rng.random(len(names))]
    if names and rng.random() < 0.1:
        shares[0] = None
    has_history = rng.random() > 0.1
    return {
        USER_ID: f"u{index}",
        "user_latitude": _maybe(rng, float(rng.uniform(-60, 60)), 0.3),
        "user_longitude": _maybe(rng, float(rng.uniform(-180, 180)), 0.1),
        "user_city": _maybe(rng, str(rng.choice([*CITIES, "Delta"]))),
        "user_budget_level": _maybe(rng, int(rng.integers(1, 4))),
        "user_liked_cuisines": _maybe(rng, _cuisine_list(rng, [*CUISINES, "ramen"])),
        "user_visited_restaurant_ids": visited if has_history else None,
        "user_history_latitude": _maybe(rng, float(rng.uniform(-60, 60))),
        "user_history_longitude": _maybe(rng, float(rng.uniform(-180, 180))),
        "user_cuisine_names": names if has_history else None,
        "user_cuisine_shares": shares if has_history else None,
        "user_vegetarian_order_ratio": _maybe(rng, float(rng.random())),
        "user_taste_factors": _maybe(rng, _floats(rng, FACTORS)),
    }


@pytest.fixture(scope="module")
def restaurants() -> pl.DataFrame:
    rng = np.random.default_rng(11)
    ids = [f"r{index:03d}" for index in range(RESTAURANTS)]
    rows = [_restaurant(rng, index, ids) for index in range(RESTAURANTS)]
    return pl.DataFrame(rows, schema=RESTAURANT_SCHEMA)


@pytest.fixture(scope="module")
def users(restaurants: pl.DataFrame) -> list[dict[str, Any]]:
    rng = np.random.default_rng(12)
    ids = restaurants[RESTAURANT_ID].to_list()
    return [_user(rng, index, ids) for index in range(USERS)]


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
