"""Adapter from the UCI "Restaurant & consumer data" files to the store tables.

Each rating becomes one order without a time: the data set records who visited
which restaurant, not when. The files have no menus, so ``menu_items`` and
``order_items`` stay empty. Real quirks handled here: ``?`` marks a missing
value, ``chefmozcuisine.csv`` lists restaurants absent from ``geoplaces2.csv``
(their rows are recorded as rejects, not loaded), and cities are spelled
several ways (see ``features.cities``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from features.cities import city_centres, nearest_city, normalize_city
from features.cuisines import normalize_cuisine
from features.rejects import RejectLog
from features.schema import (
    MENU_ITEMS,
    ORDER_ITEMS,
    ORDERS,
    RESTAURANTS,
    USERS,
    Table,
)

logger = logging.getLogger(__name__)

REQUIRED_FILES = (
    "userprofile.csv",
    "usercuisine.csv",
    "geoplaces2.csv",
    "chefmozcuisine.csv",
    "rating_final.csv",
)

# Columns the adapter reads from each file; others are ignored.
_COLUMNS_READ = {
    "userprofile.csv": ("userID", "latitude", "longitude", "budget", "birth_year"),
    "usercuisine.csv": ("userID", "Rcuisine"),
    "geoplaces2.csv": (
        "placeID",
        "latitude",
        "longitude",
        "name",
        "city",
        "price",
        "franchise",
    ),
    "chefmozcuisine.csv": ("placeID", "Rcuisine"),
    "rating_final.csv": ("userID", "placeID", "rating"),
}

# The survey was collected in 2011; ages are given as of that year.
SURVEY_YEAR = 2011
PRICE_LEVELS = {"low": 1, "medium": 2, "high": 3}
RATING_VALUES = ("0", "1", "2")


@dataclass
class UciData:
    """The five store tables built from the UCI files, and what was rejected."""

    tables: dict[str, pl.DataFrame]
    rejects: RejectLog


def load_uci(data_dir: Path) -> UciData:
    """Read the UCI files in ``data_dir`` and build the store tables.

    Raises:
        FileNotFoundError: a required file is missing; names the file.
    """
    if not data_dir.is_dir():
        msg = f"UCI data folder not found: {data_dir}"
        raise FileNotFoundError(msg)
    for name in REQUIRED_FILES:
        if not (data_dir / name).is_file():
            msg = f"UCI file not found: {data_dir / name}"
            raise FileNotFoundError(msg)

    rejects = RejectLog()
    restaurants = _restaurants(data_dir, rejects)
    users = _users(data_dir, restaurants, rejects)
    orders = _orders(data_dir, users, restaurants, rejects)
    for frame, source in ((users, "userprofile.csv"), (restaurants, "geoplaces2.csv")):
        if frame.is_empty():
            msg = f"{data_dir / source}: no usable rows; the store was not changed"
            raise ValueError(msg)
    if orders.is_empty():
        msg = f"{data_dir / 'rating_final.csv'}: no usable ratings; store not changed"
        raise ValueError(msg)
    tables = {
        USERS.name: users,
        RESTAURANTS.name: restaurants,
        MENU_ITEMS.name: _empty(MENU_ITEMS),
        ORDERS.name: orders,
        ORDER_ITEMS.name: _empty(ORDER_ITEMS),
    }
    return UciData(tables=tables, rejects=rejects)


def _read(data_dir: Path, name: str) -> pl.DataFrame:
    """Read a UCI file as strings, ``?`` as null, with its 1-based line number.

    Raises:
        ValueError: the file is empty, not UTF-8, malformed, or lacks one of
            the columns the adapter reads; names the file.
    """
    path = data_dir / name
    try:
        frame = pl.read_csv(
            path, infer_schema=False, null_values=["?"], encoding="utf8"
        )
    except pl.exceptions.PolarsError as error:
        first_line = str(error).splitlines()[0][:200]
        msg = f"{path}: unreadable UCI file: {first_line}"
        raise ValueError(msg) from error
    missing = [column for column in _COLUMNS_READ[name] if column not in frame.columns]
    if missing:
        msg = f"{path}: missing columns {missing}; found {frame.columns}"
        raise ValueError(msg)
    # Line 1 is the header, so the first data row is on line 2.
    return frame.with_row_index("line", offset=2).with_columns(
        pl.col(pl.String).str.strip_chars()
    )


def _parse_float(
    frame: pl.DataFrame, column: str, name: str, rejects: RejectLog
) -> pl.DataFrame:
    """Cast a column to float; an unparseable value is logged and becomes null."""
    parsed = frame.with_columns(
        pl.col(column).cast(pl.Float64, strict=False).alias("_parsed")
    )
    bad = parsed.filter(pl.col(column).is_not_null() & pl.col("_parsed").is_null())
    for row in bad.iter_rows(named=True):
        rejects.add(
            name, row["line"], column, row[column], "expected a number; kept as null"
        )
    return parsed.drop(column).rename({"_parsed": column})


def _cuisines_by_id(
    data_dir: Path,
    name: str,
    id_column: str,
    known_ids: set[str],
    reference_file: str,
    rejects: RejectLog,
) -> pl.DataFrame:
    """Group a cuisine file into one sorted list per id, rejecting unknown ids."""
    rows = _read(data_dir, name)
    cuisine_column = "Rcuisine"
    reason = f"{id_column} not in {reference_file}"
    unknown = rows.filter(~pl.col(id_column).is_in(list(known_ids)))
    for row in unknown.iter_rows(named=True):
        rejects.add(name, row["line"], id_column, row[id_column], reason)
    return (
        rows.filter(pl.col(id_column).is_in(list(known_ids)))
        .drop_nulls(cuisine_column)
        .with_columns(normalize_cuisine(pl.col(cuisine_column)))
        .group_by(id_column)
        .agg(pl.col(cuisine_column).unique().sort().alias("cuisines"))
    )


def _restaurants(data_dir: Path, rejects: RejectLog) -> pl.DataFrame:
    places = _read(data_dir, "geoplaces2.csv")
    places = _parse_float(places, "latitude", "geoplaces2.csv", rejects)
    places = _parse_float(places, "longitude", "geoplaces2.csv", rejects)
    places = places.with_columns(
        pl.col("city").map_elements(normalize_city, pl.String, skip_nulls=False)
    )

    # A place whose city is `?` gets the city whose centre is nearest.
    centres = city_centres(places)
    cities = [
        city or nearest_city(lat, lon, centres)
        for city, lat, lon in places.select("city", "latitude", "longitude").rows()
    ]
    places = places.with_columns(pl.Series("city", cities, pl.String))

    cuisines = _cuisines_by_id(
        data_dir,
        "chefmozcuisine.csv",
        "placeID",
        set(places["placeID"].to_list()),
        "geoplaces2.csv",
        rejects,
    )
    restaurants = places.join(cuisines, on="placeID", how="left").select(
        pl.col("placeID").alias("restaurant_id"),
        pl.col("name").fill_null(pl.col("placeID")),
        "city",
        "latitude",
        "longitude",
        pl.col("cuisines").fill_null(pl.lit([], pl.List(pl.String))),
        pl.col("price")
        .str.to_lowercase()
        .replace_strict(PRICE_LEVELS, default=None, return_dtype=pl.Int8)
        .alias("price_level"),
        pl.col("franchise")
        .replace_strict({"t": True, "f": False}, default=None, return_dtype=pl.Boolean)
        .alias("is_chain"),
        pl.lit(None, pl.Datetime("us")).alias("opened_at"),
    )
    return restaurants.sort("restaurant_id")


def _age_band(birth_year: str | None) -> str | None:
    if birth_year is None or not birth_year.isdigit():
        return None
    age = SURVEY_YEAR - int(birth_year)
    bands = ((25, "18-24"), (35, "25-34"), (45, "35-44"), (55, "45-54"))
    if age < 18:
        return "under 18"
    return next((band for limit, band in bands if age < limit), "55+")


def _users(
    data_dir: Path, restaurants: pl.DataFrame, rejects: RejectLog
) -> pl.DataFrame:
    profiles = _read(data_dir, "userprofile.csv")
    profiles = _parse_float(profiles, "latitude", "userprofile.csv", rejects)
    profiles = _parse_float(profiles, "longitude", "userprofile.csv", rejects)

    # Users have coordinates but no city: take the nearest restaurant city.
    centres = city_centres(restaurants)
    cities = [
        nearest_city(lat, lon, centres)
        for lat, lon in profiles.select("latitude", "longitude").rows()
    ]
    cuisines = _cuisines_by_id(
        data_dir,
        "usercuisine.csv",
        "userID",
        set(profiles["userID"].to_list()),
        "userprofile.csv",
        rejects,
    )
    users = (
        profiles.with_columns(pl.Series("city", cities, pl.String))
        .join(cuisines, on="userID", how="left")
        .select(
            pl.col("userID").alias("user_id"),
            pl.lit(None, pl.Datetime("us")).alias("signup_time"),
            "city",
            "latitude",
            "longitude",
            # UCI declares liked cuisines but no diet.
            pl.lit(None, pl.String).alias("diet"),
            pl.col("cuisines")
            .fill_null(pl.lit([], pl.List(pl.String)))
            .alias("liked_cuisines"),
            pl.col("budget").str.to_lowercase().alias("budget"),
            pl.col("birth_year")
            .map_elements(_age_band, pl.String, skip_nulls=False)
            .alias("age_band"),
        )
    )
    return users.sort("user_id")


def _orders(
    data_dir: Path,
    users: pl.DataFrame,
    restaurants: pl.DataFrame,
    rejects: RejectLog,
) -> pl.DataFrame:
    name = "rating_final.csv"
    ratings = _read(data_dir, name)
    known_users = set(users["user_id"].to_list())
    known_restaurants = set(restaurants["restaurant_id"].to_list())

    keep = []
    for row in ratings.iter_rows(named=True):
        if row["userID"] not in known_users:
            reason = "userID not in userprofile.csv"
            rejects.add(name, row["line"], "userID", row["userID"], reason)
        elif row["placeID"] not in known_restaurants:
            reason = "placeID not in geoplaces2.csv"
            rejects.add(name, row["line"], "placeID", row["placeID"], reason)
        elif row["rating"] not in RATING_VALUES:
            reason = "expected a rating of 0, 1 or 2"
            rejects.add(name, row["line"], "rating", row["rating"], reason)
        else:
            keep.append(row["line"])

    orders = ratings.filter(pl.col("line").is_in(keep)).select(
        pl.concat_str("userID", "placeID", separator=":").alias("order_id"),
        pl.col("userID").alias("user_id"),
        pl.col("placeID").alias("restaurant_id"),
        pl.lit(None, pl.Datetime("us")).alias("ordered_at"),
        pl.lit(None, pl.Float64).alias("total"),
        pl.col("rating").cast(pl.Float64),
    )
    duplicated = orders.filter(pl.col("order_id").is_duplicated())
    for order_id in duplicated["order_id"].unique().to_list():
        rejects.add(name, None, "order_id", order_id, "duplicate rating; first kept")
    return orders.unique("order_id", keep="first", maintain_order=True)


def _empty(table: Table) -> pl.DataFrame:
    return pl.DataFrame(schema={name: pl.String for name in table.column_names})


def log_summary(data: UciData) -> None:
    """Log the row count of every table and the rejects per file and reason."""
    for table, frame in data.tables.items():
        logger.info("%s: %d rows", table, frame.height)
    for (source_file, reason), count in sorted(data.rejects.counts_by_reason().items()):
        logger.info("rejected %d rows of %s: %s", count, source_file, reason)
