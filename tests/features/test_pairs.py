"""Tests of the pair features on hand-made rows of user and restaurant features.

Every row starts from BASE. User u1 lives at (22, -101) in Alpha, has a low
budget (1) and likes mexican and italian. u1 ordered twice at r1 and once at
r2, so the history is centred on (23, -101), with cuisine shares mexican 0.5,
italian 0.3 and cafe 0.2, and half of the orders were vegetarian. Restaurant
r1 is at (23, -101) in Alpha, has price level 3, serves italian and cafe, and
a quarter of its menu is vegetarian. Tests override only the inputs they are
about.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pytest

from features.cities import EARTH_RADIUS_KM
from features.pairs import (
    PAIR_FEATURES,
    PAIR_INPUTS,
    pair_features,
    pandas_pair_features,
)

SCHEMA: dict[str, pl.DataType] = {
    "user_id": pl.String(),
    "restaurant_id": pl.String(),
    **PAIR_INPUTS,
}

BASE: dict[str, Any] = {
    "user_id": "u1",
    "restaurant_id": "r1",
    "user_latitude": 22.0,
    "user_longitude": -101.0,
    "user_city": "Alpha",
    "user_budget_level": 1,
    "user_liked_cuisines": ["mexican", "italian"],
    "user_visited_restaurant_ids": ["r1", "r1", "r2"],
    "user_history_latitude": 23.0,
    "user_history_longitude": -101.0,
    "user_cuisine_names": ["mexican", "italian", "cafe"],
    "user_cuisine_shares": [0.5, 0.3, 0.2],
    "user_vegetarian_order_ratio": 0.5,
    "restaurant_latitude": 23.0,
    "restaurant_longitude": -101.0,
    "restaurant_city": "Alpha",
    "restaurant_price_level": 3,
    "restaurant_cuisines": ["italian", "cafe"],
    "restaurant_vegetarian_item_share": 0.25,
    "restaurant_has_vegetarian_options": 1,
    "user_taste_factors": [0.5, -1.0, 2.0],
    "restaurant_taste_factors": [2.0, 0.25, 1.5],
    "restaurant_neighbour_ids": ["r2", "r9", "r1"],
    "restaurant_neighbour_similarities": [0.5, 0.4, 0.1],
}

# Two points one degree of latitude apart on the same meridian are one degree
# of arc apart: 6371 km * pi / 180 = 111.195 km.
ONE_DEGREE_KM = EARTH_RADIUS_KM * math.pi / 180


def pairs_frame(*overrides: dict[str, Any]) -> pl.DataFrame:
    """One row per overrides dict: BASE with those inputs replaced."""
    return pl.DataFrame([{**BASE, **row} for row in overrides], schema=SCHEMA)


def features_of(**overrides: Any) -> dict[str, Any]:
    """The pair features of one row."""
    return pair_features(pairs_frame(overrides)).row(0, named=True)


# ---------------------------------------------------------------------------
# pair_features.
# ---------------------------------------------------------------------------


def test_pair_features_columns() -> None:
    result = pair_features(pairs_frame({}))

    assert result.columns == list(PAIR_FEATURES)
    assert result.schema["distance_km"] == pl.Float64
    assert result.schema["same_city"] == pl.Int64
    assert result.schema["declared_cuisine_match"] == pl.Int64
    assert result.schema["past_orders_here"] == pl.Int64
    assert result.schema["cuisine_affinity"] == pl.Float64


def test_taste_affinity_dot_product() -> None:
    # 0.5 * 2 - 1 * 0.25 + 2 * 1.5 = 3.75
    assert features_of()["taste_affinity"] == pytest.approx(3.75)
    assert features_of(user_taste_factors=None)["taste_affinity"] is None
    assert features_of(restaurant_taste_factors=None)["taste_affinity"] is None


def test_neighbour_affinity_by_hand() -> None:
    # BASE's user ordered twice from r1 and once from r2; the restaurant's
    # neighbours are r2 (0.5), r9 (0.4) and r1 (0.1): 1 * 0.5 + 2 * 0.1.
    assert features_of()["neighbour_affinity"] == pytest.approx(0.7)
    none = features_of(restaurant_neighbour_ids=None)
    assert none["neighbour_affinity"] == 0.0
    new_user = features_of(user_visited_restaurant_ids=[])
    assert new_user["neighbour_affinity"] == 0.0


def test_neighbour_affinity_per_cutoff() -> None:
    # The same restaurant at two cutoffs with different neighbours: each row
    # uses its own list.
    result = pair_features(
        pairs_frame(
            {},
            {
                "restaurant_neighbour_ids": ["r2"],
                "restaurant_neighbour_similarities": [0.9],
            },
        )
    )

    assert result["neighbour_affinity"].to_list() == pytest.approx([0.7, 0.9])


def test_distance_one_degree_latitude() -> None:
    features = features_of()

    assert features["distance_km"] == pytest.approx(ONE_DEGREE_KM, rel=1e-9)
    assert features["distance_km"] == pytest.approx(111.195, abs=1e-3)


def test_distance_same_point_zero() -> None:
    features = features_of(user_latitude=23.0)

    assert features["distance_km"] == pytest.approx(0.0, abs=1e-9)


def test_history_distance() -> None:
    # BASE's history centre is the restaurant itself, and one degree south of it
    # is one degree away.
    assert features_of()["history_distance_km"] == pytest.approx(0.0, abs=1e-9)
    south = features_of(user_history_latitude=22.0)
    assert south["history_distance_km"] == pytest.approx(ONE_DEGREE_KM, rel=1e-9)


def test_distance_null_coordinates() -> None:
    features = features_of(user_latitude=None, user_history_longitude=None)

    assert features["distance_km"] is None
    assert features["history_distance_km"] is None


@pytest.mark.parametrize(
    ("user_city", "restaurant_city", "expected"),
    [
        pytest.param("Alpha", "Alpha", 1, id="same"),
        pytest.param("Alpha", "Beta", 0, id="different"),
        pytest.param(None, "Alpha", None, id="user-without-city"),
        pytest.param("Alpha", None, None, id="restaurant-without-city"),
    ],
)
def test_same_city(
    user_city: str | None, restaurant_city: str | None, expected: int | None
) -> None:
    features = features_of(user_city=user_city, restaurant_city=restaurant_city)

    assert features["same_city"] == expected


@pytest.mark.parametrize(
    ("restaurant_cuisines", "expected"),
    [
        # Liked: mexican, italian.
        pytest.param(["italian", "cafe"], 1, id="one"),
        pytest.param(["mexican", "italian"], 2, id="both"),
        pytest.param(["thai"], 0, id="none"),
        pytest.param([], 0, id="restaurant-without-cuisines"),
    ],
)
def test_declared_cuisine_match(restaurant_cuisines: list[str], expected: int) -> None:
    features = features_of(restaurant_cuisines=restaurant_cuisines)

    assert features["declared_cuisine_match"] == expected


def test_declared_cuisine_match_no_liked() -> None:
    assert features_of(user_liked_cuisines=[])["declared_cuisine_match"] == 0


@pytest.mark.parametrize(
    ("restaurant_cuisines", "expected"),
    [
        # Shares: mexican 0.5, italian 0.3, cafe 0.2.
        pytest.param(["italian", "cafe"], 0.3, id="max-of-italian-and-cafe"),
        pytest.param(["cafe", "mexican"], 0.5, id="max-of-cafe-and-mexican"),
        pytest.param(["cafe"], 0.2, id="cafe"),
        pytest.param(["thai"], 0.0, id="no-match"),
        pytest.param([], 0.0, id="restaurant-without-cuisines"),
    ],
)
def test_cuisine_affinity(restaurant_cuisines: list[str], expected: float) -> None:
    features = features_of(restaurant_cuisines=restaurant_cuisines)

    assert features["cuisine_affinity"] == pytest.approx(expected)


def test_cuisine_affinity_without_history() -> None:
    features = features_of(user_cuisine_names=[], user_cuisine_shares=[])

    assert features["cuisine_affinity"] == 0.0


@pytest.mark.parametrize(
    ("price_level", "budget_level", "expected"),
    [
        pytest.param(3, 1, 2, id="above-budget"),
        pytest.param(1, 3, -2, id="below-budget"),
        pytest.param(2, 2, 0, id="at-budget"),
        pytest.param(2, None, None, id="no-budget"),
        pytest.param(None, 2, None, id="no-price"),
    ],
)
def test_price_budget_gap(
    price_level: int | None, budget_level: int | None, expected: int | None
) -> None:
    features = features_of(
        restaurant_price_level=price_level, user_budget_level=budget_level
    )

    assert features["price_budget_gap"] == expected


def test_past_orders_here() -> None:
    # Visited r1, r1, r2.
    frame = pairs_frame(
        {"restaurant_id": "r1"}, {"restaurant_id": "r2"}, {"restaurant_id": "r3"}
    )

    result = pair_features(frame)

    assert result["past_orders_here"].to_list() == [2, 1, 0]


def test_past_orders_null_history() -> None:
    features = features_of(
        user_visited_restaurant_ids=None,
        user_cuisine_names=None,
        user_cuisine_shares=None,
    )

    assert features["past_orders_here"] == 0
    assert features["cuisine_affinity"] == 0.0


@pytest.mark.parametrize(
    ("order_ratio", "item_share", "has_options", "match", "gap"),
    [
        # 0.5 * 0.25 = 0.125, and the menu has options, so no gap.
        pytest.param(0.5, 0.25, 1, 0.125, 0.0, id="options"),
        # Match 0.5 * 0.0 = 0, gap 0.5 * (1 - 0) = 0.5.
        pytest.param(0.5, 0.0, 0, 0.0, 0.5, id="no-options"),
        pytest.param(0.0, 0.0, 0, 0.0, 0.0, id="user-never-vegetarian"),
        pytest.param(None, 0.5, 1, None, None, id="user-without-diet-orders"),
        pytest.param(0.8, None, None, None, None, id="unknown-options"),
        # Options known from the cuisine tag alone: no menu share, no gap.
        pytest.param(0.8, None, 1, None, 0.0, id="options-from-cuisine"),
    ],
)
def test_vegetarian_match_and_gap(
    order_ratio: float | None,
    item_share: float | None,
    has_options: int | None,
    match: float | None,
    gap: float | None,
) -> None:
    features = features_of(
        user_vegetarian_order_ratio=order_ratio,
        restaurant_vegetarian_item_share=item_share,
        restaurant_has_vegetarian_options=has_options,
    )

    assert features["vegetarian_match"] == pytest.approx(match)
    assert features["vegetarian_gap"] == pytest.approx(gap)


def test_same_user_two_histories() -> None:
    # u1 at an early cutoff (one order at r1, all mexican) and at a later one
    # (r1, r1, r2: mexican 2/3, italian 1/3), interleaved in one frame.
    early = {
        "user_visited_restaurant_ids": ["r1"],
        "user_cuisine_names": ["mexican"],
        "user_cuisine_shares": [1.0],
    }
    late = {
        "user_visited_restaurant_ids": ["r1", "r1", "r2"],
        "user_cuisine_names": ["mexican", "italian"],
        "user_cuisine_shares": [2 / 3, 1 / 3],
    }
    r1 = {"restaurant_id": "r1", "restaurant_cuisines": ["mexican"]}
    r2 = {"restaurant_id": "r2", "restaurant_cuisines": ["italian"]}
    frame = pairs_frame(
        {**early, **r1}, {**late, **r1}, {**late, **r2}, {**early, **r2}
    )

    result = pair_features(frame)

    assert result["past_orders_here"].to_list() == [1, 2, 1, 0]
    assert result["cuisine_affinity"].to_list() == pytest.approx(
        [1.0, 2 / 3, 1 / 3, 0.0]
    )


def test_same_user_histories_differ_in_visits_only() -> None:
    # Between two cutoffs u1 also ordered at r3, another mexican restaurant, so
    # the cuisine lists stay [mexican] with share 1 and only the visits differ.
    early = {"user_visited_restaurant_ids": ["r1"]}
    late = {"user_visited_restaurant_ids": ["r1", "r3"]}
    mexican = {
        "user_cuisine_names": ["mexican"],
        "user_cuisine_shares": [1.0],
        "restaurant_id": "r3",
    }
    frame = pairs_frame({**early, **mexican}, {**late, **mexican})

    result = pair_features(frame)

    assert result["past_orders_here"].to_list() == [0, 1]


def test_two_users_same_history() -> None:
    # Equal histories of different users are still separate histories.
    frame = pairs_frame({"user_id": "u1"}, {"user_id": "u2"})

    result = pair_features(frame)

    assert result["past_orders_here"].to_list() == [2, 2]
    assert result["cuisine_affinity"].to_list() == pytest.approx([0.3, 0.3])


def test_row_order_kept() -> None:
    # r3, never visited, is at the user's own point. r1 (visited twice) is one
    # degree north, r2 (visited once) two degrees north, then r1 again.
    frame = pairs_frame(
        {"restaurant_id": "r3", "restaurant_latitude": 22.0},
        {"restaurant_id": "r1", "restaurant_latitude": 23.0},
        {"restaurant_id": "r2", "restaurant_latitude": 24.0},
        {"restaurant_id": "r1", "restaurant_latitude": 23.0},
    )

    result = pair_features(frame)

    assert result["past_orders_here"].to_list() == [0, 2, 1, 2]
    assert result["distance_km"].to_list() == pytest.approx(
        [0.0, ONE_DEGREE_KM, 2 * ONE_DEGREE_KM, ONE_DEGREE_KM]
    )


def test_duplicate_rows_kept() -> None:
    result = pair_features(pairs_frame({}, {}))

    assert result.height == 2
    assert result["past_orders_here"].to_list() == [2, 2]
    assert result["cuisine_affinity"].to_list() == pytest.approx([0.3, 0.3])
    assert result.row(0) == result.row(1)


def test_empty_frame() -> None:
    result = pair_features(pl.DataFrame(schema=SCHEMA))

    assert result.height == 0
    assert result.columns == list(PAIR_FEATURES)


# ---------------------------------------------------------------------------
# pandas_pair_features, as Feast's on-demand view calls it.
# ---------------------------------------------------------------------------


def feast_style_inputs() -> pd.DataFrame:
    """Three rows as Feast passes them: list cells as numpy arrays or None,
    integer features as floats with NaN, and an index that is not 0..n-1."""
    return pd.DataFrame(
        {
            "user_id": ["u1", "u1", "u2"],
            "restaurant_id": ["r1", "r2", "r1"],
            "user_latitude": [22.0, 22.0, np.nan],
            "user_longitude": [-101.0, -101.0, np.nan],
            "user_city": ["Alpha", "Alpha", None],
            "user_budget_level": [1.0, 1.0, np.nan],
            "user_liked_cuisines": [
                np.array(["mexican", "italian"], dtype=object),
                np.array(["mexican", "italian"], dtype=object),
                None,
            ],
            "user_visited_restaurant_ids": [
                np.array(["r1", "r1", "r2"], dtype=object),
                np.array(["r1", "r1", "r2"], dtype=object),
                None,
            ],
            "user_history_latitude": [23.0, 23.0, np.nan],
            "user_history_longitude": [-101.0, -101.0, np.nan],
            "user_cuisine_names": [
                np.array(["mexican", "italian", "cafe"], dtype=object),
                np.array(["mexican", "italian", "cafe"], dtype=object),
                None,
            ],
            "user_cuisine_shares": [
                np.array([0.5, 0.3, 0.2]),
                np.array([0.5, 0.3, 0.2]),
                None,
            ],
            "user_vegetarian_order_ratio": [0.5, 0.5, np.nan],
            "restaurant_latitude": [23.0, 24.0, 23.0],
            "restaurant_longitude": [-101.0, -101.0, -101.0],
            "restaurant_city": ["Alpha", "Beta", "Alpha"],
            "restaurant_price_level": [3.0, np.nan, 3.0],
            "restaurant_cuisines": [
                np.array(["italian", "cafe"], dtype=object),
                np.array(["mexican"], dtype=object),
                np.array(["italian", "cafe"], dtype=object),
            ],
            "restaurant_vegetarian_item_share": [0.25, 0.0, 0.25],
            "restaurant_has_vegetarian_options": [1.0, 0.0, 1.0],
            "user_taste_factors": [np.array([0.5, -1.0]), np.array([0.5, -1.0]), None],
            "restaurant_taste_factors": [
                np.array([2.0, 0.25]),
                np.array([-1.0, 1.0]),
                np.array([2.0, 0.25]),
            ],
            "restaurant_neighbour_ids": [
                np.array(["r2"], dtype=object),
                None,
                np.array(["r2"], dtype=object),
            ],
            "restaurant_neighbour_similarities": [
                np.array([0.5]),
                None,
                np.array([0.5]),
            ],
        },
        index=[10, 11, 7],
    )


def test_pandas_float64_columns_and_index() -> None:
    inputs = feast_style_inputs()

    result = pandas_pair_features(inputs)

    assert list(result.columns) == list(PAIR_FEATURES)
    assert all(dtype == np.float64 for dtype in result.dtypes)
    assert result.index.equals(inputs.index)


def test_pandas_hand_values() -> None:
    result = pandas_pair_features(feast_style_inputs())

    # Row 10 is BASE.
    assert result.loc[10, "distance_km"] == pytest.approx(ONE_DEGREE_KM)
    assert result.loc[10, "price_budget_gap"] == 2.0
    assert result.loc[10, "past_orders_here"] == 2.0
    assert result.loc[10, "cuisine_affinity"] == pytest.approx(0.3)
    assert result.loc[10, "vegetarian_match"] == pytest.approx(0.125)
    # Row 11: r2, two degrees north, in Beta, no price, only mexican (0.5).
    assert result.loc[11, "distance_km"] == pytest.approx(2 * ONE_DEGREE_KM)
    assert result.loc[11, "same_city"] == 0.0
    assert math.isnan(result.loc[11, "price_budget_gap"])
    assert result.loc[11, "past_orders_here"] == 1.0
    assert result.loc[11, "cuisine_affinity"] == pytest.approx(0.5)
    assert result.loc[11, "vegetarian_gap"] == pytest.approx(0.5)
    # Row 7: u2 has no location, budget, lists or diet orders.
    for name in ("distance_km", "same_city", "price_budget_gap", "vegetarian_gap"):
        assert math.isnan(result.loc[7, name]), name
    assert result.loc[7, "past_orders_here"] == 0.0
    assert result.loc[7, "cuisine_affinity"] == 0.0


def test_pandas_equals_polars() -> None:
    inputs = feast_style_inputs()
    frame = pl.DataFrame(
        {
            name: [None if value is None else list(value) for value in inputs[name]]
            if isinstance(dtype, pl.List)
            else pl.Series(inputs[name].to_numpy(), nan_to_null=True)
            for name, dtype in SCHEMA.items()
        }
    ).cast(SCHEMA)
    expected = pair_features(frame).cast(pl.Float64).to_pandas()
    expected.index = inputs.index

    result = pandas_pair_features(inputs)

    pd.testing.assert_frame_equal(result, expected)


def test_pandas_without_any_input_column() -> None:
    # feast apply checks the view on made-up rows without join keys.
    inputs = pd.DataFrame({"x": ["hello"]}, index=[5])

    result = pandas_pair_features(inputs)

    assert list(result.columns) == list(PAIR_FEATURES)
    assert all(dtype == np.float64 for dtype in result.dtypes)
    assert result.index.equals(inputs.index)
    # Without a history, affinities and past orders are 0. Everything else is
    # unknown.
    known = {"cuisine_affinity", "past_orders_here", "neighbour_affinity"}
    for name in sorted(known):
        assert result.loc[5, name] == 0.0, name
    unknown = set(PAIR_FEATURES) - known
    for name in sorted(unknown):
        assert math.isnan(result.loc[5, name]), name


def test_pandas_empty_frame() -> None:
    inputs = feast_style_inputs().iloc[0:0]

    result = pandas_pair_features(inputs)

    assert len(result) == 0
    assert list(result.columns) == list(PAIR_FEATURES)


def test_pandas_text_nan_is_missing() -> None:
    # pandas marks a missing text value with NaN after merges: same_city is
    # unknown there, not an error.
    inputs = pd.DataFrame(
        {"user_city": ["Alpha", float("nan")], "restaurant_city": ["Alpha", "Beta"]}
    )

    same_city = pandas_pair_features(inputs)["same_city"].tolist()

    assert same_city[0] == 1.0
    assert math.isnan(same_city[1])
