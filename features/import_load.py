"""Loading of one parsed table file into the store, with the rejects of each check."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import polars as pl

from features.import_cities import spell_cities
from features.import_format import TableFormat
from features.import_results import ParsedFile, TableSummary
from features.schema import IMPORT_REJECTS, ORDERS
from features.store import registered
from features.validation import LINE, REJECT_COLUMNS, clean_values, polars_type

logger = logging.getLogger(__name__)

ORDERED_AT = "ordered_at"


def _load_table(
    connection: duckdb.DuckDBPyConnection,
    table_format: TableFormat,
    parsed: ParsedFile,
    rejected_keys: dict[str, pl.Series],
    city_spellings: pl.DataFrame,
) -> tuple[TableSummary, pl.DataFrame]:
    """Load the rows of one file and add the keys it rejected to
    ``rejected_keys``, which the files loaded after it check against.

    The file's cities are already in their spellings from ``city_spellings``
    (``features.import_cities``), and the stored rows are compared after the
    same mapping."""
    source = parsed.source
    summary = TableSummary(source_file=source)
    rows = parsed.rows
    rejects = parsed.rejects
    if table_format.table.name == ORDERS.name:
        rejects = pl.concat([rejects, _check_time_mode(connection, parsed)])
    # Records rejected while reading (wrong field count, invalid UTF-8) are
    # not among the parsed rows but were read all the same.
    unparsed = rejects.filter(~pl.col("line").is_in(rows[LINE].implode()))
    summary.read = rows.height + unparsed["line"].n_unique()
    rows = rows.filter(~pl.col(LINE).is_in(rejects["line"].implode()))

    # Rejects name a Parquet row by its row number, as describe_reject does.
    place = "row" if Path(source).suffix == ".parquet" else "line"
    rows, conflicts, repeats = _split_in_file_conflicts(rows, table_format, place)
    rows, missing = _check_references(connection, rows, table_format, rejected_keys)
    rows, clashes, unchanged = _compare_with_store(
        connection, rows, table_format, city_spellings
    )
    _insert(connection, table_format, rows)

    first_rejects = pl.concat([rejects, conflicts, missing, clashes])
    repeat_rejects, loaded_repeats = _repeat_outcomes(repeats, first_rejects, place)
    all_rejects = pl.concat([first_rejects, repeat_rejects]).sort("line")
    if len(table_format.key) == 1:
        # Rows that reference one of these keys are rejected too, even when
        # the key exists in the store, since the import meant another row.
        # Records rejected while reading were never parsed, so their keys
        # come from the reader.
        key = table_format.key[0]
        rejected_rows = parsed.rows.filter(
            pl.col(LINE).is_in(all_rejects["line"].implode())
        )
        rejected_keys[table_format.table.name] = pl.concat(
            [rejected_rows[key], parsed.unusable_keys[key]]
        ).drop_nulls()
    summary.inserted = rows.height
    summary.unchanged = unchanged + loaded_repeats
    summary.rejected = all_rejects["line"].n_unique()
    logger.info(
        "%s: %d read, %d inserted, %d unchanged, %d rejected",
        source,
        summary.read,
        summary.inserted,
        summary.unchanged,
        summary.rejected,
    )
    return summary, all_rejects.with_columns(pl.lit(source).alias("source_file"))


def _check_time_mode(
    connection: duckdb.DuckDBPyConnection, parsed: ParsedFile
) -> pl.DataFrame:
    """Reject orders whose ``ordered_at`` does not match the data set's mode.

    The store's orders decide the mode when there are any, and the data set
    is timed if every one of them has a time. An empty store takes the mode of
    the file, which is timed if any of its orders has a valid time. An
    ``ordered_at`` that failed its field check is rejected for that already.
    """
    [(stored, stored_timed)] = connection.execute(
        f"SELECT count(*), count({ORDERED_AT}) FROM {ORDERS.name}"
    ).fetchall()
    if stored:
        timed = stored_timed == stored
        origin = "the orders in the store" if timed else "orders in the store"
    else:
        timed = not parsed.time_texts.is_empty()
        origin = "other orders in this file"

    if not timed:
        return parsed.time_texts.select(
            pl.col(LINE).alias("line"),
            pl.lit(ORDERED_AT).alias("column_name"),
            pl.col(ORDERED_AT).alias("value"),
            pl.lit(f"expected no time: {origin} have no times").alias("reason"),
        )
    failed_check = parsed.rejects.filter(pl.col("column_name") == ORDERED_AT)
    untimed = parsed.rows.filter(
        pl.col(ORDERED_AT).is_null()
        & ~pl.col(LINE).is_in(failed_check["line"].implode())
    )
    return untimed.select(
        pl.col(LINE).alias("line"),
        pl.lit(ORDERED_AT).alias("column_name"),
        pl.lit(None, pl.String).alias("value"),
        pl.lit(f"expected a time: {origin} have times").alias("reason"),
    )


def _split_in_file_conflicts(
    rows: pl.DataFrame, table_format: TableFormat, place: str
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Reject every row of a key whose rows differ, and set exact repeats aside.

    Returns the rows to load (the first of each set of exact repeats), the
    rejects, and the repeats with the line of their first copy, which share
    that copy's outcome.
    """
    key = list(table_format.key)
    content = [c.name for c in table_format.columns]
    signature = pl.struct(content).hash()
    differing = rows.filter(signature.n_unique().over(key) > 1)
    lines = differing.group_by(key).agg(pl.col(LINE).sort().alias("lines"))
    rejects = differing.join(lines, on=key, how="left").select(
        pl.col(LINE).alias("line"),
        pl.lit(", ".join(key)).alias("column_name"),
        pl.concat_str([pl.col(k) for k in key], separator=", ").alias("value"),
        pl.format(
            f"duplicate key with different content on {place}s {{}}",
            pl.col("lines").cast(pl.List(pl.String)).list.join(", "),
        ).alias("reason"),
    )

    consistent = rows.join(differing.select(LINE), on=LINE, how="anti")
    first = consistent.unique(subset=key, keep="first", maintain_order=True)
    repeats = (
        consistent.join(first.select(LINE), on=LINE, how="anti")
        .join(first.select(*key, pl.col(LINE).alias("first_line")), on=key)
        .select(LINE, "first_line")
    )
    return first, rejects.cast({"line": pl.Int64}), repeats


def _repeat_outcomes(
    repeats: pl.DataFrame, rejects: pl.DataFrame, place: str
) -> tuple[pl.DataFrame, int]:
    """Rejects for repeats of a rejected row, and the count of the others."""
    rejected_lines = rejects["line"].unique().implode()
    of_rejected = repeats.filter(pl.col("first_line").is_in(rejected_lines))
    repeat_rejects = of_rejected.select(
        pl.col(LINE).alias("line"),
        pl.lit(None, pl.String).alias("column_name"),
        pl.lit(None, pl.String).alias("value"),
        pl.format(f"same as {place} {{}}, which was rejected", "first_line").alias(
            "reason"
        ),
    )
    return repeat_rejects, repeats.height - of_rejected.height


def _check_references(
    connection: duckdb.DuckDBPyConnection,
    rows: pl.DataFrame,
    table_format: TableFormat,
    rejected_keys: dict[str, pl.Series],
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Reject rows that reference a key rejected earlier in this import, or a
    key found neither in the store nor earlier in this import (earlier tables
    are already inserted in the transaction)."""
    rejects = [_empty_reject_rows()]
    for reference in table_format.references:
        rejected = rejected_keys.get(reference.table.name)
        if rejected is not None and not rejected.is_empty():
            hit = pl.col(reference.column).is_in(rejected.implode())
            rejects.append(
                rows.filter(hit).select(
                    pl.col(LINE).alias("line"),
                    pl.lit(reference.column).alias("column_name"),
                    pl.col(reference.column).alias("value"),
                    pl.lit(
                        f"{reference.column} was rejected in this import's "
                        f"{reference.table.name} file"
                    ).alias("reason"),
                )
            )
            rows = rows.filter(~hit)
        target_key = reference.table.primary_key[0]
        known = _existing_keys(
            connection, reference.table.name, target_key, rows[reference.column]
        )
        unknown = rows.filter(~pl.col(reference.column).is_in(known.implode()))
        rejects.append(
            unknown.select(
                pl.col(LINE).alias("line"),
                pl.lit(reference.column).alias("column_name"),
                pl.col(reference.column).alias("value"),
                pl.lit(f"{reference.column} not found in {reference.table.name}").alias(
                    "reason"
                ),
            )
        )
        rows = rows.filter(pl.col(reference.column).is_in(known.implode()))
    if table_format.table.name == "order_items":
        rows, mismatched = _check_item_restaurants(connection, rows)
        rejects.append(mismatched)
    return rows, pl.concat(rejects)


def _check_item_restaurants(
    connection: duckdb.DuckDBPyConnection, rows: pl.DataFrame
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Reject order items whose menu item belongs to another restaurant."""
    items = rows.select(LINE, "order_id", "menu_item_id")
    with registered(connection, "incoming_items", items):
        mismatched = connection.sql(
            f"""
            SELECT i.{LINE} AS line, i.menu_item_id, m.restaurant_id AS item_at,
                   o.restaurant_id AS order_at
            FROM incoming_items i
            JOIN orders o USING (order_id)
            JOIN menu_items m USING (menu_item_id)
            WHERE m.restaurant_id <> o.restaurant_id
            """
        ).pl()
    rejects = mismatched.select(
        pl.col("line").cast(pl.Int64),
        pl.lit("menu_item_id").alias("column_name"),
        pl.col("menu_item_id").alias("value"),
        pl.format(
            "menu item of restaurant {}, but the order is at restaurant {}",
            "item_at",
            "order_at",
        ).alias("reason"),
    )
    return rows.filter(~pl.col(LINE).is_in(mismatched["line"].implode())), rejects


def _existing_keys(
    connection: duckdb.DuckDBPyConnection, table: str, key: str, values: pl.Series
) -> pl.Series:
    lookup = pl.DataFrame({"value": values.unique()})
    with registered(connection, "lookup_keys", lookup):
        found = connection.sql(
            f"SELECT t.{key} FROM {table} t JOIN lookup_keys w ON t.{key} = w.value"
        ).pl()
    return found[key]


def _compare_with_store(
    connection: duckdb.DuckDBPyConnection,
    rows: pl.DataFrame,
    table_format: TableFormat,
    city_spellings: pl.DataFrame,
) -> tuple[pl.DataFrame, pl.DataFrame, int]:
    """Split rows into new ones, clashes with stored content, and repeats."""
    key = list(table_format.key)
    content = [c.name for c in table_format.columns]
    with registered(connection, "incoming_keys", rows.select(key)):
        stored = connection.sql(
            f"SELECT t.* FROM {table_format.table.name} t "
            f"JOIN incoming_keys USING ({', '.join(key)})"
        ).pl()
    if stored.is_empty():
        return rows, _empty_reject_rows(), 0

    # Stored values are cleaned and their cities spelled as the file's values
    # were, so that a row stored before a cleaning rule existed still equals
    # the same file row.
    stored = stored.select(
        clean_values(pl.col(c.name).cast(polars_type(c.kind)), c)
        for c in table_format.columns
    )
    stored = spell_cities(stored, city_spellings)
    compared = rows.join(stored, on=key, how="inner", suffix="_stored")
    # The name of each column whose value differs from the stored one, else null.
    differing = [
        pl.when(pl.col(c).eq_missing(pl.col(f"{c}_stored")))
        .then(None)
        .otherwise(pl.lit(c))
        for c in content
        if c not in key
    ]
    if differing:
        columns = pl.concat_list(differing).list.drop_nulls()
    else:
        columns = pl.lit([], pl.List(pl.String))
    clashing = compared.with_columns(columns.alias("differing")).filter(
        pl.col("differing").list.len() > 0
    )
    rejects = clashing.select(
        pl.col(LINE).alias("line"),
        pl.lit(", ".join(key)).alias("column_name"),
        pl.concat_str([pl.col(k) for k in key], separator=", ").alias("value"),
        pl.concat_str(
            pl.lit("key already in the store with other values of "),
            pl.col("differing").list.join(", "),
        ).alias("reason"),
    )
    new_rows = rows.join(stored.select(key), on=key, how="anti")
    return new_rows, rejects, compared.height - clashing.height


def _insert(
    connection: duckdb.DuckDBPyConnection,
    table_format: TableFormat,
    rows: pl.DataFrame,
) -> None:
    if rows.is_empty():
        return
    columns = [c.name for c in table_format.columns]
    names = ", ".join(columns)
    with registered(connection, "incoming_rows", rows.select(columns)):
        connection.execute(
            f"INSERT INTO {table_format.table.name} ({names}) "
            f"SELECT {names} FROM incoming_rows"
        )


def _record_rejects(
    connection: duckdb.DuckDBPyConnection, rejects: pl.DataFrame
) -> None:
    """Append rejects not recorded by an earlier import of the same file."""
    if rejects.is_empty():
        return
    stamped = rejects.with_columns(
        pl.lit(datetime.now(UTC).replace(tzinfo=None), pl.Datetime("us")).alias(
            "imported_at"
        ),
        pl.col("line").cast(pl.Int32),
    ).select(IMPORT_REJECTS.column_names)
    with registered(connection, "new_rejects", stamped):
        connection.execute(
            f"""
            INSERT INTO {IMPORT_REJECTS.name}
            SELECT * FROM new_rejects n
            WHERE NOT EXISTS (
                SELECT 1 FROM {IMPORT_REJECTS.name} r
                WHERE r.source_file = n.source_file
                  AND r.line IS NOT DISTINCT FROM n.line
                  AND r.column_name IS NOT DISTINCT FROM n.column_name
                  AND r.value IS NOT DISTINCT FROM n.value
                  AND r.reason = n.reason
            )
            """
        )


def _empty_reject_rows() -> pl.DataFrame:
    return pl.DataFrame(schema=REJECT_COLUMNS)
