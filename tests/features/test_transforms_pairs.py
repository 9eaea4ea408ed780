"""Tests of the feature tables and the pair features on small hand-made frames.

Three users and five restaurants:

- u1 (low budget, likes mexican) visited r1, r2 and r3.
- u2 (high budget, likes italian and mexican) visited r1.
- u3 has no coordinates, no budget and no visits.
- r4 was never visited. r5 has no coordinates, no city and no cuisines.

Restaurant cuisines: r1 mexican, r2 bar and mexican, r3 italian, r4 italian
and mexican. Two of u1's three visits were to a restaurant serving mexican.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

import polars as pl
import pytest

from features.cities import EARTH_RADIUS_KM
from features.pairs import MODEL_FEATURES, pair_features
from features.transforms import FeatureTables, build_feature_tables

AS_OF = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)

# One degree of arc: 6371 * pi / 180 = 111.19 km.
ONE_DEGREE_KM = EARTH_RADIUS_KM * math.pi / 180

USERS = pl.DataFrame(
    {
        "user_id": ["u1", "u2", "u3"],
        "signup_time": [None, None, None],
        "city": ["Alpha", "Alpha", None],
        "latitude": [22.0, 22.5, None],
        "longitude": [-101.0, -101.0, None],
        "diet": [None, None, None],
        "liked_cuisines": [["mexican"], ["italian", "mexican"], []],
        "budget": ["low", "high", None],
        "age_band": ["18-24", "25-34", None],
    },
    schema_overrides={
        "signup_time": pl.Datetime("us"),
        "diet": pl.String,
        "liked_cuisines": pl.List(pl.String),
    },
)

RESTAURANTS = pl.DataFrame(
    {
        "restaurant_id": ["r1", "r2", "r3", "r4", "r5"],
        "name": ["One", "Two", "Three", "Four", "Five"],
        "city": ["Alpha", "Alpha", "Beta", "Beta", None],
        "latitude": [22.0, 22.0, 23.0, 23.0, None],
        "longitude": [-101.0, -100.0, -101.0, -101.0, None],
        "cuisines": [
            ["mexican"],
            ["bar", "mexican"],
            ["italian"],
            ["italian", "mexican"],
            [],
        ],
        "price_level": [1, 2, 3, 2, None],
        "is_chain": [False, True, False, False, None],
        "opened_at": [None, None, None, None, None],
    },
    schema_overrides={
        "cuisines": pl.List(pl.String),
        "price_level": pl.Int8,
        "opened_at": pl.Datetime("us"),
    },
)

INTERACTIONS = pl.DataFrame(
    {
        "user_id": ["u1", "u1", "u1", "u2"],
        "restaurant_id": ["r1", "r2", "r3", "r1"],
        "rating": [2.0, 1.0, 0.0, 2.0],
    }
)


@pytest.fixture(scope="module")
def tables() -> FeatureTables:
    return build_feature_tables(USERS, RESTAURANTS, INTERACTIONS, AS_OF)


def by_id(frame: pl.DataFrame, key: str, column: str) -> dict:
    return dict(frame.select(key, column).rows())


def joined_pairs(tables: FeatureTables, pairs: list[tuple[str, str]]) -> pl.DataFrame:
    """User and restaurant feature columns side by side for each pair, in order."""
    frame = pl.DataFrame(pairs, schema=["user_id", "restaurant_id"], orient="row")
    return frame.join(
        tables.users(), on="user_id", how="left", maintain_order="left"
    ).join(tables.restaurants(), on="restaurant_id", how="left", maintain_order="left")


def pair_value(rows: pl.DataFrame, user_id: str, restaurant_id: str, column: str):
    match = rows.filter(
        (pl.col("user_id") == user_id) & (pl.col("restaurant_id") == restaurant_id)
    )
    assert match.height == 1
    return match[column][0]


# Feature tables.


def test_tables_one_row_per_entity(tables: FeatureTables) -> None:
    assert tables.user_profile.height == 3
    assert tables.user_history.height == 3
    assert tables.restaurant_profile.height == 5
    assert tables.restaurant_popularity.height == 5


def test_tables_stamped_as_of(tables: FeatureTables) -> None:
    for name, frame in tables.as_dict().items():
        assert frame["event_timestamp"].to_list() == [AS_OF] * frame.height, name


def test_user_visit_count(tables: FeatureTables) -> None:
    counts = by_id(tables.user_history, "user_id", "user_visit_count")

    assert counts == {"u1": 3, "u2": 1, "u3": 0}


def test_user_mean_rating(tables: FeatureTables) -> None:
    means = by_id(tables.user_history, "user_id", "user_mean_rating")

    # u1: (2 + 1 + 0) / 3 = 1.0. u3 has no ratings to average.
    assert means == {"u1": 1.0, "u2": 2.0, "u3": None}


def test_user_history_cuisines_multiplicity(tables: FeatureTables) -> None:
    history = by_id(tables.user_history, "user_id", "user_history_cuisines")

    # One entry per (visit, cuisine): r1 and r2 both serve mexican.
    assert history["u1"] == ["bar", "italian", "mexican", "mexican"]
    assert history["u2"] == ["mexican"]


def test_user_without_visits_empty(tables: FeatureTables) -> None:
    history = tables.user_history.filter(pl.col("user_id") == "u3")

    assert history["user_visit_count"].to_list() == [0]
    assert history["user_history_cuisines"].to_list() == [[]]
    assert history["user_visited_restaurant_ids"].to_list() == [[]]
    assert history["user_history_latitude"].to_list() == [None]


def test_user_visited_restaurant_ids(tables: FeatureTables) -> None:
    visited = by_id(tables.user_history, "user_id", "user_visited_restaurant_ids")

    assert visited["u1"] == ["r1", "r2", "r3"]
    assert visited["u2"] == ["r1"]


def test_user_history_position(tables: FeatureTables) -> None:
    history = tables.user_history.filter(pl.col("user_id") == "u1")

    # Mean of r1, r2, r3: latitude (22 + 22 + 23) / 3, longitude (-101 - 100 - 101) / 3.
    assert history["user_history_latitude"][0] == pytest.approx(67.0 / 3)
    assert history["user_history_longitude"][0] == pytest.approx(-302.0 / 3)


def test_user_budget_level(tables: FeatureTables) -> None:
    levels = by_id(tables.user_profile, "user_id", "user_budget_level")

    assert levels == {"u1": 1, "u2": 3, "u3": None}


def test_restaurant_visit_share(tables: FeatureTables) -> None:
    shares = by_id(
        tables.restaurant_popularity, "restaurant_id", "restaurant_visit_share"
    )

    # Four interactions: r1 has two of them, r2 and r3 one each.
    assert shares == {"r1": 0.5, "r2": 0.25, "r3": 0.25, "r4": 0.0, "r5": 0.0}


def test_restaurant_counts(tables: FeatureTables) -> None:
    popularity = tables.restaurant_popularity
    visits = by_id(popularity, "restaurant_id", "restaurant_visit_count")
    users = by_id(popularity, "restaurant_id", "restaurant_user_count")
    ratings = by_id(popularity, "restaurant_id", "restaurant_mean_rating")

    assert visits == {"r1": 2, "r2": 1, "r3": 1, "r4": 0, "r5": 0}
    assert users == {"r1": 2, "r2": 1, "r3": 1, "r4": 0, "r5": 0}
    assert ratings["r1"] == 2.0
    assert ratings["r4"] is None


def test_restaurant_profile_casts(tables: FeatureTables) -> None:
    profile = tables.restaurant_profile

    assert by_id(profile, "restaurant_id", "restaurant_is_chain") == {
        "r1": 0,
        "r2": 1,
        "r3": 0,
        "r4": 0,
        "r5": None,
    }
    assert profile.schema["restaurant_price_level"] == pl.Int64


def test_tables_without_interactions() -> None:
    empty = INTERACTIONS.clear()

    tables = build_feature_tables(USERS, RESTAURANTS, empty, AS_OF)

    assert tables.user_history["user_visit_count"].to_list() == [0, 0, 0]
    assert tables.user_history["user_history_cuisines"].to_list() == [[], [], []]
    shares = tables.restaurant_popularity["restaurant_visit_share"].to_list()
    assert shares == [0.0] * 5


def test_users_joined_view(tables: FeatureTables) -> None:
    users = tables.users()

    assert users.height == 3
    assert "event_timestamp" not in users.columns
    assert {"user_budget_level", "user_visit_count"} <= set(users.columns)


# Pair features.

PAIRS = [
    ("u1", "r4"),
    ("u2", "r3"),
    ("u1", "r5"),
    ("u3", "r1"),
    ("u2", "r4"),
    ("u1", "r1"),
    ("u1", "r3"),
    ("u1", "r2"),
]


@pytest.fixture(scope="module")
def pair_inputs(tables: FeatureTables) -> pl.DataFrame:
    return joined_pairs(tables, PAIRS)


@pytest.fixture(scope="module")
def pair_rows(pair_inputs: pl.DataFrame) -> pl.DataFrame:
    return pair_features(pair_inputs)


def test_pairs_row_order_kept(pair_inputs, pair_rows) -> None:
    assert pair_rows.height == len(PAIRS)
    assert pair_rows.select("user_id", "restaurant_id").rows() == PAIRS
    assert pair_rows.select(pair_inputs.columns).equals(pair_inputs)


def test_pairs_have_model_features(pair_rows: pl.DataFrame) -> None:
    assert set(MODEL_FEATURES) <= set(pair_rows.columns)
    assert "_pair" not in pair_rows.columns


def test_distance_one_degree(pair_rows: pl.DataFrame) -> None:
    # u1 at (22, -101) and r4 at (23, -101): one degree of latitude, 111.19 km.
    distance = pair_value(pair_rows, "u1", "r4", "distance_km")

    assert distance == pytest.approx(111.19, abs=0.01)
    assert distance == pytest.approx(ONE_DEGREE_KM, rel=1e-9)


def test_distance_half_degree(pair_rows: pl.DataFrame) -> None:
    # u2 at (22.5, -101) and r3 at (23, -101): 0.5 * 111.19 = 55.6 km.
    distance = pair_value(pair_rows, "u2", "r3", "distance_km")

    assert distance == pytest.approx(ONE_DEGREE_KM / 2, rel=1e-9)


def test_distance_same_point_zero(pair_rows: pl.DataFrame) -> None:
    assert pair_value(pair_rows, "u1", "r1", "distance_km") == pytest.approx(0.0)


def test_distance_null_coordinates(pair_rows: pl.DataFrame) -> None:
    assert pair_value(pair_rows, "u1", "r5", "distance_km") is None
    assert pair_value(pair_rows, "u3", "r1", "distance_km") is None


def test_history_distance(pair_rows: pl.DataFrame) -> None:
    # u2's only visit was to r1 at (22, -101), and r3 is at (23, -101).
    distance = pair_value(pair_rows, "u2", "r3", "history_distance_km")

    assert distance == pytest.approx(ONE_DEGREE_KM, rel=1e-9)
    assert pair_value(pair_rows, "u3", "r1", "history_distance_km") is None


@pytest.mark.parametrize(
    ("user_id", "restaurant_id", "expected"),
    [
        pytest.param("u1", "r4", 1, id="one-of-two"),
        pytest.param("u2", "r4", 2, id="both"),
        pytest.param("u2", "r3", 1, id="italian"),
        pytest.param("u1", "r3", 0, id="none"),
        pytest.param("u1", "r5", 0, id="no-restaurant-cuisines"),
        pytest.param("u3", "r1", 0, id="no-liked-cuisines"),
    ],
)
def test_declared_cuisine_match(
    pair_rows: pl.DataFrame, user_id: str, restaurant_id: str, expected: int
) -> None:
    match = pair_value(pair_rows, user_id, restaurant_id, "declared_cuisine_match")

    assert match == expected


@pytest.mark.parametrize(
    ("user_id", "restaurant_id", "expected"),
    [
        # u1 made 3 visits: 2 to mexican places (r1, r2), 1 to italian (r3).
        pytest.param("u1", "r1", 2 / 3, id="mexican"),
        pytest.param("u1", "r3", 1 / 3, id="italian"),
        # Best of mexican 2/3 and italian 1/3.
        pytest.param("u1", "r4", 2 / 3, id="best-of-two"),
        # Best of bar 1/3 and mexican 2/3.
        pytest.param("u1", "r2", 2 / 3, id="bar-and-mexican"),
        # u2 made 1 visit, to mexican r1.
        pytest.param("u2", "r4", 1.0, id="all-visits"),
        pytest.param("u2", "r3", 0.0, id="never-visited-cuisine"),
        pytest.param("u1", "r5", 0.0, id="no-restaurant-cuisines"),
        pytest.param("u3", "r1", 0.0, id="no-visits"),
    ],
)
def test_history_cuisine_affinity(
    pair_rows: pl.DataFrame, user_id: str, restaurant_id: str, expected: float
) -> None:
    affinity = pair_value(pair_rows, user_id, restaurant_id, "history_cuisine_affinity")

    assert affinity == pytest.approx(expected)


@pytest.mark.parametrize(
    ("user_id", "restaurant_id", "expected"),
    [
        pytest.param("u1", "r1", 1, id="same"),
        pytest.param("u1", "r4", 0, id="different"),
        pytest.param("u1", "r5", None, id="restaurant-no-city"),
        pytest.param("u3", "r1", None, id="user-no-city"),
    ],
)
def test_same_city(
    pair_rows: pl.DataFrame, user_id: str, restaurant_id: str, expected: int | None
) -> None:
    assert pair_value(pair_rows, user_id, restaurant_id, "same_city") == expected


@pytest.mark.parametrize(
    ("user_id", "restaurant_id", "expected"),
    [
        # Price level minus budget level: low = 1, medium = 2, high = 3.
        pytest.param("u1", "r4", 1, id="above-budget"),
        pytest.param("u2", "r4", -1, id="below-budget"),
        pytest.param("u2", "r3", 0, id="at-budget"),
        pytest.param("u1", "r5", None, id="no-price"),
        pytest.param("u3", "r1", None, id="no-budget"),
    ],
)
def test_price_budget_gap(
    pair_rows: pl.DataFrame, user_id: str, restaurant_id: str, expected: int | None
) -> None:
    assert pair_value(pair_rows, user_id, restaurant_id, "price_budget_gap") == expected


def test_pairs_duplicate_rows_kept(tables: FeatureTables) -> None:
    rows = pair_features(joined_pairs(tables, [("u1", "r4"), ("u1", "r4")]))

    assert rows.height == 2
    assert rows["history_cuisine_affinity"].to_list() == pytest.approx([2 / 3, 2 / 3])


def test_pairs_empty_frame(pair_inputs: pl.DataFrame) -> None:
    rows = pair_features(pair_inputs.clear())

    assert rows.height == 0
    assert set(MODEL_FEATURES) <= set(rows.columns)
