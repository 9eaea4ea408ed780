"""Users and restaurants that the store has and the online store lacks.

A user or restaurant imported after the last `recommender features` run has
no online features. The service reads what the store declares for them once
per load, at start and at each reload, on the thread that loads the state.
A request for them reads these copies in memory instead of the store, so it
does not wait on a store that an import or a `features` run has locked. A
user or restaurant imported after that load is known after the next reload.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import polars as pl

from features.schema import MENU_ITEMS, ORDERS, RESTAURANT_ID, RESTAURANTS, USER_ID
from features.schema import USERS as USERS_TABLE
from features.transforms import (
    FEATURE_TABLES,
    VEGETARIAN_DIETS,
    Snapshot,
    StoreFrames,
    classified_menu,
)
from service.ranking import CONTENT_MAX_COFFEE_TEA_SHARE, CONTENT_VEGETARIAN_RATIO
from service.strategies import BUDGET_LEVELS, VEGETARIAN, Preferences

logger = logging.getLogger(__name__)

# Users without online features whose profiles a load keeps in memory, the
# first by id. A few hundred bytes each.
MAX_STORED_USERS = 10_000
# The feature table that lists every user of the last `features` run.
USER_PROFILE_TABLE = "user_profile"
# The feature tables of a user's vegetarian-order ratio and coffee or tea share.
USER_DIET_TABLE = "user_diet"
USER_CUISINE_TABLE = "user_cuisine"
# The restaurant feature tables computed from the store's restaurants and
# menu_items rows alone. The other restaurant tables count orders, so a
# restaurant without online features has none of their values until the
# next `recommender features` run.
STORE_RESTAURANT_TABLES = ("restaurant_profile", "restaurant_menu")
# The restaurant columns that similarity_scores compares, with their types
# in the restaurant features.
SIMILARITY_COLUMNS: dict[str, pl.DataType] = {
    "restaurant_cuisines": pl.List(pl.String),
    "restaurant_city": pl.String(),
    "restaurant_latitude": pl.Float64(),
    "restaurant_longitude": pl.Float64(),
    "restaurant_price_level": pl.Int64(),
    "restaurant_vegetarian_item_share": pl.Float64(),
}


@dataclass(frozen=True, slots=True)
class StoredUser:
    """The profile and past restaurants that the store has for a user
    without online features."""

    city: str | None
    latitude: float | None
    longitude: float | None
    diet: str | None
    liked_cuisines: tuple[str, ...]
    budget: str | None
    # The restaurants of the user's orders in the store, sorted.
    ordered: tuple[str, ...]

    @property
    def vegetarian(self) -> bool:
        """Return whether the declared diet is vegetarian or vegan."""
        return self.diet is not None and self.diet.lower() in VEGETARIAN_DIETS

    @property
    def declared(self) -> bool:
        """Return whether the store has any preference the content score
        reads: location, city, liked cuisines, budget or a vegetarian diet."""
        located = self.latitude is not None and self.longitude is not None
        return (
            located
            or self.city is not None
            or bool(self.liked_cuisines)
            or self.budget in BUDGET_LEVELS
            or self.vegetarian
        )

    def preferences(self, location: tuple[float, float] | None) -> Preferences:
        """Return the user's profile as the preferences a new caller would
        declare, with ``location`` (latitude, longitude) in place of the
        stored one when given."""
        latitude, longitude = location or (self.latitude, self.longitude)
        if latitude is None or longitude is None:
            latitude, longitude = None, None
        return Preferences(
            latitude=latitude,
            longitude=longitude,
            city=self.city,
            diet=VEGETARIAN if self.vegetarian else None,
            liked_cuisines=self.liked_cuisines,
            budget=self.budget if self.budget in BUDGET_LEVELS else None,
        )


def read_vegetarians_by_orders(
    connection: duckdb.DuckDBPyConnection, features_dir: Path
) -> frozenset[str]:
    """Return the users whose latest feature rows make them vegetarian by
    their orders, as :func:`service.ranking.is_vegetarian` reads them online.

    Degraded lists read these when the online store fails, so that a user
    known as vegetarian only from their orders is still kept from meat-only
    restaurants. Missing or unreadable tables give no user, with a warning.
    """
    diet = features_dir / f"{USER_DIET_TABLE}.parquet"
    cuisine = features_dir / f"{USER_CUISINE_TABLE}.parquet"
    missing = [str(table) for table in (diet, cuisine) if not table.is_file()]
    if missing:
        # Every `features` run writes both, so a missing one was deleted or
        # moved, and degraded lists would lose these users without a word.
        logger.warning(
            "missing feature tables %s; run `recommender features` again. "
            "Degraded lists then keep only users who declared a vegetarian "
            "diet from meat-only restaurants",
            " and ".join(missing),
        )
        return frozenset()
    # Every user of a `features` run has a row at its latest cutoff, the one
    # the online store serves.
    latest = "event_timestamp = (SELECT max(event_timestamp) FROM read_parquet(?))"
    try:
        rows = connection.execute(
            f"SELECT d.{USER_ID} FROM (SELECT {USER_ID}, "
            f"user_vegetarian_order_ratio FROM read_parquet(?) WHERE {latest}) d "
            f"LEFT JOIN (SELECT {USER_ID}, user_coffee_tea_share "
            f"FROM read_parquet(?) WHERE {latest}) c USING ({USER_ID}) "
            "WHERE d.user_vegetarian_order_ratio >= ? "
            "AND coalesce(c.user_coffee_tea_share, 0) < ?",
            [
                str(diet),
                str(diet),
                str(cuisine),
                str(cuisine),
                CONTENT_VEGETARIAN_RATIO,
                CONTENT_MAX_COFFEE_TEA_SHARE,
            ],
        ).fetchall()
    except duckdb.Error as error:
        logger.warning(
            "cannot read the vegetarian users from the feature tables %s and "
            "%s: %s. Degraded lists then keep only users who declared a "
            "vegetarian diet from meat-only restaurants",
            diet,
            cuisine,
            error,
        )
        return frozenset()
    return frozenset(row[0] for row in rows)


def read_stored_users(
    connection: duckdb.DuckDBPyConnection, features_dir: Path
) -> dict[str, StoredUser]:
    """Read the users of the store that the last `features` run left out of
    its feature tables, at most :data:`MAX_STORED_USERS` of them.

    Without a ``user_profile`` table in ``features_dir`` every user of the
    store counts. A table that cannot be read is logged, and no user is
    returned, so those users get the lists of unknown users.
    """
    table = features_dir / f"{USER_PROFILE_TABLE}.parquet"
    source = f"{USERS_TABLE.name} u"
    parameters: list[object] = []
    if table.is_file():
        source += f" ANTI JOIN read_parquet(?) f USING ({USER_ID})"
        parameters.append(str(table))
    try:
        # The window counts every missing user before LIMIT applies. For a
        # store of 1 million users and a table of 6 cutoffs, both queries
        # took 0.3 to 0.6 s on a 2-core machine shared with other jobs.
        profiles = connection.execute(
            f"SELECT u.{USER_ID}, u.city, u.latitude, u.longitude, u.diet, "
            "u.liked_cuisines, u.budget, count(*) OVER () "
            f"FROM {source} ORDER BY u.{USER_ID} LIMIT ?",
            [*parameters, MAX_STORED_USERS],
        ).fetchall()
        ordered = dict(
            connection.execute(
                f"SELECT {USER_ID}, list(DISTINCT {RESTAURANT_ID} "
                f"ORDER BY {RESTAURANT_ID}) FROM {ORDERS.name} "
                f"WHERE {USER_ID} IN (SELECT unnest(?::VARCHAR[])) "
                f"GROUP BY {USER_ID}",
                [[row[0] for row in profiles]],
            ).fetchall()
        )
    except duckdb.Error as error:
        logger.warning(
            "cannot compare the store's users with the feature table %s: %s. "
            "Users added to the store since `recommender features` ran get "
            "the lists of unknown users until it runs again",
            table,
            error,
        )
        return {}
    count = profiles[0][-1] if profiles else 0
    if count > MAX_STORED_USERS:
        logger.warning(
            "%d users of the store are not in the feature tables of the last "
            "`recommender features` run. The service keeps the profiles of the "
            "first %d by id, and the others get the lists of unknown users "
            "until `recommender features` runs",
            count,
            MAX_STORED_USERS,
        )
    elif count:
        logger.info(
            "%d users of the store are not in the feature tables of the last "
            "`recommender features` run, so their lists use their profiles in "
            "the store",
            count,
        )
    return {
        user_id: StoredUser(
            city=city,
            latitude=latitude,
            longitude=longitude,
            diet=diet,
            liked_cuisines=tuple(liked or ()),
            budget=budget,
            ordered=tuple(ordered.get(user_id, ())),
        )
        for user_id, city, latitude, longitude, diet, liked, budget, _ in profiles
    }


def read_stored_restaurants(
    connection: duckdb.DuckDBPyConnection, restaurant_ids: Sequence[str]
) -> pl.DataFrame:
    """Compute the :data:`STORE_RESTAURANT_TABLES` features of
    ``restaurant_ids`` from their rows in the store's ``restaurants`` and
    ``menu_items`` tables, one row per restaurant the store has.

    The features come from the functions that `recommender features` computes
    these tables with, so a restaurant gets the values the next run gives
    it: the vegetarian share of its menu is the share of items labelled
    vegetarian, or classified so when unlabelled, and a menu shows
    vegetarian options when that share is above 0.
    """
    ids = list(restaurant_ids)
    restaurants = connection.sql(
        f"SELECT {', '.join(RESTAURANTS.column_names)} FROM {RESTAURANTS.name} "
        f"WHERE {RESTAURANT_ID} IN (SELECT unnest(?::VARCHAR[])) "
        f"ORDER BY {RESTAURANT_ID}",
        params=[ids],
    ).pl()
    menu_items = connection.sql(
        f"SELECT {', '.join(MENU_ITEMS.column_names)} FROM {MENU_ITEMS.name} "
        f"WHERE {RESTAURANT_ID} IN (SELECT unnest(?::VARCHAR[]))",
        params=[ids],
    ).pl()
    # The profile and menu tables read neither users, orders nor the cutoff.
    frames = StoreFrames(
        users=pl.DataFrame(),
        restaurants=restaurants,
        menu_items=classified_menu(menu_items),
        orders=pl.DataFrame(),
    )
    snapshot = Snapshot(store=frames, orders=frames.orders, cutoff=datetime.now(UTC))
    features = restaurants.select(RESTAURANT_ID)
    for name in STORE_RESTAURANT_TABLES:
        table = FEATURE_TABLES[name].compute(snapshot)
        features = features.join(table, on=RESTAURANT_ID, how="left")
    return features


def with_stored_restaurants(
    restaurants: pl.DataFrame, stored: pl.DataFrame
) -> pl.DataFrame:
    """Return the restaurant features ``restaurants`` with the values of
    ``stored`` (from :func:`read_stored_restaurants`) in the rows of its
    restaurants, for the columns both frames have.

    Row order and column types stay those of ``restaurants``. Each value of
    ``stored`` that is not null replaces the one in ``restaurants``. Columns
    of the tables that count orders, such as ``restaurant_order_count``, stay
    as they are: null for a restaurant without online features, which the
    catalogue counts as a restaurant without orders.
    """
    if stored.height == 0:
        return restaurants
    schema = restaurants.schema
    columns = [
        name for name in stored.columns if name in schema and name != RESTAURANT_ID
    ]
    values = stored.select(
        RESTAURANT_ID, *(pl.col(name).cast(schema[name]) for name in columns)
    )
    return restaurants.update(values, on=RESTAURANT_ID, how="left")


def comparable_restaurants(restaurants: pl.DataFrame) -> pl.DataFrame:
    """Return the :data:`SIMILARITY_COLUMNS` of ``restaurants`` (the
    restaurant features, sorted by id), in the types similarity_scores
    reads."""
    return restaurants.select(
        RESTAURANT_ID,
        *(pl.col(name).cast(dtype) for name, dtype in SIMILARITY_COLUMNS.items()),
    )


def has_comparable_fields(restaurant: dict[str, object]) -> bool:
    """Return whether a row of :func:`comparable_restaurants` has any field
    that similarity_scores compares."""
    return any(
        value not in (None, [])
        for name, value in restaurant.items()
        if name in SIMILARITY_COLUMNS
    )
