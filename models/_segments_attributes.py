"""The user and restaurant attribute frames that segments are evaluated over."""

from __future__ import annotations

from datetime import datetime

import polars as pl

from features.schema import RESTAURANT_ID, USER_ID
from features.transforms import (
    COFFEE_TEA_CUISINES,
    PIZZA_CUISINES,
    RESTAURANT,
    USER,
    Snapshot,
    StoreFrames,
    compute_tables,
    join_entity_tables,
    snapshot_at,
)

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
