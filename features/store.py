"""Open the DuckDB store, create its tables and load imported data into them."""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections.abc import Iterator, Mapping, MutableMapping
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

# Rows per INSERT in load_frames.
LOAD_BATCH_ROWS = 2_000_000
# Added to a table's name while load_frames builds its new contents.
_STAGED_SUFFIX = "__staged"
# A ROLLBACK takes microseconds, so a few tries outlast repeated interrupts.
ROLLBACK_ATTEMPTS = 5
# A DuckDB memory size: a number and a unit such as MB, GB or GiB.
_MEMORY_SIZE = re.compile(r"\d+(\.\d+)?\s*[A-Za-z]+")

# Seconds that connect tries again to open a store another process has
# locked, and its first and longest pause between tries.
LOCK_WAIT_SECONDS = 5.0
LOCK_RETRY_FIRST_SECONDS = 0.02
LOCK_RETRY_MAX_SECONDS = 0.5

logger = logging.getLogger(__name__)


class StoreLockedError(ValueError):
    """Another process still held a conflicting lock on the store when
    :func:`connect` stopped waiting."""


def connect(
    path: Path, *, read_only: bool = False, lock_wait: float = LOCK_WAIT_SECONDS
) -> duckdb.DuckDBPyConnection:
    """Open the store at ``path``, creating the file and its tables if needed.

    While another process holds a conflicting lock on the file, opening is
    tried again for up to ``lock_wait`` seconds. The service holds a shared
    lock for a moment on each degraded request and at each reload, and a
    command holds the write lock while it writes.

    Raises:
        FileNotFoundError: ``read_only`` and no store at ``path``.
        StoreLockedError: the store is still locked after ``lock_wait``
            seconds.
        ValueError: the file is not a store.
    """
    if read_only and not path.exists():
        msg = f"store not found: {path}; run `recommender data` first"
        raise FileNotFoundError(msg)

    path.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + lock_wait
    delay = LOCK_RETRY_FIRST_SECONDS
    while True:
        try:
            connection = duckdb.connect(str(path), read_only=read_only)
            break
        except duckdb.IOException as error:
            locked = "Could not set lock" in str(error)
            left = deadline - time.monotonic()
            if locked and left > 0:
                # The last pause ends at the deadline, for a last try there.
                time.sleep(min(delay, left))
                delay = min(2 * delay, LOCK_RETRY_MAX_SECONDS)
                continue
            # Another process holding the store, or a file that is not a store.
            first_line = str(error).splitlines()[0]
            waited = f" (tried for {lock_wait:g} s)" if locked and lock_wait else ""
            msg = f"cannot open store {path}{waited}: {first_line}"
            if locked:
                raise StoreLockedError(msg) from error
            raise ValueError(msg) from error
    if not read_only:
        for table in ALL_TABLES:
            connection.execute(table.create_sql())
    return connection


def is_interrupt(error: BaseException) -> bool:
    """Return whether ``error`` is DuckDB's report of a query that was stopped,
    by ``DuckDBPyConnection.interrupt`` or by SIGINT (Ctrl-C)."""
    # DuckDB 2.0.1 raises InterruptException for interrupt(), but a plain
    # RuntimeError("Query interrupted") when SIGINT arrives during a query, and
    # the KeyboardInterrupt is not raised after it.
    if isinstance(error, duckdb.InterruptException):
        return True
    return type(error) is RuntimeError and str(error) == "Query interrupted"


def roll_back(connection: duckdb.DuckDBPyConnection) -> None:
    """Roll back the open transaction of ``connection``, if there is one.

    A failed or interrupted statement leaves the transaction aborted, and a
    failed COMMIT has ended it, so a ROLLBACK that fails is ignored. A
    ROLLBACK stopped by a second interrupt is tried again, since the caller
    may keep using the connection, and an aborted transaction would fail
    each of its later statements.
    """
    for _ in range(ROLLBACK_ATTEMPTS):
        try:
            connection.execute("ROLLBACK")
        except Exception as error:
            if is_interrupt(error):
                continue
            if isinstance(error, duckdb.Error):
                return
            raise
        return


def replace_all(
    connection: duckdb.DuckDBPyConnection,
    frames: Mapping[str, pl.DataFrame],
    rejects: pl.DataFrame,
) -> None:
    """Replace every data-set table with ``frames`` in one transaction.

    Tables absent from ``frames`` are emptied, so the store contains exactly one
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
    except BaseException:
        # A failed or interrupted COMMIT has ended the transaction already.
        roll_back(connection)
        raise


def load_frames(
    connection: duckdb.DuckDBPyConnection,
    frames: MutableMapping[str, pl.DataFrame],
    rejects: pl.DataFrame,
    *,
    release: bool = False,
    batch_rows: int = LOAD_BATCH_ROWS,
) -> None:
    """Replace every data-set table with ``frames``, for data sets of tens of
    millions of rows.

    The store's tables change in one transaction, as with :func:`replace_all`,
    so readers see the old data set or the new one, never a mix. Tables absent
    from ``frames`` are emptied, and on any error the store is left as it
    was. The differences make large loads faster and need less memory:

    - Each table is first built under a staging name (``orders__staged``), in
      a transaction of its own: created without its primary key, filled, and
      given the key with ``ALTER TABLE ... ADD PRIMARY KEY``, so that DuckDB
      builds the index once, from the filled table. A last transaction drops
      the old tables, renames the staged ones and replaces the rejects.
    - DuckDB keeps a key index in memory until its commit writes it, about
      80 bytes per order item, and the write takes about as much again
      (DuckDB 2.0.1). Committing table by table keeps one index at a time.
    - Frames are inserted in slices of ``batch_rows`` rows, so that only one
      slice at a time is copied to Arrow.
    - With ``release``, each frame is removed from ``frames`` once inserted,
      so that its memory can be freed before the index is built. This works
      only if the caller keeps no other reference to it.

    DuckDB's default memory limit is 80% of RAM, and :func:`set_memory_limit`
    lowers it. A limit below what the largest key index needs fails the load
    with a ``duckdb.Error``. NOTE: in such a failure at commit, DuckDB 2.0.1
    once invalidated the open database, so reopen the store after an
    out-of-memory error. A process killed before the last transaction leaves
    staged tables behind, which the next call drops.
    """
    if batch_rows < 1:
        msg = f"batch_rows must be at least 1, got {batch_rows}"
        raise ValueError(msg)
    unknown = set(frames) - {table.name for table in DATA_SET_TABLES}
    if unknown:
        msg = f"unknown store tables {sorted(unknown)}"
        raise ValueError(msg)
    for table in DATA_SET_TABLES:
        if table.name in frames:
            _check_columns(table, frames[table.name])
    _check_columns(IMPORT_REJECTS, rejects)

    try:
        _drop_staged(connection)
        for table in DATA_SET_TABLES:
            frame = frames.pop(table.name, None) if release else frames.get(table.name)
            _stage(connection, table, frame, batch_rows)
            del frame
        _swap_staged(connection, rejects)
    except BaseException:
        # A failed statement or commit leaves the transaction aborted or
        # already ended; either way the staged tables are dropped after it.
        # Ctrl-C between two statements raises KeyboardInterrupt, which is
        # not an Exception, and must drop them too.
        roll_back(connection)
        try:
            _drop_staged(connection)
        except duckdb.Error:
            logger.warning(
                "could not drop the staged tables; the next load drops them",
                exc_info=True,
            )
        raise


def set_memory_limit(connection: duckdb.DuckDBPyConnection, limit: str) -> None:
    """Set DuckDB's ``memory_limit`` for the database of ``connection``.

    ``limit`` is a size such as ``"5GB"`` or ``"512MiB"``.

    Raises:
        ValueError: ``limit`` is not a number followed by a unit.
    """
    if not _MEMORY_SIZE.fullmatch(limit):
        msg = f"memory_limit must be a size such as '5GB', got {limit!r}"
        raise ValueError(msg)
    connection.execute(f"SET memory_limit = '{limit}'")


def _staged_name(table: Table) -> str:
    return f"{table.name}{_STAGED_SUFFIX}"


def _drop_staged(connection: duckdb.DuckDBPyConnection) -> None:
    for table in DATA_SET_TABLES:
        connection.execute(f"DROP TABLE IF EXISTS {_staged_name(table)}")


def _stage(
    connection: duckdb.DuckDBPyConnection,
    table: Table,
    frame: pl.DataFrame | None,
    batch_rows: int,
) -> None:
    """Build ``table`` with ``frame``'s rows under its staging name, committed."""
    staged = _staged_name(table)
    columns = ", ".join(f"{name} {sql_type}" for name, sql_type in table.columns)
    key = ", ".join(table.primary_key)
    connection.execute("BEGIN TRANSACTION")
    connection.execute(f"CREATE TABLE {staged} ({columns})")
    if frame is not None:
        for offset in range(0, frame.height, batch_rows):
            _insert(connection, table, frame.slice(offset, batch_rows), into=staged)
        logger.info("inserted %d rows into %s", frame.height, staged)
    connection.execute(f"ALTER TABLE {staged} ADD PRIMARY KEY ({key})")
    connection.execute("COMMIT")


def _swap_staged(connection: duckdb.DuckDBPyConnection, rejects: pl.DataFrame) -> None:
    """Replace the data-set tables with the staged ones, and the rejects."""
    connection.execute("BEGIN TRANSACTION")
    for table in DATA_SET_TABLES:
        connection.execute(f"DROP TABLE {table.name}")
        connection.execute(f"ALTER TABLE {_staged_name(table)} RENAME TO {table.name}")
    connection.execute(f"DELETE FROM {IMPORT_REJECTS.name}")
    _insert(connection, IMPORT_REJECTS, rejects)
    connection.execute("COMMIT")


def _check_columns(table: Table, frame: pl.DataFrame) -> None:
    missing = [name for name in table.column_names if name not in frame.columns]
    if missing:
        msg = f"table {table.name}: frame lacks columns {missing}"
        raise ValueError(msg)


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
        # fetchall, not fetchone: DuckDB 2.0 keeps a partly read result open
        # and rejects the connection's next query.
        rows = connection.execute(f"SELECT count(*) FROM {table.name}").fetchall()
        counts[table.name] = int(rows[0][0])
    return counts


def _insert(
    connection: duckdb.DuckDBPyConnection,
    table: Table,
    frame: pl.DataFrame,
    *,
    into: str | None = None,
) -> None:
    """Insert ``frame`` into ``table``, or into the table named ``into`` that
    has ``table``'s columns."""
    missing = [name for name in table.column_names if name not in frame.columns]
    if missing:
        msg = f"table {table.name}: frame lacks columns {missing}"
        raise ValueError(msg)
    if frame.is_empty():
        return

    target = into or table.name
    columns = ", ".join(table.column_names)
    with registered(connection, "incoming", frame.select(table.column_names)):
        connection.execute(
            f"INSERT INTO {target} ({columns}) SELECT {columns} FROM incoming"
        )
    logger.debug("inserted %d rows into %s", frame.height, target)


def fingerprint(frame: pl.DataFrame) -> str:
    """SHA-256 of a frame's rows in sorted order, to tell whether data changed."""
    flat = frame.with_columns(
        pl.col(name).list.join("|")
        for name, dtype in frame.schema.items()
        if isinstance(dtype, pl.List)
    )
    ordered = flat.sort(flat.columns)
    return hashlib.sha256(ordered.write_csv().encode()).hexdigest()
