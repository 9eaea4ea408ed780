"""Reading of Parquet import files into text columns, as CSV files give them."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl

from features.import_format import LIST_SEPARATOR, Kind, TableFormat
from features.import_header import ImportFileError, _check_header
from features.validation import LINE, REJECT_COLUMNS

# Reasons for rejecting a Parquet list element that a CSV field cannot
# contain, because CSV splits a list at every LIST_SEPARATOR and has no null.
NULL_ELEMENT_REASON = "expected a list of strings, found a null element"
SEPARATOR_ELEMENT_REASON = (
    f"expected list elements without '{LIST_SEPARATOR}', which separates the "
    "values of a list in CSV"
)


# The Parquet column types that each kind of column accepts, as the error
# message names them. Strings are parsed as in a CSV file.
_PARQUET_TYPES = {
    Kind.TEXT: "strings or integers",
    Kind.ID: "strings or integers",
    Kind.TEXT_LIST: (
        f"lists of strings, or strings of values separated by {LIST_SEPARATOR}"
    ),
    Kind.TIMESTAMP: "timestamps, dates or strings",
    Kind.FLOAT: "numbers or strings",
    Kind.INTEGER: "numbers or strings",
    Kind.BOOLEAN: "booleans, numbers or strings",
}


def _check_parquet_types(
    path: Path, frame: pl.DataFrame, table_format: TableFormat
) -> None:
    """Raise ImportFileError for a column whose Parquet type cannot hold its
    values: text as floats (an id 7.0), lists of non-strings, binary, structs.

    The Null type, which pandas 2.3 (with pyarrow) writes for a column of only
    None, holds only missing values, so every column accepts it. A list of
    Null, written for a column of only empty lists, is accepted as a list.
    """
    for name, dtype in frame.schema.items():
        kind = table_format.column(name).kind
        if dtype == pl.Null:
            allowed = True
        elif kind in (Kind.TEXT, Kind.ID):
            allowed = dtype == pl.String or dtype.is_integer()
        elif kind is Kind.TEXT_LIST:
            allowed = dtype in (pl.String, pl.List(pl.String), pl.List(pl.Null))
        elif kind is Kind.TIMESTAMP:
            allowed = dtype == pl.String or isinstance(dtype, pl.Datetime | pl.Date)
        elif kind is Kind.BOOLEAN:
            allowed = dtype == pl.String or dtype.is_numeric() or dtype == pl.Boolean
        else:
            # A boolean is not read as a number: every row would be rejected.
            allowed = dtype == pl.String or dtype.is_numeric()
        if not allowed:
            msg = (
                f"{path}: column {name} has type {dtype}, but {kind.value} "
                f"columns must be stored as {_PARQUET_TYPES[kind]}"
            )
            raise ImportFileError(msg)


def _decode_dictionaries(frame: pl.DataFrame) -> pl.DataFrame:
    """Cast dictionary-encoded text (pandas ``category``, pyarrow dictionary
    arrays, which polars reads as Categorical or Enum) to plain strings."""
    decoded = []
    for name, dtype in frame.schema.items():
        if isinstance(dtype, pl.Categorical | pl.Enum):
            decoded.append(pl.col(name).cast(pl.String))
        elif isinstance(dtype, pl.List) and isinstance(
            dtype.inner, pl.Categorical | pl.Enum
        ):
            decoded.append(pl.col(name).cast(pl.List(pl.String)))
    return frame.with_columns(decoded)


def _list_element_rejects(frame: pl.DataFrame) -> pl.DataFrame:
    """List a reject for each row whose list has a null element or an element
    containing LIST_SEPARATOR, which the text form of the list would drop or
    split. ``frame`` has ``_line`` and its list columns are lists of strings.
    """
    rejects = [pl.DataFrame(schema=REJECT_COLUMNS)]
    for name, dtype in frame.schema.items():
        if not isinstance(dtype, pl.List):
            continue
        column = pl.col(name)
        has_null = column.list.eval(pl.element().is_null()).list.any()
        has_separator = column.list.eval(
            pl.element().str.contains(LIST_SEPARATOR, literal=True)
        ).list.any()
        reason = (
            pl.when(has_null)
            .then(pl.lit(NULL_ELEMENT_REASON))
            .when(has_separator)
            .then(pl.lit(SEPARATOR_ELEMENT_REASON))
        )
        bad = frame.select(LINE, name, reason.alias("reason")).drop_nulls("reason")
        # The value is the list as JSON, which shows its nulls and elements.
        values = [
            json.dumps(elements, ensure_ascii=False) for elements in bad[name].to_list()
        ]
        rejects.append(
            pl.DataFrame(
                {
                    "line": bad[LINE],
                    "column_name": [name] * bad.height,
                    "value": values,
                    "reason": bad["reason"],
                },
                schema=REJECT_COLUMNS,
            )
        )
    return pl.concat(rejects)


def _read_parquet(
    path: Path, table_format: TableFormat
) -> tuple[pl.DataFrame, pl.DataFrame]:
    try:
        frame = pl.read_parquet(path)
    except (OSError, pl.exceptions.PolarsError) as error:
        msg = f"{path}: unreadable Parquet file: {error}"
        raise ImportFileError(msg) from error
    _check_header(path, frame.columns, table_format)
    frame = _decode_dictionaries(frame)
    _check_parquet_types(path, frame, table_format)
    frame = frame.with_columns(
        pl.col(name).cast(pl.List(pl.String))
        for name, dtype in frame.schema.items()
        if dtype == pl.List(pl.Null)
    ).with_columns(pl.int_range(1, frame.height + 1, dtype=pl.Int64).alias(LINE))
    rejects = _list_element_rejects(frame)

    as_text = []
    for name, dtype in frame.schema.items():
        if name == LINE:
            continue
        column = pl.col(name)
        if isinstance(dtype, pl.List):
            as_text.append(column.list.join(LIST_SEPARATOR).alias(name))
        elif isinstance(dtype, pl.Datetime):
            if dtype.time_zone is not None:
                column = column.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
            as_text.append(column.dt.to_string("%Y-%m-%dT%H:%M:%S%.f").alias(name))
        else:
            as_text.append(column.cast(pl.String).alias(name))
    return frame.select(LINE, *as_text), rejects
