"""Feature tables of users and restaurants as of a cutoff.

Each table is computed by one function registered with :func:`feature_table`
and becomes one Feast feature view of the same name (declared in
``feature_repo/definitions.py``). A function receives a :class:`Snapshot`:
the store's users, restaurants and classified menu items, and the orders the
features may see. At a cutoff, those are the orders placed strictly before
it. For a label fold of a data set without order times, they are the orders
of the other folds. The function returns one row per entity, with the key
column and the features. Feature names start with their entity (``user_``,
``restaurant_``), so names stay unique when views are read together.

Menus and declared attributes have no history in the store, so every
snapshot sees their current values. Windows counted in days (orders in the
last 7 days, days since the last order) are null when orders have no times.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

import polars as pl

from features.schema import (
    EVENT_TIMESTAMP,
    MENU_ITEM_ID,
    ORDER_ID,
    RESTAURANT_ID,
    USER_ID,
)
from features.taste import co_ordered, taste_factors
from features.vegetarian import PREDICTION_COLUMN, classify_menu

USER = "user"
RESTAURANT = "restaurant"
ENTITY_KEYS = {USER: USER_ID, RESTAURANT: RESTAURANT_ID}

BUDGET_LEVELS = {"low": 1, "medium": 2, "high": 3}
VEGETARIAN_DIETS = ("vegetarian", "vegan")
# Cuisine tags whose orders count as coffee or tea, and as pizza.
COFFEE_TEA_CUISINES = ("cafe", "cafe_coffee_shop", "coffee", "coffee_shop", "tea")
PIZZA_CUISINES = ("pizza", "pizzeria")
# Cuisine tags of restaurants that serve vegetarian dishes.
VEGETARIAN_CUISINES = ("vegetarian", "vegan")
ACTIVITY_WINDOWS_DAYS = (7, 30, 90)
POPULARITY_WINDOWS_DAYS = (7, 30)

# Values of restaurant_vegetarian_evidence.
EVIDENCE_MENU = "menu"
EVIDENCE_CUISINE = "cuisine"
EVIDENCE_NONE = "none"

_DAY_US = 86_400 * 1_000_000


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


def _days_since(column: str, snapshot: Snapshot) -> pl.Expr:
    elapsed = pl.lit(snapshot.cutoff_naive, pl.Datetime("us")) - pl.col(column)
    return elapsed.dt.total_microseconds() / _DAY_US


def _within_days(days: int, snapshot: Snapshot) -> pl.Expr:
    return _days_since("ordered_at", snapshot) <= days


def _per_entity(
    keys: pl.DataFrame, features: pl.DataFrame, zero_filled: list[str]
) -> pl.DataFrame:
    """Left-join ``features`` to ``keys`` and set the counts of entities without
    orders to 0."""
    return keys.join(features, on=keys.columns[0], how="left").with_columns(
        pl.col(name).fill_null(0) for name in zero_filled
    )


def _window_counts(
    snapshot: Snapshot, prefix: str, windows: tuple[int, ...], users: bool
) -> list[pl.Expr]:
    """Return order (and distinct user) counts per window, null without order
    times."""
    expressions = []
    for days in windows:
        recent = _within_days(days, snapshot)
        orders = pl.col(ORDER_ID).filter(recent).len().cast(pl.Int64)
        expressions.append(
            (orders if snapshot.timed else pl.lit(None, pl.Int64)).alias(
                f"{prefix}_orders_{days}d"
            )
        )
        if users:
            distinct = pl.col(USER_ID).filter(recent).n_unique().cast(pl.Int64)
            expressions.append(
                (distinct if snapshot.timed else pl.lit(None, pl.Int64)).alias(
                    f"{prefix}_users_{days}d"
                )
            )
    return expressions


# ---------------------------------------------------------------------------
# User tables.
# ---------------------------------------------------------------------------


@feature_table("user_profile", USER)
def user_profile(snapshot: Snapshot) -> pl.DataFrame:
    """Declared attributes: location, city, budget level, liked cuisines."""
    return snapshot.store.users.select(
        USER_ID,
        pl.col("latitude").alias("user_latitude"),
        pl.col("longitude").alias("user_longitude"),
        pl.col("city").alias("user_city"),
        pl.col("budget")
        .replace_strict(BUDGET_LEVELS, default=None, return_dtype=pl.Int64)
        .alias("user_budget_level"),
        pl.col("liked_cuisines").alias("user_liked_cuisines"),
    )


@feature_table("user_activity", USER)
def user_activity(snapshot: Snapshot) -> pl.DataFrame:
    """Compute how much and how recently the user ordered, and from where.

    ``user_visited_restaurant_ids`` lists the restaurant of every past order,
    sorted, with repeats, so that a restaurant's count is the number of orders
    placed there.
    """
    located = snapshot.orders.join(
        snapshot.store.restaurants.select(RESTAURANT_ID, "latitude", "longitude"),
        on=RESTAURANT_ID,
        how="inner",
    )
    last = pl.col("ordered_at").max()
    activity = located.group_by(USER_ID).agg(
        pl.len().cast(pl.Int64).alias("user_order_count"),
        *_window_counts(snapshot, "user", ACTIVITY_WINDOWS_DAYS, users=False),
        (
            (
                pl.lit(snapshot.cutoff_naive, pl.Datetime("us")) - last
            ).dt.total_microseconds()
            / _DAY_US
            if snapshot.timed
            else pl.lit(None, pl.Float64)
        ).alias("user_days_since_last_order"),
        pl.col("total").mean().alias("user_avg_order_value"),
        pl.col("rating").mean().alias("user_mean_rating"),
        pl.col(RESTAURANT_ID).sort().alias("user_visited_restaurant_ids"),
        pl.col("latitude").mean().alias("user_history_latitude"),
        pl.col("longitude").mean().alias("user_history_longitude"),
    )
    counts = ["user_order_count"]
    if snapshot.timed:
        counts += [f"user_orders_{days}d" for days in ACTIVITY_WINDOWS_DAYS]
    return _per_entity(
        snapshot.store.users.select(USER_ID), activity, counts
    ).with_columns(
        pl.col("user_visited_restaurant_ids").fill_null(pl.lit([], pl.List(pl.String)))
    )


@feature_table("user_diet", USER)
def user_diet(snapshot: Snapshot) -> pl.DataFrame:
    """Declared diet and the share of vegetarian orders and items.

    An order is vegetarian when every item in it is (by label, or by the
    menu classifier otherwise). Orders without items, such as UCI ratings, do
    not count; ``user_diet_order_count`` is the number that do, so the model
    can tell a ratio resting on one order from one resting on fifty.
    """
    with_items = snapshot.orders.filter(pl.col("item_count") > 0)
    diet = with_items.group_by(USER_ID).agg(
        pl.len().cast(pl.Int64).alias("user_diet_order_count"),
        (pl.col("vegetarian_item_count") == pl.col("item_count"))
        .mean()
        .alias("user_vegetarian_order_ratio"),
        (pl.col("vegetarian_item_count").sum() / pl.col("item_count").sum()).alias(
            "user_vegetarian_item_ratio"
        ),
    )
    declared = snapshot.store.users.select(
        USER_ID,
        pl.when(pl.col("diet").is_null())
        .then(None)
        .otherwise(pl.col("diet").str.to_lowercase().is_in(VEGETARIAN_DIETS))
        .cast(pl.Int64)
        .alias("user_declared_vegetarian"),
    )
    return _per_entity(declared, diet, ["user_diet_order_count"])


@feature_table("user_cuisine", USER)
def user_cuisine(snapshot: Snapshot) -> pl.DataFrame:
    """Share of the user's orders per cuisine, coffee or tea and pizza shares,
    and diversity.

    A restaurant tagged with two cuisines counts for both, so shares can add
    up to more than 1. ``user_cuisine_names`` and ``user_cuisine_shares`` are
    parallel lists, largest share first. Diversity is the exponential of the
    entropy of the cuisine counts: the number of equally frequent cuisines
    with the same spread (1 for a user who only orders one cuisine).
    """
    # A restaurant without cuisines counts in every share's denominator.
    orders = snapshot.orders.select(USER_ID, RESTAURANT_ID).join(
        snapshot.store.restaurants.select(
            RESTAURANT_ID,
            pl.col("cuisines").fill_null(pl.lit([], pl.List(pl.String))),
        ),
        on=RESTAURANT_ID,
        how="inner",
    )
    totals = orders.group_by(USER_ID).agg(
        pl.len().alias("_orders"),
        pl.col("cuisines")
        .list.eval(pl.element().is_in(COFFEE_TEA_CUISINES).any())
        .explode()
        .mean()
        .alias("user_coffee_tea_share"),
        pl.col("cuisines")
        .list.eval(pl.element().is_in(PIZZA_CUISINES).any())
        .explode()
        .mean()
        .alias("user_pizza_share"),
    )
    counts = (
        orders.explode("cuisines")
        .drop_nulls("cuisines")
        .group_by(USER_ID, "cuisines")
        .agg(pl.len().alias("_count"))
        .join(totals.select(USER_ID, "_orders"), on=USER_ID)
        .with_columns(
            (pl.col("_count") / pl.col("_orders")).alias("_share"),
            (pl.col("_count") / pl.col("_count").sum().over(USER_ID)).alias("_p"),
        )
        .sort(USER_ID, "_share", "cuisines", descending=[False, True, False])
    )
    profile = counts.group_by(USER_ID, maintain_order=True).agg(
        pl.col("cuisines").alias("user_cuisine_names"),
        pl.col("_share").alias("user_cuisine_shares"),
        pl.col("_share").first().alias("user_top_cuisine_share"),
        (-(pl.col("_p") * pl.col("_p").log()).sum())
        .exp()
        .alias("user_cuisine_diversity"),
    )
    features = totals.drop("_orders").join(profile, on=USER_ID, how="left")
    return _per_entity(snapshot.store.users.select(USER_ID), features, []).with_columns(
        pl.col("user_cuisine_names").fill_null(pl.lit([], pl.List(pl.String))),
        pl.col("user_cuisine_shares").fill_null(pl.lit([], pl.List(pl.Float64))),
    )


# ---------------------------------------------------------------------------
# Restaurant tables.
# ---------------------------------------------------------------------------


@feature_table("restaurant_profile", RESTAURANT)
def restaurant_profile(snapshot: Snapshot) -> pl.DataFrame:
    """Static content: name, place, price level, chain or not, cuisines."""
    return snapshot.store.restaurants.select(
        RESTAURANT_ID,
        pl.col("name").alias("restaurant_name"),
        pl.col("latitude").alias("restaurant_latitude"),
        pl.col("longitude").alias("restaurant_longitude"),
        pl.col("city").alias("restaurant_city"),
        pl.col("price_level").cast(pl.Int64).alias("restaurant_price_level"),
        pl.col("is_chain").cast(pl.Int64).alias("restaurant_is_chain"),
        pl.col("cuisines").alias("restaurant_cuisines"),
    )


@feature_table("restaurant_menu", RESTAURANT)
def restaurant_menu(snapshot: Snapshot) -> pl.DataFrame:
    """Vegetarian options on the menu, and the evidence they rest on.

    A main dish is an item priced at or above its menu's median price (the
    store has no course column; drinks, sides and desserts are the cheap
    items). A restaurant without menu items has vegetarian options when it
    is tagged with a vegetarian or vegan cuisine; otherwise the value is
    unknown (null), and ``restaurant_vegetarian_evidence`` says which case
    applies: ``menu``, ``cuisine`` or ``none``.
    """
    menu = snapshot.store.menu_items.with_columns(
        (pl.col("price") >= pl.col("price").median().over(RESTAURANT_ID)).alias("_main")
    )
    by_menu = menu.group_by(RESTAURANT_ID).agg(
        pl.len().cast(pl.Int64).alias("restaurant_menu_item_count"),
        pl.col(PREDICTION_COLUMN).mean().alias("restaurant_vegetarian_item_share"),
        (pl.col(PREDICTION_COLUMN) & pl.col("_main"))
        .sum()
        .cast(pl.Int64)
        .alias("restaurant_vegetarian_main_count"),
        pl.col("price").median().alias("restaurant_median_item_price"),
    )
    tagged = (
        pl.col("cuisines").list.eval(pl.element().is_in(VEGETARIAN_CUISINES)).list.any()
    )
    has_menu = pl.col("restaurant_menu_item_count") > 0
    return (
        snapshot.store.restaurants.select(RESTAURANT_ID, "cuisines")
        .join(by_menu, on=RESTAURANT_ID, how="left")
        .with_columns(pl.col("restaurant_menu_item_count").fill_null(0))
        .with_columns(
            pl.when(has_menu)
            .then(pl.col("restaurant_vegetarian_item_share") > 0)
            .when(tagged)
            .then(pl.lit(True))
            .otherwise(None)
            .cast(pl.Int64)
            .alias("restaurant_has_vegetarian_options"),
            pl.when(has_menu)
            .then(pl.lit(EVIDENCE_MENU))
            .when(tagged)
            .then(pl.lit(EVIDENCE_CUISINE))
            .otherwise(pl.lit(EVIDENCE_NONE))
            .alias("restaurant_vegetarian_evidence"),
        )
        .drop("cuisines")
    )


@feature_table("restaurant_popularity", RESTAURANT)
def restaurant_popularity(snapshot: Snapshot) -> pl.DataFrame:
    """Orders and distinct users, overall and in recent windows; mean rating;
    days since opening.

    ``restaurant_order_share`` is the restaurant's share of all visible
    orders, so that snapshots built on different numbers of orders (label
    folds, cutoffs) stay comparable.
    """
    total = max(snapshot.orders.height, 1)
    counts = snapshot.orders.group_by(RESTAURANT_ID).agg(
        pl.len().cast(pl.Int64).alias("restaurant_order_count"),
        pl.col(USER_ID).n_unique().cast(pl.Int64).alias("restaurant_user_count"),
        *_window_counts(snapshot, "restaurant", POPULARITY_WINDOWS_DAYS, users=True),
        pl.col("rating").mean().alias("restaurant_mean_rating"),
    )
    zero = ["restaurant_order_count", "restaurant_user_count"]
    if snapshot.timed:
        for days in POPULARITY_WINDOWS_DAYS:
            zero += [f"restaurant_orders_{days}d", f"restaurant_users_{days}d"]
    # Null, not negative, for a restaurant that opens after the cutoff: the
    # snapshot must not tell when it will open.
    age = _days_since("opened_at", snapshot)
    opened = snapshot.store.restaurants.select(
        RESTAURANT_ID,
        pl.when(age >= 0).then(age).alias("restaurant_days_since_opening"),
    )
    return _per_entity(opened, counts, zero).with_columns(
        (pl.col("restaurant_order_count") / total).alias("restaurant_order_share")
    )


# The factors of the latest snapshot, shared by the user and restaurant
# tables; the snapshot itself is kept so that its id cannot be reused.
_TASTE_CACHE: list[tuple[Snapshot, tuple[pl.DataFrame, pl.DataFrame]]] = []


def _taste(snapshot: Snapshot) -> tuple[pl.DataFrame, pl.DataFrame]:
    if not _TASTE_CACHE or _TASTE_CACHE[0][0] is not snapshot:
        _TASTE_CACHE[:] = [(snapshot, taste_factors(snapshot.orders))]
    return _TASTE_CACHE[0][1]


@feature_table("user_taste", USER)
def user_taste(snapshot: Snapshot) -> pl.DataFrame:
    """Taste factors of the user from the visible orders (features/taste.py);
    null for a user without visible orders."""
    users = snapshot.store.users.select(USER_ID)
    return users.join(_taste(snapshot)[0], on=USER_ID, how="left")


@feature_table("restaurant_taste", RESTAURANT)
def restaurant_taste(snapshot: Snapshot) -> pl.DataFrame:
    """Taste factors of the restaurant from the visible orders
    (features/taste.py); null for a restaurant without visible orders."""
    restaurants = snapshot.store.restaurants.select(RESTAURANT_ID)
    return restaurants.join(_taste(snapshot)[1], on=RESTAURANT_ID, how="left")


@feature_table("restaurant_neighbours", RESTAURANT)
def restaurant_neighbours(snapshot: Snapshot) -> pl.DataFrame:
    """List the restaurants most often ordered by the same users, with their
    cosine similarity (features.taste.co_ordered), best first. Null for a
    restaurant without any."""
    lists = (
        co_ordered(snapshot.orders)
        .group_by(RESTAURANT_ID, maintain_order=True)
        .agg(
            pl.col("neighbour_id").alias("restaurant_neighbour_ids"),
            pl.col("similarity").alias("restaurant_neighbour_similarities"),
        )
    )
    restaurants = snapshot.store.restaurants.select(RESTAURANT_ID)
    return restaurants.join(lists, on=RESTAURANT_ID, how="left")
