"""Tests of the UCI adapter on the bundled files and on edited copies of them."""

from __future__ import annotations

import csv
import re
import shutil
from pathlib import Path

import polars as pl
import pytest

from features.cities import haversine_km
from features.paths import UCI_DATA_DIR
from features.rejects import Reject
from features.schema import (
    MENU_ITEMS,
    ORDER_ITEMS,
    ORDERS,
    RESTAURANTS,
    USERS,
)
from features.uci import REQUIRED_FILES, UciData, load_uci

# Every raw spelling of a known city in geoplaces2.csv, mapped by hand.
CANONICAL_CITIES = {
    "San Luis Potosi": "San Luis Potosi",
    "san luis potosi": "San Luis Potosi",
    "san luis potosi ": "San Luis Potosi",
    "san luis potos": "San Luis Potosi",
    "s.l.p.": "San Luis Potosi",
    "s.l.p": "San Luis Potosi",
    "slp": "San Luis Potosi",
    "Soledad": "San Luis Potosi",
    "Cuernavaca": "Cuernavaca",
    "cuernavaca": "Cuernavaca",
    "Jiutepec": "Cuernavaca",
    "victoria": "Ciudad Victoria",
    "victoria ": "Ciudad Victoria",
    "Cd Victoria": "Ciudad Victoria",
    "Cd. Victoria": "Ciudad Victoria",
    "Ciudad Victoria": "Ciudad Victoria",
}


def read_csv_rows(path: Path) -> list[tuple[int, dict[str, str]]]:
    """Rows of a CSV file as dictionaries, each with its 1-based line number."""
    with path.open(newline="", encoding="utf8") as handle:
        reader = csv.DictReader(handle)
        return [(reader.line_num, row) for row in reader]


def rejects_of(data: UciData, source_file: str) -> list[Reject]:
    return [r for r in data.rejects.rejects if r.source_file == source_file]


def copy_uci(target: Path) -> Path:
    shutil.copytree(UCI_DATA_DIR, target)
    return target


def rewrite_line(path: Path, line: int, new_text: str) -> str:
    """Replace one line of a file, numbered from 1, and return the old text."""
    lines = path.read_text(encoding="utf8").splitlines()
    old_text = lines[line - 1]
    lines[line - 1] = new_text
    path.write_text("\n".join(lines) + "\n", encoding="utf8")
    return old_text


@pytest.fixture(scope="module")
def uci() -> UciData:
    return load_uci(UCI_DATA_DIR)


@pytest.fixture(scope="module")
def places() -> list[tuple[int, dict[str, str]]]:
    return read_csv_rows(UCI_DATA_DIR / "geoplaces2.csv")


def test_load_uci_row_counts(uci: UciData) -> None:
    assert uci.tables[USERS.name].height == 138
    assert uci.tables[RESTAURANTS.name].height == 130
    assert uci.tables[ORDERS.name].height == 1161
    assert uci.tables[MENU_ITEMS.name].is_empty()
    assert uci.tables[ORDER_ITEMS.name].is_empty()


def test_load_uci_columns_match_schema(uci: UciData) -> None:
    for table in (USERS, RESTAURANTS, MENU_ITEMS, ORDERS, ORDER_ITEMS):
        assert uci.tables[table.name].columns == table.column_names


def test_load_uci_unique_ids(uci: UciData) -> None:
    assert uci.tables[USERS.name]["user_id"].is_unique().all()
    assert uci.tables[RESTAURANTS.name]["restaurant_id"].is_unique().all()
    assert uci.tables[ORDERS.name]["order_id"].is_unique().all()


def test_question_mark_budget_null(uci: UciData) -> None:
    profiles = read_csv_rows(UCI_DATA_DIR / "userprofile.csv")
    unknown_budget = {row["userID"] for _, row in profiles if row["budget"] == "?"}
    users = uci.tables[USERS.name]
    null_budget = set(users.filter(pl.col("budget").is_null())["user_id"])

    assert "U1024" in unknown_budget
    assert null_budget == unknown_budget


def test_question_mark_never_loaded(uci: UciData) -> None:
    for name, frame in uci.tables.items():
        for column, dtype in frame.schema.items():
            if dtype == pl.String:
                values = frame[column].drop_nulls()
                assert not (values == "?").any(), f"{name}.{column}"


def test_budget_lower_case(uci: UciData) -> None:
    budgets = set(uci.tables[USERS.name]["budget"].drop_nulls())

    assert budgets == {"low", "medium", "high"}


def test_cuisine_rejects_match_csv(uci: UciData, places) -> None:
    place_ids = {row["placeID"] for _, row in places}
    cuisine_rows = read_csv_rows(UCI_DATA_DIR / "chefmozcuisine.csv")
    expected = {
        (line, row["placeID"])
        for line, row in cuisine_rows
        if row["placeID"] not in place_ids
    }
    rejects = rejects_of(uci, "chefmozcuisine.csv")

    assert len(expected) == 804
    assert len(rejects) == len(expected)
    assert {(r.line, r.value) for r in rejects} == expected
    assert {r.column_name for r in rejects} == {"placeID"}
    assert {r.reason for r in rejects} == {"placeID not in geoplaces2.csv"}


def test_reject_line_points_at_value(uci: UciData) -> None:
    lines = (UCI_DATA_DIR / "chefmozcuisine.csv").read_text("utf8").splitlines()

    for reject in rejects_of(uci, "chefmozcuisine.csv"):
        assert lines[reject.line - 1].split(",")[0] == reject.value


def test_only_cuisine_rejects_in_bundle(uci: UciData) -> None:
    sources = {r.source_file for r in uci.rejects.rejects}

    assert sources == {"chefmozcuisine.csv"}


def test_restaurant_cuisines_from_csv(uci: UciData) -> None:
    cuisine_rows = read_csv_rows(UCI_DATA_DIR / "chefmozcuisine.csv")
    expected: dict[str, set[str]] = {}
    for _, row in cuisine_rows:
        # Cafe-Coffee_Shop is stored as cafe_coffee_shop.
        name = row["Rcuisine"].strip().lower().replace("-", "_").replace(" ", "_")
        expected.setdefault(row["placeID"], set()).add(name)
    restaurants = uci.tables[RESTAURANTS.name]

    for row in restaurants.iter_rows(named=True):
        assert set(row["cuisines"]) == expected.get(row["restaurant_id"], set())


def test_restaurant_cities_canonical(uci: UciData, places) -> None:
    cities = dict(uci.tables[RESTAURANTS.name].select("restaurant_id", "city").rows())

    for _, row in places:
        if row["city"] in CANONICAL_CITIES:
            expected = CANONICAL_CITIES[row["city"]]
            assert cities[row["placeID"]] == expected, row["city"]


def test_restaurant_city_spelling_slp(uci: UciData, places) -> None:
    cities = dict(uci.tables[RESTAURANTS.name].select("restaurant_id", "city").rows())
    slp_ids = [row["placeID"] for _, row in places if row["city"] == "s.l.p."]

    assert slp_ids
    assert {cities[place_id] for place_id in slp_ids} == {"San Luis Potosi"}


def test_restaurant_cities_three_values(uci: UciData) -> None:
    cities = uci.tables[RESTAURANTS.name]["city"]

    assert cities.null_count() == 0
    assert set(cities) == {"San Luis Potosi", "Cuernavaca", "Ciudad Victoria"}


def test_unknown_city_nearest_neighbour(uci: UciData, places) -> None:
    """A restaurant whose city is ``?`` gets the city of its nearest named neighbour.

    Every such restaurant in the bundle lies within about 1 km of a restaurant
    with a named city, well inside one metropolitan area.
    """
    named = [row for _, row in places if row["city"] != "?"]
    unnamed = [row for _, row in places if row["city"] == "?"]
    cities = dict(uci.tables[RESTAURANTS.name].select("restaurant_id", "city").rows())

    assert len(unnamed) == 18
    for row in unnamed:
        latitude, longitude = float(row["latitude"]), float(row["longitude"])
        neighbour = min(
            named,
            key=lambda other: haversine_km(
                latitude, longitude, float(other["latitude"]), float(other["longitude"])
            ),
        )
        expected = CANONICAL_CITIES[neighbour["city"]]
        assert cities[row["placeID"]] == expected, row["placeID"]


def test_user_cities_known(uci: UciData) -> None:
    cities = set(uci.tables[USERS.name]["city"].drop_nulls())

    assert cities == {"San Luis Potosi", "Cuernavaca", "Ciudad Victoria"}


def test_far_user_gets_no_city(uci: UciData) -> None:
    # U1069 lives about 49 km from the mean position of the Cuernavaca
    # restaurants, beyond the 30 km limit, so no city is assigned.
    users = uci.tables[USERS.name].filter(pl.col("city").is_null())

    assert users["user_id"].to_list() == ["U1069"]


def test_orders_id_user_place(uci: UciData) -> None:
    orders = uci.tables[ORDERS.name]
    expected = orders["user_id"] + ":" + orders["restaurant_id"]

    assert (orders["order_id"] == expected).all()


def test_orders_have_no_time(uci: UciData) -> None:
    orders = uci.tables[ORDERS.name]

    assert orders["ordered_at"].null_count() == orders.height
    assert orders["total"].null_count() == orders.height


def test_orders_match_rating_file(uci: UciData) -> None:
    ratings = read_csv_rows(UCI_DATA_DIR / "rating_final.csv")
    expected = {
        (row["userID"], row["placeID"], float(row["rating"])) for _, row in ratings
    }
    orders = uci.tables[ORDERS.name].select("user_id", "restaurant_id", "rating")

    assert set(orders.rows()) == expected


def test_orders_reference_known_ids(uci: UciData) -> None:
    orders = uci.tables[ORDERS.name]
    user_ids = set(uci.tables[USERS.name]["user_id"])
    restaurant_ids = set(uci.tables[RESTAURANTS.name]["restaurant_id"])

    assert set(orders["user_id"]) <= user_ids
    assert set(orders["restaurant_id"]) <= restaurant_ids


def test_user_liked_cuisines(uci: UciData) -> None:
    users = uci.tables[USERS.name]
    liked = dict(users.select("user_id", "liked_cuisines").rows())

    assert liked["U1002"] == ["mexican"]
    assert all(cuisines == sorted(cuisines) for cuisines in liked.values())


@pytest.mark.parametrize("missing", REQUIRED_FILES)
def test_missing_file_raises(tmp_path: Path, missing: str) -> None:
    data_dir = copy_uci(tmp_path / "uci")
    (data_dir / missing).unlink()

    with pytest.raises(FileNotFoundError, match=re.escape(missing)):
        load_uci(data_dir)


def test_bad_rating_rejected(tmp_path: Path) -> None:
    data_dir = copy_uci(tmp_path / "uci")
    ratings = data_dir / "rating_final.csv"
    old_text = rewrite_line(ratings, 10, "")
    user_id, place_id, *_ = old_text.split(",")
    rewrite_line(ratings, 10, f"{user_id},{place_id},7,2,2")

    data = load_uci(data_dir)
    rejects = rejects_of(data, "rating_final.csv")
    order_ids = set(data.tables[ORDERS.name]["order_id"])

    assert len(rejects) == 1
    assert rejects[0].line == 10
    assert rejects[0].column_name == "rating"
    assert rejects[0].value == "7"
    assert "rating" in rejects[0].reason
    assert f"{user_id}:{place_id}" not in order_ids
    assert data.tables[ORDERS.name].height == 1160


def test_unknown_user_rejected(tmp_path: Path) -> None:
    data_dir = copy_uci(tmp_path / "uci")
    ratings = data_dir / "rating_final.csv"
    old_text = rewrite_line(ratings, 25, "")
    _, place_id, *rest = old_text.split(",")
    rewrite_line(ratings, 25, ",".join(["U9999", place_id, *rest]))

    data = load_uci(data_dir)
    rejects = rejects_of(data, "rating_final.csv")

    assert len(rejects) == 1
    assert rejects[0].line == 25
    assert rejects[0].column_name == "userID"
    assert rejects[0].value == "U9999"
    assert rejects[0].reason == "userID not in userprofile.csv"
    assert "U9999" not in set(data.tables[ORDERS.name]["user_id"])
    assert data.tables[ORDERS.name].height == 1160


def test_unknown_place_rejected(tmp_path: Path) -> None:
    data_dir = copy_uci(tmp_path / "uci")
    ratings = data_dir / "rating_final.csv"
    old_text = rewrite_line(ratings, 40, "")
    user_id, _, *rest = old_text.split(",")
    rewrite_line(ratings, 40, ",".join([user_id, "999999", *rest]))

    data = load_uci(data_dir)
    rejects = rejects_of(data, "rating_final.csv")

    assert [(r.line, r.column_name, r.value) for r in rejects] == [
        (40, "placeID", "999999")
    ]
    assert data.tables[ORDERS.name].height == 1160


def test_duplicate_rating_first_kept(tmp_path: Path) -> None:
    data_dir = copy_uci(tmp_path / "uci")
    ratings = data_dir / "rating_final.csv"
    first = ratings.read_text("utf8").splitlines()[1]
    user_id, place_id, rating, *rest = first.split(",")
    other_rating = "0" if rating != "0" else "1"
    with ratings.open("a", encoding="utf8") as handle:
        handle.write(",".join([user_id, place_id, other_rating, *rest]) + "\n")

    data = load_uci(data_dir)
    rejects = rejects_of(data, "rating_final.csv")
    orders = data.tables[ORDERS.name]
    kept_order = orders.filter(pl.col("order_id") == f"{user_id}:{place_id}")

    assert orders.height == 1161
    assert [(r.column_name, r.value) for r in rejects] == [
        ("order_id", f"{user_id}:{place_id}")
    ]
    assert kept_order["rating"].to_list() == [float(rating)]


def test_bad_latitude_kept_as_null(tmp_path: Path) -> None:
    data_dir = copy_uci(tmp_path / "uci")
    profiles = data_dir / "userprofile.csv"
    old_text = rewrite_line(profiles, 3, "")
    user_id, _, *rest = old_text.split(",")
    rewrite_line(profiles, 3, ",".join([user_id, "north", *rest]))

    data = load_uci(data_dir)
    rejects = rejects_of(data, "userprofile.csv")
    users = data.tables[USERS.name].filter(pl.col("user_id") == user_id)

    assert [(r.line, r.column_name, r.value) for r in rejects] == [
        (3, "latitude", "north")
    ]
    assert users["latitude"].to_list() == [None]
    # A user without a latitude cannot be placed in a city.
    assert users["city"].to_list() == [None]
    assert data.tables[USERS.name].height == 138
