"""The state that requests read, and its loading from the model and the stores."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

import lightgbm as lgb
import polars as pl

from features.feast_store import (
    RESTAURANT_VIEWS,
    USER_VIEWS,
    OnlineReader,
    materializing_message,
    materializing_views,
)
from features.paths import VarPaths
from features.schema import ORDERS, RESTAURANT_ID, RESTAURANTS, USER_ID
from features.store import connect
from models.ranker import LightGBMRanker
from models.registry import (
    MetadataTypeError,
    ModelMetadata,
    ModelNotFoundError,
    load_current,
    load_version,
)
from service.catalogue import Catalogue, ModelInputs
from service.shap_tables import ShapTables, checked_tables
from service.store_profiles import (
    StoredUser,
    comparable_restaurants,
    read_stored_restaurants,
    read_stored_users,
    read_vegetarians_by_orders,
    with_stored_restaurants,
)

if TYPE_CHECKING:
    from feast import FeatureStore

# Recommender logs under one name, service.recommender, whichever module defines
# the method.
logger = logging.getLogger("service.recommender")

# Users with orders tried, at each load, as the probe of the online store.
PROBE_CANDIDATES = 50

# Errors that load_current raises for model files that exist but cannot be
# used: unreadable files, metadata that is not JSON or lacks fields, a checksum
# mismatch, a field of the wrong type, a model file LightGBM rejects.
_MODEL_FILE_ERRORS = (OSError, ValueError, TypeError, lgb.basic.LightGBMError)


class ModelLoadError(ValueError):
    """The current model's files exist but cannot be loaded or served."""


@dataclass(frozen=True)
class _State:
    """The state a request reads: the model (None when it failed to load) and
    the restaurants with what is prepared from them."""

    ranker: LightGBMRanker | None
    metadata: ModelMetadata | None
    catalogue: Catalogue
    # None without a model, or when a model feature is in none of the online
    # store's columns. Ranked requests then take the frame path, which raises.
    inputs: ModelInputs | None
    # None without a model, or when LightGBM's pred_contrib explains it.
    shap: ShapTables | None
    names: dict[str, str]
    repeat_orders: bool
    # Restaurants of the store that the online store has features for.
    restaurants_online: int
    # Reader of a user's features, with the views' fields as the registry had
    # them at this load.
    user_reader: OnlineReader
    # A user with orders whose features the online store held at this load,
    # read again to tell an emptied online store from a user without orders.
    probe_user: str | None
    # Users of the store that the last `features` run left out, by id.
    stored_users: dict[str, StoredUser]
    # The columns of the catalogue's frame that similar() compares, in the
    # catalogue's order.
    comparable: pl.DataFrame
    # Restaurants of the store without online features.
    stored_restaurants: frozenset[str]
    # Users vegetarian by their orders in the feature tables, for degraded
    # lists when the online store fails.
    vegetarians_by_orders: frozenset[str]

    @property
    def restaurants(self) -> pl.DataFrame:
        """The restaurant features, one row per restaurant, sorted by id."""
        return self.catalogue.restaurants


class _StateLoadingMixin:
    """Methods of Recommender that load the state that requests read."""

    paths: VarPaths

    def _load_state(
        self,
        store: FeatureStore,
        require_model: bool = False,
        version: str | None = None,
    ) -> _State:
        stuck = materializing_views(store)
        if stuck:
            raise ModelLoadError(materializing_message(stuck))
        ranker, metadata = self._load_model(require_model, version)
        user_reader = OnlineReader(store, USER_VIEWS, USER_ID)
        connection = connect(self.paths.store, read_only=True)
        try:
            # Names come from the store, so that lists name their restaurants
            # even when the online store lacks them.
            names = dict(
                connection.execute(
                    f"SELECT {RESTAURANT_ID}, name FROM {RESTAURANTS.name} "
                    f"ORDER BY {RESTAURANT_ID}"
                ).fetchall()
            )
            restaurant_ids = list(names)
            orders_timed = connection.execute(
                f"SELECT count(*) > 0 AND count(ordered_at) = count(*) "
                f"FROM {ORDERS.name}"
            ).fetchall()[0][0]
            # Users of the orders, for the probe; those imported after the
            # last `features` run have no online features yet.
            ordering_users = [
                row[0]
                for row in connection.execute(
                    f"SELECT DISTINCT {USER_ID} FROM {ORDERS.name} "
                    f"USING SAMPLE reservoir({PROBE_CANDIDATES} ROWS) "
                    "REPEATABLE (0)"
                ).fetchall()
            ]
            stored_users = read_stored_users(connection, self.paths.features)
            vegetarians = read_vegetarians_by_orders(connection, self.paths.features)
        finally:
            connection.close()
        probe_user = next(
            (
                user
                for user in sorted(ordering_users)
                if user_reader.read_row(user)["user_order_count"] is not None
            ),
            None,
        )
        if probe_user is None and ordering_users:
            logger.warning(
                "none of %d users with orders has online features, so /readyz "
                "cannot notice an online store emptied while the service runs",
                len(ordering_users),
            )
        reader = OnlineReader(store, RESTAURANT_VIEWS, RESTAURANT_ID)
        restaurants = reader.read(restaurant_ids)
        online = int(restaurants["restaurant_name"].is_not_null().sum())
        stored_restaurants = restaurants.filter(pl.col("restaurant_name").is_null())[
            RESTAURANT_ID
        ].to_list()
        # Every list and filter reads the restaurants' profile and menu from
        # this one frame, so those the online store lacks take them from the
        # store, as the next `features` run would compute them.
        restaurants = self._with_stored_restaurants(restaurants, stored_restaurants)
        if online == 0 and restaurants.height > 0:
            restaurants = self._with_stored_popularity(restaurants)
        # Training keeps restaurants a user ordered from as candidates when
        # every order has a time. Without a model, the same rule applies to
        # the store.
        repeat = (
            bool(orders_timed)
            if metadata is None
            else bool(metadata.training.get("repeat_orders", False))
        )
        catalogue = Catalogue(restaurants)
        inputs = None
        shap = None if ranker is None else checked_tables(ranker.booster)
        if ranker is not None:
            try:
                inputs = ModelInputs(ranker.features, catalogue, user_reader.schema)
            except ValueError as error:
                if require_model:
                    msg = f"the current model cannot be served: {error}"
                    raise ModelLoadError(msg) from error
                # Every ranked request would fail on the same mismatch, so the
                # service starts without the model: /readyz returns 503 and
                # the lists fall back as when no model is current.
                logger.error(
                    "model %s cannot be served, starting without it: %s",
                    None if metadata is None else metadata.version,
                    error,
                )
                ranker, metadata, shap = None, None, None
                repeat = bool(orders_timed)
        if online == 0 and restaurants.height > 0:
            # A wrong Redis database, a flushed Redis or a store never
            # materialized: every list would be unranked filler.
            logger.error(
                "the online store has features for none of the %d restaurants "
                "of the store: run `recommender features` with this profile, "
                "or check the online store's address; /readyz returns 503",
                restaurants.height,
            )
        logger.info(
            "loaded %s and %d restaurants, %d with online features",
            "no model" if metadata is None else f"model {metadata.version}",
            restaurants.height,
            online,
        )
        return _State(
            ranker,
            metadata,
            catalogue,
            inputs,
            shap,
            names,
            repeat,
            online,
            user_reader,
            probe_user,
            stored_users,
            comparable_restaurants(restaurants),
            frozenset(stored_restaurants),
            vegetarians,
        )

    def _with_stored_restaurants(
        self, restaurants: pl.DataFrame, restaurant_ids: list[str]
    ) -> pl.DataFrame:
        """Return ``restaurants`` with the profile and menu features of
        ``restaurant_ids``, which lack online features, computed from the
        store (:func:`service.store_profiles.read_stored_restaurants`)."""
        if not restaurant_ids:
            return restaurants
        connection = connect(self.paths.store, read_only=True)
        try:
            stored = read_stored_restaurants(connection, restaurant_ids)
        finally:
            connection.close()
        return with_stored_restaurants(restaurants, stored)

    def _with_stored_popularity(self, restaurants: pl.DataFrame) -> pl.DataFrame:
        """Return ``restaurants`` with order counts and shares counted in
        the store, for degraded lists when the online store has none."""
        connection = connect(self.paths.store, read_only=True)
        try:
            rows = connection.execute(
                f"SELECT {RESTAURANT_ID}, count(*) FROM {ORDERS.name} "
                f"GROUP BY {RESTAURANT_ID}"
            ).fetchall()
        finally:
            connection.close()
        counts = pl.DataFrame(
            rows,
            schema={RESTAURANT_ID: pl.String(), "_stored_orders": pl.Int64()},
            orient="row",
        )
        total = max(int(counts["_stored_orders"].sum() or 0), 1)
        return (
            restaurants.join(counts, on=RESTAURANT_ID, how="left")
            .with_columns(pl.col("_stored_orders").fill_null(0))
            .with_columns(
                pl.col("_stored_orders").cast(pl.Int64).alias("restaurant_order_count"),
                (pl.col("_stored_orders") / total).alias("restaurant_order_share"),
            )
            .drop("_stored_orders")
        )

    def _load_model(
        self, require_model: bool, version: str | None = None
    ) -> tuple[LightGBMRanker | None, ModelMetadata | None]:
        """Load ``version``, else the current model, or return Nones when there
        is none and ``require_model`` is false.

        Raises:
            ModelNotFoundError: no current model and ``require_model``.
            ModelLoadError: the model's files exist but are invalid, and
                ``require_model``; otherwise the error is logged.
        """
        models = self.paths.models
        try:
            if version is None:
                ranker, metadata = load_current(models)
            else:
                ranker, metadata = load_version(models, version)
        except ModelNotFoundError as error:
            if require_model:
                raise
            # The reason names a missing alias or the missing version it names.
            logger.warning("%s; every list falls back to popularity", error)
            return None, None
        except MetadataTypeError as error:
            failure = ModelLoadError(str(error))
        except _MODEL_FILE_ERRORS as error:
            msg = f"cannot load the current model in {models}: {error}"
            failure = ModelLoadError(msg)
        else:
            return ranker, metadata
        if require_model:
            raise failure
        # As for a model the online store cannot serve: the service starts
        # without it, /readyz returns 503 and the lists fall back.
        logger.error("%s; starting without a model", failure)
        return None, None


def _lost_features(state: _State) -> str | None:
    """Return why the probe user's features are missing from the online
    store, or None when they are there or there is no probe user."""
    probe_user = state.probe_user
    if probe_user is None:
        return None
    if state.user_reader.read_row(probe_user)["user_order_count"] is not None:
        return None
    return (
        f"the online store no longer has the features of user {probe_user}, "
        "which it had when the service loaded them. If `recommender features` "
        "ran since, it deleted the users the data no longer has, so reload; "
        "else run `recommender features` with this profile, then reload"
    )
