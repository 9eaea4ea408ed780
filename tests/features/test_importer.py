"""Importing a folder of table files: rejects, failures, repeats and appends."""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from features import store
from features.import_files import ImportFileError
from features.import_format import FORMATS
from features.importer import (
    import_directory,
    import_into_store,
    load_import,
    read_import,
)
from features.pairs import pair_features
from features.paths import PROJECT_DIR
from features.rejects import describe_reject
from features.schema import (
    ALL_TABLES,
    MENU_ITEMS,
    ORDER_ITEMS,
    ORDERS,
    RESTAURANTS,
    USERS,
)
from features.transforms import (
    RESTAURANT,
    USER,
    StoreFrames,
    compute_tables,
    join_entity_tables,
    snapshot_at,
)
from service.cli import EXIT_REJECTS, main
from service.strategies import similarity_scores

BASE_FILES = {
    "users.csv": (
        "user_id,signup_time,city,latitude,longitude,diet,liked_cuisines,budget\n"
        "u1,2026-01-02T10:00:00Z,Lyon,45.76,4.84,vegetarian,pizza|thai,low\n"
        "u2,2026-01-03,Lyon,45.75,4.85,,,medium\n"
        "u3,,Paris,48.85,2.35,,burgers,high\n"
    ),
    "restaurants.csv": (
        "restaurant_id,name,city,latitude,longitude,cuisines,price_level,is_chain\n"
        "r1,Pizza Nova,Lyon,45.76,4.83,pizza|italian,2,false\n"
        'r2,"Steak, House",Paris,48.86,2.34,steakhouse,3,true\n'
    ),
    "menu_items.csv": (
        "menu_item_id,restaurant_id,name,description,price,is_vegetarian\n"
        "m1,r1,Margherita,Tomato and mozzarella,9.5,true\n"
        "m2,r1,Pepperoni,,11,false\n"
        'm3,r2,Ribeye,"Aged 30 days,\nserved with fries",29,false\n'
        "m4,r2,Side salad,,4.5,\n"
    ),
    "orders.csv": (
        "order_id,user_id,restaurant_id,ordered_at,total,rating\n"
        "o1,u1,r1,2026-02-01T19:30:00,9.5,5\n"
        "o2,u2,r1,2026-02-02 12:15:00,20.5,\n"
        "o3,u3,r2,2026-02-03T20:00:00+01:00,33.5,4\n"
    ),
    "order_items.csv": (
        "order_id,menu_item_id,quantity\no1,m1,1\no2,m1,1\no2,m2,1\no3,m3,1\no3,m4,1\n"
    ),
}
BASE_COUNTS = {
    "users": 3,
    "restaurants": 2,
    "menu_items": 4,
    "orders": 3,
    "order_items": 5,
}


def write_files(directory: Path, files: dict[str, str | bytes]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        path = directory / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return directory


def with_line(files: dict[str, str], name: str, line: str) -> dict[str, str]:
    """The base files with ``line`` appended to file ``name``."""
    changed = dict(files)
    changed[name] = files[name] + line + "\n"
    return changed


def counts(connection: duckdb.DuckDBPyConnection) -> dict[str, int]:
    every = store.table_counts(connection)
    return {name: every[name] for name in BASE_COUNTS}


def snapshot(connection: duckdb.DuckDBPyConnection) -> dict[str, list[tuple]]:
    return {
        table.name: sorted(
            map(repr, connection.execute(f"SELECT * FROM {table.name}").fetchall())
        )
        for table in ALL_TABLES
    }


@pytest.fixture
def connection(tmp_path: Path) -> duckdb.DuckDBPyConnection:
    connection = store.connect(tmp_path / "store.duckdb")
    yield connection
    connection.close()


def test_clean_files_all_inserted(
    connection: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    result = import_directory(connection, write_files(tmp_path / "in", BASE_FILES))

    assert counts(connection) == BASE_COUNTS
    assert result.rejects.is_empty()
    assert result.tables["order_items"].inserted == 5


def test_values_parsed_to_types(
    connection: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    import_directory(connection, write_files(tmp_path / "in", BASE_FILES))
    users = connection.sql("SELECT * FROM users ORDER BY user_id").pl()
    orders = connection.sql("SELECT * FROM orders ORDER BY order_id").pl()
    items = connection.sql("SELECT * FROM menu_items ORDER BY menu_item_id").pl()

    assert users["liked_cuisines"].to_list() == [["pizza", "thai"], [], ["burgers"]]
    assert str(users["signup_time"][0]) == "2026-01-02 10:00:00"
    assert str(orders["ordered_at"][1]) == "2026-02-02 12:15:00"
    # 20:00 at +01:00 is 19:00 UTC.
    assert str(orders["ordered_at"][2]) == "2026-02-03 19:00:00"
    assert items["description"][2] == "Aged 30 days,\nserved with fries"
    assert items["is_vegetarian"].to_list() == [True, False, False, None]


# Each case appends one bad line to one file: (file, line, line number of the
# bad row, column, reason fragment).
ROW_CASES = {
    "missing required": ("users.csv", ",,Lyon,1,1,,,", 5, "user_id", "missing"),
    "wrong type": ("users.csv", "u9,,Lyon,north,1,,,", 5, "latitude", "a number"),
    "latitude out of range": ("users.csv", "u9,,Lyon,91,1,,,", 5, "latitude", "<= 90"),
    "unknown choice": ("users.csv", "u9,,Lyon,1,1,,,cheap", 5, "budget", "one of"),
    "bad time": (
        "orders.csv",
        "o9,u1,r1,yesterday,1,",
        5,
        "ordered_at",
        "ISO 8601",
    ),
    "negative price": (
        "menu_items.csv",
        "m9,r1,Calzone,,-3.5,",
        7,
        "price",
        ">= 0",
    ),
    "price over maximum": (
        "menu_items.csv",
        "m9,r1,Calzone,,1e300,",
        7,
        "price",
        "<= 1000000000000",
    ),
    "total over maximum": (
        "orders.csv",
        "o9,u1,r1,2026-02-01,1e308,",
        5,
        "total",
        "<= 1000000000000",
    ),
    "negative quantity": ("order_items.csv", "o1,m2,-1", 7, "quantity", ">= 1"),
    "zero quantity": ("order_items.csv", "o1,m2,0", 7, "quantity", ">= 1"),
    "fractional quantity": (
        "order_items.csv",
        "o1,m2,1.5",
        7,
        "quantity",
        "an integer",
    ),
    "bad boolean": (
        "restaurants.csv",
        "r9,Noodle Bar,Lyon,1,1,thai,1,maybe",
        4,
        "is_chain",
        "true or false",
    ),
    "unknown user": (
        "orders.csv",
        "o9,u404,r1,2026-02-01,1,",
        5,
        "user_id",
        "not found in users",
    ),
    "unknown restaurant": (
        "orders.csv",
        "o9,u1,r404,2026-02-01,1,",
        5,
        "restaurant_id",
        "not found in restaurants",
    ),
    "unknown menu item": (
        "order_items.csv",
        "o1,m404,1",
        7,
        "menu_item_id",
        "not found in menu_items",
    ),
    "unknown order": (
        "order_items.csv",
        "o404,m1,1",
        7,
        "order_id",
        "not found in orders",
    ),
    "item of other restaurant": (
        "order_items.csv",
        "o1,m3,1",
        7,
        "menu_item_id",
        "menu item of restaurant r2",
    ),
    "too many fields": ("order_items.csv", "o1,m2,1,extra", 7, None, "found 4"),
}


@pytest.mark.parametrize(
    ("file_name", "line", "line_number", "column", "reason"),
    list(ROW_CASES.values()),
    ids=list(ROW_CASES),
)
def test_bad_row_rejected_rest_kept(
    connection: duckdb.DuckDBPyConnection,
    tmp_path: Path,
    file_name: str,
    line: str,
    line_number: int,
    column: str | None,
    reason: str,
) -> None:
    files = with_line(BASE_FILES, file_name, line)
    result = import_directory(connection, write_files(tmp_path / "in", files))
    reject = result.rejects.row(0, named=True)

    assert result.rejects.height == 1
    assert reject["source_file"].endswith(file_name)
    assert reject["line"] == line_number
    assert reject["column_name"] == column
    assert reason in reject["reason"]
    assert counts(connection) == BASE_COUNTS


def test_invalid_utf8_rejected(
    connection: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    files: dict[str, str | bytes] = dict(BASE_FILES)
    files["restaurants.csv"] = BASE_FILES["restaurants.csv"].encode() + (
        b"r9,Caf\xe9 Latin,Lyon,1,1,cafe,1,false\n"
    )
    result = import_directory(connection, write_files(tmp_path / "in", files))
    reject = result.rejects.row(0, named=True)

    assert result.rejects.height == 1
    assert reject["line"] == 4
    assert reject["column_name"] == "name"
    assert reject["reason"] == "text is not valid UTF-8; save the file as UTF-8"
    assert reject["value"] == "Caf\ufffd Latin"
    assert counts(connection) == BASE_COUNTS


def test_misnamed_file_warned(
    connection: duckdb.DuckDBPyConnection,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    files: dict[str, str | bytes] = dict(BASE_FILES)
    files["Order.CSV"] = files.pop("orders.csv")
    files["order_items.csv"] = "order_id,menu_item_id,quantity\n"

    import_directory(connection, write_files(tmp_path / "in", files))

    expected = (
        f"{tmp_path / 'in' / 'Order.CSV'} is not read: not a table file name "
        "(such as users.csv); did you mean orders.csv?"
    )
    assert expected in caplog.text
    assert "users.csv is not read" not in caplog.text
    assert counts(connection)["orders"] == 0


def test_utf16_without_bom_named(tmp_path: Path) -> None:
    text = BASE_FILES["users.csv"].encode("utf-16-le")
    folder = write_files(tmp_path / "in", {"users.csv": text})

    with pytest.raises(ImportFileError, match="contains NUL bytes, as UTF-16"):
        import_into_store(tmp_path / "var" / "store.duckdb", folder)


@pytest.mark.parametrize(
    ("encoding", "name"),
    [("utf-16", "UTF-16"), ("utf-16-be", "UTF-16"), ("utf-32", "UTF-32")],
)
def test_byte_order_mark_encoding_named(
    tmp_path: Path, encoding: str, name: str
) -> None:
    text = BASE_FILES["users.csv"]
    # Python's utf-16-be writes no mark, so it is added.
    data = (
        ("\ufeff" + text).encode(encoding)
        if encoding == "utf-16-be"
        else (text.encode(encoding))
    )
    folder = write_files(tmp_path / "in", {"users.csv": data})
    store_path = tmp_path / "var" / "store.duckdb"

    with pytest.raises(ImportFileError) as raised:
        import_into_store(store_path, folder)

    assert str(raised.value) == (
        f"{folder / 'users.csv'}: the file is {name} text (it starts with its "
        "byte order mark); save it as UTF-8"
    )
    assert not store_path.exists()


def test_conflicting_duplicates_both_rejected(
    connection: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    files = with_line(BASE_FILES, "users.csv", "u9,,Lyon,1,1,,,")
    files = with_line(files, "users.csv", "u9,,Paris,1,1,,,")
    result = import_directory(connection, write_files(tmp_path / "in", files))

    assert sorted(result.rejects["line"].to_list()) == [5, 6]
    assert all("lines 5, 6" in r for r in result.rejects["reason"].to_list())
    assert counts(connection)["users"] == 3


def test_exact_duplicate_loaded_once(
    connection: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    files = with_line(BASE_FILES, "users.csv", "u9,,Lyon,1,1,,,")
    files = with_line(files, "users.csv", "u9,,Lyon,1,1,,,")
    result = import_directory(connection, write_files(tmp_path / "in", files))

    assert result.rejects.is_empty()
    assert result.tables["users"].inserted == 4
    assert result.tables["users"].unchanged == 1


def test_rejected_user_cascades(
    connection: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    files = with_line(BASE_FILES, "users.csv", "u9,,Lyon,north,1,,,")
    files = with_line(files, "orders.csv", "o9,u9,r1,2026-02-05,9.5,")
    files = with_line(files, "order_items.csv", "o9,m1,1")
    result = import_directory(connection, write_files(tmp_path / "in", files))
    reasons = dict(
        zip(
            result.rejects["source_file"].str.extract(r"([a-z_]+)\.csv$").to_list(),
            result.rejects["reason"].to_list(),
            strict=True,
        )
    )

    assert reasons == {
        "users": "expected a number",
        "orders": "user_id was rejected in this import's users file",
        "order_items": "order_id was rejected in this import's orders file",
    }
    assert counts(connection) == BASE_COUNTS


def test_several_bad_fields_one_row(
    connection: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    files = with_line(BASE_FILES, "users.csv", "u9,soon,Lyon,north,1,carnivore,,")
    result = import_directory(connection, write_files(tmp_path / "in", files))

    assert sorted(result.rejects["column_name"].to_list()) == [
        "diet",
        "latitude",
        "signup_time",
    ]
    assert result.tables["users"].rejected == 1
    assert result.tables["users"].read == 4


def test_rejects_recorded_in_store(
    connection: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    files = with_line(BASE_FILES, "order_items.csv", "o1,m2,-1")
    import_directory(connection, write_files(tmp_path / "in", files))
    stored = connection.sql(
        "SELECT source_file, line, column_name, value, reason FROM import_rejects"
    ).fetchall()

    assert len(stored) == 1
    assert stored[0][1:] == (7, "quantity", "-1", "expected a value >= 1")


FILE_FAILURES = {
    "empty file": ("users.csv", b"", "file is empty"),
    "missing column": (
        "orders.csv",
        b"order_id,user_id\no1,u1\n",
        "missing required columns ['restaurant_id']",
    ),
    "unknown column": (
        "users.csv",
        b"user_id,colour\nu1,red\n",
        "unknown columns ['colour']",
    ),
    "repeated column": (
        "users.csv",
        b"user_id,city,city\nu1,Lyon,Lyon\n",
        "repeated columns ['city']",
    ),
    "semicolon separated": (
        "users.csv",
        b"user_id;city\nu1;Lyon\n",
        "The header is one column with ';' in it: the files are read as "
        "comma-separated, so save the file with commas",
    ),
    "unclosed quote": (
        "users.csv",
        b'user_id,city\nu1,"Lyon\n',
        "unreadable CSV",
    ),
    "corrupt parquet": ("orders.parquet", b"PAR1 not really", "unreadable Parquet"),
}


@pytest.mark.parametrize(
    ("file_name", "content", "message"),
    list(FILE_FAILURES.values()),
    ids=list(FILE_FAILURES),
)
def test_unreadable_file_changes_nothing(
    connection: duckdb.DuckDBPyConnection,
    tmp_path: Path,
    file_name: str,
    content: bytes,
    message: str,
) -> None:
    import_directory(connection, write_files(tmp_path / "first", BASE_FILES))
    before = snapshot(connection)
    files: dict[str, str | bytes] = {
        "users.csv": "user_id,city\nu7,Lyon\n",
        "orders.csv": "order_id,user_id,restaurant_id\no7,u7,r1\n",
    }
    files[file_name] = content
    if file_name.endswith(".parquet"):
        del files["orders.csv"]

    with pytest.raises(ImportFileError, match=re.escape(message)) as raised:
        import_directory(connection, write_files(tmp_path / "second", files))

    assert file_name in str(raised.value)
    assert snapshot(connection) == before


def test_missing_directory_fails(
    connection: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    with pytest.raises(ImportFileError, match="not found"):
        import_directory(connection, tmp_path / "absent")


def test_folder_without_tables_fails(
    connection: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    folder = write_files(tmp_path / "in", {"notes.txt": "hello"})

    with pytest.raises(ImportFileError, match="no table files"):
        import_directory(connection, folder)


def test_csv_and_parquet_together_fail(
    connection: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    folder = write_files(tmp_path / "in", BASE_FILES)
    pl.DataFrame({"user_id": ["u1"]}).write_parquet(folder / "users.parquet")

    with pytest.raises(ImportFileError, match="keep one"):
        import_directory(connection, folder)


def _make_symlink_loop(path: Path) -> None:
    path.symlink_to(path.name)


def _make_broken_symlink(path: Path) -> None:
    path.symlink_to(path.parent / "absent.csv")


def _make_folder(path: Path) -> None:
    path.mkdir()


@pytest.mark.parametrize(
    ("make_path", "problem"),
    [
        (_make_symlink_loop, "Too many levels of symbolic links"),
        (_make_broken_symlink, "symbolic link to a missing file"),
        (_make_folder, "it is a folder"),
    ],
    ids=["symlink loop", "broken symlink", "folder"],
)
def test_unreadable_table_path_fails(
    connection: duckdb.DuckDBPyConnection,
    tmp_path: Path,
    make_path: Callable[[Path], None],
    problem: str,
) -> None:
    import_directory(connection, write_files(tmp_path / "first", BASE_FILES))
    before = snapshot(connection)
    folder = write_files(
        tmp_path / "second", {"restaurants.csv": "restaurant_id,name\nr9,New\n"}
    )
    make_path(folder / "users.csv")

    with pytest.raises(ImportFileError, match=re.escape(problem)) as raised:
        import_directory(connection, folder)

    assert str(folder / "users.csv") in str(raised.value)
    assert snapshot(connection) == before


@pytest.mark.skipif(
    not Path("/proc/self/mem").is_file(), reason="needs Linux /proc/self/mem"
)
def test_cli_io_error_one_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Reading /proc/self/mem at offset 0 fails with EIO, even for root, so it
    # is a file that opens but cannot be read.
    folder = write_files(tmp_path / "in", {})
    (folder / "users.csv").symlink_to("/proc/self/mem")

    code = main(["--var-dir", str(tmp_path / "var"), "import", str(folder)])

    assert code == 1
    assert "users.csv: cannot read the file: Input/output error" in caplog.text
    assert not (tmp_path / "var").exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files without permission")
def test_cli_permission_denied_one_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = write_files(tmp_path / "in", {"users.csv": "user_id\nu1\n"})
    (folder / "users.csv").chmod(0)

    code = main(["--var-dir", str(tmp_path / "var"), "import", str(folder)])

    assert code == 1
    assert "users.csv: cannot read the file: Permission denied" in caplog.text


def test_interrupted_load_rolls_back(
    connection: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    import_directory(connection, write_files(tmp_path / "first", BASE_FILES))
    before = counts(connection)
    rows = [f"x{i},u1,r1,2026-02-04T10:00:00,9.5,4" for i in range(50_000)]
    header = "order_id,user_id,restaurant_id,ordered_at,total,rating"
    folder = write_files(
        tmp_path / "second", {"orders.csv": "\n".join([header, *rows])}
    )
    files = read_import(folder)

    # interrupt() stops only a query that is running, so it is repeated until
    # the load ends: some query of the load is then stopped part way.
    done = threading.Event()

    def interrupt_until_done() -> None:
        while not done.is_set():
            connection.interrupt()
            time.sleep(0.001)

    interrupter = threading.Thread(target=interrupt_until_done)
    interrupter.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            load_import(connection, files)
    finally:
        done.set()
        interrupter.join()

    after = counts(connection)
    loaded = {**before, "orders": before["orders"] + len(rows)}
    assert after in (before, loaded)
    assert connection.execute("SELECT 1").fetchone() == (1,)


@pytest.mark.parametrize(
    ("file_name", "line", "value"),
    [
        ("orders.csv", "o9,u1,r1,0000-06-01T10:00:00,9.5,4", "0000-06-01T10:00:00"),
        ("orders.csv", "o9,u1,r1,9999-12-31,9.5,4", "9999-12-31"),
        ("users.csv", "u9,-0001-01-01,Lyon,45.7,4.8,,,", "-0001-01-01"),
        (
            "users.csv",
            "u9,9999-12-31T23:30-01:00,Lyon,45.7,4.8,,,",
            "9999-12-31T23:30-01:00",
        ),
    ],
    ids=["year 0", "order on last day", "negative year", "offset into year 10000"],
)
def test_time_out_of_range_rejected(
    connection: duckdb.DuckDBPyConnection,
    tmp_path: Path,
    file_name: str,
    line: str,
    value: str,
) -> None:
    folder = write_files(tmp_path / "in", with_line(BASE_FILES, file_name, line))

    result = import_directory(connection, folder)

    assert counts(connection) == BASE_COUNTS
    [reject] = result.rejects.iter_rows(named=True)
    assert reject["value"] == value
    assert reject["reason"].startswith("expected a time from 0001-01-01 to 9999-12-3")


def test_time_on_last_day_accepted(
    connection: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    files = with_line(BASE_FILES, "users.csv", "u9,9999-12-31T23:59:59,Lyon,,,,,")

    result = import_directory(connection, write_files(tmp_path / "in", files))

    assert result.rejects.is_empty()
    assert counts(connection)["users"] == BASE_COUNTS["users"] + 1


def test_time_out_of_range_sets_no_mode(
    connection: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    files = {
        **BASE_FILES,
        "orders.csv": (
            "order_id,user_id,restaurant_id,ordered_at\n"
            "o1,u1,r1,0000-01-01\n"
            "o2,u2,r1,\n"
        ),
        "order_items.csv": "order_id,menu_item_id,quantity\no2,m1,1\n",
    }

    result = import_directory(connection, write_files(tmp_path / "in", files))

    assert counts(connection)["orders"] == 1
    [reject] = result.rejects.iter_rows(named=True)
    assert reject["line"] == 2
    assert reject["column_name"] == "ordered_at"


def test_second_import_changes_nothing(
    connection: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    files = with_line(BASE_FILES, "order_items.csv", "o1,m2,-1")
    folder = write_files(tmp_path / "in", files)
    import_directory(connection, folder)
    before = snapshot(connection)

    again = import_directory(connection, folder)

    assert snapshot(connection) == before
    assert all(summary.inserted == 0 for summary in again.tables.values())
    assert again.tables["orders"].unchanged == 3
    assert again.tables["order_items"].rejected == 1


def test_new_orders_appended(
    connection: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    import_directory(connection, write_files(tmp_path / "first", BASE_FILES))
    later = {
        "orders.csv": (
            "order_id,user_id,restaurant_id,ordered_at,total\n"
            "o3,u3,r2,2026-02-03T20:00:00+01:00,33.5\n"
            "o4,u1,r1,2026-03-01T19:00:00,11\n"
            "o5,u2,r2,2026-03-02T20:00:00,29\n"
        ),
        "order_items.csv": "order_id,menu_item_id,quantity\no4,m2,1\no5,m3,1\n",
    }

    result = import_directory(connection, write_files(tmp_path / "later", later))
    ids = connection.sql("SELECT order_id FROM orders ORDER BY 1").fetchall()

    assert [row[0] for row in ids] == ["o1", "o2", "o3", "o4", "o5"]
    assert result.tables["orders"].inserted == 2
    assert result.tables["order_items"].inserted == 2
    assert counts(connection)["order_items"] == 7


def test_changed_row_in_store_rejected(
    connection: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    import_directory(connection, write_files(tmp_path / "first", BASE_FILES))
    changed = {
        "restaurants.csv": "restaurant_id,name\nr1,Pizza Nova Renamed\nr3,Dosa Hut\n"
    }

    result = import_directory(connection, write_files(tmp_path / "later", changed))
    name = connection.execute(
        "SELECT name FROM restaurants WHERE restaurant_id = 'r1'"
    ).fetchone()

    # The columns the file leaves out are null, so they differ too.
    assert result.rejects["reason"].to_list() == [
        "key already in the store with other values of name, city, latitude, "
        "longitude, cuisines, price_level, is_chain"
    ]
    assert name == ("Pizza Nova",)
    assert counts(connection)["restaurants"] == 3


def test_changed_column_named_in_reject(
    connection: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    import_directory(connection, write_files(tmp_path / "first", BASE_FILES))
    header, first, second = BASE_FILES["restaurants.csv"].splitlines()
    moved = first.replace("45.76,4.83", "45.70,4.83")
    changed = {"restaurants.csv": "\n".join([header, moved, second]) + "\n"}

    result = import_directory(connection, write_files(tmp_path / "later", changed))

    assert result.rejects["reason"].to_list() == [
        "key already in the store with other values of latitude"
    ]
    assert result.tables["restaurants"].unchanged == 1


def test_parquet_matches_csv(
    connection: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    import_directory(connection, write_files(tmp_path / "csv", BASE_FILES))
    parquet_dir = tmp_path / "parquet"
    parquet_dir.mkdir()
    for table in BASE_COUNTS:
        frame = connection.sql(f"SELECT * FROM {table}").pl()
        frame.write_parquet(parquet_dir / f"{table}.parquet")
    other = store.connect(tmp_path / "other.duckdb")

    try:
        result = import_directory(other, parquet_dir)
        assert snapshot(other) == snapshot(connection)
    finally:
        other.close()
    assert result.rejects.is_empty()


def test_cli_exit_code_on_rejects(tmp_path: Path) -> None:
    files = with_line(BASE_FILES, "order_items.csv", "o1,m2,-1")
    folder = write_files(tmp_path / "in", files)
    var_dir = str(tmp_path / "var")

    assert main(["--var-dir", var_dir, "import", str(folder)]) == EXIT_REJECTS
    assert main(["--var-dir", var_dir, "import", str(folder), "--accept-rejects"]) == 0


def test_cli_one_reject_singular(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    files = with_line(BASE_FILES, "order_items.csv", "o1,m2,-1")
    folder = write_files(tmp_path / "in", files)

    code = main(["--var-dir", str(tmp_path / "var"), "import", str(folder)])

    assert code == EXIT_REJECTS
    assert "1 row rejected; the other rows were loaded." in caplog.text


def test_cli_rejects_file_unwritable_warns(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    files = with_line(BASE_FILES, "order_items.csv", "o1,m2,-1")
    folder = write_files(tmp_path / "in", files)
    var_dir = tmp_path / "var"
    (var_dir / "import_rejects.csv").mkdir(parents=True)

    code = main(["--var-dir", str(var_dir), "import", str(folder)])

    assert code == EXIT_REJECTS
    assert f"could not write {var_dir / 'import_rejects.csv'}: " in caplog.text
    assert "is a directory. The rejects are in the table import_rejects" in (
        caplog.text
    )
    assert "See the table import_rejects of" in caplog.text
    connection = store.connect(var_dir / "store.duckdb", read_only=True)
    try:
        assert store.table_counts(connection)["import_rejects"] == 1
    finally:
        connection.close()


def test_cli_unreadable_file_exit_1(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = write_files(tmp_path / "in", {"users.csv": b""})

    assert main(["--var-dir", str(tmp_path / "var"), "import", str(folder)]) == 1
    assert "users.csv: file is empty" in caplog.text


def test_format_doc_names_every_column() -> None:
    doc = (PROJECT_DIR / "docs" / "data-format.md").read_text()

    for table_format in FORMATS:
        assert f"`{table_format.table.name}`" in doc
        for column in table_format.columns:
            assert f"`{column.name}`" in doc, (table_format.table.name, column.name)


def test_formats_match_store_schema() -> None:
    for table_format in FORMATS:
        names = [column.name for column in table_format.columns]
        assert names == table_format.table.column_names


def test_empty_lists_round_trip(
    connection: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    csv_dir = write_files(
        tmp_path / "csv",
        {"users.csv": "user_id,liked_cuisines\ne1,\ne2,|\ne3,thai\n"},
    )
    import_directory(connection, csv_dir)
    parquet_dir = tmp_path / "parquet"
    parquet_dir.mkdir()
    connection.sql("SELECT user_id, liked_cuisines FROM users").pl().write_parquet(
        parquet_dir / "users.parquet"
    )

    again = import_directory(connection, parquet_dir)
    stored = connection.sql("SELECT liked_cuisines FROM users ORDER BY 1").pl()

    assert stored["liked_cuisines"].to_list() == [[], [], ["thai"]]
    assert again.tables["users"].unchanged == 3
    assert again.rejects.is_empty()


def test_huge_quantity_rejected(
    connection: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    files = with_line(BASE_FILES, "order_items.csv", "o1,m2,3000000000")
    result = import_directory(connection, write_files(tmp_path / "in", files))

    assert result.rejects["reason"].to_list() == ["expected a value <= 2147483647"]
    assert counts(connection) == BASE_COUNTS


def test_integral_float_quantity_accepted(
    connection: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    files = with_line(BASE_FILES, "order_items.csv", "o1,m2,2.0")
    result = import_directory(connection, write_files(tmp_path / "in", files))

    assert result.rejects.is_empty()
    assert counts(connection)["order_items"] == 6


@pytest.mark.parametrize(
    ("column", "values", "message"),
    [
        (
            "name",
            [{"a": 1}],
            "column name has type Struct({'a': Int64}), but text columns must be "
            "stored as strings or integers",
        ),
        (
            "name",
            [b"\xff\xfe"],
            "column name has type Binary, but text columns must be stored as "
            "strings or integers",
        ),
        (
            "restaurant_id",
            [7.5],
            "column restaurant_id has type Float64, but id columns must be stored "
            "as strings or integers",
        ),
        (
            "cuisines",
            [[1, 2]],
            "column cuisines has type List(Int64), but text list columns must be "
            "stored as lists of strings, or strings of values separated by |",
        ),
        (
            "opened_at",
            [1.5],
            "column opened_at has type Float64, but timestamp columns must be "
            "stored as timestamps, dates or strings",
        ),
        (
            "latitude",
            [True],
            "column latitude has type Boolean, but float columns must be "
            "stored as numbers or strings",
        ),
    ],
    ids=[
        "struct name",
        "binary name",
        "float id",
        "integer list",
        "float time",
        "boolean number",
    ],
)
def test_parquet_wrong_type_fails(
    connection: duckdb.DuckDBPyConnection,
    tmp_path: Path,
    column: str,
    values: list,
    message: str,
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    frame = pl.DataFrame({"restaurant_id": ["r1"], "name": ["Pizza"]}).with_columns(
        pl.Series(column, values)
    )
    frame.write_parquet(folder / "restaurants.parquet")

    with pytest.raises(ImportFileError) as raised:
        import_directory(connection, folder)

    assert str(raised.value) == f"{folder / 'restaurants.parquet'}: {message}"


def test_parquet_dictionary_text_accepted(
    connection: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    pd.DataFrame(
        {
            "user_id": pd.Categorical(["c1", "c2", "c3"]),
            "city": pd.Categorical(["Lyon", "Paris", None]),
        }
    ).to_parquet(folder / "users.parquet")
    restaurants = pa.table(
        {
            "restaurant_id": pa.array(["r1"]).dictionary_encode(),
            "name": pa.array(["Pizza Nova"]).dictionary_encode(),
            "cuisines": pa.array(
                [["pizza", "italian"]], pa.list_(pa.dictionary(pa.int32(), pa.string()))
            ),
        }
    )
    pq.write_table(restaurants, folder / "restaurants.parquet")

    result = import_directory(connection, folder)
    users = connection.sql("SELECT user_id, city FROM users ORDER BY 1").fetchall()
    restaurant = connection.sql("SELECT * FROM restaurants").pl()

    assert result.rejects.is_empty()
    assert users == [("c1", "Lyon"), ("c2", "Paris"), ("c3", None)]
    assert restaurant["restaurant_id"].to_list() == ["r1"]
    assert restaurant["name"].to_list() == ["Pizza Nova"]
    assert restaurant["cuisines"].to_list() == [["pizza", "italian"]]


def test_repeat_of_rejected_row_rejected(
    connection: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    files = with_line(BASE_FILES, "orders.csv", "o9,u404,r1,2026-02-05,,")
    files = with_line(files, "orders.csv", "o9,u404,r1,2026-02-05,,")
    result = import_directory(connection, write_files(tmp_path / "in", files))
    reasons = dict(zip(result.rejects["line"], result.rejects["reason"], strict=True))

    assert reasons == {
        5: "user_id not found in users",
        6: "same as line 5, which was rejected",
    }
    assert result.tables["orders"].unchanged == 0


def test_conflict_with_repeat_all_rejected(
    connection: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    files = with_line(BASE_FILES, "users.csv", "u9,,Lyon,1,1,,,")
    files = with_line(files, "users.csv", "u9,,Lyon,1,1,,,")
    files = with_line(files, "users.csv", "u9,,Paris,1,1,,,")
    result = import_directory(connection, write_files(tmp_path / "in", files))

    assert sorted(result.rejects["line"].to_list()) == [5, 6, 7]
    assert result.tables["users"].unchanged == 0


def test_parquet_repeats_named_by_row(
    connection: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    pl.DataFrame({"user_id": ["p1", "p1"], "city": ["Lyon", "Paris"]}).write_parquet(
        folder / "users.parquet"
    )
    pl.DataFrame(
        {
            "order_id": ["o1", "o1"],
            "user_id": ["u404", "u404"],
            "restaurant_id": ["r1", "r1"],
        }
    ).write_parquet(folder / "orders.parquet")

    result = import_directory(connection, folder)
    reasons = {
        (Path(source).name, line): reason
        for source, line, reason in result.rejects.select(
            "source_file", "line", "reason"
        ).iter_rows()
    }

    conflict = "duplicate key with different content on rows 1, 2"
    assert reasons[("users.parquet", 1)] == conflict
    assert reasons[("users.parquet", 2)] == conflict
    assert reasons[("orders.parquet", 2)] == "same as row 1, which was rejected"


def test_items_of_rejected_order_rejected(
    connection: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    import_directory(connection, write_files(tmp_path / "first", BASE_FILES))
    later = {
        "orders.csv": (
            "order_id,user_id,restaurant_id,ordered_at\no1,u2,r1,2026-02-01T19:30\n"
        ),
        "order_items.csv": "order_id,menu_item_id,quantity\no1,m2,3\n",
    }

    result = import_directory(connection, write_files(tmp_path / "later", later))

    assert result.tables["order_items"].rejected == 1
    assert "was rejected in this import" in result.rejects["reason"][1]
    assert counts(connection)["order_items"] == 5


def test_other_path_same_rejects(
    connection: duckdb.DuckDBPyConnection,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    files = with_line(BASE_FILES, "order_items.csv", "o1,m2,-1")
    folder = write_files(tmp_path / "in", files)
    import_directory(connection, folder)
    monkeypatch.chdir(tmp_path)

    import_directory(connection, Path("in"))
    stored = connection.execute("SELECT count(*) FROM import_rejects").fetchall()

    assert stored[0][0] == 1


def test_read_rejects_cascade_to_orders(
    connection: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    import_directory(connection, write_files(tmp_path / "first", BASE_FILES))
    before = snapshot(connection)
    later: dict[str, str | bytes] = {
        # u1 has invalid UTF-8 and u2 an extra field. Both are in the store.
        "users.csv": b"user_id,city\nu1,Caf\xe9\nu2,Lyon,extra\n",
        "orders.csv": (
            "order_id,user_id,restaurant_id,ordered_at\n"
            "o8,u1,r1,2026-03-01\no9,u2,r1,2026-03-01\no10,u3,r2,2026-03-01\n"
        ),
    }

    result = import_directory(connection, write_files(tmp_path / "later", later))
    orders = result.rejects.filter(pl.col("source_file").str.ends_with("orders.csv"))
    inserted = connection.sql("SELECT order_id FROM orders ORDER BY 1").fetchall()

    assert orders.select("line", "column_name", "value", "reason").rows() == [
        (2, "user_id", "u1", "user_id was rejected in this import's users file"),
        (3, "user_id", "u2", "user_id was rejected in this import's users file"),
    ]
    assert result.tables["orders"].inserted == 1
    assert [row[0] for row in inserted] == ["o1", "o10", "o2", "o3"]
    assert snapshot(connection)["users"] == before["users"]


def test_short_record_rejected_without_key(
    connection: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    files: dict[str, str | bytes] = {
        "restaurants.csv": "name,restaurant_id\nPizza Nova\nDosa Hut,r2\n",
        "menu_items.csv": "menu_item_id,restaurant_id,name\nm1,r2,Dosa\n",
    }

    result = import_directory(connection, write_files(tmp_path / "in", files))

    assert result.rejects["reason"].to_list() == ["expected 2 fields, found 1"]
    assert result.tables["menu_items"].inserted == 1


ID_CASES = {
    "129 characters": (
        "u" * 129,
        "expected an id of at most 128 characters",
    ),
    "tab": (
        '"ctl\tid"',
        "expected an id without '/' or control characters such as tab or newline",
    ),
    "newline": (
        '"new\nline"',
        "expected an id without '/' or control characters such as tab or newline",
    ),
    "slash": (
        "u/slash",
        "expected an id without '/' or control characters such as tab or newline",
    ),
    "delete": (
        "del\x7fid",
        "expected an id without '/' or control characters such as tab or newline",
    ),
    "C1 control": (
        "csi\x9bid",
        "expected an id without '/' or control characters such as tab or newline",
    ),
    "next line": (
        "next\x85line",
        "expected an id without '/' or control characters such as tab or newline",
    ),
}


@pytest.mark.parametrize(
    ("field", "reason"), list(ID_CASES.values()), ids=list(ID_CASES)
)
def test_unservable_id_rejected(
    connection: duckdb.DuckDBPyConnection, tmp_path: Path, field: str, reason: str
) -> None:
    files = with_line(BASE_FILES, "users.csv", f"{field},,Lyon,1,1,,,")
    files = with_line(files, "users.csv", f"{'u' * 128},,Lyon,1,1,,,")
    result = import_directory(connection, write_files(tmp_path / "in", files))
    reject = result.rejects.row(0, named=True)

    assert result.rejects.height == 1
    assert reject["line"] == 5
    assert reject["column_name"] == "user_id"
    assert reject["value"] == field.strip('"')
    assert reject["reason"] == reason
    assert counts(connection)["users"] == 4


def test_unservable_reference_rejected(
    connection: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    folder = write_files(tmp_path / "in", BASE_FILES)
    pl.DataFrame(
        {
            "order_id": ["o8", "o9"],
            "user_id": ["u1", "u1"],
            "restaurant_id": ["r1", "r\t1"],
        }
    ).write_parquet(folder / "orders.parquet")
    (folder / "orders.csv").unlink()
    (folder / "order_items.csv").unlink()

    result = import_directory(connection, folder)

    assert result.rejects.select("line", "column_name", "value", "reason").rows() == [
        (
            2,
            "restaurant_id",
            "r\t1",
            "expected an id without '/' or control characters such as tab or newline",
        )
    ]
    assert result.tables["orders"].inserted == 1


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            'user_id,city\nu1,Lyon\nu2,"Lyon\nu3,Paris\n',
            "unreadable CSV: the quote opened at line 3 is never closed, so the "
            "file ends (line 4) inside a quoted field",
        ),
        (
            'user_id,city,age_band\nu1,"Lyon\nSud","25\nu2,Paris,\n',
            "unreadable CSV: the quote opened at line 3 is never closed, so the "
            "file ends (line 4) inside a quoted field",
        ),
        (
            'user_id,city\nu1,"a ""quoted"" word\nu2,Paris\n',
            "unreadable CSV: the quote opened at line 2 is never closed, so the "
            "file ends (line 3) inside a quoted field",
        ),
        (
            'user_id,city\nu1,Lyon\nu2,"Lyon"x\n',
            "unreadable CSV at line 3: ',' expected after '\"'",
        ),
    ],
    ids=["one line", "after a closed quote", "escaped quotes", "text after quote"],
)
def test_csv_error_names_its_line(
    connection: duckdb.DuckDBPyConnection, tmp_path: Path, content: str, message: str
) -> None:
    folder = write_files(tmp_path / "in", {"users.csv": content})

    with pytest.raises(ImportFileError) as raised:
        import_directory(connection, folder)

    assert str(raised.value) == f"{folder / 'users.csv'}: {message}"


def test_cli_prints_first_rejects(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad_items = "".join(f"o1,m2,x{number}\n" for number in range(22))
    files = dict(BASE_FILES)
    files["order_items.csv"] += bad_items
    files["users.csv"] += '"ctl\tid",,Lyon,1,1,,,\n'
    folder = write_files(tmp_path / "in", files)
    var_dir = tmp_path / "var"

    code = main(["--var-dir", str(var_dir), "import", str(folder)])
    output = capsys.readouterr().out.splitlines()
    start = output.index("first 20 of 23 rejects:")
    saved = pl.read_csv(var_dir / "import_rejects.csv")

    assert code == EXIT_REJECTS
    assert output[start + 1] == (
        "  users.csv line 5, column user_id, value 'ctl\\tid': expected an id "
        "without '/' or control characters such as tab or newline"
    )
    assert output[start + 2] == (
        "  order_items.csv line 7, column quantity, value 'x0': expected an integer"
    )
    assert output[start + 20] == (
        "  order_items.csv line 25, column quantity, value 'x18': expected an integer"
    )
    assert output[start + 21] == (
        f"3 more not shown. All rejects are in {var_dir / 'import_rejects.csv'}"
    )
    assert saved.columns == ["source_file", "line", "column_name", "value", "reason"]
    assert saved.height == 23
    assert saved.row(22) == (
        str(folder.resolve() / "order_items.csv"),
        28,
        "quantity",
        "x21",
        "expected an integer",
    )


def test_cli_rejects_file_replaced(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    var_dir = tmp_path / "var"
    bad = write_files(
        tmp_path / "bad", with_line(BASE_FILES, "users.csv", "u9,,Lyon,1,1,,,,extra")
    )
    clean = write_files(tmp_path / "clean", {"users.csv": "user_id\nu10\n"})

    bad_code = main(["--var-dir", str(var_dir), "import", str(bad)])
    bad_output = capsys.readouterr().out.splitlines()
    clean_code = main(["--var-dir", str(var_dir), "import", str(clean)])
    clean_output = capsys.readouterr().out.splitlines()

    assert bad_code == EXIT_REJECTS
    assert bad_output[-3:] == [
        "1 reject:",
        "  users.csv line 5, record 'u9,,Lyon,1,1,,,,extra': "
        "expected 8 fields, found 9",
        f"All rejects are in {var_dir / 'import_rejects.csv'}",
    ]
    assert clean_code == 0
    assert clean_output[-1] == "users                1         1         0         0"
    assert pl.read_csv(var_dir / "import_rejects.csv").height == 0


def test_long_reject_value_cut() -> None:
    reject = {
        "source_file": "/data/users.parquet",
        "line": 3,
        "column_name": "user_id",
        "value": "u" * 300,
        "reason": "expected an id of at most 128 characters",
    }

    assert describe_reject(reject) == (
        f"users.parquet row 3, column user_id, value '{'u' * 60}' and 240 more "
        "characters: expected an id of at most 128 characters"
    )


TIMED_LATER = {
    "orders.csv": (
        "order_id,user_id,restaurant_id,ordered_at,total\n"
        "o4,u1,r1,2026-03-01T19:00:00,11\n"
        "o5,u2,r1,,9.5\n"
        "o6,u3,r2,2026-03-02T20:00:00,29\n"
        "o7,u1,r2,   ,4.5\n"
    ),
    "order_items.csv": (
        "order_id,menu_item_id,quantity\no4,m2,1\no5,m1,1\no6,m3,1\no7,m4,2\n"
    ),
}


def test_untimed_order_rejected_when_store_timed(
    connection: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    import_directory(connection, write_files(tmp_path / "first", BASE_FILES))

    result = import_directory(connection, write_files(tmp_path / "later", TIMED_LATER))
    orders = connection.sql("SELECT order_id FROM orders ORDER BY 1").fetchall()
    items = connection.sql("SELECT order_id FROM order_items ORDER BY 1").fetchall()

    assert result.rejects.select("line", "column_name", "value", "reason").rows() == [
        (3, "ordered_at", None, "expected a time: the orders in the store have times"),
        (5, "ordered_at", None, "expected a time: the orders in the store have times"),
        (3, "order_id", "o5", "order_id was rejected in this import's orders file"),
        (5, "order_id", "o7", "order_id was rejected in this import's orders file"),
    ]
    assert [row[0] for row in orders] == ["o1", "o2", "o3", "o4", "o6"]
    assert [row[0] for row in items] == ["o1", "o2", "o2", "o3", "o3", "o4", "o6"]
    assert result.tables["orders"].inserted == 2
    assert result.tables["order_items"].inserted == 2


def test_timed_order_rejected_when_store_untimed(
    connection: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    untimed = dict(BASE_FILES)
    untimed["orders.csv"] = (
        "order_id,user_id,restaurant_id,total\no1,u1,r1,9.5\no2,u2,r1,20.5\n"
    )
    untimed["order_items.csv"] = "order_id,menu_item_id,quantity\no1,m1,1\no2,m2,1\n"
    import_directory(connection, write_files(tmp_path / "first", untimed))
    later = {
        "orders.csv": (
            "order_id,user_id,restaurant_id,ordered_at\n"
            "o3,u3,r2,\n"
            "o4,u1,r1, 2026-03-01T19:00:00+01:00 \n"
            "o5,u2,r2,\n"
        ),
        "order_items.csv": "order_id,menu_item_id,quantity\no3,m3,1\no4,m2,1\n",
    }

    result = import_directory(connection, write_files(tmp_path / "later", later))
    orders = connection.sql("SELECT order_id FROM orders ORDER BY 1").fetchall()

    assert result.rejects.select("line", "column_name", "value", "reason").rows() == [
        (
            3,
            "ordered_at",
            "2026-03-01T19:00:00+01:00",
            "expected no time: orders in the store have no times",
        ),
        (3, "order_id", "o4", "order_id was rejected in this import's orders file"),
    ]
    assert [row[0] for row in orders] == ["o1", "o2", "o3", "o5"]
    assert result.tables["order_items"].inserted == 1


def test_empty_store_takes_file_time_mode(
    connection: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    files = dict(BASE_FILES)
    files["orders.csv"] = (
        "order_id,user_id,restaurant_id,ordered_at\n"
        "o1,u1,r1,\n"
        "o2,u2,r1,2026-02-02 12:15\n"
        "o3,u3,r2,yesterday\n"
    )
    files["order_items.csv"] = "order_id,menu_item_id,quantity\no1,m1,1\no2,m1,1\n"

    result = import_directory(connection, write_files(tmp_path / "in", files))
    orders = connection.sql("SELECT order_id FROM orders").fetchall()

    assert result.rejects.select("line", "column_name", "value", "reason").rows() == [
        (
            2,
            "ordered_at",
            None,
            "expected a time: other orders in this file have times",
        ),
        (
            4,
            "ordered_at",
            "yesterday",
            "expected an ISO 8601 time such as 2026-03-01T12:30:00Z",
        ),
        (2, "order_id", "o1", "order_id was rejected in this import's orders file"),
    ]
    assert orders == [("o2",)]
    assert result.tables["order_items"].inserted == 1


def test_parquet_null_type_columns(
    connection: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    # pandas writes a column of only None as the Parquet type Null, and a
    # column of only empty lists as a list of Null.
    pd.DataFrame(
        {
            "user_id": ["n1", "n2"],
            "age_band": [None, None],
            "signup_time": [None, None],
            "liked_cuisines": [[], []],
        }
    ).to_parquet(folder / "users.parquet")
    pd.DataFrame({"restaurant_id": ["r1", "r2"], "name": [None, None]}).to_parquet(
        folder / "restaurants.parquet"
    )
    types = pl.read_parquet_schema(folder / "users.parquet")

    result = import_directory(connection, folder)
    users = connection.sql(
        "SELECT user_id, age_band, signup_time, liked_cuisines FROM users ORDER BY 1"
    ).fetchall()

    assert types["age_band"] == pl.Null
    assert types["liked_cuisines"] == pl.List(pl.Null)
    assert users == [("n1", None, None, []), ("n2", None, None, [])]
    assert result.rejects.select("line", "column_name", "value", "reason").rows() == [
        (1, "name", None, "missing required value"),
        (2, "name", None, "missing required value"),
    ]
    assert result.tables["restaurants"].inserted == 0


def test_parquet_list_element_rejected(
    connection: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    pl.DataFrame(
        {
            "restaurant_id": ["r1", "r2", "r3", "r4", "r5"],
            "name": ["Pizza Nova", "Dosa Hut", "Thai Ton", "Grill", "Café"],
            "cuisines": [
                ["pizza|italian"],
                ["indian", None],
                ["thai", "vietnamese"],
                None,
                ["café", "|"],
            ],
        }
    ).write_parquet(folder / "restaurants.parquet")
    write_files(
        folder, {"menu_items.csv": "menu_item_id,restaurant_id,name\nm1,r1,Pizza\n"}
    )

    result = import_directory(connection, folder)
    stored = connection.sql(
        "SELECT restaurant_id, cuisines FROM restaurants ORDER BY 1"
    ).fetchall()

    assert result.rejects.select("line", "column_name", "value", "reason").rows() == [
        (
            1,
            "cuisines",
            '["pizza|italian"]',
            "expected list elements without '|', which separates the values of a "
            "list in CSV",
        ),
        (
            2,
            "cuisines",
            '["indian", null]',
            "expected a list of strings, found a null element",
        ),
        (
            5,
            "cuisines",
            '["café", "|"]',
            "expected list elements without '|', which separates the values of a "
            "list in CSV",
        ),
        (
            2,
            "restaurant_id",
            "r1",
            "restaurant_id was rejected in this import's restaurants file",
        ),
    ]
    assert stored == [("r3", ["thai", "vietnamese"]), ("r4", [])]
    assert result.tables["restaurants"].read == 5
    assert result.tables["restaurants"].rejected == 3


@pytest.mark.parametrize(
    ("files", "message"),
    [
        (None, "import directory not found"),
        ("users.csv", "in is not a folder; pass the folder of the table files"),
        ({"users.csv": b""}, "file is empty"),
        ({"notes.txt": b"hello"}, "no table files"),
    ],
    ids=["missing folder", "file for folder", "empty file", "no table file"],
)
def test_failed_import_creates_no_store(
    tmp_path: Path, files: dict[str, str | bytes] | str | None, message: str
) -> None:
    folder = tmp_path / "in"
    if isinstance(files, str):
        folder.write_text(BASE_FILES[files])
    elif files is not None:
        write_files(folder, files)
    var_dir = tmp_path / "var"

    with pytest.raises(ImportFileError, match=message):
        import_into_store(var_dir / "store.duckdb", folder)

    assert not var_dir.exists()


def feature_tables(connection: duckdb.DuckDBPyConnection) -> dict[str, pl.DataFrame]:
    """Compute every feature table from the store, as of 2026-03-01."""
    frames = StoreFrames.from_store_tables(
        **{
            table.name: store.read_table(connection, table)
            for table in (USERS, RESTAURANTS, MENU_ITEMS, ORDERS, ORDER_ITEMS)
        }
    )
    return compute_tables(snapshot_at(frames, datetime(2026, 3, 1, tzinfo=UTC)))


def non_finite_columns(frame: pl.DataFrame) -> list[str]:
    """Name the float columns, or lists of floats, that contain an inf or a NaN."""
    found = []
    for name, dtype in frame.schema.items():
        values = frame[name]
        if dtype == pl.List(pl.Float64):
            values = values.explode()
        elif dtype != pl.Float64:
            continue
        if (values.is_infinite() | values.is_nan()).any():
            found.append(name)
    return found


TEXT_REASON = "expected text without control characters other than tab and line breaks"


def test_amount_bounds_per_row(
    connection: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    files = dict(BASE_FILES)
    files["menu_items.csv"] += (
        "m5,r1,Calzone,,1000000000000,\n"
        "m6,r1,Lasagne,,1000000000001,\n"
        "m7,r1,Tiramisu,,inf,\n"
        "m8,r1,Panna cotta,,NaN,\n"
        "m9,r1,Gelato,,1e400,\n"
    )
    result = import_directory(connection, write_files(tmp_path / "in", files))
    prices = connection.sql("SELECT price FROM menu_items WHERE menu_item_id = 'm5'")

    assert result.rejects.select("line", "column_name", "value", "reason").rows() == [
        (8, "price", "1000000000001", "expected a value <= 1000000000000"),
        (9, "price", "inf", "expected a finite number"),
        (10, "price", "NaN", "expected a finite number"),
        (11, "price", "1e400", "expected a finite number"),
    ]
    assert prices.fetchall() == [(1e12,)]
    assert counts(connection)["menu_items"] == BASE_COUNTS["menu_items"] + 1


def test_parquet_amount_over_maximum_rejected(
    connection: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    folder = write_files(
        tmp_path / "in",
        {
            "restaurants.csv": BASE_FILES["restaurants.csv"],
            "users.csv": BASE_FILES["users.csv"],
        },
    )
    pl.DataFrame(
        {
            "order_id": ["o1", "o2", "o3", "o4"],
            "user_id": ["u1", "u1", "u2", "u2"],
            "restaurant_id": ["r1", "r1", "r1", "r1"],
            "total": [1e300, float("inf"), float("nan"), 12.5],
        }
    ).write_parquet(folder / "orders.parquet")

    result = import_directory(connection, folder)
    stored = connection.sql("SELECT order_id, total FROM orders").fetchall()

    assert result.rejects.select("line", "column_name", "value", "reason").rows() == [
        (1, "total", "1e+300", "expected a value <= 1000000000000"),
        (2, "total", "inf", "expected a finite number"),
        (3, "total", "NaN", "expected a finite number"),
    ]
    assert stored == [("o4", 12.5)]


def test_features_finite_from_accepted_amounts(
    connection: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    files = dict(BASE_FILES)
    files["menu_items.csv"] += (
        "m5,r1,Calzone,,1000000000000,\nm6,r1,Lasagne,,1000000000000,\n"
    )
    files["orders.csv"] += (
        "o4,u1,r1,2026-02-04,1e308,\n"
        "o5,u1,r1,2026-02-05,1e308,\n"
        "o6,u2,r1,2026-02-06,1000000000000,\n"
        "o7,u2,r1,2026-02-07,1000000000000,\n"
    )
    result = import_directory(connection, write_files(tmp_path / "in", files))
    tables = feature_tables(connection)
    activity = tables["user_activity"].sort("user_id")

    for name, table in tables.items():
        assert non_finite_columns(table) == [], name
    assert activity["user_avg_order_value"].to_list() == pytest.approx(
        [9.5, (20.5 + 2e12) / 3, 33.5]
    )
    assert result.rejects.select("line", "column_name").rows() == [
        (5, "total"),
        (6, "total"),
    ]


def test_list_values_spelled_once(
    connection: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    # r0 is stored as imports stored it before list values were lower-cased.
    # It equals the file's row once the stored values are cleaned too.
    connection.execute(
        "INSERT INTO restaurants (restaurant_id, name, cuisines) "
        "VALUES ('r0', 'Old Place', ['Pizza', 'pizza'])"
    )
    files = {
        "restaurants.csv": (
            "restaurant_id,name,cuisines\n"
            "r0,Old Place,Pizza|pizza\n"
            "r1,Pizza Nova,Pizza|pizza| PIZZA |Italian\n"
            "r2,Taqueria,Mexican|mexican|Fast Food|fast-food| fast_food|-|Fast _ Food\n"
        ),
        "users.csv": "user_id,liked_cuisines\nu1,Thai|THAI|thai food|Thai  Food\n",
    }

    result = import_directory(connection, write_files(tmp_path / "in", files))
    cuisines = connection.sql(
        "SELECT restaurant_id, cuisines FROM restaurants ORDER BY 1"
    ).fetchall()
    liked = connection.sql("SELECT liked_cuisines FROM users").fetchall()

    assert cuisines == [
        ("r0", ["Pizza", "pizza"]),
        ("r1", ["pizza", "italian"]),
        ("r2", ["mexican", "fast_food"]),
    ]
    assert liked == [(["thai", "thai_food"],)]
    assert result.rejects.is_empty()
    assert result.tables["restaurants"].unchanged == 1


def test_cuisine_case_counts_once_across_restaurants(
    connection: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    files = {
        "users.csv": "user_id,city,liked_cuisines\nu1,Lyon,PIZZA\n",
        "restaurants.csv": (
            "restaurant_id,name,city,latitude,longitude,cuisines\n"
            "r1,Pizza Nova,Lyon,45.76,4.83,Pizza\n"
            "r2,Da Marco,Lyon,45.76,4.83,pizza\n"
            "r3,Sushi Ya,Lyon,45.76,4.83,sushi\n"
        ),
        "orders.csv": (
            "order_id,user_id,restaurant_id,ordered_at\n"
            "o1,u1,r1,2026-02-01\no2,u1,r2,2026-02-02\n"
        ),
    }
    import_directory(connection, write_files(tmp_path / "in", files))
    tables = feature_tables(connection)
    taste = tables["user_cuisine"].row(0, named=True)
    restaurants = join_entity_tables(tables, RESTAURANT).sort("restaurant_id")
    similarity = similarity_scores(restaurants.row(0, named=True), restaurants)
    pairs = pair_features(
        join_entity_tables(tables, USER).join(restaurants, how="cross")
    )

    assert taste["user_cuisine_names"] == ["pizza"]
    assert taste["user_cuisine_shares"] == [1.0]
    assert taste["user_cuisine_diversity"] == 1.0
    # r1 and r2 differ only in the case of their cuisine, which weighs 3.
    assert similarity[1] - similarity[2] == 3.0
    assert pairs["declared_cuisine_match"].to_list() == [1, 1, 0]
    assert pairs["cuisine_affinity"].to_list() == [1.0, 1.0, 0.0]


def stored_cities(connection: duckdb.DuckDBPyConnection) -> dict[str, str | None]:
    """The city of every user and restaurant, by id."""
    rows = connection.sql(
        "SELECT user_id, city FROM users "
        "UNION ALL SELECT restaurant_id, city FROM restaurants"
    ).fetchall()
    return dict(rows)


def test_city_case_stored_once(
    connection: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    # Restaurants name new cities before users, so u1's spelling loses.
    files = {
        "users.csv": "user_id,city\nu1,LYON\nu2,lyon\nu3,Paris\nu4,\n",
        "restaurants.csv": (
            "restaurant_id,name,city\n"
            "r1,Pizza Nova,Lyon\n"
            "r2,Da Marco,lyon\n"
            "r3,Sushi Ya,LYON \n"
            "r4,Le Bar,paris\n"
        ),
    }

    result = import_directory(connection, write_files(tmp_path / "in", files))

    assert result.rejects.is_empty()
    assert stored_cities(connection) == {
        "u1": "Lyon",
        "u2": "Lyon",
        "u3": "paris",
        "u4": None,
        "r1": "Lyon",
        "r2": "Lyon",
        "r3": "Lyon",
        "r4": "paris",
    }


def test_city_rejected_row_names_no_spelling(
    connection: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    # r1 fails its latitude check, so the first spelling is r2's.
    files = {
        "restaurants.csv": (
            "restaurant_id,name,city,latitude\n"
            "r1,Pizza Nova,LYON,91\n"
            "r2,Da Marco,Lyon,\n"
        ),
        "users.csv": "user_id,city\nu1,lyon\n",
    }

    result = import_directory(connection, write_files(tmp_path / "in", files))

    assert result.rejects["line"].to_list() == [2]
    assert stored_cities(connection) == {"u1": "Lyon", "r2": "Lyon"}


def test_city_case_differing_repeat_loaded_once(
    connection: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    files = {"users.csv": "user_id,city\nu1,Lyon\nu1,lyon\n"}

    result = import_directory(connection, write_files(tmp_path / "in", files))

    assert result.rejects.is_empty()
    assert result.tables["users"].inserted == 1
    assert result.tables["users"].unchanged == 1
    assert stored_cities(connection) == {"u1": "Lyon"}


def test_city_spelled_as_stored(
    connection: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    first = {"restaurants.csv": "restaurant_id,name,city\nr1,Pizza Nova,Lyon\n"}
    second = {
        "users.csv": "user_id,city\nu1,lyon\n",
        "restaurants.csv": "restaurant_id,name,city\nr2,Da Marco,LYON\n",
    }
    import_directory(connection, write_files(tmp_path / "first", first))

    result = import_directory(connection, write_files(tmp_path / "second", second))

    assert result.rejects.is_empty()
    assert stored_cities(connection) == {"u1": "Lyon", "r1": "Lyon", "r2": "Lyon"}


def test_same_city_across_case(
    connection: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    files = {
        "users.csv": "user_id,city,latitude,longitude\nu1,lyon,45.76,4.84\n",
        "restaurants.csv": (
            "restaurant_id,name,city,latitude,longitude\n"
            "r1,Pizza Nova,Lyon,45.76,4.83\n"
            "r2,Le Bar,Paris,48.86,2.34\n"
        ),
    }
    import_directory(connection, write_files(tmp_path / "in", files))
    tables = feature_tables(connection)
    restaurants = join_entity_tables(tables, RESTAURANT).sort("restaurant_id")

    pairs = pair_features(
        join_entity_tables(tables, USER).join(restaurants, how="cross")
    )

    assert pairs["same_city"].to_list() == [1, 0]


def test_city_reimport_unchanged(
    connection: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    files = {
        "users.csv": "user_id,city\nu1,LYON\nu2,lyon\n",
        "restaurants.csv": "restaurant_id,name,city\nr1,Pizza Nova,Lyon\n",
    }
    folder = write_files(tmp_path / "in", files)
    import_directory(connection, folder)
    before = snapshot(connection)

    again = import_directory(connection, folder)

    assert again.rejects.is_empty()
    assert again.tables["users"].unchanged == 2
    assert again.tables["restaurants"].unchanged == 1
    assert again.tables["users"].inserted == 0
    assert snapshot(connection) == before


@pytest.mark.parametrize(
    ("stored", "expected"),
    [
        # The spelling on the most rows wins, then the first by code point.
        ({"r1": "Lyon", "r2": "lyon", "u1": "lyon"}, "lyon"),
        ({"r1": "lyon", "u1": "Lyon"}, "Lyon"),
        ({"r1": "lyon", "r2": "LYON"}, "LYON"),
    ],
)
def test_old_store_city_spellings_kept(
    connection: duckdb.DuckDBPyConnection,
    tmp_path: Path,
    stored: dict[str, str],
    expected: str,
) -> None:
    # The rows are stored as imports stored them before cities were matched
    # ignoring case, with several spellings of one city.
    users = {key: city for key, city in stored.items() if key.startswith("u")}
    restaurants = {key: city for key, city in stored.items() if key.startswith("r")}
    for key, city in users.items():
        connection.execute(
            "INSERT INTO users (user_id, city, liked_cuisines) VALUES (?, ?, [])",
            [key, city],
        )
    for key, city in restaurants.items():
        connection.execute(
            "INSERT INTO restaurants (restaurant_id, name, city, cuisines) "
            "VALUES (?, ?, ?, [])",
            [key, "Place", city],
        )
    user_lines = [f"{key},{city}\n" for key, city in users.items()]
    restaurant_lines = [f"{key},Place,{city}\n" for key, city in restaurants.items()]
    files = {
        "users.csv": "user_id,city\n" + "".join(user_lines) + "u9,lYoN\n",
        "restaurants.csv": "restaurant_id,name,city\n" + "".join(restaurant_lines),
    }

    result = import_directory(connection, write_files(tmp_path / "in", files))

    assert result.rejects.is_empty()
    assert result.tables["users"].inserted == 1
    assert result.tables["users"].unchanged == len(users)
    assert result.tables["restaurants"].unchanged == len(restaurants)
    assert stored_cities(connection) == {**stored, "u9": expected}


def test_text_line_breaks_become_spaces(
    connection: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    files = {
        "users.csv": 'user_id,city\nu1,"Saint-\nÉtienne"\n',
        "restaurants.csv": (
            "restaurant_id,name,city,cuisines\n"
            'r1,"Pizza\r\n  Nova","\tLyon ","fast\nfood|Fast Food"\n'
            "r2,Bar\tCentral,Lyon\u2028Part-Dieu,\n"
        ),
        "menu_items.csv": (
            "menu_item_id,restaurant_id,name,description\n"
            'm1,r1,"Margherita\nspecial","Tomato,\n\tmozzarella"\n'
        ),
    }

    result = import_directory(connection, write_files(tmp_path / "in", files))
    restaurants = connection.sql(
        "SELECT name, city, cuisines FROM restaurants ORDER BY restaurant_id"
    ).fetchall()
    city = connection.sql("SELECT city FROM users").fetchall()
    item = connection.sql("SELECT name, description FROM menu_items").fetchall()

    assert restaurants == [
        ("Pizza Nova", "Lyon", ["fast_food"]),
        ("Bar Central", "Lyon Part-Dieu", []),
    ]
    assert city == [("Saint- Étienne",)]
    assert item == [("Margherita special", "Tomato,\n\tmozzarella")]
    assert result.rejects.is_empty()


def test_control_characters_rejected(
    connection: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    files = {
        "restaurants.csv": (
            "restaurant_id,name,city,cuisines\n"
            "r1,Nul\x00Bar,Lyon,\n"
            "r2,Red,Esc\x1b[31mLyon,\n"
            "r3,Bell,Lyon,thai\x07|vietnamese\n"
            "r4,Grill,Lyon,\n"
            "r5,C1\x9bcode,Lyon,\n"
        ),
        "menu_items.csv": (
            "menu_item_id,restaurant_id,name,description\n"
            "m1,r4,Steak,rare\x7f\n"
            'm2,r4,Fries,"line\nbreak\tand tab"\n'
        ),
    }

    result = import_directory(connection, write_files(tmp_path / "in", files))
    rejects = result.rejects.select("line", "column_name", "value", "reason")
    restaurants = connection.sql("SELECT restaurant_id FROM restaurants").fetchall()
    items = connection.sql("SELECT menu_item_id FROM menu_items").fetchall()

    assert rejects.rows() == [
        (2, "name", "Nul\x00Bar", TEXT_REASON),
        (3, "city", "Esc\x1b[31mLyon", TEXT_REASON),
        (4, "cuisines", "thai\x07|vietnamese", TEXT_REASON),
        (6, "name", "C1\x9bcode", TEXT_REASON),
        (2, "description", "rare\x7f", TEXT_REASON),
    ]
    assert restaurants == [("r4",)]
    assert items == [("m2",)]
    assert describe_reject(result.rejects.row(0, named=True)) == (
        "restaurants.csv line 2, column name, value 'Nul\\x00Bar': " + TEXT_REASON
    )


def test_stored_null_list_equals_empty_field(
    connection: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    # Rows written by other means than the import may hold a null list.
    connection.execute("INSERT INTO users (user_id, city) VALUES ('u1', 'Lyon')")
    files = {"users.csv": "user_id,city,liked_cuisines\nu1,Lyon,\n"}

    result = import_directory(connection, write_files(tmp_path / "in", files))

    assert result.rejects.is_empty()
    assert result.tables["users"].unchanged == 1
