"""Tests of the DuckDB store on real database files in a temporary folder."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import duckdb
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from features.rejects import RejectLog
from features.schema import (
    ALL_TABLES,
    IMPORT_REJECTS,
    ORDER_ITEMS,
    ORDERS,
    RESTAURANTS,
    USERS,
)
from features.store import (
    StoreLockedError,
    connect,
    fingerprint,
    read_table,
    replace_all,
    table_counts,
)

IMPORTED_AT = datetime(2024, 5, 1, 12, 0, 0)

USER_SCHEMA = {
    "user_id": pl.String,
    "signup_time": pl.Datetime("us"),
    "city": pl.String,
    "latitude": pl.Float64,
    "longitude": pl.Float64,
    "diet": pl.String,
    "liked_cuisines": pl.List(pl.String),
    "budget": pl.String,
    "age_band": pl.String,
}

RESTAURANT_SCHEMA = {
    "restaurant_id": pl.String,
    "name": pl.String,
    "city": pl.String,
    "latitude": pl.Float64,
    "longitude": pl.Float64,
    "cuisines": pl.List(pl.String),
    "price_level": pl.Int8,
    "is_chain": pl.Boolean,
    "opened_at": pl.Datetime("us"),
}

ORDER_SCHEMA = {
    "order_id": pl.String,
    "user_id": pl.String,
    "restaurant_id": pl.String,
    "ordered_at": pl.Datetime("us"),
    "total": pl.Float64,
    "rating": pl.Float64,
}


def make_users(*user_ids: str) -> pl.DataFrame:
    rows = [
        {
            "user_id": user_id,
            "signup_time": None,
            "city": "San Luis Potosi",
            "latitude": 22.15,
            "longitude": -100.98,
            "diet": None,
            "liked_cuisines": ["mexican"],
            "budget": "low",
            "age_band": "18-24",
        }
        for user_id in user_ids
    ]
    return pl.DataFrame(rows, schema=USER_SCHEMA)


def make_restaurants(*restaurant_ids: str) -> pl.DataFrame:
    rows = [
        {
            "restaurant_id": restaurant_id,
            "name": f"Place {restaurant_id}",
            "city": "Cuernavaca",
            "latitude": 18.91,
            "longitude": -99.21,
            "cuisines": ["bar", "mexican"],
            "price_level": 2,
            "is_chain": False,
            "opened_at": None,
        }
        for restaurant_id in restaurant_ids
    ]
    return pl.DataFrame(rows, schema=RESTAURANT_SCHEMA)


def make_orders(*pairs: tuple[str, str]) -> pl.DataFrame:
    rows = [
        {
            "order_id": f"{user_id}:{restaurant_id}",
            "user_id": user_id,
            "restaurant_id": restaurant_id,
            "ordered_at": None,
            "total": None,
            "rating": 2.0,
        }
        for user_id, restaurant_id in pairs
    ]
    return pl.DataFrame(rows, schema=ORDER_SCHEMA)


def make_rejects(count: int) -> pl.DataFrame:
    log = RejectLog()
    for line in range(2, 2 + count):
        log.add("rating_final.csv", line, "rating", "7", "expected a rating")
    return log.to_frame(IMPORTED_AT)


def snapshot(connection: duckdb.DuckDBPyConnection) -> dict[str, pl.DataFrame]:
    """Every store table, sorted by all its columns, for exact comparison."""
    frames = {}
    for table in ALL_TABLES:
        frame = read_table(connection, table)
        sortable = [name for name, dtype in frame.schema.items() if dtype != pl.List]
        frames[table.name] = frame.sort(sortable)
    return frames


def assert_same_contents(
    before: dict[str, pl.DataFrame], after: dict[str, pl.DataFrame]
) -> None:
    assert set(after) == set(before)
    for name, frame in before.items():
        assert_frame_equal(after[name], frame, check_dtypes=True)


@pytest.fixture
def store(tmp_path: Path) -> duckdb.DuckDBPyConnection:
    """A store file holding two users, two restaurants, two orders and one reject."""
    connection = connect(tmp_path / "store.duckdb")
    frames = {
        USERS.name: make_users("U1", "U2"),
        RESTAURANTS.name: make_restaurants("R1", "R2"),
        ORDERS.name: make_orders(("U1", "R1"), ("U2", "R2")),
    }
    replace_all(connection, frames, make_rejects(1))
    yield connection
    connection.close()


def test_connect_creates_all_tables(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "store.duckdb"

    connection = connect(path)
    names = {row[0] for row in connection.execute("SHOW TABLES").fetchall()}
    connection.close()

    assert path.is_file()
    assert names == {table.name for table in ALL_TABLES}


def test_connect_tables_start_empty(tmp_path: Path) -> None:
    connection = connect(tmp_path / "store.duckdb")
    counts = table_counts(connection)
    connection.close()

    assert counts == {table.name: 0 for table in ALL_TABLES}


def test_connect_columns_match_schema(tmp_path: Path) -> None:
    connection = connect(tmp_path / "store.duckdb")

    for table in ALL_TABLES:
        described = connection.execute(f"DESCRIBE {table.name}").fetchall()
        assert [row[0] for row in described] == table.column_names


def test_connect_twice_keeps_data(
    store: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    store.close()

    reopened = connect(tmp_path / "store.duckdb")
    counts = table_counts(reopened)
    reopened.close()

    assert counts[USERS.name] == 2
    assert counts[ORDERS.name] == 2


def test_connect_read_only_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.duckdb"

    with pytest.raises(FileNotFoundError, match=r"absent\.duckdb"):
        connect(path, read_only=True)
    assert not path.exists()


def test_connect_read_only_rejects_writes(
    store: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    store.close()

    reader = connect(tmp_path / "store.duckdb", read_only=True)
    try:
        with pytest.raises(duckdb.Error):
            reader.execute("DELETE FROM users")
        assert table_counts(reader)[USERS.name] == 2
    finally:
        reader.close()


def test_replace_all_loads_frames(store: duckdb.DuckDBPyConnection) -> None:
    users = read_table(store, USERS).sort("user_id")
    restaurants = read_table(store, RESTAURANTS).sort("restaurant_id")

    assert_frame_equal(users, make_users("U1", "U2"))
    assert_frame_equal(restaurants, make_restaurants("R1", "R2"))


def test_replace_all_writes_rejects(store: duckdb.DuckDBPyConnection) -> None:
    rejects = read_table(store, IMPORT_REJECTS)

    assert rejects.height == 1
    assert rejects["source_file"][0] == "rating_final.csv"
    assert rejects["line"][0] == 2
    assert rejects["imported_at"][0] == IMPORTED_AT


def test_replace_all_replaces_contents(store: duckdb.DuckDBPyConnection) -> None:
    frames = {
        USERS.name: make_users("U3"),
        RESTAURANTS.name: make_restaurants("R3", "R4", "R5"),
    }

    replace_all(store, frames, make_rejects(0))

    assert read_table(store, USERS)["user_id"].to_list() == ["U3"]
    restaurant_ids = read_table(store, RESTAURANTS)["restaurant_id"].sort()
    assert restaurant_ids.to_list() == ["R3", "R4", "R5"]
    # Tables absent from the frames are emptied, rejects included.
    assert table_counts(store)[ORDERS.name] == 0
    assert table_counts(store)[IMPORT_REJECTS.name] == 0


def test_replace_all_missing_column_rolls_back(
    store: duckdb.DuckDBPyConnection,
) -> None:
    before = snapshot(store)
    frames = {
        USERS.name: make_users("U9"),
        RESTAURANTS.name: make_restaurants("R9"),
        ORDERS.name: make_orders(("U9", "R9")).drop("rating"),
    }

    with pytest.raises(ValueError, match="rating"):
        replace_all(store, frames, make_rejects(3))

    assert_same_contents(before, snapshot(store))


def test_replace_all_duplicate_key_rolls_back(
    store: duckdb.DuckDBPyConnection,
) -> None:
    before = snapshot(store)
    frames = {
        USERS.name: make_users("U9"),
        RESTAURANTS.name: make_restaurants("R9"),
        ORDERS.name: make_orders(("U9", "R9"), ("U9", "R9")),
    }

    with pytest.raises(duckdb.ConstraintException):
        replace_all(store, frames, make_rejects(3))

    assert_same_contents(before, snapshot(store))


def test_replace_all_bad_rejects_rolls_back(
    store: duckdb.DuckDBPyConnection,
) -> None:
    before = snapshot(store)
    # The reject table is written last, after every domain table.
    rejects = make_rejects(2).drop("reason")

    with pytest.raises(ValueError, match="reason"):
        replace_all(store, {USERS.name: make_users("U9")}, rejects)

    assert_same_contents(before, snapshot(store))


def test_replace_all_unknown_table(store: duckdb.DuckDBPyConnection) -> None:
    before = snapshot(store)

    with pytest.raises(ValueError, match="menus"):
        replace_all(store, {"menus": make_users("U9")}, make_rejects(0))

    assert_same_contents(before, snapshot(store))


def test_replace_all_usable_after_rollback(
    store: duckdb.DuckDBPyConnection,
) -> None:
    broken = {ORDERS.name: make_orders(("U9", "R9"), ("U9", "R9"))}
    with pytest.raises(duckdb.Error):
        replace_all(store, broken, make_rejects(0))

    replace_all(store, {USERS.name: make_users("U7")}, make_rejects(0))

    assert read_table(store, USERS)["user_id"].to_list() == ["U7"]


def test_replace_all_rollback_survives_reopen(
    store: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    before = snapshot(store)
    broken = {
        USERS.name: make_users("U9"),
        ORDER_ITEMS.name: pl.DataFrame({"order_id": ["O1"]}),
    }
    with pytest.raises(ValueError, match="menu_item_id"):
        replace_all(store, broken, make_rejects(0))
    store.close()

    reopened = connect(tmp_path / "store.duckdb")
    after = snapshot(reopened)
    reopened.close()

    assert_same_contents(before, after)


def test_read_table_schema_order(store: duckdb.DuckDBPyConnection) -> None:
    for table in ALL_TABLES:
        assert read_table(store, table).columns == table.column_names


def test_fingerprint_ignores_row_order() -> None:
    orders = make_orders(("U1", "R1"), ("U2", "R2"), ("U3", "R1"))

    assert fingerprint(orders) == fingerprint(orders.reverse())
    assert fingerprint(orders) == fingerprint(orders.sort("restaurant_id"))


def test_fingerprint_changes_with_value() -> None:
    orders = make_orders(("U1", "R1"), ("U2", "R2"))
    changed = orders.with_columns(
        pl.when(pl.col("user_id") == "U2")
        .then(1.0)
        .otherwise(pl.col("rating"))
        .alias("rating")
    )

    assert fingerprint(orders) != fingerprint(changed)


def test_fingerprint_changes_with_row() -> None:
    orders = make_orders(("U1", "R1"), ("U2", "R2"))
    extended = make_orders(("U1", "R1"), ("U2", "R2"), ("U2", "R1"))

    assert fingerprint(orders) != fingerprint(extended)
    assert fingerprint(orders) != fingerprint(orders.head(1))


def test_fingerprint_null_differs_from_empty() -> None:
    with_null = pl.DataFrame({"city": ["Cuernavaca", None]})
    with_empty = pl.DataFrame({"city": ["Cuernavaca", ""]})

    assert fingerprint(with_null) != fingerprint(with_empty)


def test_fingerprint_is_sha256_hex() -> None:
    digest = fingerprint(make_orders(("U1", "R1")))

    assert len(digest) == 64
    assert set(digest) <= set("0123456789abcdef")


# Holds the store's write lock in another process for HOLD_SECONDS after it
# prints "ready".
HOLDER = """
import sys, time
import duckdb
connection = duckdb.connect(sys.argv[1])
print("ready", flush=True)
time.sleep(float(sys.argv[2]))
connection.close()
"""


@contextmanager
def _locked(path: Path, hold_seconds: float) -> Iterator[subprocess.Popen[str]]:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path), str(hold_seconds)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "ready"
        yield holder
    finally:
        holder.kill()
        holder.wait()


def test_connect_waits_for_a_lock(tmp_path: Path) -> None:
    path = tmp_path / "store.duckdb"
    connect(path).close()

    with _locked(path, hold_seconds=1.0):
        connection = connect(path, read_only=True, lock_wait=30.0)
    try:
        assert table_counts(connection)["users"] == 0
    finally:
        connection.close()


def test_connect_without_wait_names_lock(tmp_path: Path) -> None:
    path = tmp_path / "store.duckdb"
    connect(path).close()

    with _locked(path, hold_seconds=30.0), pytest.raises(ValueError) as raised:
        connect(path, read_only=True, lock_wait=0)

    assert str(raised.value).startswith(f"cannot open store {path}: ")
    assert "Could not set lock" in str(raised.value)


def test_connect_waits_to_the_deadline(tmp_path: Path) -> None:
    path = tmp_path / "store.duckdb"
    connect(path).close()

    # The pauses double to LOCK_RETRY_MAX_SECONDS, so without a last try at
    # the deadline this wait would end about that long before it.
    with _locked(path, hold_seconds=30.0), pytest.raises(ValueError):
        started = time.monotonic()
        connect(path, read_only=True, lock_wait=1.5)
    waited = time.monotonic() - started

    assert waited >= 1.5


def test_connect_gives_up_after_wait(tmp_path: Path) -> None:
    path = tmp_path / "store.duckdb"
    connect(path).close()

    with _locked(path, hold_seconds=30.0), pytest.raises(StoreLockedError) as raised:
        connect(path, read_only=True, lock_wait=0.3)

    assert str(raised.value).startswith(f"cannot open store {path} (tried for 0.3 s): ")
