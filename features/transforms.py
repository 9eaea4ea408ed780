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

import polars as pl

from features.schema import ORDER_ID, RESTAURANT_ID, USER_ID
from features.snapshot import Snapshot
from features.snapshot import StoreFrames as StoreFrames
from features.snapshot import classified_menu as classified_menu
from features.snapshot import snapshot_at as snapshot_at
from features.table_registry import ENTITY_KEYS as ENTITY_KEYS
from features.table_registry import FEATURE_TABLES as FEATURE_TABLES
from features.table_registry import RESTAURANT, USER, feature_table
from features.table_registry import TableSpec as TableSpec
from features.table_registry import compute_tables as compute_tables
from features.table_registry import join_entity_tables as join_entity_tables
from features.taste import co_ordered, taste_factors
from features.vegetarian import PREDICTION_COLUMN

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
