"""Tests of the synthetic world generator on small worlds.

The planted segments are checked from orders and order items, with the true
diet and kind of each dish taken from the lexicon (``dish_catalog``), not
from ``user_segments`` or the partial ``is_vegetarian`` labels alone.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from features.cities import haversine_km
from features.rejects import RejectLog
from features.schema import (
    ALL_TABLES,
    MENU_ITEMS,
    ORDER_ITEMS,
    ORDERS,
    RESTAURANTS,
    USER_SEGMENTS,
    USERS,
    Table,
)
from features.store import (
    connect,
    load_frames,
    read_table,
    set_memory_limit,
    table_counts,
)
from features.synthetic import SEGMENTS, WorldConfig, dish_catalog, generate_world
from features.synthetic.config import CITIES, new_window_days
from features.synthetic.restaurants import BRANDS

CONFIG = WorldConfig(
    users=4_000, restaurants=200, days=56, seed=11, start=datetime(2024, 3, 4)
)
# A smaller world for the store tests, which load it once per test.
SMALL_CONFIG = WorldConfig(users=300, restaurants=60, days=20, seed=3)
WORLD_TABLES = (USERS, RESTAURANTS, MENU_ITEMS, ORDERS, ORDER_ITEMS, USER_SEGMENTS)

DUCKDB_TO_POLARS = {
    "VARCHAR": pl.String,
    "VARCHAR[]": pl.List(pl.String),
    "TIMESTAMP": pl.Datetime("us"),
    "DOUBLE": pl.Float64,
    "TINYINT": pl.Int8,
    "INTEGER": pl.Int32,
    "BOOLEAN": pl.Boolean,
}

ID_PATTERNS = {
    USERS: r"u\d{7}",
    RESTAURANTS: r"r\d{5}",
    MENU_ITEMS: r"m\d{7}",
    ORDERS: r"o\d{9}",
}


@pytest.fixture(scope="module")
def world() -> dict[str, pl.DataFrame]:
    return generate_world(CONFIG)


@pytest.fixture(scope="module")
def items(world: dict[str, pl.DataFrame]) -> pl.DataFrame:
    """Menu items with the true diet and kind of their dish."""
    catalog = dish_catalog().select(
        "name", "diet", "kind", pl.col("is_vegetarian").alias("true_vegetarian")
    )
    return world[MENU_ITEMS.name].join(catalog, on="name", how="left")


@pytest.fixture(scope="module")
def ordered(world: dict[str, pl.DataFrame], items: pl.DataFrame) -> pl.DataFrame:
    """One row per order item: the order, its user's segment and the dish."""
    orders = world[ORDERS.name].select("order_id", "user_id", "restaurant_id")
    return (
        world[ORDER_ITEMS.name]
        .join(orders, on="order_id")
        .join(items.drop("restaurant_id").rename({"name": "dish"}), on="menu_item_id")
        .join(world[USER_SEGMENTS.name], on="user_id")
    )


@pytest.fixture(scope="module")
def order_counts(world: dict[str, pl.DataFrame]) -> pl.DataFrame:
    """Orders per user, zero included, with the user's segment."""
    counts = world[ORDERS.name].group_by("user_id").agg(pl.len().alias("orders"))
    return (
        world[USER_SEGMENTS.name]
        .join(counts, on="user_id", how="left")
        .with_columns(pl.col("orders").fill_null(0))
    )


@pytest.fixture(scope="module")
def restaurant_orders(world: dict[str, pl.DataFrame]) -> pl.DataFrame:
    """Orders per restaurant, zero included, most ordered first."""
    counts = world[ORDERS.name].group_by("restaurant_id").agg(pl.len().alias("orders"))
    return (
        world[RESTAURANTS.name]
        .join(counts, on="restaurant_id", how="left")
        .with_columns(pl.col("orders").fill_null(0))
        .sort(["orders", "restaurant_id"], descending=[True, False])
    )


def segment_users(world: dict[str, pl.DataFrame], segment: str) -> pl.DataFrame:
    return world[USER_SEGMENTS.name].filter(pl.col("segment") == segment)


def expected_dtype(sql_type: str) -> pl.DataType:
    return DUCKDB_TO_POLARS[sql_type.removesuffix(" NOT NULL")]


# Determinism and schema


def test_same_seed_same_world(world: dict[str, pl.DataFrame]) -> None:
    again = generate_world(CONFIG)

    assert set(again) == set(world)
    for name, frame in world.items():
        assert_frame_equal(again[name], frame)


def test_same_seed_across_processes() -> None:
    # String hashing differs between processes unless PYTHONHASHSEED is fixed,
    # so this catches iteration over sets or dict keys built from hashes.
    script = (
        "from features.store import fingerprint\n"
        "from features.synthetic import WorldConfig, generate_world\n"
        "world = generate_world(WorldConfig(users=300, restaurants=60, seed=5))\n"
        "print(*(fingerprint(frame) for frame in world.values()))\n"
    )
    outputs = []
    for hash_seed in ("1", "2"):
        environment = {**os.environ, "PYTHONHASHSEED": hash_seed}
        completed = subprocess.run(
            [sys.executable, "-c", script],
            capture_output=True,
            text=True,
            check=True,
            env=environment,
        )
        outputs.append(completed.stdout)

    assert outputs[0] == outputs[1]
    assert len(outputs[0].split()) == len(WORLD_TABLES)


def test_other_seed_other_world(world: dict[str, pl.DataFrame]) -> None:
    other = generate_world(replace(CONFIG, seed=12))

    assert not other[ORDERS.name].equals(world[ORDERS.name])
    assert not other[MENU_ITEMS.name].equals(world[MENU_ITEMS.name])
    assert not other[USER_SEGMENTS.name].equals(world[USER_SEGMENTS.name])


def test_world_has_store_tables(world: dict[str, pl.DataFrame]) -> None:
    assert set(world) == {table.name for table in WORLD_TABLES}


@pytest.mark.parametrize("table", WORLD_TABLES, ids=lambda table: table.name)
def test_columns_match_schema(world: dict[str, pl.DataFrame], table: Table) -> None:
    assert world[table.name].columns == table.column_names


@pytest.mark.parametrize("table", WORLD_TABLES, ids=lambda table: table.name)
def test_dtypes_match_schema(world: dict[str, pl.DataFrame], table: Table) -> None:
    frame = world[table.name]
    for name, sql_type in table.columns:
        assert frame.schema[name] == expected_dtype(sql_type), name


@pytest.mark.parametrize("table", WORLD_TABLES, ids=lambda table: table.name)
def test_primary_keys_unique(world: dict[str, pl.DataFrame], table: Table) -> None:
    frame = world[table.name]
    assert frame.select(table.primary_key).is_duplicated().sum() == 0


@pytest.mark.parametrize("table", WORLD_TABLES, ids=lambda table: table.name)
def test_required_columns_filled(world: dict[str, pl.DataFrame], table: Table) -> None:
    frame = world[table.name]
    for name, sql_type in table.columns:
        if sql_type.endswith("NOT NULL"):
            assert frame[name].null_count() == 0, name


@pytest.mark.parametrize("table", list(ID_PATTERNS), ids=lambda table: table.name)
def test_ids_follow_format(world: dict[str, pl.DataFrame], table: Table) -> None:
    key = table.primary_key[0]
    matches = world[table.name][key].str.contains(f"^{ID_PATTERNS[table]}$")
    assert matches.all()


def test_sizes_follow_config(world: dict[str, pl.DataFrame]) -> None:
    orders = world[ORDERS.name].height

    assert world[USERS.name].height == CONFIG.users
    assert world[RESTAURANTS.name].height == CONFIG.restaurants
    assert abs(orders / (CONFIG.users * CONFIG.orders_per_user) - 1) < 0.05


def test_menus_about_twenty_items(world: dict[str, pl.DataFrame]) -> None:
    per_restaurant = world[MENU_ITEMS.name].group_by("restaurant_id").len()

    assert per_restaurant.height == CONFIG.restaurants
    assert 16 <= per_restaurant["len"].mean() <= 24
    assert per_restaurant["len"].min() >= 8


def test_config_rejects_too_few_users() -> None:
    with pytest.raises(ValueError, match="users must be at least"):
        generate_world(WorldConfig(users=10))


def test_config_rejects_timezone_start() -> None:
    with pytest.raises(ValueError, match="naive UTC"):
        generate_world(WorldConfig(start=datetime(2024, 1, 1, tzinfo=UTC)))


# Referential integrity and totals


def test_orders_reference_users(world: dict[str, pl.DataFrame]) -> None:
    unknown = world[ORDERS.name].join(world[USERS.name], on="user_id", how="anti")
    assert unknown.height == 0


def test_orders_reference_restaurants(world: dict[str, pl.DataFrame]) -> None:
    restaurants = world[RESTAURANTS.name]
    unknown = world[ORDERS.name].join(restaurants, on="restaurant_id", how="anti")
    assert unknown.height == 0


def test_menu_items_reference_restaurants(world: dict[str, pl.DataFrame]) -> None:
    restaurants = world[RESTAURANTS.name]
    unknown = world[MENU_ITEMS.name].join(restaurants, on="restaurant_id", how="anti")
    assert unknown.height == 0


def test_segments_cover_every_user(world: dict[str, pl.DataFrame]) -> None:
    segments = world[USER_SEGMENTS.name]

    assert segments["user_id"].sort().equals(world[USERS.name]["user_id"].sort())
    assert set(segments["segment"].unique()) == set(SEGMENTS)


def test_items_from_order_restaurant(
    ordered: pl.DataFrame, items: pl.DataFrame
) -> None:
    menus = items.select("menu_item_id", pl.col("restaurant_id").alias("menu_of"))
    joined = ordered.join(menus, on="menu_item_id", how="left")

    assert joined["menu_of"].null_count() == 0
    assert (joined["menu_of"] == joined["restaurant_id"]).all()


def test_orders_have_one_to_four_items(world: dict[str, pl.DataFrame]) -> None:
    per_order = world[ORDER_ITEMS.name].group_by("order_id").len()

    assert per_order.height == world[ORDERS.name].height
    assert per_order["len"].min() >= 1
    assert per_order["len"].max() <= 4


def test_quantities_one_to_four(world: dict[str, pl.DataFrame]) -> None:
    quantity = world[ORDER_ITEMS.name]["quantity"]

    assert quantity.min() >= 1
    assert quantity.max() <= 4


def test_totals_match_items(world: dict[str, pl.DataFrame]) -> None:
    lines = world[ORDER_ITEMS.name].join(
        world[MENU_ITEMS.name].select("menu_item_id", "price"), on="menu_item_id"
    )
    sums = lines.group_by("order_id").agg(
        (pl.col("price") * pl.col("quantity")).sum().alias("expected")
    )
    orders = world[ORDERS.name].join(sums, on="order_id", how="left")

    assert orders["expected"].null_count() == 0
    assert (orders["total"] - orders["expected"]).abs().max() < 1e-6


def test_prices_in_five_cent_steps(world: dict[str, pl.DataFrame]) -> None:
    price = world[MENU_ITEMS.name]["price"]

    assert price.min() >= 1.0
    assert ((price * 20).round(6) % 1 == 0).all()


def test_ratings_one_to_five(world: dict[str, pl.DataFrame]) -> None:
    rating = world[ORDERS.name]["rating"]
    rated = rating.drop_nulls()

    assert 0.2 < rated.len() / rating.len() < 0.5
    assert rated.min() >= 1.0
    assert rated.max() <= 5.0
    assert (rated.round(0) == rated).all()


# Time


def test_orders_within_window(world: dict[str, pl.DataFrame]) -> None:
    ordered_at = world[ORDERS.name]["ordered_at"]
    # Local evening orders in UTC-6 cities can fall on the next UTC day.
    end = CONFIG.start + timedelta(days=CONFIG.days + 1)

    assert ordered_at.null_count() == 0
    assert ordered_at.min() >= CONFIG.start
    assert ordered_at.max() < end


def test_order_ids_follow_time(world: dict[str, pl.DataFrame]) -> None:
    orders = world[ORDERS.name]

    assert orders["order_id"].is_sorted()
    assert orders["ordered_at"].is_sorted()


def test_signup_before_first_order(world: dict[str, pl.DataFrame]) -> None:
    first = world[ORDERS.name].group_by("user_id").agg(pl.col("ordered_at").min())
    users = world[USERS.name].join(first, on="user_id")

    assert users.height > 0
    assert (users["signup_time"] < users["ordered_at"]).all()


def test_friday_saturday_busiest(world: dict[str, pl.DataFrame]) -> None:
    weekday = world[ORDERS.name]["ordered_at"].dt.weekday()
    share = weekday.is_in([5, 6]).mean()

    assert share is not None
    assert share > 2 / 7 + 0.04


def test_orders_around_meals(world: dict[str, pl.DataFrame]) -> None:
    offsets = pl.DataFrame(
        {
            "city": [c.name for c in CITIES],
            "offset": [c.utc_offset_hours for c in CITIES],
        }
    )
    local_hour = (
        world[ORDERS.name]
        .join(
            world[RESTAURANTS.name].select("restaurant_id", "city"), on="restaurant_id"
        )
        .join(offsets, on="city")
        .select(((pl.col("ordered_at").dt.hour() + pl.col("offset")) % 24).alias("h"))
        .to_series()
    )
    meals = (local_hour.is_between(11, 14) | local_hour.is_between(18, 22)).mean()

    assert meals is not None
    assert meals > 0.7
    assert local_hour.is_between(3, 6).sum() == 0


# Places and popularity


def test_users_located_in_cities(world: dict[str, pl.DataFrame]) -> None:
    centres = {c.name: (c.latitude, c.longitude) for c in CITIES}
    users = world[USERS.name]

    assert users["city"].null_count() == 0
    assert set(users["city"].unique()) == set(centres)
    for city, latitude, longitude in users.select(
        "city", "latitude", "longitude"
    ).rows()[:500]:
        assert haversine_km(latitude, longitude, *centres[city]) < 30


def test_users_order_in_own_city(world: dict[str, pl.DataFrame]) -> None:
    cities = (
        world[ORDERS.name]
        .join(world[USERS.name].select("user_id", "city"), on="user_id")
        .join(
            world[RESTAURANTS.name].select("restaurant_id", "city"),
            on="restaurant_id",
            suffix="_restaurant",
        )
    )
    same = (cities["city"] == cities["city_restaurant"]).mean()

    assert same is not None
    assert 0.95 < same < 1.0


def test_popularity_heavy_tailed(restaurant_orders: pl.DataFrame) -> None:
    counts = restaurant_orders["orders"]
    top_share = counts.head(counts.len() // 10).sum() / counts.sum()

    # A uniform choice would give the top 10% about 10% of orders.
    assert top_share > 0.3


def test_user_activity_heavy_tailed(order_counts: pl.DataFrame) -> None:
    ordering = order_counts.filter(pl.col("orders") > 0)["orders"].sort(descending=True)
    few_share = (ordering <= 3).mean()
    top_share = ordering.head(ordering.len() // 10).sum() / ordering.sum()

    assert few_share is not None
    assert few_share > 0.2
    assert top_share > 0.3


def test_chain_locations_share_brand(world: dict[str, pl.DataFrame]) -> None:
    chains = world[RESTAURANTS.name].filter(pl.col("is_chain"))
    brands = chains["name"].str.replace(r" #\d+$", "")

    assert chains.height > 0
    assert set(brands.unique()) <= {brand.name for brand in BRANDS}
    assert chains["name"].str.contains(r" #\d+$").all()


def test_chain_locations_share_menu(world: dict[str, pl.DataFrame]) -> None:
    chains = world[RESTAURANTS.name].filter(pl.col("is_chain"))
    menus = (
        world[MENU_ITEMS.name]
        .join(chains.select("restaurant_id", "name"), on="restaurant_id", suffix="_r")
        .with_columns(pl.col("name_r").str.replace(r" #\d+$", "").alias("brand"))
        .group_by("brand", "restaurant_id")
        .agg(pl.col("name").sort().str.join("|").alias("menu"))
    )
    distinct = menus.group_by("brand").agg(pl.col("menu").n_unique())

    assert (distinct["menu"] == 1).all()


def test_independents_next_to_chains(restaurant_orders: pl.DataFrame) -> None:
    chains = restaurant_orders.filter(pl.col("is_chain"))
    independents = restaurant_orders.filter(~pl.col("is_chain"))
    pairs = independents.join(chains, on="city", suffix="_chain").filter(
        (pl.col("latitude") - pl.col("latitude_chain")).abs() < 0.005
    )
    close = [
        (orders, chain_orders)
        for lat, lon, lat_c, lon_c, orders, chain_orders in pairs.select(
            "latitude",
            "longitude",
            "latitude_chain",
            "longitude_chain",
            "orders",
            "orders_chain",
        ).rows()
        if haversine_km(lat, lon, lat_c, lon_c) < 0.5
    ]

    assert len(close) >= 5
    smaller = sum(orders < chain_orders for orders, chain_orders in close)
    assert smaller / len(close) > 0.5


def test_top_restaurant_without_vegetarian_dish(
    restaurant_orders: pl.DataFrame, items: pl.DataFrame
) -> None:
    vegetarian_dishes = items.group_by("restaurant_id").agg(
        pl.col("true_vegetarian").sum().alias("vegetarian_dishes")
    )
    top = restaurant_orders.head(10).join(vegetarian_dishes, on="restaurant_id")

    assert top.height == 10
    assert (top["vegetarian_dishes"] == 0).any()


# Planted segments


def test_vegetarians_about_eight_percent(world: dict[str, pl.DataFrame]) -> None:
    share = segment_users(world, "vegetarian").height / CONFIG.users

    assert 0.065 < share < 0.095


def test_vegetarians_found_from_orders(ordered: pl.DataFrame) -> None:
    all_vegetarian = (
        ordered.group_by("user_id")
        .agg(pl.col("true_vegetarian").all(), pl.col("segment").first())
        .filter(pl.col("true_vegetarian"))
    )
    planted = ordered.filter(pl.col("segment") == "vegetarian")["user_id"].unique()

    assert planted.len() > 0
    assert planted.is_in(all_vegetarian["user_id"].implode()).all()


def test_vegetarians_order_vegetarian_dishes(ordered: pl.DataFrame) -> None:
    vegetarian = ordered.filter(pl.col("segment") == "vegetarian")

    assert vegetarian.height > 0
    assert vegetarian["diet"].is_in(["vegetarian", "vegan"]).all()


def test_vegetarians_avoid_meat_only_places(
    ordered: pl.DataFrame, items: pl.DataFrame
) -> None:
    offers = items.group_by("restaurant_id").agg(
        pl.col("true_vegetarian").any().alias("offers_vegetarian")
    )
    places = (
        ordered.filter(pl.col("segment") == "vegetarian")
        .select("restaurant_id")
        .unique()
        .join(offers, on="restaurant_id")
    )

    assert places.height > 0
    assert places["offers_vegetarian"].all()


def test_many_vegetarians_few_orders(order_counts: pl.DataFrame) -> None:
    vegetarians = order_counts.filter(pl.col("segment") == "vegetarian")
    few = (vegetarians["orders"] <= 3).mean()

    assert few is not None
    assert few > 0.5
    assert vegetarians["orders"].min() >= 1


def test_diet_declared_by_some_vegetarians(world: dict[str, pl.DataFrame]) -> None:
    users = world[USERS.name].join(world[USER_SEGMENTS.name], on="user_id")
    declared = users.filter(pl.col("diet").is_not_null())
    vegetarians = users.filter(pl.col("segment") == "vegetarian")
    share = vegetarians["diet"].is_not_null().mean()

    assert (declared["segment"] == "vegetarian").all()
    assert (declared["diet"] == "vegetarian").all()
    assert share is not None
    assert 0.25 < share < 0.55


def test_coffee_tea_users_order_drinks(ordered: pl.DataFrame) -> None:
    coffee_tea = ordered.filter(pl.col("segment") == "coffee_tea_only")

    assert coffee_tea.height > 0
    assert coffee_tea["kind"].is_in(["coffee", "tea"]).all()


def test_coffee_tea_users_at_cafes(
    ordered: pl.DataFrame, world: dict[str, pl.DataFrame]
) -> None:
    places = (
        ordered.filter(pl.col("segment") == "coffee_tea_only")
        .select("restaurant_id")
        .unique()
        .join(world[RESTAURANTS.name], on="restaurant_id")
    )
    cafe_or_tea = places["cuisines"].list.set_intersection(["cafe", "tea"]).list.len()

    assert places.height > 0
    assert (cafe_or_tea > 0).all()


def test_pizza_users_order_pizza(ordered: pl.DataFrame) -> None:
    pizza = ordered.filter(pl.col("segment") == "pizza_only")

    assert pizza.height > 0
    assert (pizza["kind"] == "pizza").all()


def test_regular_users_order_variety(ordered: pl.DataFrame) -> None:
    regular = ordered.filter(pl.col("segment") == "regular")
    meat = regular["diet"].is_in(["meat", "fish"]).mean()

    assert meat is not None
    assert 0.3 < meat < 0.8


def test_new_users_have_no_orders(
    world: dict[str, pl.DataFrame], order_counts: pl.DataFrame
) -> None:
    new = order_counts.filter(pl.col("segment") == "new_user")
    signups = world[USERS.name].join(new, on="user_id")["signup_time"]
    stretch_start = CONFIG.start + timedelta(days=CONFIG.days - new_window_days(CONFIG))

    assert new.height > 0
    assert (new["orders"] == 0).all()
    assert signups.min() >= stretch_start


def test_only_new_users_lack_orders(order_counts: pl.DataFrame) -> None:
    without = order_counts.filter(pl.col("orders") == 0)

    assert (without["segment"] == "new_user").all()


def test_new_restaurants_have_no_orders(restaurant_orders: pl.DataFrame) -> None:
    opened_late = restaurant_orders.filter(pl.col("opened_at") >= CONFIG.start)

    assert opened_late.height > 0
    assert (opened_late["orders"] == 0).all()


# Menu labels


def test_labels_on_part_of_items(world: dict[str, pl.DataFrame]) -> None:
    labelled = world[MENU_ITEMS.name]["is_vegetarian"].is_not_null().mean()

    assert labelled is not None
    assert 0.35 < labelled < 0.65


def test_labels_are_truthful(items: pl.DataFrame) -> None:
    labelled = items.filter(pl.col("is_vegetarian").is_not_null())

    assert labelled.height > 0
    assert (labelled["is_vegetarian"] == labelled["true_vegetarian"]).all()


def test_menu_names_in_catalog(items: pl.DataFrame) -> None:
    assert items["diet"].null_count() == 0


def test_catalog_names_unique() -> None:
    catalog = dish_catalog()

    assert catalog["name"].is_unique().all()
    assert set(catalog["diet"].unique()) == {"meat", "fish", "vegetarian", "vegan"}


def test_menus_mix_english_spanish(items: pl.DataFrame) -> None:
    names = set(items["name"].unique())

    assert {"Pepperoni Pizza", "Veggie Burger", "Flat White"} & names
    assert {"Tacos al pastor", "Hamburguesa vegana", "Té verde"} & names


def test_some_items_described(world: dict[str, pl.DataFrame]) -> None:
    described = world[MENU_ITEMS.name]["description"].is_not_null().mean()

    assert described is not None
    assert 0.05 < described < 0.6


# Store


@pytest.fixture(scope="module")
def small_world() -> dict[str, pl.DataFrame]:
    return generate_world(SMALL_CONFIG)


@pytest.fixture
def loaded(
    small_world: dict[str, pl.DataFrame], tmp_path: Path
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A store file holding the small world, loaded with load_frames."""
    connection = connect(tmp_path / "store.duckdb")
    load_frames(connection, dict(small_world), RejectLog().to_frame())
    yield connection
    connection.close()


def table_names(connection: duckdb.DuckDBPyConnection) -> set[str]:
    return {row[0] for row in connection.execute("SHOW TABLES").fetchall()}


def primary_keys(connection: duckdb.DuckDBPyConnection) -> set[tuple[str, str]]:
    rows = connection.execute(
        "SELECT table_name, array_to_string(constraint_column_names, ',') "
        "FROM duckdb_constraints() WHERE constraint_type = 'PRIMARY KEY'"
    ).fetchall()
    return {(row[0], row[1]) for row in rows}


def test_world_loads_into_store(
    loaded: duckdb.DuckDBPyConnection, small_world: dict[str, pl.DataFrame]
) -> None:
    for table in WORLD_TABLES:
        stored = read_table(loaded, table).sort(table.primary_key)
        expected = small_world[table.name].sort(table.primary_key)
        assert_frame_equal(stored, expected)


def test_world_store_counts(
    loaded: duckdb.DuckDBPyConnection, small_world: dict[str, pl.DataFrame]
) -> None:
    counts = table_counts(loaded)

    for table in WORLD_TABLES:
        assert counts[table.name] == small_world[table.name].height, table.name


def test_load_keeps_primary_keys(
    loaded: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    fresh = connect(tmp_path / "fresh.duckdb")
    expected = primary_keys(fresh)
    fresh.close()

    assert primary_keys(loaded) == expected
    with pytest.raises(duckdb.ConstraintException):
        loaded.execute("INSERT INTO orders SELECT * FROM orders LIMIT 1")


def test_load_leaves_no_staged_tables(loaded: duckdb.DuckDBPyConnection) -> None:
    assert table_names(loaded) == {table.name for table in ALL_TABLES}


def test_load_replaces_previous_world(
    loaded: duckdb.DuckDBPyConnection,
) -> None:
    other = generate_world(replace(SMALL_CONFIG, seed=4, users=200))

    load_frames(loaded, other, RejectLog().to_frame())
    stored = read_table(loaded, ORDERS).sort("order_id")

    assert_frame_equal(stored, other[ORDERS.name].sort("order_id"))
    assert table_counts(loaded)[USERS.name] == 200


def test_load_empties_absent_tables(
    loaded: duckdb.DuckDBPyConnection, small_world: dict[str, pl.DataFrame]
) -> None:
    load_frames(loaded, {USERS.name: small_world[USERS.name]}, RejectLog().to_frame())
    counts = table_counts(loaded)

    assert counts[USERS.name] == small_world[USERS.name].height
    assert counts[ORDERS.name] == 0
    assert counts[ORDER_ITEMS.name] == 0
    assert counts[USER_SEGMENTS.name] == 0


def test_load_duplicate_key_keeps_store(
    loaded: duckdb.DuckDBPyConnection, small_world: dict[str, pl.DataFrame]
) -> None:
    before = table_counts(loaded)
    orders = small_world[ORDERS.name]
    broken = {**small_world, ORDERS.name: pl.concat([orders, orders.head(1)])}

    # DuckDB checks the key when the staged table commits.
    with pytest.raises(duckdb.Error, match="duplicate key"):
        load_frames(loaded, broken, RejectLog().to_frame())

    assert table_counts(loaded) == before
    assert table_names(loaded) == {table.name for table in ALL_TABLES}


def test_load_missing_column_keeps_store(
    loaded: duckdb.DuckDBPyConnection, small_world: dict[str, pl.DataFrame]
) -> None:
    before = table_counts(loaded)
    broken = {**small_world, ORDERS.name: small_world[ORDERS.name].drop("total")}

    with pytest.raises(ValueError, match="total"):
        load_frames(loaded, broken, RejectLog().to_frame())

    assert table_counts(loaded) == before


def test_load_unknown_table_rejected(loaded: duckdb.DuckDBPyConnection) -> None:
    with pytest.raises(ValueError, match="menus"):
        load_frames(loaded, {"menus": pl.DataFrame()}, RejectLog().to_frame())


def test_load_drops_leftover_staged_table(
    loaded: duckdb.DuckDBPyConnection, small_world: dict[str, pl.DataFrame]
) -> None:
    loaded.execute("CREATE TABLE orders__staged (order_id VARCHAR)")

    load_frames(loaded, dict(small_world), RejectLog().to_frame())

    assert "orders__staged" not in table_names(loaded)
    assert table_counts(loaded)[ORDERS.name] == small_world[ORDERS.name].height


def test_load_small_batches(
    small_world: dict[str, pl.DataFrame], tmp_path: Path
) -> None:
    connection = connect(tmp_path / "store.duckdb")
    try:
        load_frames(
            connection, dict(small_world), RejectLog().to_frame(), batch_rows=999
        )
        stored = read_table(connection, ORDER_ITEMS)
    finally:
        connection.close()

    expected = small_world[ORDER_ITEMS.name]
    assert_frame_equal(
        stored.sort(["order_id", "menu_item_id"]),
        expected.sort(["order_id", "menu_item_id"]),
    )


def test_load_release_empties_mapping(
    small_world: dict[str, pl.DataFrame], tmp_path: Path
) -> None:
    frames = dict(small_world)
    connection = connect(tmp_path / "store.duckdb")
    try:
        load_frames(connection, frames, RejectLog().to_frame(), release=True)
        counts = table_counts(connection)
    finally:
        connection.close()

    assert frames == {}
    assert counts[ORDERS.name] == small_world[ORDERS.name].height


def test_set_memory_limit_applies(loaded: duckdb.DuckDBPyConnection) -> None:
    set_memory_limit(loaded, "1GB")

    rows = loaded.execute("SELECT current_setting('memory_limit')").fetchall()
    assert rows == [("953.6 MiB",)]


@pytest.mark.parametrize("limit", ["lots", "1GB'; DROP TABLE users; --", ""])
def test_set_memory_limit_rejects_text(
    loaded: duckdb.DuckDBPyConnection, limit: str
) -> None:
    with pytest.raises(ValueError, match="memory_limit"):
        set_memory_limit(loaded, limit)

    assert USERS.name in table_names(loaded)


def test_load_rejects_zero_batch(loaded: duckdb.DuckDBPyConnection) -> None:
    with pytest.raises(ValueError, match="batch_rows"):
        load_frames(loaded, {}, RejectLog().to_frame(), batch_rows=0)
