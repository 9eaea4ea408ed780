"""Field-level checks of an import file, vectorised with polars.

:func:`parse_fields` turns a frame of raw text into typed columns and lists
every field that failed a check. A row with any failed field is rejected as
a whole, but every failed field of it is reported, so one pass over a file
shows all of its problems.
"""

from __future__ import annotations

import polars as pl

from features.cuisines import normalize_cuisine
from features.import_format import (
    EARLIEST_TIME,
    FALSE_VALUES,
    LIST_SEPARATOR,
    TRUE_VALUES,
    Column,
    Kind,
    TableFormat,
)
from features.schema import ID_PATTERN, MAX_ID_LENGTH

LINE = "_line"
REJECT_COLUMNS = {
    "line": pl.Int64(),
    "column_name": pl.String(),
    "value": pl.String(),
    "reason": pl.String(),
}

# Accepted time forms, tried in order after a "T" separator becomes a space.
# Times with an offset or "Z" are converted to UTC; others are taken as UTC.
_ZONED_FORMATS = ("%Y-%m-%d %H:%M:%S%.f%#z", "%Y-%m-%d %H:%M%#z")
_NAIVE_FORMATS = ("%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%d %H:%M", "%Y-%m-%d")

# Whitespace that ends a line or a cell: tab, LF, VT, FF, CR, NEL and the
# Unicode line and paragraph separators.
_BREAK = r"[\t\n\x0B\x0C\r\x{85}\x{2028}\x{2029}]"
# Control characters (Unicode category Cc) other than those: NUL, ESC and the
# rest of U+0000 to U+001F, DEL, and the C1 controls. They are not text, and
# ESC or CSI sequences drive a terminal that prints them, so a field
# containing one is rejected.
CONTROL_CHARACTER = r"[\x00-\x08\x0E-\x1F\x7F-\x84\x86-\x9F]"
CONTROL_CHARACTER_REASON = (
    "expected text without control characters other than tab and line breaks"
)

_POLARS_TYPES: dict[Kind, pl.DataType] = {
    Kind.TEXT: pl.String(),
    Kind.ID: pl.String(),
    Kind.FLOAT: pl.Float64(),
    Kind.INTEGER: pl.Int64(),
    Kind.BOOLEAN: pl.Boolean(),
    Kind.TIMESTAMP: pl.Datetime("us"),
    Kind.TEXT_LIST: pl.List(pl.String()),
}


def parse_fields(
    raw: pl.DataFrame, table_format: TableFormat
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Parse every column of ``raw`` by its format.

    Args:
        raw: one String column per format column present in the file (absent
            optional columns are filled with nulls here), and ``_line``.
        table_format: the rules of the table.

    Returns:
        The parsed frame, every row and the ``_line`` column kept, and the
        rejects (line, column_name, value, reason) of fields that failed.
    """
    parsed = raw.select(LINE)
    rejects = []
    for column in table_format.columns:
        text = (
            raw[column.name].str.strip_chars()
            if column.name in raw.columns
            else pl.Series(column.name, [None] * raw.height, pl.String)
        )
        text = text.replace("", None)
        values, reasons = _parse_column(text, column)
        parsed = parsed.with_columns(values.alias(column.name))
        rejects.append(
            pl.DataFrame(
                {
                    "line": raw[LINE],
                    "column_name": column.name,
                    "value": text,
                    "reason": reasons,
                },
                schema=REJECT_COLUMNS,
            ).drop_nulls("reason")
        )
    return parsed, pl.concat(rejects)


def empty_rejects() -> pl.DataFrame:
    return pl.DataFrame(schema=REJECT_COLUMNS)


def polars_type(kind: Kind) -> pl.DataType:
    """Return the polars type of a parsed column of ``kind``."""
    return _POLARS_TYPES[kind]


def _parse_column(text: pl.Series, column: Column) -> tuple[pl.Series, pl.Series]:
    """Return the typed values and, per row, the reason it failed or null."""
    frame = pl.DataFrame({"text": text})
    value = _typed(pl.col("text"), column.kind)
    bad_type = pl.col("text").is_not_null() & value.is_null()
    checks: list[tuple[pl.Expr, str]] = [
        (bad_type, f"expected {_describe(column.kind)}")
    ]
    if column.required:
        checks.append((pl.col("text").is_null(), "missing required value"))
    if column.kind in (Kind.TEXT, Kind.TEXT_LIST):
        checks.append(
            (pl.col("text").str.contains(CONTROL_CHARACTER), CONTROL_CHARACTER_REASON)
        )
    if column.kind is Kind.ID:
        checks.append(
            (
                pl.col("text").str.len_chars() > MAX_ID_LENGTH,
                f"expected an id of at most {MAX_ID_LENGTH} characters",
            )
        )
        checks.append(
            (
                ~pl.col("text").str.contains(ID_PATTERN),
                "expected an id without '/' or control characters such as tab "
                "or newline",
            )
        )
    if column.kind is Kind.FLOAT:
        checks.append(
            (value.is_infinite() | value.is_nan(), "expected a finite number")
        )
    if column.kind is Kind.TIMESTAMP:
        checks.append(
            (
                (value < EARLIEST_TIME) | (value > column.latest),
                f"expected a time from {EARLIEST_TIME.date().isoformat()} to "
                f"{column.latest.date().isoformat()}",
            )
        )
    if column.minimum is not None:
        checks.append(
            (value < column.minimum, f"expected a value >= {_number(column.minimum)}")
        )
    if column.maximum is not None:
        checks.append(
            (value > column.maximum, f"expected a value <= {_number(column.maximum)}")
        )
    if column.choices is not None:
        allowed = ", ".join(column.choices)
        checks.append(
            (
                pl.col("text").is_not_null()
                & ~pl.col("text").str.to_lowercase().is_in(column.choices),
                f"expected one of {allowed}",
            )
        )

    # The first failed check names the reason.
    reason = pl.lit(None, pl.String)
    for failed, message in reversed(checks):
        reason = (
            pl.when(failed.fill_null(False)).then(pl.lit(message)).otherwise(reason)
        )
    value = clean_values(value, column)
    if column.choices is not None:
        value = value.str.to_lowercase()
    if column.kind is Kind.TEXT_LIST:
        # An empty field and an empty list are the same: no values.
        value = value.fill_null(pl.lit([], pl.List(pl.String)))
    result = frame.select(value.alias("value"), reason.alias("reason"))
    return result["value"], result["reason"]


def clean_values(values: pl.Expr, column: Column) -> pl.Expr:
    """Convert parsed values of ``column`` to the form the store keeps.

    In single-line text, each run of whitespace that contains a tab or a line
    break becomes one space, since a name or a city split over lines is one
    line of text. List values are cuisine names, the only lists, and get the
    store's cuisine spelling (``features.cuisines``). A value equal to an
    earlier one of its list is then dropped, so that ``Fast Food`` and
    ``fast_food`` are one cuisine within a list and across rows. Other
    columns are returned unchanged.
    """
    if column.kind is Kind.TEXT and not column.multiline:
        return _single_line(values)
    if column.kind is Kind.TEXT_LIST:
        # A null list is an empty one, as in the files, so that a stored null
        # equals an empty field.
        spelled = values.list.eval(normalize_cuisine(pl.element()))
        # A value of only hyphens or underscores has no cuisine name.
        named = spelled.list.eval(pl.element().filter(pl.element() != ""))
        return named.list.unique(maintain_order=True).fill_null([])
    return values


def _single_line(text: pl.Expr) -> pl.Expr:
    return text.str.replace_all(rf"\s*{_BREAK}\s*", " ")


def _typed(text: pl.Expr, kind: Kind) -> pl.Expr:
    if kind in (Kind.TEXT, Kind.ID):
        return text
    if kind is Kind.FLOAT:
        return text.cast(pl.Float64, strict=False)
    if kind is Kind.INTEGER:
        # "3.0" is an integer too: Parquet writers such as pandas store an
        # integer column with nulls as floats.
        number = text.cast(pl.Float64, strict=False)
        integral = number.is_finite() & (number == number.floor())
        return pl.when(integral).then(number).cast(pl.Int64, strict=False)
    if kind is Kind.BOOLEAN:
        lowered = text.str.to_lowercase()
        return (
            pl.when(lowered.is_in(TRUE_VALUES))
            .then(True)
            .when(lowered.is_in(FALSE_VALUES))
            .then(False)
            .otherwise(None)
        )
    if kind is Kind.TIMESTAMP:
        return _timestamp(text)
    return (
        text.str.split(LIST_SEPARATOR)
        .list.eval(pl.element().str.strip_chars())
        .list.eval(pl.element().filter(pl.element() != ""))
    )


def _timestamp(text: pl.Expr) -> pl.Expr:
    spaced = text.str.replace("T", " ", literal=True)
    zoned = [
        spaced.str.to_datetime(fmt, strict=False, time_zone="UTC")
        .dt.replace_time_zone(None)
        .dt.cast_time_unit("us")
        for fmt in _ZONED_FORMATS
    ]
    naive = [
        spaced.str.to_datetime(fmt, strict=False).dt.cast_time_unit("us")
        for fmt in _NAIVE_FORMATS
    ]
    return pl.coalesce(*zoned, *naive)


def _describe(kind: Kind) -> str:
    return {
        Kind.TEXT: "text",
        Kind.ID: "an id",
        Kind.FLOAT: "a number",
        Kind.INTEGER: "an integer",
        Kind.BOOLEAN: "true or false",
        Kind.TIMESTAMP: "an ISO 8601 time such as 2026-03-01T12:30:00Z",
        Kind.TEXT_LIST: f"values separated by {LIST_SEPARATOR}",
    }[kind]


def _number(value: float) -> str:
    """Format a bound as people write it: 2147483647, not 2.14748e+09."""
    return str(int(value)) if float(value).is_integer() else str(value)
