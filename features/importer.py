"""Import a directory of table files into the store, losing nothing.

The directory contains one file per table (``users.csv`` or ``users.parquet``,
and so on; see ``docs/data-format.md``); any subset of the tables may be
present. Every file is read and checked before the store is touched, and
the whole import is one transaction. A row is:

- inserted when its key is new;
- unchanged when a row with the same key and the same content is already in
  the store or earlier in the file, so importing the same files twice
  changes nothing;
- rejected, with file, line, column, value and reason, in the other cases.
  A field may fail its check, or the key may repeat with different content
  in the file or in the store. The row may reference a key that was
  rejected in this import, or one found neither in the store nor among the
  rows accepted from this import. An exact repeat of a rejected row is
  rejected with it.

Cities are matched ignoring case and stored in one spelling per city, the
store's when it has one (``features.import_cities``). Stored rows keep their
spelling.

An order whose ``ordered_at`` does not match the data set's mode is
rejected as well. When the store has orders, the data set is timed if every
one of them has a time. An empty store takes the mode of the file, which is
timed if any of its orders has a valid time. Training and evaluation pick
their method by whether every order has a time, so a few orders without one
would switch a timed data set to the untimed method.
"""

from __future__ import annotations

import difflib
import logging
from dataclasses import replace
from pathlib import Path

import duckdb
import polars as pl

from features.import_cities import city_spellings, spell_cities
from features.import_files import ImportFileError, find_table_file, read_table_file
from features.import_format import FORMATS, TableFormat
from features.import_load import ORDERED_AT, _load_table, _record_rejects
from features.import_results import ImportResult, ParsedFile, TableSummary
from features.schema import ORDERS
from features.store import connect, is_interrupt, roll_back
from features.validation import LINE, parse_fields

logger = logging.getLogger(__name__)

__all__ = [
    "ImportFileError",
    "ImportResult",
    "ParsedFile",
    "TableSummary",
    "import_directory",
    "import_into_store",
    "load_import",
    "read_import",
]


def import_into_store(store_path: Path, directory: Path) -> ImportResult:
    """Import every table file in ``directory`` into the store at ``store_path``.

    The files are read and checked before the store is opened, so an import
    that fails with ImportFileError creates neither the store nor its folder.

    Raises:
        ImportFileError: the directory or a file cannot be read; an existing
            store is left exactly as it was.
    """
    files = read_import(directory)
    connection = connect(store_path)
    try:
        return load_import(connection, files)
    finally:
        connection.close()


def import_directory(
    connection: duckdb.DuckDBPyConnection, directory: Path
) -> ImportResult:
    """Import every table file in ``directory`` in one transaction.

    Raises:
        ImportFileError: the directory or a file cannot be read; the store
            is left exactly as it was.
    """
    return load_import(connection, read_import(directory))


def read_import(directory: Path) -> dict[str, ParsedFile]:
    """Read and check every table file in ``directory``, by table name.

    Raises:
        ImportFileError: the directory or a file cannot be read.
    """
    if directory.exists() and not directory.is_dir():
        msg = f"{directory} is not a folder; pass the folder of the table files"
        raise ImportFileError(msg)
    if not directory.is_dir():
        msg = f"import directory not found: {directory}"
        raise ImportFileError(msg)

    files = {
        table_format.table.name: path
        for table_format in FORMATS
        if (path := find_table_file(directory, table_format)) is not None
    }
    _warn_other_files(directory)
    if not files:
        expected = ", ".join(f"{f.table.name}.csv" for f in FORMATS)
        msg = f"{directory}: no table files; expected any of {expected} or .parquet"
        raise ImportFileError(msg)
    return {name: _read_and_parse(path, _format(name)) for name, path in files.items()}


def _warn_other_files(directory: Path) -> None:
    """Log a warning for each file in ``directory`` that is not read, with the
    table file name it is closest to, such as orders.csv for Orders.CSV."""
    names = [
        f"{table_format.table.name}.{suffix}"
        for table_format in FORMATS
        for suffix in ("csv", "parquet")
    ]
    try:
        entries = sorted(directory.iterdir())
    except OSError:
        # The table files were found by name, which needs no listing.
        return
    for path in entries:
        if path.name in names or path.name.startswith("."):
            continue
        close = difflib.get_close_matches(path.name.lower(), names, n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]}?" if close else ""
        logger.warning(
            "%s is not read: not a table file name (such as users.csv)%s", path, hint
        )


def load_import(
    connection: duckdb.DuckDBPyConnection, files: dict[str, ParsedFile]
) -> ImportResult:
    """Load the files that :func:`read_import` returned in one transaction.

    Raises:
        KeyboardInterrupt: a query was interrupted, by Ctrl-C or by
            ``connection.interrupt()``. The transaction is rolled back unless
            its COMMIT had completed.
    """
    result = ImportResult()
    rejected_keys: dict[str, pl.Series] = {}
    try:
        # Inside the try, so that an interrupted BEGIN is reported as one too.
        connection.execute("BEGIN TRANSACTION")
        spellings = city_spellings(connection, files)
        for name, parsed in files.items():
            spelled = replace(parsed, rows=spell_cities(parsed.rows, spellings))
            summary, table_rejects = _load_table(
                connection, _format(name), spelled, rejected_keys, spellings
            )
            result.tables[name] = summary
            result.rejects = pl.concat([result.rejects, table_rejects])
        _record_rejects(connection, result.rejects)
        connection.execute("COMMIT")
    except BaseException as error:
        # A COMMIT that failed or was interrupted has ended the transaction,
        # so there may be nothing to roll back. With DuckDB 2.0.1 an
        # interrupted COMMIT may have kept the whole import or none of it.
        # Importing the files again completes it either way.
        roll_back(connection)
        if is_interrupt(error):
            # The command line prints one line and exits with 130 for it.
            raise KeyboardInterrupt from error
        raise
    return result


def _format(table_name: str) -> TableFormat:
    return next(f for f in FORMATS if f.table.name == table_name)


def _read_and_parse(path: Path, table_format: TableFormat) -> ParsedFile:
    raw, read_rejects, unusable_keys = read_table_file(path, table_format)
    rows, field_rejects = parse_fields(raw, table_format)
    time_texts = pl.DataFrame(schema={LINE: pl.Int64, ORDERED_AT: pl.String})
    if table_format.table.name == ORDERS.name and ORDERED_AT in raw.columns:
        # A time out of range parses but is rejected, so it does not count.
        out_of_range = field_rejects.filter(pl.col("column_name") == ORDERED_AT)
        timed_lines = rows.filter(
            pl.col(ORDERED_AT).is_not_null()
            & ~pl.col(LINE).is_in(out_of_range["line"].implode())
        )[LINE]
        time_texts = raw.filter(pl.col(LINE).is_in(timed_lines.implode())).select(
            LINE, pl.col(ORDERED_AT).str.strip_chars()
        )
    return ParsedFile(
        source=str(path.resolve()),
        rows=rows,
        rejects=pl.concat([read_rejects, field_rejects]),
        unusable_keys=unusable_keys,
        time_texts=time_texts,
    )
