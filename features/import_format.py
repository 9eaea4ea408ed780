"""The import format: which columns each table file has, and what they accept.

``docs/data-format.md`` describes the same rules for people; a test checks
that it names every column listed here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from features.schema import (
    MENU_ITEM_ID,
    MENU_ITEMS,
    ORDER_ID,
    ORDER_ITEMS,
    ORDERS,
    RESTAURANT_ID,
    RESTAURANTS,
    USER_ID,
    USERS,
    Table,
)

# The largest value of the store's INTEGER columns.
MAX_INT32 = 2**31 - 1
# The largest menu price and order total, in the data's own currency (the
# store records none). It is far above real prices and totals, also in
# currencies where a meal costs millions of units. A mean or sum over billions
# of such values stays far below the largest float (about 1.8e308).
MAX_AMOUNT = 1e12
# Separator of list values (cuisines) inside one CSV field.
LIST_SEPARATOR = "|"
# The range of Python's datetime, to which the pipeline converts times such as
# the first and last order. Polars and DuckDB also hold years before 1 and
# after 9999 (an offset can move 9999-12-31 into year 10000), but
# `recommender features` then fails without naming the file or row.
EARLIEST_TIME = datetime(1, 1, 1)
LATEST_TIME = datetime(9999, 12, 31, 23, 59, 59, 999999)
# The serving cutoff is the midnight after the last order, which Python's
# datetime cannot hold for an order on 9999-12-31.
LATEST_ORDER_TIME = datetime(9999, 12, 30, 23, 59, 59, 999999)
TRUE_VALUES = ("true", "t", "1", "yes")
FALSE_VALUES = ("false", "f", "0", "no")


class Kind(StrEnum):
    """The parser applied to a field's text."""

    TEXT = "text"
    # Text that the API accepts as an id: see MAX_ID_LENGTH and ID_PATTERN in
    # features/schema.py.
    ID = "id"
    FLOAT = "float"
    INTEGER = "integer"
    BOOLEAN = "boolean"
    TIMESTAMP = "timestamp"
    TEXT_LIST = "text list"


@dataclass(frozen=True)
class Column:
    """One column of an import file and its constraints."""

    name: str
    kind: Kind
    required: bool = False
    minimum: float | None = None
    maximum: float | None = None
    # Values are compared lower-cased; None allows any value.
    choices: tuple[str, ...] | None = None
    # The latest accepted time of a TIMESTAMP column.
    latest: datetime = LATEST_TIME
    # Whether a TEXT column keeps its tabs and line breaks. Single-line text
    # (names, cities) gets a space in place of each run of whitespace that
    # contains one; list values get the cuisine spelling, with underscores.
    multiline: bool = False


@dataclass(frozen=True)
class Reference:
    """A column whose value must be the key of a row in another table."""

    column: str
    table: Table


@dataclass(frozen=True)
class TableFormat:
    """The file format of one store table."""

    table: Table
    columns: tuple[Column, ...]
    references: tuple[Reference, ...] = ()

    @property
    def key(self) -> tuple[str, ...]:
        return self.table.primary_key

    def column(self, name: str) -> Column:
        return next(column for column in self.columns if column.name == name)


FORMATS: tuple[TableFormat, ...] = (
    TableFormat(
        table=USERS,
        columns=(
            Column(USER_ID, Kind.ID, required=True),
            Column("signup_time", Kind.TIMESTAMP),
            Column("city", Kind.TEXT),
            Column("latitude", Kind.FLOAT, minimum=-90, maximum=90),
            Column("longitude", Kind.FLOAT, minimum=-180, maximum=180),
            Column(
                "diet",
                Kind.TEXT,
                choices=("vegetarian", "vegan", "pescatarian", "omnivore"),
            ),
            Column("liked_cuisines", Kind.TEXT_LIST),
            Column("budget", Kind.TEXT, choices=("low", "medium", "high")),
            Column("age_band", Kind.TEXT),
        ),
    ),
    TableFormat(
        table=RESTAURANTS,
        columns=(
            Column(RESTAURANT_ID, Kind.ID, required=True),
            Column("name", Kind.TEXT, required=True),
            Column("city", Kind.TEXT),
            Column("latitude", Kind.FLOAT, minimum=-90, maximum=90),
            Column("longitude", Kind.FLOAT, minimum=-180, maximum=180),
            Column("cuisines", Kind.TEXT_LIST),
            Column("price_level", Kind.INTEGER, minimum=1, maximum=3),
            Column("is_chain", Kind.BOOLEAN),
            Column("opened_at", Kind.TIMESTAMP),
        ),
    ),
    TableFormat(
        table=MENU_ITEMS,
        columns=(
            Column(MENU_ITEM_ID, Kind.ID, required=True),
            Column(RESTAURANT_ID, Kind.ID, required=True),
            Column("name", Kind.TEXT, required=True),
            Column("description", Kind.TEXT, multiline=True),
            Column("price", Kind.FLOAT, minimum=0, maximum=MAX_AMOUNT),
            Column("is_vegetarian", Kind.BOOLEAN),
        ),
        references=(Reference(RESTAURANT_ID, RESTAURANTS),),
    ),
    TableFormat(
        table=ORDERS,
        columns=(
            Column(ORDER_ID, Kind.ID, required=True),
            Column(USER_ID, Kind.ID, required=True),
            Column(RESTAURANT_ID, Kind.ID, required=True),
            Column("ordered_at", Kind.TIMESTAMP, latest=LATEST_ORDER_TIME),
            Column("total", Kind.FLOAT, minimum=0, maximum=MAX_AMOUNT),
            Column("rating", Kind.FLOAT, minimum=0, maximum=5),
        ),
        references=(Reference(USER_ID, USERS), Reference(RESTAURANT_ID, RESTAURANTS)),
    ),
    TableFormat(
        table=ORDER_ITEMS,
        columns=(
            Column(ORDER_ID, Kind.ID, required=True),
            Column(MENU_ITEM_ID, Kind.ID, required=True),
            Column(
                "quantity", Kind.INTEGER, required=True, minimum=1, maximum=MAX_INT32
            ),
        ),
        references=(Reference(ORDER_ID, ORDERS), Reference(MENU_ITEM_ID, MENU_ITEMS)),
    ),
)

FORMAT_BY_TABLE = {table_format.table.name: table_format for table_format in FORMATS}
