"""One spelling per city in an import, with cities matched ignoring case.

The pair feature ``same_city``, the city candidates and the evaluation's
city segments compare cities exactly, so ``Lyon`` and ``lyon`` would be two
cities. An import therefore stores each city in one spelling:

- the spelling the store already has for it. When the store has several,
  as imports that kept the spelling of each file left them, the one on the
  most users and restaurants is used. A tie goes to the spelling that sorts
  first by code point, so ``Lyon`` wins over ``lyon``.
- else the first spelling in the import, taken from the restaurants file
  before the users file, in line order, from rows that passed their field
  checks.

Cities match by Unicode lower case (polars ``to_lowercase``) without further
folding. The rows already stored keep their spelling, and they are compared
with the file's rows after the same mapping, so a re-import is unchanged.
"""

from __future__ import annotations

import duckdb
import polars as pl

from features.import_format import FORMATS
from features.import_results import ParsedFile
from features.schema import RESTAURANTS, USERS
from features.validation import LINE, clean_values

CITY = "city"
# The tables with a city column, in the order their files name new cities.
CITY_TABLES = (RESTAURANTS.name, USERS.name)

_KEY = "city_key"
_ROWS = "rows"
_CITY_COLUMN = next(f for f in FORMATS if f.table.name == USERS.name).column(CITY)


def city_spellings(
    connection: duckdb.DuckDBPyConnection, files: dict[str, ParsedFile]
) -> pl.DataFrame:
    """Return the one spelling of each city of the store and of ``files``.

    The frame has a ``city_key`` column (the lower case of a city) and a
    ``city`` column (its spelling). It is empty when ``files`` has neither a
    users nor a restaurants file, since nothing in the import is then spelled.
    """
    incoming = [
        files[name].rows.filter(
            ~pl.col(LINE).is_in(files[name].rejects["line"].implode())
        )[CITY]
        for name in CITY_TABLES
        if name in files
    ]
    if not incoming:
        return pl.DataFrame(schema={_KEY: pl.String, CITY: pl.String})

    stored = connection.sql(
        f"""
        SELECT {CITY}, count(*) AS {_ROWS}
        FROM (
            SELECT {CITY} FROM {RESTAURANTS.name}
            UNION ALL
            SELECT {CITY} FROM {USERS.name}
        )
        WHERE {CITY} IS NOT NULL
        GROUP BY {CITY}
        """
    ).pl()
    # Stored cities are cleaned as the file's are, so that two stored forms
    # of one cleaned spelling count together.
    stored_spellings = (
        stored.with_columns(clean_values(pl.col(CITY), _CITY_COLUMN))
        .group_by(CITY)
        .agg(pl.col(_ROWS).sum())
        .with_columns(pl.col(CITY).str.to_lowercase().alias(_KEY))
        .sort([_KEY, _ROWS, CITY], descending=[False, True, False])
        .unique(_KEY, keep="first", maintain_order=True)
        .select(_KEY, CITY)
    )
    new_spellings = (
        pl.concat(incoming)
        .drop_nulls()
        .to_frame(CITY)
        .select(pl.col(CITY).str.to_lowercase().alias(_KEY), CITY)
        .unique(_KEY, keep="first", maintain_order=True)
        .join(stored_spellings, on=_KEY, how="anti")
    )
    return pl.concat([stored_spellings, new_spellings])


def spell_cities(frame: pl.DataFrame, spellings: pl.DataFrame) -> pl.DataFrame:
    """Return ``frame`` with each city in its spelling from ``spellings``.

    A frame without a city column, and a city that ``spellings`` lacks, are
    returned unchanged.
    """
    if CITY not in frame.columns or spellings.is_empty():
        return frame
    return frame.with_columns(
        pl.col(CITY)
        .str.to_lowercase()
        .replace_strict(spellings[_KEY], spellings[CITY], default=pl.col(CITY))
    )
