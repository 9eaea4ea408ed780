"""The store data that the feature tables read: all of it, and as of a cutoff."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

import polars as pl

from features.schema import MENU_ITEM_ID, ORDER_ID, RESTAURANT_ID
from features.vegetarian import PREDICTION_COLUMN, classify_menu


@dataclass(frozen=True)
class StoreFrames:
    """The store tables the transforms read, with menu items classified.

    ``orders`` carries, per order, the item counts that diet features need:
    ``item_count`` and ``vegetarian_item_count`` (null for an order without
    items, such as a UCI rating).
    """

    users: pl.DataFrame
    restaurants: pl.DataFrame
    menu_items: pl.DataFrame
    orders: pl.DataFrame

    @classmethod
    def from_tables(cls, tables: Mapping[str, pl.DataFrame]) -> StoreFrames:
        """Build from frames keyed by store table name, such as a generated
        world's."""
        return cls.from_store_tables(
            users=tables["users"],
            restaurants=tables["restaurants"],
            menu_items=tables["menu_items"],
            orders=tables["orders"],
            order_items=tables["order_items"],
        )

    @classmethod
    def from_store_tables(
        cls,
        users: pl.DataFrame,
        restaurants: pl.DataFrame,
        menu_items: pl.DataFrame,
        orders: pl.DataFrame,
        order_items: pl.DataFrame,
    ) -> StoreFrames:
        """Classify the menu items and count each order's vegetarian items."""
        menu = classified_menu(menu_items)
        items = order_items.with_columns(
            pl.col(ORDER_ID, MENU_ITEM_ID).cast(pl.String),
            pl.col("quantity").cast(pl.Int64),
        ).join(
            menu.select(MENU_ITEM_ID, PREDICTION_COLUMN), on=MENU_ITEM_ID, how="left"
        )
        per_order = items.group_by(ORDER_ID).agg(
            pl.col("quantity").sum().cast(pl.Int64).alias("item_count"),
            pl.col("quantity")
            .filter(pl.col(PREDICTION_COLUMN))
            .sum()
            .cast(pl.Int64)
            .alias("vegetarian_item_count"),
        )
        return cls(
            users=users,
            restaurants=restaurants,
            menu_items=menu,
            orders=orders.join(per_order, on=ORDER_ID, how="left"),
        )


def classified_menu(menu_items: pl.DataFrame) -> pl.DataFrame:
    """Return the store's ``menu_items`` rows with ids as strings, prices as
    floats and the vegetarian prediction of
    :func:`features.vegetarian.classify_menu`, as the menu features read them."""
    return classify_menu(
        menu_items.with_columns(
            pl.col(MENU_ITEM_ID, RESTAURANT_ID).cast(pl.String),
            pl.col("price").cast(pl.Float64),
        )
    )


@dataclass(frozen=True)
class Snapshot:
    """The data visible to the features at one point in time.

    Attributes:
        store: every store table.
        orders: the visible orders, a subset of ``store.orders``.
        cutoff: the ``event_timestamp`` of the rows, in UTC; day windows are
            counted back from it.
    """

    store: StoreFrames
    orders: pl.DataFrame
    cutoff: datetime

    @property
    def cutoff_naive(self) -> datetime:
        """The cutoff as a naive UTC time, comparable with store times."""
        return self.cutoff.astimezone(UTC).replace(tzinfo=None)

    @property
    def timed(self) -> bool:
        """Whether the store's orders have times (then a user without visible
        orders has 0 orders in each window, not an unknown count)."""
        orders = self.store.orders
        return orders.height > 0 and orders["ordered_at"].null_count() == 0


def snapshot_at(store: StoreFrames, cutoff: datetime) -> Snapshot:
    """Return the snapshot of ``store`` at ``cutoff``: orders strictly before it.

    Orders without a time are visible at every cutoff.
    """
    naive = cutoff.astimezone(UTC).replace(tzinfo=None)
    visible = store.orders.filter(
        pl.col("ordered_at").is_null() | (pl.col("ordered_at") < naive)
    )
    return Snapshot(store=store, orders=visible, cutoff=cutoff)
