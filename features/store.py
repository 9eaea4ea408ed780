"""Open the DuckDB store, create its tables and load imported data into them."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path

import duckdb
import polars as pl

from features.schema import (
    ALL_TABLES,
    DOMAIN_TABLES,
    IMPORT_REJECTS,
    USER_SEGMENTS,
    Table,
)

# Tables a whole-data-set import replaces.
DATA_SET_TABLES = (*DOMAIN_TABLES, USER_SEGMENTS)

logger = logging.getLogger(__name__)


def connect(path: Path, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open the store at ``path``, creating the file and its tables if needed."""
    if read_only and not path.exists():
        msg = f"store not found: {path}; run `recommender data` first"
        raise FileNotFoundError(msg)

    path.parent.mkdir(parents=True, exist_ok=True)
    connection = duckdb.connect(str(path), read_only=read_only)
    if not read_only:
        for table in ALL_TABLES:
            connection.execute(table.create_sql())
    return connection


def replace_all(
    connection: duckdb.DuckDBPyConnection,
    frames: Mapping[str, pl.DataFrame],
    rejects: pl.DataFrame,
) -> None:
    """Replace every data-set table with ``frames`` in one transaction.

    Tables absent from ``frames`` are emptied, so the store holds exactly one
    data set. On any error the transaction rolls back and the store is left as
    it was.
    """
    unknown = set(frames) - {table.name for table in DATA_SET_TABLES}
    if unknown:
        msg = f"unknown store tables {sorted(unknown)}"
        raise ValueError(msg)

    connection.execute("BEGIN TRANSACTION")
    try:
        # Children first, so that a later foreign key would not block the delete.
        for table in reversed(DATA_SET_TABLES):
            connection.execute(f"DELETE FROM {table.name}")
        for table in DATA_SET_TABLES:
            if table.name in frames:
                _insert(connection, table, frames[table.name])
        connection.execute(f"DELETE FROM {IMPORT_REJECTS.name}")
        _insert(connection, IMPORT_REJECTS, rejects)
        connection.execute("COMMIT")
    except Exception:
        connection.execute("ROLLBACK")
        raise


@contextmanager
def registered(
    connection: duckdb.DuckDBPyConnection, name: str, frame: pl.DataFrame
) -> Iterator[None]:
    """Make ``frame`` queryable as the view ``name`` while the block runs."""
    connection.register(name, frame.to_arrow())
    try:
        yield
    finally:
        # After a failed statement the transaction is aborted and unregister
        # raises too; suppressing that keeps the statement's own error for the
        # caller, who rolls back. A later register of the name replaces the view.
        with suppress(duckdb.TransactionException):
            connection.unregister(name)


def read_table(connection: duckdb.DuckDBPyConnection, table: Table) -> pl.DataFrame:
    """Read a whole store table into polars, columns in schema order."""
    columns = ", ".join(table.column_names)
    return connection.sql(f"SELECT {columns} FROM {table.name}").pl()


def table_counts(connection: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Count the rows of every store table."""
    counts = {}
    for table in ALL_TABLES:
        row = connection.execute(f"SELECT count(*) FROM {table.name}").fetchone()
        counts[table.name] = int(row[0]) if row else 0
    return counts


def _insert(
    connection: duckdb.DuckDBPyConnection, table: Table, frame: pl.DataFrame
) -> None:
    missing = [name for name in table.column_names if name not in frame.columns]
    if missing:
        msg = f"table {table.name}: frame lacks columns {missing}"
        raise ValueError(msg)
    if frame.is_empty():
        return

    columns = ", ".join(table.column_names)
    with registered(connection, "incoming", frame.select(table.column_names)):
        connection.execute(
            f"INSERT INTO {table.name} ({columns}) SELECT {columns} FROM incoming"
        )
    logger.debug("inserted %d rows into %s", frame.height, table.name)


def fingerprint(frame: pl.DataFrame) -> str:
    """SHA-256 of a frame's rows in sorted order, to tell whether data changed."""
    flat = frame.with_columns(
        pl.col(name).list.join("|")
        for name, dtype in frame.schema.items()
        if isinstance(dtype, pl.List)
    )
    ordered = flat.sort(flat.columns)
    return hashlib.sha256(ordered.write_csv().encode()).hexdigest()
