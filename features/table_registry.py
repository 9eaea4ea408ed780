"""The registry of feature tables, which importing features.transforms fills."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC

import polars as pl

from features.schema import EVENT_TIMESTAMP, RESTAURANT_ID, USER_ID
from features.snapshot import Snapshot

USER = "user"
RESTAURANT = "restaurant"
ENTITY_KEYS = {USER: USER_ID, RESTAURANT: RESTAURANT_ID}


@dataclass(frozen=True)
class TableSpec:
    """A registered feature table: its name, entity and compute function."""

    name: str
    entity: str
    compute: Callable[[Snapshot], pl.DataFrame]

    @property
    def key(self) -> str:
        return ENTITY_KEYS[self.entity]


FEATURE_TABLES: dict[str, TableSpec] = {}


def feature_table(
    name: str, entity: str
) -> Callable[[Callable[[Snapshot], pl.DataFrame]], Callable[[Snapshot], pl.DataFrame]]:
    """Register a function as the feature table ``name`` of ``entity``.

    The function takes a :class:`Snapshot` and returns one row per user (or
    restaurant) with the key column and the feature columns.
    """
    if entity not in ENTITY_KEYS:
        msg = (
            f"feature table {name!r}: entity must be one of "
            f"{sorted(ENTITY_KEYS)}, got {entity!r}"
        )
        raise ValueError(msg)

    def register(
        compute: Callable[[Snapshot], pl.DataFrame],
    ) -> Callable[[Snapshot], pl.DataFrame]:
        if name in FEATURE_TABLES:
            msg = f"feature table {name!r} is registered twice"
            raise ValueError(msg)
        FEATURE_TABLES[name] = TableSpec(name, entity, compute)
        return compute

    return register


def compute_tables(snapshot: Snapshot) -> dict[str, pl.DataFrame]:
    """Compute every registered table at ``snapshot``, stamped with its cutoff.

    Raises:
        ValueError: a table lacks its key column, repeats a key, or has a
            column of the same name as another table's column.
    """
    stamp = pl.lit(snapshot.cutoff.astimezone(UTC), pl.Datetime("us", "UTC"))
    stamp = stamp.alias(EVENT_TIMESTAMP)
    tables = {}
    # Training and evaluation join the tables of both entities into one frame,
    # where a repeated column name would get a suffix, so every column other
    # than the keys and the timestamp belongs to one table.
    owner: dict[str, str] = {}
    keys = set(ENTITY_KEYS.values())
    for spec in FEATURE_TABLES.values():
        frame = spec.compute(snapshot)
        if not isinstance(frame, pl.DataFrame):
            msg = (
                f"feature table {spec.name} returned {type(frame).__name__}, "
                "expected a polars DataFrame"
            )
            raise ValueError(msg)
        if spec.key not in frame.columns:
            msg = f"feature table {spec.name} has no {spec.key} column"
            raise ValueError(msg)
        if frame[spec.key].is_duplicated().any():
            msg = f"feature table {spec.name} has more than one row per {spec.key}"
            raise ValueError(msg)
        for column in frame.columns:
            if column in keys or column == EVENT_TIMESTAMP:
                continue
            if column in owner:
                msg = (
                    f"feature tables {owner[column]} and {spec.name} both have "
                    f"a column {column}; rename one of them, because column "
                    "names must be unique across the feature tables"
                )
                raise ValueError(msg)
            owner[column] = spec.name
        tables[spec.name] = frame.with_columns(stamp)
    return tables


def join_entity_tables(tables: dict[str, pl.DataFrame], entity: str) -> pl.DataFrame:
    """Join every table of ``entity`` on its key, without timestamps."""
    if entity not in ENTITY_KEYS:
        msg = f"entity must be one of {sorted(ENTITY_KEYS)}, got {entity!r}"
        raise ValueError(msg)
    key = ENTITY_KEYS[entity]
    joined: pl.DataFrame | None = None
    for spec in FEATURE_TABLES.values():
        if spec.entity != entity or spec.name not in tables:
            continue
        frame = tables[spec.name].drop(EVENT_TIMESTAMP, strict=False)
        joined = frame if joined is None else joined.join(frame, on=key, how="left")
    if joined is None:
        msg = f"no feature table of entity {entity!r}"
        raise ValueError(msg)
    return joined
