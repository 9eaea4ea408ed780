"""Reading import files into frames of raw text, with their line numbers.

A file that cannot be read at all (missing, empty, wrong header, broken CSV
quoting) raises :class:`ImportFileError`, which fails the whole import. A
record that can be read but not used (wrong number of fields, invalid
UTF-8) becomes a reject and the rest of the file is kept.
"""

from __future__ import annotations

import csv
from pathlib import Path

import polars as pl

from features.import_format import LIST_SEPARATOR, Kind, TableFormat
from features.validation import LINE, REJECT_COLUMNS

# Fields may be long descriptions, but not unbounded.
MAX_FIELD_BYTES = 1_000_000


class ImportFileError(ValueError):
    """An import file cannot be read; nothing of the import is loaded."""


def find_table_file(directory: Path, table_format: TableFormat) -> Path | None:
    """Find the table's file in ``directory``: ``<table>.csv`` or ``.parquet``.

    Raises:
        ImportFileError: both forms are present, so which one to load is unclear.
    """
    name = table_format.table.name
    found = [
        directory / f"{name}.{suffix}"
        for suffix in ("csv", "parquet")
        if (directory / f"{name}.{suffix}").is_file()
    ]
    if len(found) > 1:
        msg = f"{directory}: both {name}.csv and {name}.parquet exist; keep one"
        raise ImportFileError(msg)
    return found[0] if found else None


def read_table_file(
    path: Path, table_format: TableFormat
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Read a CSV or Parquet file as text columns plus ``_line``.

    Returns:
        The readable records, and rejects (line, column_name, value, reason)
        for records that could not be used. For Parquet, the line is the
        1-based row number.
    """
    if path.suffix == ".parquet":
        return _read_parquet(path, table_format), pl.DataFrame(schema=REJECT_COLUMNS)
    return _read_csv(path, table_format)


def _check_header(path: Path, header: list[str], table_format: TableFormat) -> None:
    expected = [column.name for column in table_format.columns]
    required = [column.name for column in table_format.columns if column.required]
    missing = [name for name in required if name not in header]
    unknown = [name for name in header if name not in expected]
    duplicated = sorted({name for name in header if header.count(name) > 1})
    problems = []
    if missing:
        problems.append(f"missing required columns {missing}")
    if unknown:
        problems.append(f"unknown columns {unknown}")
    if duplicated:
        problems.append(f"repeated columns {duplicated}")
    if problems:
        msg = (
            f"{path}: invalid header: {'; '.join(problems)}. Expected columns "
            f"{expected}, of which {required} are required"
        )
        raise ImportFileError(msg)


def _read_csv(
    path: Path, table_format: TableFormat
) -> tuple[pl.DataFrame, pl.DataFrame]:
    csv.field_size_limit(MAX_FIELD_BYTES)
    rejects: list[dict[str, object]] = []
    # surrogateescape keeps undecodable bytes as lone surrogates, so a record
    # with invalid UTF-8 is found and rejected instead of failing the file.
    with path.open(
        newline="", encoding="utf-8-sig", errors="surrogateescape"
    ) as handle:
        reader = csv.reader(handle, strict=True)
        try:
            header = [name.strip() for name in next(reader)]
        except StopIteration:
            msg = f"{path}: file is empty; expected a header line of column names"
            raise ImportFileError(msg) from None
        except csv.Error as error:
            msg = f"{path}: unreadable header line: {error}"
            raise ImportFileError(msg) from error
        if _has_invalid_utf8(header):
            msg = f"{path}: header line is not valid UTF-8"
            raise ImportFileError(msg)
        _check_header(path, header, table_format)

        columns: list[list[str]] = [[] for _ in header]
        lines: list[int] = []
        next_line = reader.line_num + 1
        while True:
            line = next_line
            try:
                record = next(reader)
            except StopIteration:
                break
            except csv.Error as error:
                msg = f"{path}: unreadable CSV at line {reader.line_num}: {error}"
                raise ImportFileError(msg) from error
            next_line = reader.line_num + 1
            if not record:
                continue
            problem = _record_problem(record, header, line)
            if problem:
                rejects.extend(problem)
                continue
            for values, value in zip(columns, record, strict=True):
                values.append(value)
            lines.append(line)

    frame = pl.DataFrame(
        {LINE: lines, **dict(zip(header, columns, strict=True))},
        schema={LINE: pl.Int64, **{name: pl.String for name in header}},
    )
    return frame, pl.DataFrame(rejects, schema=REJECT_COLUMNS)


def _record_problem(
    record: list[str], header: list[str], line: int
) -> list[dict[str, object]]:
    if len(record) != len(header):
        value = ",".join(record).encode("utf-8", "surrogateescape")
        return [
            {
                "line": line,
                "column_name": None,
                "value": value.decode("utf-8", "replace"),
                "reason": f"expected {len(header)} fields, found {len(record)}",
            }
        ]
    if not _has_invalid_utf8(record):
        return []
    return [
        {
            "line": line,
            "column_name": name,
            "value": value.encode("utf-8", "surrogateescape").decode(
                "utf-8", "replace"
            ),
            "reason": "text is not valid UTF-8",
        }
        for name, value in zip(header, record, strict=True)
        if _has_invalid_utf8([value])
    ]


def _has_invalid_utf8(values: list[str]) -> bool:
    try:
        "".join(values).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _check_parquet_types(
    path: Path, frame: pl.DataFrame, table_format: TableFormat
) -> None:
    """Raise ImportFileError for a column whose Parquet type cannot hold its
    values: text as floats (an id 7.0), lists of non-strings, binary, structs."""
    for name, dtype in frame.schema.items():
        kind = table_format.column(name).kind
        if kind is Kind.TEXT:
            allowed = dtype == pl.String or dtype.is_integer()
        elif kind is Kind.TEXT_LIST:
            allowed = dtype in (pl.String, pl.List(pl.String))
        elif kind is Kind.TIMESTAMP:
            allowed = dtype == pl.String or isinstance(dtype, pl.Datetime | pl.Date)
        else:
            allowed = dtype == pl.String or dtype.is_numeric() or dtype == pl.Boolean
        if not allowed:
            msg = (
                f"{path}: column {name} has Parquet type {dtype}, which cannot hold "
                f"{kind.value} values; write it as {kind.value} or text"
            )
            raise ImportFileError(msg)


def _read_parquet(path: Path, table_format: TableFormat) -> pl.DataFrame:
    try:
        frame = pl.read_parquet(path)
    except (OSError, pl.exceptions.PolarsError) as error:
        msg = f"{path}: unreadable Parquet file: {error}"
        raise ImportFileError(msg) from error
    _check_header(path, frame.columns, table_format)
    _check_parquet_types(path, frame, table_format)

    as_text = []
    for name, dtype in frame.schema.items():
        column = pl.col(name)
        if isinstance(dtype, pl.List):
            as_text.append(column.list.join(LIST_SEPARATOR).alias(name))
        elif isinstance(dtype, pl.Datetime):
            if dtype.time_zone is not None:
                column = column.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
            as_text.append(column.dt.to_string("%Y-%m-%dT%H:%M:%S%.f").alias(name))
        else:
            as_text.append(column.cast(pl.String).alias(name))
    return frame.select(
        pl.int_range(1, frame.height + 1, dtype=pl.Int64).alias(LINE), *as_text
    )
