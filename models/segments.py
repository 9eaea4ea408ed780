"""User and restaurant segments declared in YAML (``configs/segments.yaml``).

A segment is a named boolean ``where`` expression in SQL, evaluated with
``polars.sql_expr`` over one row per user or per restaurant, the attribute
frame. With ``per: column`` a declaration expands into one segment per
distinct non-null value of that column, named ``{name}={value}``.

Attribute frames are built as of a cutoff. Orders count when they are visible
in the snapshot: those placed strictly before the cutoff, and every order
without a time (the UCI ratings), as in ``features.transforms.snapshot_at``.
Store attributes (city, diet, cuisines, chain) have no history, so the frames
of every cutoff contain their current values.

User attribute columns:

- ``user_id``, ``city``, ``diet``, ``budget``, ``age_band``: the store's
  ``users`` columns; ``liked_cuisines`` is a list (``ARRAY_CONTAINS`` reads it).
- ``orders_before``: visible orders of the user, 0 when none.
- ``top_restaurant_orders``: visible orders at the user's most ordered
  restaurant, 0 when none.
- ``user_coffee_tea_share``, ``user_pizza_share``: share of the visible orders
  placed at a restaurant tagged with a coffee or tea cuisine (a pizza cuisine),
  null without orders. They come from the ``user_cuisine`` feature table, or
  are computed the same way from the orders when that table is absent.
- every column of the user feature tables of ``features.transforms``
  (``user_profile``, ``user_activity``, ``user_diet``, ``user_cuisine``,
  ``user_taste``), documented there; the segments read
  ``user_declared_vegetarian`` (1 for a declared vegetarian or vegan diet),
  ``user_vegetarian_order_ratio`` and ``user_diet_order_count``.

Restaurant attribute columns:

- ``restaurant_id``, ``name``, ``city``, ``price_level`` (1 low to 3 high),
  ``is_chain``, ``opened_at``: the store's ``restaurants`` columns;
  ``cuisines`` is a list.
- ``serves_coffee_or_tea``, ``serves_pizza``: whether a cuisine tag is one of
  ``COFFEE_TEA_CUISINES`` (``PIZZA_CUISINES``) of ``features.transforms``.
- ``orders_before``: visible orders at the restaurant, 0 when none.
- ``is_new``: the restaurant has no visible order.
- ``is_open``: opened strictly before the cutoff, or without an opening time.
- ``is_meat_only``: the menu has items and none is vegetarian; null without
  menu items, because then the menu cannot tell.
- ``is_independent``: not ``is_chain``; null when ``is_chain`` is null.
- every column of the restaurant feature tables of ``features.transforms``
  (``restaurant_profile``, ``restaurant_menu``, ``restaurant_popularity``,
  ``restaurant_taste``, ``restaurant_neighbours``), documented there.

A row whose ``where`` is null (a comparison with a null value) is not a
member. A segment whose ``where`` is null for every row, because the columns
it reads are null (a diet rule on the UCI data, which has no diet and no
menus), is skipped with a warning, and so is a ``per`` column null for every
row. A segment that is decided but has no members is kept, empty.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import polars as pl
import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from features.schema import RESTAURANT_ID, USER_ID
from features.transforms import (
    COFFEE_TEA_CUISINES,
    ENTITY_KEYS,
    PIZZA_CUISINES,
    RESTAURANT,
    USER,
    Snapshot,
    StoreFrames,
    compute_tables,
    join_entity_tables,
    snapshot_at,
)
from models.yaml_files import load_unique

logger = logging.getLogger(__name__)

# Audit segment values with a special meaning (models/audits.py).
RESERVED_NAMES = ("all", "each")
NAME_PATTERN = r"^[a-z][a-z0-9_]*$"

USER_STORE_COLUMNS = (USER_ID, "city", "diet", "liked_cuisines", "budget", "age_band")
RESTAURANT_STORE_COLUMNS = (
    RESTAURANT_ID,
    "name",
    "city",
    "cuisines",
    "price_level",
    "is_chain",
    "opened_at",
)
SHARE_COLUMNS = ("user_coffee_tea_share", "user_pizza_share")

_MEMBER = "_member"
_SEGMENT_FIELDS = {
    "name": (
        "a name of lower-case letters, digits and underscores that starts with "
        f"a letter and is not one of {', '.join(RESERVED_NAMES)}"
    ),
    "entity": f"{USER!r} or {RESTAURANT!r}",
    "description": "a non-empty sentence",
    "where": "a SQL boolean expression over the entity's attribute columns",
    "per": "the name of an attribute column",
}


class SegmentSpec(BaseModel):
    """One segment declaration, as written in the YAML file."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    name: str = Field(pattern=NAME_PATTERN)
    entity: Literal["user", "restaurant"]
    description: str = Field(min_length=1)
    per: str | None = Field(default=None, min_length=1)
    # Left out only with ``per``: then every row with a value is a member.
    # Validated after ``per``, which must come first.
    where: str | None = Field(default=None, validate_default=True)
    # Where the declaration was read, for error messages.
    _location: str = PrivateAttr(default="")

    @field_validator("name")
    @classmethod
    def _not_reserved(cls, name: str) -> str:
        if name in RESERVED_NAMES:
            msg = f"a name other than {' and '.join(RESERVED_NAMES)}, which audits use"
            raise ValueError(msg)
        return name

    @field_validator("where")
    @classmethod
    def _check_where(cls, where: str | None, info: ValidationInfo) -> str | None:
        if where is None:
            if info.data.get("per") is None:
                msg = "a SQL boolean expression (it may be left out only with 'per')"
                raise ValueError(msg)
            return None
        if not where.strip():
            msg = "a non-empty SQL boolean expression"
            raise ValueError(msg)
        try:
            pl.sql_expr(where)
        except pl.exceptions.PolarsError as error:
            msg = f"a SQL boolean expression that polars parses ({error})"
            raise ValueError(msg) from error
        return where.strip()

    @property
    def location(self) -> str:
        """Return ``file: segments[i] (name)``, or ``segment name`` when the
        spec was not read from a file."""
        return self._location or f"segment {self.name}"


@dataclass(frozen=True)
class Segment:
    """The members of one segment: user or restaurant ids."""

    name: str
    entity: str
    description: str
    members: frozenset[str]

    @property
    def size(self) -> int:
        return len(self.members)


def load_segments(path: Path) -> list[SegmentSpec]:
    """Read and validate the segment declarations of a YAML file.

    Raises:
        ValueError: the file is not a mapping with a ``segments`` list, or a
            declaration is invalid or repeats a name. The message names the
            file, the segment (index and name), the field, the value and what
            was expected.
    """
    entries = read_entries(path, "segments")
    specs: list[SegmentSpec] = []
    first_index: dict[str, int] = {}
    for index, raw in enumerate(entries):
        location = entry_location(path, "segments", index, raw)
        try:
            spec = SegmentSpec.model_validate(raw)
        except ValidationError as error:
            raise ValueError(
                describe_error(location, raw, error, _SEGMENT_FIELDS)
            ) from None
        if spec.name in first_index:
            msg = (
                f"{location}: field 'name': got {spec.name!r}, expected a name not "
                f"already used by segments[{first_index[spec.name]}]"
            )
            raise ValueError(msg)
        first_index[spec.name] = index
        spec._location = location
        specs.append(spec)
    return specs


def assign_segments(
    specs: Sequence[SegmentSpec], users: pl.DataFrame, restaurants: pl.DataFrame
) -> dict[str, Segment]:
    """Evaluate every segment over the attribute frames and collect its members.

    An empty segment is kept with no members. A segment whose ``where`` is
    null for every row, or whose ``per`` column is, is skipped with a warning.

    Raises:
        ValueError: an expression references a column the frame lacks (names
            it and the available ones), is not boolean, fails to evaluate,
            or two segments end up with the same name.
    """
    frames = {USER: users, RESTAURANT: restaurants}
    segments: dict[str, Segment] = {}
    for spec in specs:
        frame = frames[spec.entity]
        for segment in _expand(spec, frame):
            if segment.name in segments:
                msg = f"{spec.location}: segment {segment.name!r} is declared twice"
                raise ValueError(msg)
            segments[segment.name] = segment
    return segments


def check_segment_columns(
    specs: Sequence[SegmentSpec], store: StoreFrames, cutoff: datetime
) -> None:
    """Raise ValueError, as :func:`assign_segments` would, for a ``where`` or
    ``per`` naming a column that the attribute frames lack, or a ``where``
    that is not boolean.

    The frames are built from no rows of ``store``, since the columns do not
    depend on the data, so this runs in well under a second.
    """
    empty = replace(
        store,
        users=store.users.clear(),
        restaurants=store.restaurants.clear(),
        menu_items=store.menu_items.clear(),
        orders=store.orders.clear(),
    )
    frames = dict(zip((USER, RESTAURANT), attributes_at(empty, cutoff), strict=True))
    for spec in specs:
        where = pl.sql_expr(spec.where) if spec.where is not None else pl.lit(True)
        _check_columns(spec, frames[spec.entity], where)
        # The type of the result does not depend on the rows either.
        _evaluate(spec, frames[spec.entity], where)


def attributes_at(
    source: StoreFrames | Snapshot,
    cutoff: datetime | None = None,
    tables: dict[str, pl.DataFrame] | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Build the user and the restaurant attribute frames as of ``cutoff``.

    ``source`` is the store, read at ``cutoff``, or a snapshot, whose own
    cutoff is used (``cutoff`` must then be None or the same). ``tables`` are
    the feature tables at that cutoff, when they are already computed
    (:attr:`models.analysis.RankedLists.tables`).
    """
    snapshot = _snapshot(source, cutoff)
    if tables is None:
        tables = compute_tables(snapshot)
    users = _user_frame(snapshot, join_entity_tables(tables, USER))
    restaurants = _restaurant_frame(snapshot, join_entity_tables(tables, RESTAURANT))
    return users, restaurants


def user_attributes(
    source: StoreFrames | Snapshot, cutoff: datetime | None = None
) -> pl.DataFrame:
    """Build the user attribute frame as of ``cutoff`` (see :func:`attributes_at`)."""
    return attributes_at(source, cutoff)[0]


def restaurant_attributes(
    source: StoreFrames | Snapshot, cutoff: datetime | None = None
) -> pl.DataFrame:
    """Build the restaurant attribute frame as of ``cutoff``
    (see :func:`attributes_at`)."""
    return attributes_at(source, cutoff)[1]


def read_entries(path: Path, key: str) -> list[Any]:
    """Read the list under ``key`` of a YAML mapping file.

    Raises:
        ValueError: the file is not valid YAML or has no such list.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as error:
        msg = f"{path}: file not found; expected a YAML file with a list of {key}"
        raise ValueError(msg) from error
    except IsADirectoryError as error:
        msg = f"{path}: is a folder; expected a YAML file with a list of {key}"
        raise ValueError(msg) from error
    except UnicodeDecodeError as error:
        msg = f"{path}: not UTF-8 text ({error.reason} at byte offset {error.start})"
        raise ValueError(msg) from error
    try:
        raw = load_unique(text)
    except yaml.YAMLError as error:
        msg = f"{path}: invalid YAML: {error}"
        raise ValueError(msg) from error
    if not isinstance(raw, dict) or not isinstance(raw.get(key), list):
        msg = f"{path}: expected a mapping with a list under {key!r}, got {raw!r}"
        raise ValueError(msg)
    unknown = sorted(set(raw) - {key})
    if unknown:
        msg = f"{path}: unknown top-level keys {unknown}; expected only {key!r}"
        raise ValueError(msg)
    return list(raw[key])


def entry_location(path: Path, key: str, index: int, raw: object) -> str:
    """Return ``file: key[index] (name)`` for error messages."""
    name = raw.get("name") if isinstance(raw, dict) else None
    return f"{path}: {key}[{index}] ({name if name is not None else 'no name'})"


def describe_error(
    location: str, raw: object, error: ValidationError, expected: dict[str, str]
) -> str:
    """Turn the first pydantic error into ``location: field 'x': got ...,
    expected ...``.

    An unknown field is reported first, because a misspelt field name also
    makes the field it was meant to be look missing.
    """
    errors = error.errors()
    first = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
    if not isinstance(raw, dict) or not first["loc"]:
        return f"{location}: expected a mapping of fields, got {raw!r}"
    field = str(first["loc"][0])
    if first["type"] == "extra_forbidden":
        return (
            f"{location}: field {field!r}: got {first['input']!r}, expected no such "
            f"field; known fields: {', '.join(expected)}"
        )
    if first["type"] == "missing":
        return f"{location}: field {field!r}: missing, expected {expected[field]}"
    if first["type"] == "value_error":
        wanted = str(first["ctx"]["error"])
    else:
        wanted = expected.get(field, first["msg"])
    return f"{location}: field {field!r}: got {raw.get(field)!r}, expected {wanted}"


def _expand(spec: SegmentSpec, frame: pl.DataFrame) -> list[Segment]:
    """Evaluate one declaration: one segment, or one per value of ``per``."""
    where = pl.sql_expr(spec.where) if spec.where is not None else pl.lit(True)
    _check_columns(spec, frame, where)
    flags = _evaluate(spec, frame, where)
    if frame.height > 0 and flags.null_count() == frame.height:
        logger.warning(
            "segment %s skipped: its where expression %r is null for every %s, "
            "because the columns it reads are null",
            spec.name,
            spec.where,
            spec.entity,
        )
        return []
    if spec.per is None:
        return [_segment(spec, spec.name, frame, flags)]

    column = frame.get_column(spec.per)
    if frame.height > 0 and column.null_count() == frame.height:
        logger.warning(
            "segments %s=... skipped: column %s is null for every %s",
            spec.name,
            spec.per,
            spec.entity,
        )
        return []
    values = column.drop_nulls().unique().sort().to_list()
    return [
        _segment(spec, f"{spec.name}={value}", frame, flags & (column == value))
        for value in values
    ]


def _check_columns(spec: SegmentSpec, frame: pl.DataFrame, where: pl.Expr) -> None:
    """Raise ValueError naming the first column the frame lacks, or a ``per``
    column of lists."""
    read = where.meta.root_names()
    columns = [*read, spec.per] if spec.per is not None else read
    for column in columns:
        if column in frame.columns:
            continue
        field = "where" if column in read else "per"
        msg = (
            f"{spec.location}: field {field!r}: column {column!r} is not a "
            f"{spec.entity} attribute (a text value needs single quotes, as in "
            f"city = 'Porto'); available columns: {', '.join(frame.columns)}"
        )
        raise ValueError(msg)
    if spec.per is not None and isinstance(frame.schema[spec.per], pl.List | pl.Array):
        msg = (
            f"{spec.location}: field 'per': got {spec.per!r}, a list column, "
            "expected a column of single values"
        )
        raise ValueError(msg)


def _evaluate(spec: SegmentSpec, frame: pl.DataFrame, where: pl.Expr) -> pl.Series:
    """Return the boolean value of ``where`` for every row, null included."""
    key = ENTITY_KEYS[spec.entity]
    try:
        # Selecting the key with it broadcasts a constant such as TRUE.
        flags = frame.select(pl.col(key), where.alias(_MEMBER)).get_column(_MEMBER)
    except pl.exceptions.PolarsError as error:
        msg = (
            f"{spec.location}: field 'where': evaluating {spec.where!r} failed: {error}"
        )
        raise ValueError(msg) from error
    if flags.dtype != pl.Boolean:
        msg = (
            f"{spec.location}: field 'where': got {spec.where!r}, of type "
            f"{flags.dtype}, expected a boolean expression"
        )
        raise ValueError(msg)
    return flags


def _segment(
    spec: SegmentSpec, name: str, frame: pl.DataFrame, flags: pl.Series
) -> Segment:
    key = ENTITY_KEYS[spec.entity]
    members = frame.get_column(key).filter(flags.fill_null(False))
    return Segment(name, spec.entity, spec.description, frozenset(members.to_list()))


def _snapshot(source: StoreFrames | Snapshot, cutoff: datetime | None) -> Snapshot:
    if isinstance(source, Snapshot):
        if cutoff is not None and cutoff != source.cutoff:
            msg = (
                f"cutoff {cutoff.isoformat()} differs from the snapshot's cutoff "
                f"{source.cutoff.isoformat()}; pass None to use the snapshot's"
            )
            raise ValueError(msg)
        return source
    if cutoff is None:
        msg = "a cutoff is required to read the store; got None"
        raise ValueError(msg)
    return snapshot_at(source, cutoff)


def _order_counts(snapshot: Snapshot, key: str) -> pl.DataFrame:
    return snapshot.orders.group_by(key).agg(
        pl.len().cast(pl.Int64).alias("orders_before")
    )


def _user_frame(snapshot: Snapshot, features: pl.DataFrame) -> pl.DataFrame:
    """Join the store columns, the feature tables and the derived columns."""
    top = (
        snapshot.orders.group_by(USER_ID, RESTAURANT_ID)
        .agg(pl.len().cast(pl.Int64).alias("_orders"))
        .group_by(USER_ID)
        .agg(pl.col("_orders").max().alias("top_restaurant_orders"))
    )
    if not set(SHARE_COLUMNS) <= set(features.columns):
        features = features.drop(SHARE_COLUMNS, strict=False).join(
            cuisine_shares(snapshot), on=USER_ID, how="left"
        )
    return (
        snapshot.store.users.select(USER_STORE_COLUMNS)
        .join(_order_counts(snapshot, USER_ID), on=USER_ID, how="left")
        .join(top, on=USER_ID, how="left")
        .with_columns(pl.col("orders_before", "top_restaurant_orders").fill_null(0))
        .join(features, on=USER_ID, how="left")
    )


def cuisine_shares(snapshot: Snapshot) -> pl.DataFrame:
    """Compute each ordering user's coffee or tea share and pizza share.

    A share is the fraction of the user's visible orders placed at a restaurant
    with at least one tag of the group. Orders at a restaurant missing from
    the store do not count, as in the ``user_cuisine`` feature table.
    """
    tagged = snapshot.store.restaurants.select(
        RESTAURANT_ID,
        _has_tag(COFFEE_TEA_CUISINES).alias("user_coffee_tea_share"),
        _has_tag(PIZZA_CUISINES).alias("user_pizza_share"),
    )
    return (
        snapshot.orders.select(USER_ID, RESTAURANT_ID)
        .join(tagged, on=RESTAURANT_ID, how="inner")
        .group_by(USER_ID)
        .agg(pl.col(SHARE_COLUMNS).cast(pl.Float64).mean())
    )


def _has_tag(tags: tuple[str, ...]) -> pl.Expr:
    """Return whether a restaurant's cuisines contain one of ``tags`` (false
    without cuisines)."""
    cuisines = pl.col("cuisines").fill_null(pl.lit([], pl.List(pl.String)))
    return cuisines.list.eval(pl.element().is_in(tags)).list.any()


def _restaurant_frame(snapshot: Snapshot, features: pl.DataFrame) -> pl.DataFrame:
    """Join the store columns, the feature tables and the derived columns."""
    cutoff = pl.lit(snapshot.cutoff_naive, pl.Datetime("us"))
    has_menu = pl.col("restaurant_menu_item_count") > 0
    meat_only = pl.when(has_menu).then(pl.col("restaurant_vegetarian_item_share") == 0)
    return (
        snapshot.store.restaurants.select(RESTAURANT_STORE_COLUMNS)
        .with_columns(
            pl.col("price_level").cast(pl.Int64),
            pl.when(pl.col("cuisines").is_not_null())
            .then(_has_tag(COFFEE_TEA_CUISINES))
            .alias("serves_coffee_or_tea"),
            pl.when(pl.col("cuisines").is_not_null())
            .then(_has_tag(PIZZA_CUISINES))
            .alias("serves_pizza"),
        )
        .join(_order_counts(snapshot, RESTAURANT_ID), on=RESTAURANT_ID, how="left")
        .with_columns(pl.col("orders_before").fill_null(0))
        .join(features, on=RESTAURANT_ID, how="left")
        .with_columns(
            (pl.col("orders_before") == 0).alias("is_new"),
            (pl.col("opened_at").is_null() | (pl.col("opened_at") < cutoff)).alias(
                "is_open"
            ),
            meat_only.alias("is_meat_only"),
            pl.col("is_chain").not_().alias("is_independent"),
        )
    )
