"""Tests of the feature tables on a small hand-made store and a synthetic world.

The hand-made store is read at CUTOFF, 2024-06-10 12:00 UTC.

Users: u1 (omnivore, low budget) ordered five times, u2 (vegan, high budget)
twice, u3 (no diet, no budget, no coordinates) never.

Restaurants and menus (prices in brackets, V = vegetarian):

- r1 mexican, opened 2024-01-01: m1 beef tacos (10), m2 bean burrito (12, V),
  m3 horchata (3, V), m4 chicken quesadilla (11).
- r2 pizza and italian, opened 2024-06-01 12:00: m5 margherita pizza (9, V),
  m6 pepperoni pizza (11), m7 garden salad (6, V).
- r3 cafe and vegetarian, no opening date, no menu.
- r4 steak, opened 2023-06-10 12:00, no menu, never ordered.
- r5 burgers, no opening date: m8 beef burger (8), never ordered.

m4, m6 and m7 carry no vegetarian label, so the menu classifier decides them
(m4 and m6 meat, m7 vegetarian). The other items are labelled.

Orders, with their age at the cutoff:

====  ====  ====  ==========  =====  ======  =======================
id    user  rest  age         total  rating  items
====  ====  ====  ==========  =====  ======  =======================
o1    u1    r1    40 d        20     4       m1, m2 (one meat item)
o2    u1    r2    7 d         30     5       2 x m5
o3    u1    r1    2 d         10     null    m2, m3
o4    u1    r3    100 d       6      3       none
o5    u1    r2    7 d 1 h     14     2       m6
o6    u2    r2    1 d 6 h     25     4       m5, m7
o7    u2    r2    60 d        15     3       3 x m7
====  ====  ====  ==========  =====  ======  =======================
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from features.pairs import PAIR_INPUTS
from features.schema import EVENT_TIMESTAMP, ORDER_ID
from features.synthetic import WorldConfig, generate_world
from features.transforms import (
    FEATURE_TABLES,
    RESTAURANT,
    USER,
    Snapshot,
    StoreFrames,
    compute_tables,
    feature_table,
    join_entity_tables,
    snapshot_at,
)

CUTOFF = datetime(2024, 6, 10, 12, 0, tzinfo=UTC)
NAIVE_CUTOFF = CUTOFF.replace(tzinfo=None)
DAY = timedelta(days=1)

USER_IDS = ["u1", "u2", "u3"]
RESTAURANT_IDS = ["r1", "r2", "r3", "r4", "r5"]
TABLE_NAMES = {
    "user_profile",
    "user_activity",
    "user_diet",
    "user_cuisine",
    "restaurant_profile",
    "restaurant_menu",
    "restaurant_popularity",
    "user_taste",
    "restaurant_taste",
    "restaurant_neighbours",
}

ORDER_SCHEMA = {
    "order_id": pl.String,
    "user_id": pl.String,
    "restaurant_id": pl.String,
    "ordered_at": pl.Datetime("us"),
    "total": pl.Float64,
    "rating": pl.Float64,
}
ORDER_ITEM_SCHEMA = {
    "order_id": pl.String,
    "menu_item_id": pl.String,
    "quantity": pl.Int32,
}


def users_frame() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "user_id": USER_IDS,
            "signup_time": [datetime(2023, 1, 1), datetime(2023, 2, 1), None],
            "city": ["Alpha", "Beta", None],
            "latitude": [22.0, 23.0, None],
            "longitude": [-101.0, -101.0, None],
            "diet": ["omnivore", "vegan", None],
            "liked_cuisines": [["mexican"], ["italian"], []],
            "budget": ["low", "high", None],
            "age_band": ["25-34", "35-44", None],
        },
        schema_overrides={
            "signup_time": pl.Datetime("us"),
            "liked_cuisines": pl.List(pl.String),
        },
    )


def restaurants_frame() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "restaurant_id": RESTAURANT_IDS,
            "name": ["Taqueria", "Forno", "Green Cup", "Grill", "Burger Shack"],
            "city": ["Alpha", "Alpha", "Beta", "Beta", None],
            "latitude": [22.0, 23.0, 22.5, 24.0, 22.0],
            "longitude": [-101.0, -101.0, -100.0, -102.0, -102.0],
            "cuisines": [
                ["mexican"],
                ["pizza", "italian"],
                ["cafe", "vegetarian"],
                ["steak"],
                ["burgers"],
            ],
            "price_level": [1, 2, 1, 3, None],
            "is_chain": [False, True, False, False, None],
            "opened_at": [
                datetime(2024, 1, 1),
                datetime(2024, 6, 1, 12),
                None,
                datetime(2023, 6, 10, 12),
                None,
            ],
        },
        schema_overrides={
            "cuisines": pl.List(pl.String),
            "price_level": pl.Int8,
            "opened_at": pl.Datetime("us"),
        },
    )


def menu_items_frame() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "menu_item_id": ["m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8"],
            "restaurant_id": ["r1", "r1", "r1", "r1", "r2", "r2", "r2", "r5"],
            "name": [
                "Beef tacos",
                "Bean burrito",
                "Horchata",
                "Chicken quesadilla",
                "Margherita pizza",
                "Pepperoni pizza",
                "Garden salad",
                "Beef burger",
            ],
            "description": [None] * 8,
            "price": [10.0, 12.0, 3.0, 11.0, 9.0, 11.0, 6.0, 8.0],
            "is_vegetarian": [False, True, True, None, True, None, None, False],
        },
        schema_overrides={"description": pl.String},
    )


def orders_frame() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "order_id": ["o1", "o2", "o3", "o4", "o5", "o6", "o7"],
            "user_id": ["u1", "u1", "u1", "u1", "u1", "u2", "u2"],
            "restaurant_id": ["r1", "r2", "r1", "r3", "r2", "r2", "r2"],
            "ordered_at": [
                NAIVE_CUTOFF - 40 * DAY,
                NAIVE_CUTOFF - 7 * DAY,
                NAIVE_CUTOFF - 2 * DAY,
                NAIVE_CUTOFF - 100 * DAY,
                NAIVE_CUTOFF - 7 * DAY - timedelta(hours=1),
                NAIVE_CUTOFF - DAY - timedelta(hours=6),
                NAIVE_CUTOFF - 60 * DAY,
            ],
            "total": [20.0, 30.0, 10.0, 6.0, 14.0, 25.0, 15.0],
            "rating": [4.0, 5.0, None, 3.0, 2.0, 4.0, 3.0],
        },
        schema=ORDER_SCHEMA,
    )


def order_items_frame() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "order_id": ["o1", "o1", "o2", "o3", "o3", "o5", "o6", "o6", "o7"],
            "menu_item_id": ["m1", "m2", "m5", "m2", "m3", "m6", "m5", "m7", "m7"],
            "quantity": [1, 1, 2, 1, 1, 1, 1, 1, 3],
        },
        schema=ORDER_ITEM_SCHEMA,
    )


def make_store(orders: pl.DataFrame, order_items: pl.DataFrame) -> StoreFrames:
    return StoreFrames.from_store_tables(
        users=users_frame(),
        restaurants=restaurants_frame(),
        menu_items=menu_items_frame(),
        orders=orders,
        order_items=order_items,
    )


@pytest.fixture(scope="module")
def store() -> StoreFrames:
    return make_store(orders_frame(), order_items_frame())


@pytest.fixture(scope="module")
def tables(store: StoreFrames) -> dict[str, pl.DataFrame]:
    return compute_tables(snapshot_at(store, CUTOFF))


@pytest.fixture(scope="module")
def untimed_tables() -> dict[str, pl.DataFrame]:
    """Tables at CUTOFF of the same orders without times or items, as UCI
    ratings are stored."""
    orders = orders_frame().with_columns(
        pl.lit(None, pl.Datetime("us")).alias("ordered_at")
    )
    store = make_store(orders, order_items_frame().clear())
    return compute_tables(snapshot_at(store, CUTOFF))


def by_key(tables: dict[str, pl.DataFrame], name: str, column: str) -> dict[str, Any]:
    """Map each key of table ``name`` to its value in ``column``."""
    key = FEATURE_TABLES[name].key
    return dict(tables[name].select(key, column).rows())


def sorted_tables(tables: dict[str, pl.DataFrame]) -> dict[str, pl.DataFrame]:
    """Sort each table by its key, so that row order does not matter."""
    return {
        name: frame.sort(FEATURE_TABLES[name].key) for name, frame in tables.items()
    }


def assert_same_tables(
    actual: dict[str, pl.DataFrame], expected: dict[str, pl.DataFrame]
) -> None:
    assert set(actual) == set(expected)
    actual, expected = sorted_tables(actual), sorted_tables(expected)
    for name in expected:
        try:
            assert_frame_equal(actual[name], expected[name])
        except AssertionError as error:
            msg = f"feature table {name} differs: {error}"
            raise AssertionError(msg) from error


# ---------------------------------------------------------------------------
# Every table.
# ---------------------------------------------------------------------------


def test_registered_table_names() -> None:
    assert set(FEATURE_TABLES) == TABLE_NAMES


@pytest.mark.parametrize("name", sorted(TABLE_NAMES))
def test_table_one_row_per_entity(tables: dict[str, pl.DataFrame], name: str) -> None:
    spec = FEATURE_TABLES[name]
    expected = USER_IDS if spec.entity == USER else RESTAURANT_IDS

    assert sorted(tables[name][spec.key].to_list()) == expected


@pytest.mark.parametrize("name", sorted(TABLE_NAMES))
def test_table_stamped_with_cutoff(tables: dict[str, pl.DataFrame], name: str) -> None:
    stamps = tables[name][EVENT_TIMESTAMP]

    assert stamps.dtype == pl.Datetime("us", "UTC")
    assert stamps.to_list() == [CUTOFF] * tables[name].height


def test_cutoff_in_other_time_zone(
    store: StoreFrames, tables: dict[str, pl.DataFrame]
) -> None:
    # 14:00 at UTC+2 is the same instant as 12:00 UTC.
    plus_two = datetime(2024, 6, 10, 14, 0, tzinfo=timezone(timedelta(hours=2)))

    shifted = compute_tables(snapshot_at(store, plus_two))

    assert_same_tables(shifted, tables)


# ---------------------------------------------------------------------------
# User tables.
# ---------------------------------------------------------------------------


def test_user_profile_values(tables: dict[str, pl.DataFrame]) -> None:
    profile = tables["user_profile"].sort("user_id")

    assert profile["user_latitude"].to_list() == [22.0, 23.0, None]
    assert profile["user_longitude"].to_list() == [-101.0, -101.0, None]
    assert profile["user_city"].to_list() == ["Alpha", "Beta", None]
    # low = 1, high = 3, no budget = null.
    assert profile["user_budget_level"].to_list() == [1, 3, None]
    assert profile["user_liked_cuisines"].to_list() == [["mexican"], ["italian"], []]


def test_user_order_count(tables: dict[str, pl.DataFrame]) -> None:
    counts = by_key(tables, "user_activity", "user_order_count")

    assert counts == {"u1": 5, "u2": 2, "u3": 0}


def test_user_orders_in_windows(tables: dict[str, pl.DataFrame]) -> None:
    # u1: o2 exactly 7 days old is inside 7d, o5 at 7 days 1 hour is not.
    # 7d: o2, o3. 30d: o2, o3, o5. 90d: o1 (40 d) as well. o4 (100 d) is in none.
    # u2: o6 (1.25 d) in every window, o7 (60 d) only in 90d.
    assert by_key(tables, "user_activity", "user_orders_7d") == {
        "u1": 2,
        "u2": 1,
        "u3": 0,
    }
    assert by_key(tables, "user_activity", "user_orders_30d") == {
        "u1": 3,
        "u2": 1,
        "u3": 0,
    }
    assert by_key(tables, "user_activity", "user_orders_90d") == {
        "u1": 4,
        "u2": 2,
        "u3": 0,
    }


def test_user_days_since_last_order(tables: dict[str, pl.DataFrame]) -> None:
    days = by_key(tables, "user_activity", "user_days_since_last_order")

    # u1's last order o3 is 2 days old. u2's last, o6, is 1 day 6 hours = 1.25 d.
    assert days == {"u1": 2.0, "u2": 1.25, "u3": None}


def test_user_avg_order_value(tables: dict[str, pl.DataFrame]) -> None:
    values = by_key(tables, "user_activity", "user_avg_order_value")

    # u1: (20 + 30 + 10 + 6 + 14) / 5 = 16. u2: (25 + 15) / 2 = 20.
    assert values == {"u1": 16.0, "u2": 20.0, "u3": None}


def test_user_mean_rating(tables: dict[str, pl.DataFrame]) -> None:
    ratings = by_key(tables, "user_activity", "user_mean_rating")

    # u1: o3 has no rating, so (4 + 5 + 3 + 2) / 4 = 3.5. u2: (4 + 3) / 2 = 3.5.
    assert ratings == {"u1": 3.5, "u2": 3.5, "u3": None}


def test_user_visited_ids_sorted_with_repeats(
    tables: dict[str, pl.DataFrame],
) -> None:
    visited = by_key(tables, "user_activity", "user_visited_restaurant_ids")

    # u1 ordered at r1, r2, r1, r3, r2 (o1 to o5).
    assert visited == {
        "u1": ["r1", "r1", "r2", "r2", "r3"],
        "u2": ["r2", "r2"],
        "u3": [],
    }


def test_user_history_location(tables: dict[str, pl.DataFrame]) -> None:
    latitudes = by_key(tables, "user_activity", "user_history_latitude")
    longitudes = by_key(tables, "user_activity", "user_history_longitude")

    # u1, one point per order at r1, r1, r2, r2, r3:
    # latitude (22 + 22 + 23 + 23 + 22.5) / 5 = 112.5 / 5 = 22.5,
    # longitude (-101 * 4 - 100) / 5 = -504 / 5 = -100.8.
    assert latitudes["u1"] == pytest.approx(22.5)
    assert longitudes["u1"] == pytest.approx(-100.8)
    assert latitudes["u2"] == pytest.approx(23.0)
    assert longitudes["u2"] == pytest.approx(-101.0)
    assert latitudes["u3"] is None
    assert longitudes["u3"] is None


def test_user_declared_vegetarian(tables: dict[str, pl.DataFrame]) -> None:
    declared = by_key(tables, "user_diet", "user_declared_vegetarian")

    # omnivore = 0, vegan = 1, no diet = null.
    assert declared == {"u1": 0, "u2": 1, "u3": None}


def test_user_diet_order_count_skips_itemless(
    tables: dict[str, pl.DataFrame],
) -> None:
    counts = by_key(tables, "user_diet", "user_diet_order_count")

    # u1's o4 has no items, so four of u1's five orders count.
    assert counts == {"u1": 4, "u2": 2, "u3": 0}


def test_user_vegetarian_order_ratio(tables: dict[str, pl.DataFrame]) -> None:
    ratios = by_key(tables, "user_diet", "user_vegetarian_order_ratio")

    # u1: o2 and o3 are vegetarian, but o1 (one meat item of two) and o5 are not.
    # 2 / 4 = 0.5. u2: o6 and o7 are vegetarian, 2 / 2 = 1.
    assert ratios == {"u1": 0.5, "u2": 1.0, "u3": None}


def test_user_vegetarian_item_ratio(tables: dict[str, pl.DataFrame]) -> None:
    ratios = by_key(tables, "user_diet", "user_vegetarian_item_ratio")

    # u1: vegetarian items o1 1 + o2 2 + o3 2 + o5 0 = 5, of 2 + 2 + 2 + 1 = 7.
    # u2: (2 + 3) / (2 + 3) = 1.
    assert ratios["u1"] == pytest.approx(5 / 7)
    assert ratios["u2"] == pytest.approx(1.0)
    assert ratios["u3"] is None


def test_user_cuisine_names_and_shares(tables: dict[str, pl.DataFrame]) -> None:
    names = by_key(tables, "user_cuisine", "user_cuisine_names")
    shares = by_key(tables, "user_cuisine", "user_cuisine_shares")

    # u1's five orders: r1 (mexican) twice, r2 (pizza, italian) twice, r3 (cafe,
    # vegetarian) once. Largest share first, ties by name.
    assert names["u1"] == ["italian", "mexican", "pizza", "cafe", "vegetarian"]
    assert shares["u1"] == pytest.approx([0.4, 0.4, 0.4, 0.2, 0.2])
    # Both of u2's orders went to r2, so both of its cuisines have share 1.
    assert names["u2"] == ["italian", "pizza"]
    assert shares["u2"] == pytest.approx([1.0, 1.0])
    assert names["u3"] == []
    assert shares["u3"] == []


def test_user_top_cuisine_share(tables: dict[str, pl.DataFrame]) -> None:
    top = by_key(tables, "user_cuisine", "user_top_cuisine_share")

    assert top == {"u1": pytest.approx(0.4), "u2": pytest.approx(1.0), "u3": None}


def test_user_coffee_tea_and_pizza_shares(tables: dict[str, pl.DataFrame]) -> None:
    coffee = by_key(tables, "user_cuisine", "user_coffee_tea_share")
    pizza = by_key(tables, "user_cuisine", "user_pizza_share")

    # u1: one of five orders at the cafe r3, two of five at the pizzeria r2.
    assert coffee == {"u1": pytest.approx(0.2), "u2": 0.0, "u3": None}
    assert pizza == {"u1": pytest.approx(0.4), "u2": 1.0, "u3": None}


def test_user_cuisine_diversity(tables: dict[str, pl.DataFrame]) -> None:
    diversity = by_key(tables, "user_cuisine", "user_cuisine_diversity")

    # u1's cuisine counts 2, 2, 2, 1, 1 of 8 give p = 1/4, 1/4, 1/4, 1/8, 1/8.
    # Entropy = 3 * (1/4) ln 4 + 2 * (1/8) ln 8 = (1.5 + 0.75) ln 2 = 2.25 ln 2,
    # so exp(entropy) = 2 ** 2.25 = 4.7568.
    assert diversity["u1"] == pytest.approx(2**2.25)
    # u2: p = 1/2, 1/2, entropy ln 2, diversity 2.
    assert diversity["u2"] == pytest.approx(2.0)
    assert diversity["u3"] is None


# ---------------------------------------------------------------------------
# Restaurant tables.
# ---------------------------------------------------------------------------


def test_restaurant_profile_values(tables: dict[str, pl.DataFrame]) -> None:
    profile = tables["restaurant_profile"].sort("restaurant_id")

    assert profile["restaurant_name"].to_list() == [
        "Taqueria",
        "Forno",
        "Green Cup",
        "Grill",
        "Burger Shack",
    ]
    assert profile["restaurant_latitude"].to_list() == [22.0, 23.0, 22.5, 24.0, 22.0]
    assert profile["restaurant_city"].to_list() == [
        "Alpha",
        "Alpha",
        "Beta",
        "Beta",
        None,
    ]
    assert profile.schema["restaurant_price_level"] == pl.Int64
    assert profile["restaurant_price_level"].to_list() == [1, 2, 1, 3, None]
    assert profile["restaurant_is_chain"].to_list() == [0, 1, 0, 0, None]
    assert profile["restaurant_cuisines"].to_list()[1] == ["pizza", "italian"]


def test_restaurant_menu_item_count(tables: dict[str, pl.DataFrame]) -> None:
    counts = by_key(tables, "restaurant_menu", "restaurant_menu_item_count")

    assert counts == {"r1": 4, "r2": 3, "r3": 0, "r4": 0, "r5": 1}


def test_restaurant_vegetarian_item_share(tables: dict[str, pl.DataFrame]) -> None:
    shares = by_key(tables, "restaurant_menu", "restaurant_vegetarian_item_share")

    # r1: m2, m3 of four. r2: m5, m7 of three. r5: none of one.
    assert shares == {
        "r1": pytest.approx(0.5),
        "r2": pytest.approx(2 / 3),
        "r3": None,
        "r4": None,
        "r5": 0.0,
    }


def test_restaurant_vegetarian_main_count(tables: dict[str, pl.DataFrame]) -> None:
    mains = by_key(tables, "restaurant_menu", "restaurant_vegetarian_main_count")
    medians = by_key(tables, "restaurant_menu", "restaurant_median_item_price")

    # r1 prices 3, 10, 11, 12: median (10 + 11) / 2 = 10.5, mains m4 (11) and m2
    # (12), of which m2 is vegetarian. The horchata m3 is vegetarian but cheap.
    # r2 prices 6, 9, 11: median 9, mains m5 (9, at the median) and m6 (11).
    assert medians == {"r1": 10.5, "r2": 9.0, "r3": None, "r4": None, "r5": 8.0}
    assert mains == {"r1": 1, "r2": 1, "r3": None, "r4": None, "r5": 0}


def test_restaurant_vegetarian_evidence(tables: dict[str, pl.DataFrame]) -> None:
    options = by_key(tables, "restaurant_menu", "restaurant_has_vegetarian_options")
    evidence = by_key(tables, "restaurant_menu", "restaurant_vegetarian_evidence")

    # r3 has no menu but is tagged vegetarian, and r4 has neither. r5's menu has
    # no vegetarian item.
    assert options == {"r1": 1, "r2": 1, "r3": 1, "r4": None, "r5": 0}
    assert evidence == {
        "r1": "menu",
        "r2": "menu",
        "r3": "cuisine",
        "r4": "none",
        "r5": "menu",
    }


def test_restaurant_order_and_user_counts(tables: dict[str, pl.DataFrame]) -> None:
    orders = by_key(tables, "restaurant_popularity", "restaurant_order_count")
    users = by_key(tables, "restaurant_popularity", "restaurant_user_count")

    # r2: o2, o5 (u1) and o6, o7 (u2).
    assert orders == {"r1": 2, "r2": 4, "r3": 1, "r4": 0, "r5": 0}
    assert users == {"r1": 1, "r2": 2, "r3": 1, "r4": 0, "r5": 0}


def test_restaurant_orders_in_windows(tables: dict[str, pl.DataFrame]) -> None:
    name = "restaurant_popularity"

    # r1: o3 (2 d) only. r2 in 7d: o2 (exactly 7 d, u1) and o6 (u2). In 30d
    # also o5 (7 d 1 h, u1), still two users. r3's o4 is 100 days old.
    assert by_key(tables, name, "restaurant_orders_7d") == {
        "r1": 1,
        "r2": 2,
        "r3": 0,
        "r4": 0,
        "r5": 0,
    }
    assert by_key(tables, name, "restaurant_users_7d") == {
        "r1": 1,
        "r2": 2,
        "r3": 0,
        "r4": 0,
        "r5": 0,
    }
    assert by_key(tables, name, "restaurant_orders_30d") == {
        "r1": 1,
        "r2": 3,
        "r3": 0,
        "r4": 0,
        "r5": 0,
    }
    assert by_key(tables, name, "restaurant_users_30d") == {
        "r1": 1,
        "r2": 2,
        "r3": 0,
        "r4": 0,
        "r5": 0,
    }


def test_restaurant_mean_rating(tables: dict[str, pl.DataFrame]) -> None:
    ratings = by_key(tables, "restaurant_popularity", "restaurant_mean_rating")

    # r1: o1 4 and o3 unrated, so 4. r2: (5 + 2 + 4 + 3) / 4 = 3.5.
    assert ratings == {"r1": 4.0, "r2": 3.5, "r3": 3.0, "r4": None, "r5": None}


def test_restaurant_days_since_opening(tables: dict[str, pl.DataFrame]) -> None:
    days = by_key(tables, "restaurant_popularity", "restaurant_days_since_opening")

    # r1: 2024-01-01 00:00 to 2024-06-01 is 31 + 29 + 31 + 30 + 31 = 152 days,
    # to 2024-06-10 12:00 another 9.5, so 161.5. r2: 2024-06-01 12:00, 9 days.
    # r4: 2023-06-10 12:00 is 366 days back, because 2024 has a 29 February.
    assert days == {"r1": 161.5, "r2": 9.0, "r3": None, "r4": 366.0, "r5": None}


def test_restaurant_opening_after_cutoff_null(store: StoreFrames) -> None:
    # At 2024-05-01, r2 (opened 2024-06-01 12:00) is not open yet; its opening
    # date must not show. r1 opened 2024-01-01: 31 + 29 + 31 + 30 = 121 days.
    early = compute_tables(snapshot_at(store, datetime(2024, 5, 1, tzinfo=UTC)))
    days = by_key(early, "restaurant_popularity", "restaurant_days_since_opening")

    assert days["r2"] is None
    assert days["r1"] == 121.0


def test_windows_zero_before_first_order(store: StoreFrames) -> None:
    # 2023-01-01 is before every order: the store has order times, so each
    # window holds 0 orders rather than an unknown count.
    early = compute_tables(snapshot_at(store, datetime(2023, 1, 1, tzinfo=UTC)))

    assert by_key(early, "user_activity", "user_orders_7d") == {
        "u1": 0,
        "u2": 0,
        "u3": 0,
    }
    assert set(
        by_key(early, "restaurant_popularity", "restaurant_users_30d").values()
    ) == {0}


def test_cuisine_shares_count_restaurants_without_cuisines() -> None:
    # u1 orders once at r3 (cafe, vegetarian) and once at r1 whose cuisines are
    # unknown: coffee-or-tea share 1 / 2 = 0.5, as the cafe share is.
    restaurants = restaurants_frame().with_columns(
        pl.when(pl.col("restaurant_id") == "r1")
        .then(None)
        .otherwise(pl.col("cuisines"))
        .alias("cuisines")
    )
    orders = orders_frame().filter(pl.col(ORDER_ID).is_in(["o1", "o4"]))
    store = StoreFrames.from_store_tables(
        users=users_frame(),
        restaurants=restaurants,
        menu_items=menu_items_frame(),
        orders=orders,
        order_items=order_items_frame().clear(),
    )
    tables = compute_tables(snapshot_at(store, CUTOFF))
    cuisine = (
        tables["user_cuisine"].filter(pl.col("user_id") == "u1").row(0, named=True)
    )

    assert cuisine["user_coffee_tea_share"] == 0.5
    assert dict(
        zip(cuisine["user_cuisine_names"], cuisine["user_cuisine_shares"], strict=True)
    ) == {"cafe": 0.5, "vegetarian": 0.5}


def test_join_entity_tables_unknown_entity() -> None:
    with pytest.raises(ValueError, match="entity must be one of"):
        join_entity_tables({}, "dish")


def test_restaurant_order_share(tables: dict[str, pl.DataFrame]) -> None:
    shares = by_key(tables, "restaurant_popularity", "restaurant_order_share")

    # Seven visible orders: r1 2, r2 4, r3 1.
    assert shares == {
        "r1": pytest.approx(2 / 7),
        "r2": pytest.approx(4 / 7),
        "r3": pytest.approx(1 / 7),
        "r4": 0.0,
        "r5": 0.0,
    }


# ---------------------------------------------------------------------------
# Entities without orders, orders without times, snapshots.
# ---------------------------------------------------------------------------


def test_user_without_orders_row(tables: dict[str, pl.DataFrame]) -> None:
    activity = tables["user_activity"].filter(pl.col("user_id") == "u3")
    diet = tables["user_diet"].filter(pl.col("user_id") == "u3")
    cuisine = tables["user_cuisine"].filter(pl.col("user_id") == "u3")

    assert activity.drop("user_id", EVENT_TIMESTAMP).row(0, named=True) == {
        "user_order_count": 0,
        "user_orders_7d": 0,
        "user_orders_30d": 0,
        "user_orders_90d": 0,
        "user_days_since_last_order": None,
        "user_avg_order_value": None,
        "user_mean_rating": None,
        "user_visited_restaurant_ids": [],
        "user_history_latitude": None,
        "user_history_longitude": None,
    }
    assert diet.drop("user_id", EVENT_TIMESTAMP).row(0, named=True) == {
        "user_declared_vegetarian": None,
        "user_diet_order_count": 0,
        "user_vegetarian_order_ratio": None,
        "user_vegetarian_item_ratio": None,
    }
    assert cuisine.drop("user_id", EVENT_TIMESTAMP).row(0, named=True) == {
        "user_coffee_tea_share": None,
        "user_pizza_share": None,
        "user_cuisine_names": [],
        "user_cuisine_shares": [],
        "user_top_cuisine_share": None,
        "user_cuisine_diversity": None,
    }


def test_restaurant_without_orders_row(tables: dict[str, pl.DataFrame]) -> None:
    popularity = tables["restaurant_popularity"].filter(pl.col("restaurant_id") == "r4")

    assert popularity.drop("restaurant_id", EVENT_TIMESTAMP).row(0, named=True) == {
        "restaurant_days_since_opening": 366.0,
        "restaurant_order_count": 0,
        "restaurant_user_count": 0,
        "restaurant_orders_7d": 0,
        "restaurant_users_7d": 0,
        "restaurant_orders_30d": 0,
        "restaurant_users_30d": 0,
        "restaurant_mean_rating": None,
        "restaurant_order_share": 0.0,
    }


def test_untimed_day_features_null(untimed_tables: dict[str, pl.DataFrame]) -> None:
    activity = untimed_tables["user_activity"]
    popularity = untimed_tables["restaurant_popularity"]

    for column in (
        "user_orders_7d",
        "user_orders_30d",
        "user_orders_90d",
        "user_days_since_last_order",
    ):
        assert activity[column].null_count() == len(USER_IDS), column
    for column in (
        "restaurant_orders_7d",
        "restaurant_users_7d",
        "restaurant_orders_30d",
        "restaurant_users_30d",
    ):
        assert popularity[column].null_count() == len(RESTAURANT_IDS), column


def test_untimed_counts(untimed_tables: dict[str, pl.DataFrame]) -> None:
    orders = by_key(untimed_tables, "restaurant_popularity", "restaurant_order_count")
    shares = by_key(untimed_tables, "restaurant_popularity", "restaurant_order_share")
    visited = by_key(untimed_tables, "user_activity", "user_visited_restaurant_ids")

    assert by_key(untimed_tables, "user_activity", "user_order_count") == {
        "u1": 5,
        "u2": 2,
        "u3": 0,
    }
    # (20 + 30 + 10 + 6 + 14) / 5 = 16, as with times.
    assert by_key(untimed_tables, "user_activity", "user_avg_order_value") == {
        "u1": 16.0,
        "u2": 20.0,
        "u3": None,
    }
    assert visited["u1"] == ["r1", "r1", "r2", "r2", "r3"]
    assert orders == {"r1": 2, "r2": 4, "r3": 1, "r4": 0, "r5": 0}
    assert shares["r2"] == pytest.approx(4 / 7)
    # The opening date is a restaurant attribute, not an order time.
    opened = by_key(
        untimed_tables, "restaurant_popularity", "restaurant_days_since_opening"
    )
    assert opened["r1"] == 161.5


def test_untimed_orders_without_items(
    untimed_tables: dict[str, pl.DataFrame],
) -> None:
    counts = by_key(untimed_tables, "user_diet", "user_diet_order_count")
    ratios = by_key(untimed_tables, "user_diet", "user_vegetarian_order_ratio")

    assert counts == {"u1": 0, "u2": 0, "u3": 0}
    assert ratios == {"u1": None, "u2": None, "u3": None}


def test_untimed_orders_visible_at_any_cutoff() -> None:
    orders = orders_frame().with_columns(
        pl.lit(None, pl.Datetime("us")).alias("ordered_at")
    )
    store = make_store(orders, order_items_frame())

    snapshot = snapshot_at(store, datetime(2000, 1, 1, tzinfo=UTC))

    assert snapshot.orders.height == 7
    assert not snapshot.timed


def test_snapshot_orders_before_cutoff(store: StoreFrames) -> None:
    # A cutoff at o3's time (2 days old) includes o1, o2, o4, o5 and o7, but
    # not o3 itself nor o6 (1 day 6 hours old).
    o3_time = NAIVE_CUTOFF - 2 * DAY

    at_o3 = snapshot_at(store, o3_time.replace(tzinfo=UTC))
    after_o3 = snapshot_at(
        store, (o3_time + timedelta(microseconds=1)).replace(tzinfo=UTC)
    )

    assert "o3" not in at_o3.orders[ORDER_ID].to_list()
    assert sorted(at_o3.orders[ORDER_ID].to_list()) == ["o1", "o2", "o4", "o5", "o7"]
    assert "o3" in after_o3.orders[ORDER_ID].to_list()
    assert at_o3.timed


def test_store_frames_item_counts(store: StoreFrames) -> None:
    counts = {
        order_id: (items, vegetarian)
        for order_id, items, vegetarian in store.orders.select(
            ORDER_ID, "item_count", "vegetarian_item_count"
        ).rows()
    }

    # Quantities count: o7 is three garden salads. o5's pepperoni pizza is
    # meat by the menu classifier. o4 has no items.
    assert counts == {
        "o1": (2, 1),
        "o2": (2, 2),
        "o3": (2, 2),
        "o4": (None, None),
        "o5": (1, 0),
        "o6": (2, 2),
        "o7": (3, 3),
    }


# ---------------------------------------------------------------------------
# No feature reads an order placed at or after the cutoff.
# ---------------------------------------------------------------------------


def later_orders() -> tuple[pl.DataFrame, pl.DataFrame]:
    """Orders at and after CUTOFF, touching every user and restaurant."""
    orders = pl.DataFrame(
        {
            "order_id": ["o8", "o9", "o10", "o11"],
            "user_id": ["u1", "u3", "u2", "u3"],
            "restaurant_id": ["r1", "r4", "r5", "r3"],
            "ordered_at": [
                NAIVE_CUTOFF,
                NAIVE_CUTOFF + timedelta(microseconds=1),
                NAIVE_CUTOFF + 3 * DAY,
                NAIVE_CUTOFF + 30 * DAY,
            ],
            "total": [99.0, 50.0, 8.0, 4.0],
            "rating": [1.0, 5.0, 1.0, None],
        },
        schema=ORDER_SCHEMA,
    )
    items = pl.DataFrame(
        {
            "order_id": ["o8", "o8", "o9", "o10"],
            "menu_item_id": ["m1", "m4", "m8", "m8"],
            "quantity": [4, 1, 1, 2],
        },
        schema=ORDER_ITEM_SCHEMA,
    )
    return orders, items


def test_later_orders_leave_tables_unchanged(
    tables: dict[str, pl.DataFrame],
) -> None:
    orders, items = later_orders()
    store = make_store(
        pl.concat([orders_frame(), orders]), pl.concat([order_items_frame(), items])
    )

    assert_same_tables(compute_tables(snapshot_at(store, CUTOFF)), tables)


def test_later_orders_seen_after_cutoff(tables: dict[str, pl.DataFrame]) -> None:
    # Guards the test above: the appended orders do count once they are past.
    orders, items = later_orders()
    store = make_store(
        pl.concat([orders_frame(), orders]), pl.concat([order_items_frame(), items])
    )

    later = compute_tables(snapshot_at(store, CUTOFF + 31 * DAY))

    # u3 placed o9 and o11, and u1 placed o8 on top of its five.
    assert by_key(later, "user_activity", "user_order_count") == {
        "u1": 6,
        "u2": 3,
        "u3": 2,
    }
    assert by_key(later, "restaurant_popularity", "restaurant_order_count") == {
        "r1": 3,
        "r2": 4,
        "r3": 2,
        "r4": 1,
        "r5": 1,
    }


@pytest.fixture(scope="module")
def synthetic_world() -> dict[str, pl.DataFrame]:
    return generate_world(WorldConfig(users=300, restaurants=60, days=30, seed=11))


def synthetic_store(
    world: dict[str, pl.DataFrame], orders: pl.DataFrame
) -> StoreFrames:
    items = world["order_items"].join(orders.select(ORDER_ID), on=ORDER_ID, how="semi")
    return StoreFrames.from_store_tables(
        users=world["users"],
        restaurants=world["restaurants"],
        menu_items=world["menu_items"],
        orders=orders,
        order_items=items,
    )


def middle_order_time(world: dict[str, pl.DataFrame]) -> datetime:
    times = world["orders"]["ordered_at"].sort()
    return times[times.len() // 2]


# The synthetic world starts 2024-01-01 and runs 30 days.
SYNTHETIC_CUTOFFS: dict[str, Callable[[dict[str, pl.DataFrame]], datetime]] = {
    "midnight-day-10": lambda world: datetime(2024, 1, 11),
    "at-an-order-time": middle_order_time,
    "afternoon-day-25": lambda world: datetime(2024, 1, 26, 15, 37, 12),
}


@pytest.mark.parametrize("cutoff_name", list(SYNTHETIC_CUTOFFS))
def test_synthetic_world_truncated_same_tables(
    synthetic_world: dict[str, pl.DataFrame], cutoff_name: str
) -> None:
    naive_cutoff = SYNTHETIC_CUTOFFS[cutoff_name](synthetic_world)
    cutoff = naive_cutoff.replace(tzinfo=UTC)
    orders = synthetic_world["orders"]
    before = orders.filter(pl.col("ordered_at") < naive_cutoff)
    full = synthetic_store(synthetic_world, orders)
    truncated = synthetic_store(synthetic_world, before)

    full_tables = compute_tables(snapshot_at(full, cutoff))
    truncated_tables = compute_tables(snapshot_at(truncated, cutoff))

    assert 0 < before.height < orders.height
    assert_same_tables(full_tables, truncated_tables)


def test_synthetic_cutoff_at_order_time(
    synthetic_world: dict[str, pl.DataFrame],
) -> None:
    # The order at the cutoff is excluded, so the boundary case really runs.
    cutoff = middle_order_time(synthetic_world)
    at_cutoff = synthetic_world["orders"].filter(pl.col("ordered_at") == cutoff)

    assert at_cutoff.height >= 1


# ---------------------------------------------------------------------------
# Registration, key checks and joins.
# ---------------------------------------------------------------------------


@pytest.fixture
def register_table() -> Iterator[
    Callable[[str, Callable[[Snapshot], pl.DataFrame]], None]
]:
    """Register temporary user tables and remove them after the test."""
    names: list[str] = []

    def register(name: str, compute: Callable[[Snapshot], pl.DataFrame]) -> None:
        feature_table(name, USER)(compute)
        names.append(name)

    yield register
    for name in names:
        FEATURE_TABLES.pop(name, None)


def test_compute_tables_rejects_repeated_key(
    store: StoreFrames,
    register_table: Callable[[str, Callable[[Snapshot], pl.DataFrame]], None],
) -> None:
    def repeated(snapshot: Snapshot) -> pl.DataFrame:
        users = snapshot.store.users.select("user_id")
        return pl.concat([users, users])

    register_table("repeated_users", repeated)

    with pytest.raises(ValueError, match="repeated_users has more than one row"):
        compute_tables(snapshot_at(store, CUTOFF))


def test_compute_tables_rejects_missing_key(
    store: StoreFrames,
    register_table: Callable[[str, Callable[[Snapshot], pl.DataFrame]], None],
) -> None:
    register_table("keyless", lambda snapshot: pl.DataFrame({"value": [1]}))

    with pytest.raises(ValueError, match="keyless has no user_id column"):
        compute_tables(snapshot_at(store, CUTOFF))


def test_compute_tables_rejects_repeated_column(
    store: StoreFrames,
    register_table: Callable[[str, Callable[[Snapshot], pl.DataFrame]], None],
) -> None:
    def reused(snapshot: Snapshot) -> pl.DataFrame:
        # user_order_count is a column of user_activity.
        users = snapshot.store.users.select("user_id")
        return users.with_columns(pl.lit(1).alias("user_order_count"))

    register_table("user_reused", reused)

    with pytest.raises(ValueError) as raised:
        compute_tables(snapshot_at(store, CUTOFF))

    assert str(raised.value) == (
        "feature tables user_activity and user_reused both have a column "
        "user_order_count; rename one of them, because column names must be "
        "unique across the feature tables"
    )


def test_temporary_tables_removed() -> None:
    # Runs after the tests above in file order and checks their cleanup.
    assert set(FEATURE_TABLES) == TABLE_NAMES


def test_feature_table_rejects_unknown_entity() -> None:
    with pytest.raises(ValueError, match="entity must be one of"):
        feature_table("dish_profile", "dish")


def test_feature_table_rejects_repeated_name() -> None:
    register = feature_table("user_profile", USER)

    with pytest.raises(ValueError, match="'user_profile' is registered twice"):
        register(lambda snapshot: snapshot.store.users)
    assert set(FEATURE_TABLES) == TABLE_NAMES


def test_join_entity_tables_users(tables: dict[str, pl.DataFrame]) -> None:
    joined = join_entity_tables(tables, USER)

    assert sorted(joined["user_id"].to_list()) == USER_IDS
    assert EVENT_TIMESTAMP not in joined.columns
    for name in ("user_profile", "user_activity", "user_diet", "user_cuisine"):
        features = set(tables[name].columns) - {EVENT_TIMESTAMP}
        assert features <= set(joined.columns), name
    row = joined.filter(pl.col("user_id") == "u1").row(0, named=True)
    assert row["user_budget_level"] == 1
    assert row["user_order_count"] == 5
    assert row["user_diet_order_count"] == 4


def test_join_entity_tables_restaurants(tables: dict[str, pl.DataFrame]) -> None:
    joined = join_entity_tables(tables, RESTAURANT)

    assert sorted(joined["restaurant_id"].to_list()) == RESTAURANT_IDS
    row = joined.filter(pl.col("restaurant_id") == "r2").row(0, named=True)
    assert row["restaurant_price_level"] == 2
    assert row["restaurant_menu_item_count"] == 3
    assert row["restaurant_order_count"] == 4


def test_join_entity_tables_none_rejected() -> None:
    with pytest.raises(ValueError, match="no feature table of entity 'user'"):
        join_entity_tables({}, USER)


def test_tables_provide_pair_inputs(tables: dict[str, pl.DataFrame]) -> None:
    schema = {
        **join_entity_tables(tables, USER).schema,
        **join_entity_tables(tables, RESTAURANT).schema,
    }

    for name, dtype in PAIR_INPUTS.items():
        assert name in schema, name
        assert schema[name] == dtype, name


def test_diversity_is_exp_entropy_one_cuisine() -> None:
    # A user whose orders all went to one cuisine has diversity exp(0) = 1.
    orders = orders_frame().filter(pl.col("order_id").is_in(["o1", "o3"]))
    store = make_store(orders, order_items_frame())

    diversity = by_key(
        compute_tables(snapshot_at(store, CUTOFF)),
        "user_cuisine",
        "user_cuisine_diversity",
    )

    assert diversity["u1"] == pytest.approx(math.exp(0.0))
    assert diversity["u2"] is None


def test_compute_tables_rejects_other_frame_types(
    store: StoreFrames,
    register_table: Callable[[str, Callable[[Snapshot], pl.DataFrame]], None],
) -> None:
    def nothing(snapshot: Snapshot) -> pl.DataFrame:
        return None  # type: ignore[return-value]

    register_table("returns_none", nothing)

    with pytest.raises(ValueError, match="returns_none returned NoneType"):
        compute_tables(snapshot_at(store, CUTOFF))
