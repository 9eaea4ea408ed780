"""Tables of the DuckDB store and their column names, defined once.

Every module that reads or writes the store imports the names from here, so a
column is renamed in one place. Optional columns are nullable; a data set that
lacks them (the UCI one has no menus and no order times) leaves them empty.
"""

from __future__ import annotations

from dataclasses import dataclass

USER_ID = "user_id"
RESTAURANT_ID = "restaurant_id"
MENU_ITEM_ID = "menu_item_id"
ORDER_ID = "order_id"
EVENT_TIMESTAMP = "event_timestamp"

# The API accepts an id in a path only with at most MAX_ID_LENGTH characters
# and without control characters (Unicode category Cc: U+0000 to U+001F, DEL
# and U+0080 to U+009F), because a tab or a line break such as NEL (U+0085) in
# an id is a client bug. It also rejects '/', since no route takes one in a
# path segment, and whitespace at either end, since imports strip it from
# every field and so never store such an id. Imports apply the same rule, so
# that every stored id can be requested.
MAX_ID_LENGTH = 128
# The control characters (Unicode category Cc), as the inside of a regular
# expression's character class.
CONTROL_CHARACTERS = r"\x00-\x1f\x7f-\x9f"
_ID_CHARACTER = rf"[^{CONTROL_CHARACTERS}/]"
_ID_END_CHARACTER = rf"[^{CONTROL_CHARACTERS}/\s]"
ID_PATTERN = rf"^{_ID_END_CHARACTER}(?:{_ID_CHARACTER}*{_ID_END_CHARACTER})?$"
ID_RULE = (
    "expected an id without '/', control characters such as tab or newline, "
    "or whitespace at either end"
)


@dataclass(frozen=True)
class Table:
    """A store table: its name, its columns as (name, DuckDB type), its key."""

    name: str
    columns: tuple[tuple[str, str], ...]
    primary_key: tuple[str, ...]

    @property
    def column_names(self) -> list[str]:
        return [name for name, _ in self.columns]

    def create_sql(self) -> str:
        """Return the CREATE TABLE statement, idempotent."""
        columns = [f"{name} {sql_type}" for name, sql_type in self.columns]
        if self.primary_key:
            columns.append(f"PRIMARY KEY ({', '.join(self.primary_key)})")
        body = ",\n    ".join(columns)
        return f"CREATE TABLE IF NOT EXISTS {self.name} (\n    {body}\n)"


USERS = Table(
    name="users",
    columns=(
        (USER_ID, "VARCHAR NOT NULL"),
        ("signup_time", "TIMESTAMP"),
        ("city", "VARCHAR"),
        ("latitude", "DOUBLE"),
        ("longitude", "DOUBLE"),
        ("diet", "VARCHAR"),
        ("liked_cuisines", "VARCHAR[]"),
        ("budget", "VARCHAR"),
        ("age_band", "VARCHAR"),
    ),
    primary_key=(USER_ID,),
)

RESTAURANTS = Table(
    name="restaurants",
    columns=(
        (RESTAURANT_ID, "VARCHAR NOT NULL"),
        ("name", "VARCHAR NOT NULL"),
        ("city", "VARCHAR"),
        ("latitude", "DOUBLE"),
        ("longitude", "DOUBLE"),
        ("cuisines", "VARCHAR[]"),
        # 1 = low, 2 = medium, 3 = high.
        ("price_level", "TINYINT"),
        ("is_chain", "BOOLEAN"),
        ("opened_at", "TIMESTAMP"),
    ),
    primary_key=(RESTAURANT_ID,),
)

MENU_ITEMS = Table(
    name="menu_items",
    columns=(
        (MENU_ITEM_ID, "VARCHAR NOT NULL"),
        (RESTAURANT_ID, "VARCHAR NOT NULL"),
        ("name", "VARCHAR NOT NULL"),
        ("description", "VARCHAR"),
        ("price", "DOUBLE"),
        ("is_vegetarian", "BOOLEAN"),
    ),
    primary_key=(MENU_ITEM_ID,),
)

ORDERS = Table(
    name="orders",
    columns=(
        (ORDER_ID, "VARCHAR NOT NULL"),
        (USER_ID, "VARCHAR NOT NULL"),
        (RESTAURANT_ID, "VARCHAR NOT NULL"),
        # Empty only for data sets without times, such as the UCI ratings.
        ("ordered_at", "TIMESTAMP"),
        ("total", "DOUBLE"),
        ("rating", "DOUBLE"),
    ),
    primary_key=(ORDER_ID,),
)

ORDER_ITEMS = Table(
    name="order_items",
    columns=(
        (ORDER_ID, "VARCHAR NOT NULL"),
        (MENU_ITEM_ID, "VARCHAR NOT NULL"),
        ("quantity", "INTEGER NOT NULL"),
    ),
    primary_key=(ORDER_ID, MENU_ITEM_ID),
)

IMPORT_REJECTS = Table(
    name="import_rejects",
    columns=(
        ("source_file", "VARCHAR NOT NULL"),
        ("line", "INTEGER"),
        ("column_name", "VARCHAR"),
        ("value", "VARCHAR"),
        ("reason", "VARCHAR NOT NULL"),
        ("imported_at", "TIMESTAMP NOT NULL"),
    ),
    primary_key=(),
)

# The true segment of each synthetic user. Evaluation reads it to check that
# segments found from features match the planted ones; it is never a feature.
USER_SEGMENTS = Table(
    name="user_segments",
    columns=(
        (USER_ID, "VARCHAR NOT NULL"),
        ("segment", "VARCHAR NOT NULL"),
    ),
    primary_key=(USER_ID,),
)

# Impressions, clicks and orders that clients report on recommendation lists,
# moved here from the service's feedback log by service.feedback.ingest. Data-set
# imports leave this table alone. Times are in UTC.
FEEDBACK_EVENTS = Table(
    name="feedback_events",
    columns=(
        ("event_id", "VARCHAR NOT NULL"),
        ("request_id", "VARCHAR NOT NULL"),
        # NULL for anonymous callers.
        (USER_ID, "VARCHAR"),
        (RESTAURANT_ID, "VARCHAR NOT NULL"),
        # impression, click or order.
        ("kind", "VARCHAR NOT NULL"),
        ("occurred_at", "TIMESTAMP NOT NULL"),
        # 1 is the first place of the recommendation list.
        ("position", "INTEGER"),
        ("received_at", "TIMESTAMP NOT NULL"),
        ("ingested_at", "TIMESTAMP NOT NULL"),
    ),
    primary_key=("event_id",),
)

DOMAIN_TABLES: tuple[Table, ...] = (USERS, RESTAURANTS, MENU_ITEMS, ORDERS, ORDER_ITEMS)
ALL_TABLES: tuple[Table, ...] = (
    *DOMAIN_TABLES,
    USER_SEGMENTS,
    IMPORT_REJECTS,
    FEEDBACK_EVENTS,
)
