"""Tests of the declared segments on a hand-made store read at CUTOFF.

CUTOFF is 2024-06-10 12:00 UTC. Every menu item carries a vegetarian label,
so the menu classifier decides nothing.

Restaurants (orders before the cutoff in brackets):

- r1 mexican, Porto, independent: m1 beef tacos (meat). 4 orders.
- r2 pizza, Lisbon, chain: m2 margherita (V), m3 pepperoni (meat). 4 orders.
- r3 cafe, Lisbon, independent: m4 espresso (V). 4 orders.
- r4 steak, Porto, independent: m5 steak (meat). 1 order.
- r5 thai, Porto, independent, opened before the cutoff, no menu. 0 orders
  (one placed exactly at the cutoff does not count).
- r6 sushi, Porto, chain unknown, opens after the cutoff, no menu. 0 orders.

Users (orders before the cutoff):

- u1 Porto, low budget, declared vegetarian: none.
- u2 Porto, low budget: r1 twice (one more at r5 exactly at the cutoff).
- u3 Lisbon: r3 four times, an espresso each.
- u4 Lisbon: r2 three times, a margherita each.
- u5 Porto: r1 twice (tacos), r2 once (margherita).
- u6 no city, no budget: r4 once.

No user has an age band.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from features.schema import RESTAURANT_ID, USER_ID
from features.synthetic import WorldConfig, generate_world
from features.transforms import (
    USER,
    StoreFrames,
    compute_tables,
    join_entity_tables,
    snapshot_at,
)
from models import segments as segments_module
from models.segments import (
    Segment,
    SegmentSpec,
    assign_segments,
    attributes_at,
    cuisine_shares,
    load_segments,
    restaurant_attributes,
    user_attributes,
)

CONFIG = Path(__file__).resolve().parents[2] / "configs" / "segments.yaml"
CUTOFF = datetime(2024, 6, 10, 12, 0, tzinfo=UTC)
NAIVE_CUTOFF = CUTOFF.replace(tzinfo=None)
DAY = timedelta(days=1)

# (order id, user, restaurant, days before the cutoff, item, quantity)
ORDERS = [
    ("o1", "u2", "r1", 10, "m1", 1),
    ("o2", "u2", "r1", 5, "m1", 1),
    ("o3", "u2", "r5", 0, None, 0),
    ("o4", "u3", "r3", 20, "m4", 1),
    ("o5", "u3", "r3", 15, "m4", 2),
    ("o6", "u3", "r3", 9, "m4", 1),
    ("o7", "u3", "r3", 1, "m4", 1),
    ("o8", "u4", "r2", 30, "m2", 1),
    ("o9", "u4", "r2", 12, "m2", 1),
    ("o10", "u4", "r2", 3, "m2", 2),
    ("o11", "u5", "r1", 8, "m1", 1),
    ("o12", "u5", "r1", 6, "m1", 1),
    ("o13", "u5", "r2", 2, "m2", 1),
    ("o14", "u6", "r4", 4, "m5", 1),
]


def make_store() -> StoreFrames:
    users = pl.DataFrame(
        {
            USER_ID: ["u1", "u2", "u3", "u4", "u5", "u6"],
            "signup_time": [datetime(2024, 1, 1)] * 6,
            "city": ["Porto", "Porto", "Lisbon", "Lisbon", "Porto", None],
            "latitude": [41.1, 41.2, 38.7, 38.8, 41.1, None],
            "longitude": [-8.6, -8.6, -9.1, -9.1, -8.6, None],
            "diet": ["vegetarian", "omnivore", None, None, "omnivore", None],
            "liked_cuisines": [["thai"], [], [], ["pizza"], [], []],
            "budget": ["low", "low", None, None, None, None],
            "age_band": [None] * 6,
        },
        schema_overrides={
            "signup_time": pl.Datetime("us"),
            "liked_cuisines": pl.List(pl.String),
            "age_band": pl.String,
        },
    )
    restaurants = pl.DataFrame(
        {
            RESTAURANT_ID: ["r1", "r2", "r3", "r4", "r5", "r6"],
            "name": ["Taqueria", "Forno", "Bica", "Grelha", "Bangkok", "Sushi Go"],
            "city": ["Porto", "Lisbon", "Lisbon", "Porto", "Porto", "Porto"],
            "latitude": [41.1, 38.7, 38.7, 41.1, 41.2, 41.2],
            "longitude": [-8.6, -9.1, -9.1, -8.6, -8.6, -8.6],
            "cuisines": [
                ["mexican"],
                ["pizza"],
                ["cafe"],
                ["steak"],
                ["thai"],
                ["sushi"],
            ],
            "price_level": [1, 2, 1, 3, 2, 3],
            "is_chain": [False, True, False, False, False, None],
            "opened_at": [
                datetime(2023, 1, 1),
                datetime(2023, 1, 1),
                None,
                datetime(2023, 1, 1),
                NAIVE_CUTOFF - 2 * DAY,
                NAIVE_CUTOFF + 3 * DAY,
            ],
        },
        schema_overrides={
            "cuisines": pl.List(pl.String),
            "price_level": pl.Int8,
            "opened_at": pl.Datetime("us"),
        },
    )
    menu_items = pl.DataFrame(
        {
            "menu_item_id": ["m1", "m2", "m3", "m4", "m5"],
            RESTAURANT_ID: ["r1", "r2", "r2", "r3", "r4"],
            "name": ["Beef tacos", "Margherita", "Pepperoni", "Espresso", "Steak"],
            "description": [None] * 5,
            "price": [10.0, 9.0, 11.0, 2.0, 20.0],
            "is_vegetarian": [False, True, False, True, False],
        },
        schema_overrides={"description": pl.String},
    )
    orders = pl.DataFrame(
        {
            "order_id": [row[0] for row in ORDERS],
            USER_ID: [row[1] for row in ORDERS],
            RESTAURANT_ID: [row[2] for row in ORDERS],
            "ordered_at": [NAIVE_CUTOFF - row[3] * DAY for row in ORDERS],
            "total": [10.0] * len(ORDERS),
            "rating": [None] * len(ORDERS),
        },
        schema_overrides={"ordered_at": pl.Datetime("us"), "rating": pl.Float64},
    )
    with_items = [row for row in ORDERS if row[4] is not None]
    order_items = pl.DataFrame(
        {
            "order_id": [row[0] for row in with_items],
            "menu_item_id": [row[4] for row in with_items],
            "quantity": [row[5] for row in with_items],
        },
        schema_overrides={"quantity": pl.Int32},
    )
    return StoreFrames.from_store_tables(
        users, restaurants, menu_items, orders, order_items
    )


@pytest.fixture(scope="module")
def store() -> StoreFrames:
    return make_store()


@pytest.fixture(scope="module")
def frames(store: StoreFrames) -> tuple[pl.DataFrame, pl.DataFrame]:
    return attributes_at(store, CUTOFF)


@pytest.fixture(scope="module")
def segments(frames: tuple[pl.DataFrame, pl.DataFrame]) -> dict[str, Segment]:
    return assign_segments(load_segments(CONFIG), *frames)


def column(frame: pl.DataFrame, name: str) -> dict[str, object]:
    """Map each id (the first column) to its value in column ``name``."""
    return dict(frame.select(frame.columns[0], name).rows())


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "segments.yaml"
    path.write_text(text)
    return path


# ---------------------------------------------------------------------------
# Attribute frames.
# ---------------------------------------------------------------------------


def test_user_order_counts_by_hand(frames: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    users = frames[0]

    # u2's order o3 is placed exactly at the cutoff, so only o1 and o2 count.
    assert column(users, "orders_before") == {
        "u1": 0,
        "u2": 2,
        "u3": 4,
        "u4": 3,
        "u5": 3,
        "u6": 1,
    }
    # u5: r1 twice and r2 once, so 2.
    assert column(users, "top_restaurant_orders") == {
        "u1": 0,
        "u2": 2,
        "u3": 4,
        "u4": 3,
        "u5": 2,
        "u6": 1,
    }


def test_user_shares_by_hand(frames: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    users = frames[0]
    pizza = column(users, "user_pizza_share")
    coffee = column(users, "user_coffee_tea_share")
    vegetarian = column(users, "user_vegetarian_order_ratio")

    # u5: 1 of 3 orders at the pizza place r2, and only that one vegetarian.
    assert pizza["u5"] == pytest.approx(1 / 3)
    assert vegetarian["u5"] == pytest.approx(1 / 3)
    assert pizza["u4"] == 1.0
    assert coffee["u3"] == 1.0
    assert vegetarian["u3"] == 1.0
    assert coffee["u1"] is None


def test_restaurant_attributes_by_hand(
    frames: tuple[pl.DataFrame, pl.DataFrame],
) -> None:
    restaurants = frames[1]

    # r5's one order is placed exactly at the cutoff, so it does not count.
    assert column(restaurants, "orders_before") == {
        "r1": 4,
        "r2": 4,
        "r3": 4,
        "r4": 1,
        "r5": 0,
        "r6": 0,
    }
    assert column(restaurants, "is_new") == {
        "r1": False,
        "r2": False,
        "r3": False,
        "r4": False,
        "r5": True,
        "r6": True,
    }
    # r3 has no opening time, so it counts as open; r6 opens after the cutoff.
    assert column(restaurants, "is_open")["r3"] is True
    assert column(restaurants, "is_open")["r6"] is False
    # r1 and r4 list only meat; r2 and r3 have a vegetarian item; r5 and r6
    # have no menu, so the menu cannot tell.
    assert column(restaurants, "is_meat_only") == {
        "r1": True,
        "r2": False,
        "r3": False,
        "r4": True,
        "r5": None,
        "r6": None,
    }
    assert column(restaurants, "is_independent")["r2"] is False
    assert column(restaurants, "is_independent")["r6"] is None
    assert column(restaurants, "serves_pizza")["r2"] is True
    assert column(restaurants, "serves_coffee_or_tea")["r3"] is True


def test_snapshot_source_same_frames(store: StoreFrames) -> None:
    snapshot = snapshot_at(store, CUTOFF)

    from_store = user_attributes(store, CUTOFF)
    from_snapshot = user_attributes(snapshot)

    assert from_snapshot.equals(from_store)
    assert restaurant_attributes(snapshot).equals(restaurant_attributes(store, CUTOFF))


def test_cutoff_required_with_store(store: StoreFrames) -> None:
    with pytest.raises(ValueError, match="a cutoff is required"):
        user_attributes(store)


def test_cutoff_other_than_snapshot_rejected(store: StoreFrames) -> None:
    snapshot = snapshot_at(store, CUTOFF)

    with pytest.raises(ValueError, match="differs from the snapshot's cutoff"):
        user_attributes(snapshot, CUTOFF + DAY)


def test_cuisine_shares_match_features(store: StoreFrames) -> None:
    snapshot = snapshot_at(store, CUTOFF)
    features = join_entity_tables(compute_tables(snapshot), USER)

    computed = cuisine_shares(snapshot).sort(USER_ID)
    expected = (
        features.filter(pl.col("user_coffee_tea_share").is_not_null())
        .select(USER_ID, "user_coffee_tea_share", "user_pizza_share")
        .sort(USER_ID)
    )

    assert computed.equals(expected)


# ---------------------------------------------------------------------------
# Members of the declared segments.
# ---------------------------------------------------------------------------


def test_declared_user_segments_by_hand(segments: dict[str, Segment]) -> None:
    # u1 declared vegetarian; u4's three orders are all vegetarian; u3's
    # espressos are vegetarian too, but a coffee share of 1 leaves u3 out.
    assert segments["vegetarians"].members == {"u1", "u4"}
    assert segments["cold_start"].members == {"u1"}
    # u2 has 2 orders before the cutoff, u6 has 1; u4 and u5 have 3.
    assert segments["light_users"].members == {"u2", "u6"}
    assert segments["has_favourite"].members == {"u3", "u4"}
    assert segments["coffee_or_tea_only"].members == {"u3"}
    assert segments["pizza_only"].members == {"u4"}


def test_declared_restaurant_segments_by_hand(segments: dict[str, Segment]) -> None:
    # r6 has no order either but opens after the cutoff.
    assert segments["new_restaurants"].members == {"r5"}
    # Median of orders_before (4, 4, 4, 1, 0, 0) is (1 + 4) / 2 = 2.5; of the
    # independents below it, r6's chain status is unknown, so it is left out.
    assert segments["small_independents"].members == {"r4", "r5"}
    assert segments["chains"].members == {"r2"}
    assert segments["meat_only_restaurants"].members == {"r1", "r4"}


def test_segment_fields_from_declaration(segments: dict[str, Segment]) -> None:
    cold_start = segments["cold_start"]

    assert cold_start.entity == "user"
    assert cold_start.description == "Users without any order before the cutoff."
    assert cold_start.size == 1


def test_per_city_expansion(segments: dict[str, Segment]) -> None:
    cities = {name: s.members for name, s in segments.items() if name[:5] == "city="}

    # u6 has no city, so no city segment contains u6.
    assert cities == {"city=Lisbon": {"u3", "u4"}, "city=Porto": {"u1", "u2", "u5"}}
    assert segments["restaurant_city=Lisbon"].members == {"r2", "r3"}
    assert segments["budget=low"].members == {"u1", "u2"}
    assert segments["price_level=3"].members == {"r4", "r6"}


def test_all_null_per_column_skipped(
    frames: tuple[pl.DataFrame, pl.DataFrame], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="models.segments"):
        segments = assign_segments(load_segments(CONFIG), *frames)

    assert not [name for name in segments if name.startswith("age_band")]
    assert "segments age_band=... skipped: column age_band is null" in caplog.text


def test_per_column_of_many_values_warned(
    frames: tuple[pl.DataFrame, pl.DataFrame],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(segments_module, "MANY_PER_VALUES", 3)
    path = write(
        tmp_path,
        "segments:\n"
        "  - name: latitude\n"
        "    entity: user\n"
        "    description: Users per home latitude.\n"
        "    per: user_latitude\n",
    )

    with caplog.at_level(logging.WARNING, logger="models.segments"):
        segments = assign_segments(load_segments(path), *frames)

    assert len(segments) == 4
    assert "column user_latitude has 4 values" in caplog.text


def test_all_null_where_skipped(
    frames: tuple[pl.DataFrame, pl.DataFrame],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    path = write(
        tmp_path,
        "segments:\n"
        "  - name: young\n"
        "    entity: user\n"
        "    description: Users aged 18 to 24.\n"
        "    where: age_band = '18-24'\n",
    )

    with caplog.at_level(logging.WARNING, logger="models.segments"):
        segments = assign_segments(load_segments(path), *frames)

    assert segments == {}
    assert "segment young skipped" in caplog.text


def test_new_segment_from_yaml(
    frames: tuple[pl.DataFrame, pl.DataFrame], tmp_path: Path
) -> None:
    path = write(
        tmp_path,
        "segments:\n"
        "  - name: porto_pizza_lovers\n"
        "    entity: user\n"
        "    description: Porto users with a pizza order.\n"
        "    where: city = 'Porto' AND user_pizza_share > 0\n"
        "  - name: cheap_places\n"
        "    entity: restaurant\n"
        "    description: Restaurants of the lowest price level, per city.\n"
        "    where: price_level = 1\n"
        "    per: city\n",
    )

    segments = assign_segments(load_segments(path), *frames)

    # u5 is the one Porto user with an order at r2.
    assert segments["porto_pizza_lovers"].members == {"u5"}
    # r1 (Porto) and r3 (Lisbon) have price level 1.
    assert segments["cheap_places=Porto"].members == {"r1"}
    assert segments["cheap_places=Lisbon"].members == {"r3"}
    assert set(segments) == {
        "porto_pizza_lovers",
        "cheap_places=Lisbon",
        "cheap_places=Porto",
    }


def test_empty_segment_kept(frames: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    spec = SegmentSpec(
        name="heavy_users",
        entity="user",
        description="Users with at least 100 orders.",
        where="orders_before >= 100",
    )

    segments = assign_segments([spec], *frames)

    assert segments["heavy_users"].members == frozenset()
    assert segments["heavy_users"].size == 0


# ---------------------------------------------------------------------------
# Invalid declarations.
# ---------------------------------------------------------------------------

VALID = (
    "  - name: cold_start\n"
    "    entity: user\n"
    "    description: Users without orders.\n"
    "    where: orders_before = 0\n"
)


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        pytest.param(
            "  - name: shops\n"
            "    entity: shop\n"
            "    description: Shops.\n"
            "    where: TRUE\n",
            "segments[1] (shops): field 'entity': got 'shop', "
            "expected 'user' or 'restaurant'",
            id="unknown-entity",
        ),
        pytest.param(
            "  - name: blank\n"
            "    entity: user\n"
            "    description: Nobody.\n"
            "    where: '  '\n",
            "segments[1] (blank): field 'where': got '  ', "
            "expected a non-empty SQL boolean expression",
            id="empty-where",
        ),
        pytest.param(
            "  - name: nowhere\n    entity: user\n    description: Nobody.\n",
            "segments[1] (nowhere): field 'where': got None, expected a SQL "
            "boolean expression (it may be left out only with 'per')",
            id="missing-where",
        ),
        pytest.param(
            VALID,
            "segments[1] (cold_start): field 'name': got 'cold_start', "
            "expected a name not already used by segments[0]",
            id="duplicate-name",
        ),
        pytest.param(
            "  - name: all\n"
            "    entity: user\n"
            "    description: Everyone.\n"
            "    where: TRUE\n",
            "segments[1] (all): field 'name': got 'all', "
            "expected a name other than all and each, which audits use",
            id="reserved-name",
        ),
        pytest.param(
            "  - name: Heavy Users\n"
            "    entity: user\n"
            "    description: Many orders.\n"
            "    where: orders_before > 9\n",
            "segments[1] (Heavy Users): field 'name': got 'Heavy Users', expected "
            "a name of lower-case letters, digits and underscores that starts "
            "with a letter and is not one of all, each",
            id="name-pattern",
        ),
        pytest.param(
            "  - name: typo\n"
            "    entity: user\n"
            "    description: A misspelt field.\n"
            "    wher: orders_before = 0\n",
            "segments[1] (typo): field 'wher': got 'orders_before = 0', expected "
            "no such field; known fields: name, entity, description, where, per",
            id="unknown-field",
        ),
        pytest.param(
            "  - entity: user\n    description: No name.\n    where: TRUE\n",
            "segments[1] (no name): field 'name': missing, expected a name of "
            "lower-case letters, digits and underscores that starts with a "
            "letter and is not one of all, each",
            id="missing-name",
        ),
    ],
)
def test_invalid_segment_message(tmp_path: Path, entry: str, expected: str) -> None:
    path = write(tmp_path, "segments:\n" + VALID + entry)

    with pytest.raises(ValueError) as raised:
        load_segments(path)

    assert str(raised.value) == f"{path}: {expected}"


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        pytest.param(
            "    where: TRUE\n",
            "field 'where': got True, expected a SQL boolean expression over the "
            "entity's attribute columns (YAML read the value as a bool; put it "
            "in quotes to keep it as text)",
            id="bool",
        ),
        pytest.param(
            "    where: orders_before > 0\n    per: 2024\n",
            "field 'per': got 2024, expected the name of an attribute column "
            "(YAML read the value as an int; put it in quotes to keep it as text)",
            id="int",
        ),
    ],
)
def test_yaml_value_not_text_message(tmp_path: Path, entry: str, expected: str) -> None:
    path = write(
        tmp_path,
        "segments:\n  - name: everyone\n    entity: user\n"
        "    description: Every user.\n" + entry,
    )

    with pytest.raises(ValueError) as raised:
        load_segments(path)

    assert str(raised.value) == f"{path}: segments[0] (everyone): {expected}"


def test_unparsable_where_message(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "segments:\n"
        "  - name: broken\n"
        "    entity: user\n"
        "    description: Broken.\n"
        "    where: orders_before >>> 1\n",
    )

    with pytest.raises(ValueError) as raised:
        load_segments(path)

    message = str(raised.value)
    assert message.startswith(
        f"{path}: segments[0] (broken): field 'where': got 'orders_before >>> 1', "
        "expected a SQL boolean expression that polars parses ("
    )


def test_not_a_list_message(tmp_path: Path) -> None:
    path = write(tmp_path, "segment:\n  - name: x\n")

    with pytest.raises(ValueError) as raised:
        load_segments(path)

    assert str(raised.value) == (
        f"{path}: expected a mapping with a list under 'segments', "
        "got {'segment': [{'name': 'x'}]}"
    )


def test_unknown_column_message(
    frames: tuple[pl.DataFrame, pl.DataFrame], tmp_path: Path
) -> None:
    path = write(
        tmp_path,
        "segments:\n" + VALID + "  - name: porto\n"
        "    entity: user\n"
        "    description: Porto users.\n"
        "    where: city = Porto\n",
    )
    specs = load_segments(path)
    users = frames[0]

    with pytest.raises(ValueError) as raised:
        assign_segments(specs, *frames)

    assert str(raised.value) == (
        f"{path}: segments[1] (porto): field 'where': column 'Porto' is not a "
        "user attribute (a text value needs single quotes, as in city = 'Porto'); "
        f"available columns: {', '.join(users.columns)}"
    )


def test_unknown_per_column_message(
    frames: tuple[pl.DataFrame, pl.DataFrame],
) -> None:
    spec = SegmentSpec(
        name="cuisine",
        entity="restaurant",
        description="Restaurants of one cuisine.",
        per="cuisine",
    )

    with pytest.raises(ValueError) as raised:
        assign_segments([spec], *frames)

    message = str(raised.value)
    assert message.startswith(
        "segment cuisine: field 'per': column 'cuisine' is not a restaurant attribute"
    )
    assert "available columns: restaurant_id, name, city, cuisines," in message


def test_per_list_column_rejected(frames: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    spec = SegmentSpec(
        name="cuisine",
        entity="restaurant",
        description="Restaurants of one cuisine.",
        per="cuisines",
    )

    with pytest.raises(ValueError, match="a list column, expected a column of single"):
        assign_segments([spec], *frames)


def test_non_boolean_where_rejected(
    frames: tuple[pl.DataFrame, pl.DataFrame],
) -> None:
    spec = SegmentSpec(
        name="count",
        entity="user",
        description="Not a condition.",
        where="orders_before + 1",
    )

    with pytest.raises(ValueError) as raised:
        assign_segments([spec], *frames)

    assert str(raised.value) == (
        "segment count: field 'where': got 'orders_before + 1', of type Int64, "
        "expected a boolean expression"
    )


def test_where_type_error_one_line(
    frames: tuple[pl.DataFrame, pl.DataFrame],
) -> None:
    # An id written without quotes reads as a number, which polars cannot
    # compare with the text column user_id.
    spec = SegmentSpec(
        name="one_user",
        entity="user",
        description="One user by id.",
        where="user_id = 1e5",
    )

    with pytest.raises(ValueError) as raised:
        assign_segments([spec], *frames)

    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith(
        "segment one_user: field 'where': evaluating 'user_id = 1e5' failed: "
        "cannot compare string with numeric type"
    )


# ---------------------------------------------------------------------------
# A synthetic world.
# ---------------------------------------------------------------------------


def test_synthetic_world_segments_match_orders() -> None:
    world = generate_world(WorldConfig(users=300, restaurants=60, days=30))
    store = StoreFrames.from_store_tables(
        world["users"],
        world["restaurants"],
        world["menu_items"],
        world["orders"],
        world["order_items"],
    )
    cutoff = datetime(2024, 1, 20, tzinfo=UTC)
    users, restaurants = attributes_at(store, cutoff)

    segments = assign_segments(load_segments(CONFIG), users, restaurants)

    before = world["orders"].filter(pl.col("ordered_at") < cutoff.replace(tzinfo=None))
    counts = before.group_by(USER_ID).len()
    ordering = set(counts[USER_ID].to_list())
    light = set(counts.filter(pl.col("len") <= 2)[USER_ID].to_list())
    all_users = set(world["users"][USER_ID].to_list())
    assert segments["cold_start"].members == all_users - ordering
    assert segments["light_users"].members == light
    with_city = world["users"].filter(pl.col("city").is_not_null())[USER_ID]
    city_members = [s.members for name, s in segments.items() if name[:5] == "city="]
    assert set().union(*city_members) == set(with_city.to_list())
    assert sum(len(members) for members in city_members) == with_city.len()
    ordered_restaurants = set(before[RESTAURANT_ID].to_list())
    assert not segments["new_restaurants"].members & ordered_restaurants
    coffee = column(users, "user_coffee_tea_share")
    pizza = column(users, "user_pizza_share")
    assert all(coffee[user] >= 0.9 for user in segments["coffee_or_tea_only"].members)
    assert all(pizza[user] >= 0.9 for user in segments["pizza_only"].members)


def test_attributes_from_given_tables(
    store: StoreFrames, frames: tuple[pl.DataFrame, pl.DataFrame]
) -> None:
    tables = compute_tables(snapshot_at(store, CUTOFF))

    users, restaurants = attributes_at(store, CUTOFF, tables)

    assert users.equals(frames[0])
    assert restaurants.equals(frames[1])
