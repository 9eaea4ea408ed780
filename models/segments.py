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
from typing import Literal

import polars as pl
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from features.transforms import ENTITY_KEYS, RESTAURANT, USER, StoreFrames
from models._declaration_files import describe_error, entry_location, read_entries
from models._segments_attributes import attributes_at
from models._segments_attributes import cuisine_shares as cuisine_shares
from models._segments_attributes import restaurant_attributes as restaurant_attributes
from models._segments_attributes import user_attributes as user_attributes

logger = logging.getLogger(__name__)

# Audit segment values with a special meaning (models/audits.py).
RESERVED_NAMES = ("all", "each")
# A ``per`` column with more values than this gets a warning: each value is a
# segment, with its own rows in every report, and most are too small to read.
MANY_PER_VALUES = 50
NAME_PATTERN = r"^[a-z][a-z0-9_]*$"

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
            msg = (
                f"a SQL boolean expression that polars parses ({_polars_reason(error)})"
            )
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
    if len(values) > MANY_PER_VALUES:
        logger.warning(
            "segments %s=...: column %s has %d values, one segment each in every "
            "report; use per on a column of few values, such as a band or a city",
            spec.name,
            spec.per,
            len(values),
        )
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
            f"{spec.location}: field 'where': evaluating {spec.where!r} failed: "
            f"{_polars_reason(error)}"
        )
        raise ValueError(msg) from error
    if flags.dtype != pl.Boolean:
        msg = (
            f"{spec.location}: field 'where': got {spec.where!r}, of type "
            f"{flags.dtype}, expected a boolean expression"
        )
        raise ValueError(msg)
    return flags


def _polars_reason(error: pl.exceptions.PolarsError) -> str:
    """Return the first line of a polars error, its reason. The lines after it
    print the expression that failed, which the messages here give already."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[0] if lines else type(error).__name__


def _segment(
    spec: SegmentSpec, name: str, frame: pl.DataFrame, flags: pl.Series
) -> Segment:
    key = ENTITY_KEYS[spec.entity]
    members = frame.get_column(key).filter(flags.fill_null(False))
    return Segment(name, spec.entity, spec.description, frozenset(members.to_list()))
