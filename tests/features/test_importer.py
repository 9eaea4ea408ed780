"""Importing a folder of table files: rejects, failures, repeats and appends."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import polars as pl
import pytest

from features import store
from features.import_files import ImportFileError
from features.import_format import FORMATS
from features.importer import import_directory
from features.paths import PROJECT_DIR
from features.schema import ALL_TABLES
from service.cli import EXIT_REJECTS, main

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
    assert reject["reason"] == "text is not valid UTF-8"
    assert reject["value"] == "Caf\ufffd Latin"
    assert counts(connection) == BASE_COUNTS


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

    assert result.rejects["reason"].to_list() == [
        "key already in the store with different content"
    ]
    assert name == ("Pizza Nova",)
    assert counts(connection)["restaurants"] == 3


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
    ("column", "values"),
    [
        ("name", [{"a": 1}]),
        ("name", [b"\xff\xfe"]),
        ("restaurant_id", [7.5]),
        ("cuisines", [[1, 2]]),
    ],
    ids=["struct name", "binary name", "float id", "integer list"],
)
def test_parquet_wrong_type_fails(
    connection: duckdb.DuckDBPyConnection, tmp_path: Path, column: str, values: list
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    frame = pl.DataFrame({"restaurant_id": ["r1"], "name": ["Pizza"]}).with_columns(
        pl.Series(column, values)
    )
    frame.write_parquet(folder / "restaurants.parquet")

    with pytest.raises(ImportFileError, match=f"column {column} has Parquet type"):
        import_directory(connection, folder)


def test_repeat_of_rejected_row_rejected(
    connection: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    files = with_line(BASE_FILES, "orders.csv", "o9,u404,r1,,,")
    files = with_line(files, "orders.csv", "o9,u404,r1,,,")
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


def test_items_of_rejected_order_rejected(
    connection: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    import_directory(connection, write_files(tmp_path / "first", BASE_FILES))
    later = {
        "orders.csv": "order_id,user_id,restaurant_id\no1,u2,r1\n",
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
