"""Ranks restaurants for users, anonymous callers and similar-restaurant lookups.

Start-up loads the current model and every restaurant's features (from the
Feast online store) into memory as one immutable state, with the arrays a
request reads prepared from them (:mod:`service.catalogue`). A restaurant the
online store lacks gets its profile and menu features computed from the store
(:mod:`service.store_profiles`) and no order counts. A request reads
the user's features from the online store once and picks a strategy:

- ``ranker``: the user has orders. Pair features of every candidate are
  computed with numpy (:mod:`features.pair_arrays`, tested equal to
  ``features.pairs.pair_features``, the on-demand view the model was trained
  with), the model scores them, and restaurants without orders are placed by
  their content score (:func:`service.strategies.place_new_restaurants`).
- ``content``: the user has no orders, an anonymous caller declared
  preferences, or the user was added to the store after the last `features`
  run (:mod:`service.store_profiles`); scored from cuisines, diet, budget,
  place and popularity.
- ``popularity``: nothing is known about the caller; ranked by past orders.
  When the online store cannot be read or no model is loaded, the list is by
  popularity in the requested or the user's city, marked ``degraded``. It
  leaves out the restaurants a known user ordered from, as a ranked list does,
  read from the store's orders when the online store fails.

:meth:`Recommender.reload` builds a new state from the current model and the
online store and swaps it in one assignment; a request keeps the state it
started with, so a reload never fails a request in flight.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import lightgbm as lgb
import numpy as np
import polars as pl

from features.feast_store import (
    RESTAURANT_VIEWS,
    USER_VIEWS,
    OnlineReader,
    error_line,
    hide_secrets,
    hide_url_password,
    materializing_message,
    materializing_views,
    open_store,
)
from features.paths import VarPaths
from features.schema import ORDERS, RESTAURANT_ID, RESTAURANTS, USER_ID, USERS
from features.store import StoreLockedError, connect
from features.transforms import VEGETARIAN_DIETS
from models.explain import cuisine_name
from models.ranker import LightGBMRanker
from models.registry import (
    MetadataTypeError,
    ModelMetadata,
    ModelNotFoundError,
    load_current,
)
from service import metrics
from service.catalogue import Catalogue, ModelInputs
from service.ranking import (
    Ranked,
    is_vegetarian,
    rank_by_content,
    rank_by_model,
    rank_by_model_frames,
    rank_by_popularity,
)
from service.schemas import (
    ListNote,
    NoteCode,
    RecommendationList,
    RecommendedRestaurant,
    Strategy,
)
from service.settings import Settings
from service.shap_tables import ShapTables, checked_tables
from service.store_profiles import (
    StoredUser,
    comparable_restaurants,
    has_comparable_fields,
    read_stored_restaurants,
    read_stored_users,
    with_stored_restaurants,
)
from service.strategies import (
    VEGETARIAN,
    Filters,
    Preferences,
    similarity_scores,
)

if TYPE_CHECKING:
    from feast import FeatureStore

logger = logging.getLogger(__name__)

# Users with orders tried, at each load, as the probe of the online store.
PROBE_CANDIDATES = 50

ONLINE_STORE_UNAVAILABLE = "online_store_unavailable"
MODEL_UNAVAILABLE = "model_unavailable"
# Errors that load_current raises for model files that exist but cannot be
# used: unreadable files, metadata that is not JSON or lacks fields, a checksum
# mismatch, a field of the wrong type, a model file LightGBM rejects.
_MODEL_FILE_ERRORS = (OSError, ValueError, TypeError, lgb.basic.LightGBMError)


class UnknownRestaurantError(KeyError):
    """A similar-restaurants request names a restaurant the service lacks."""


class ModelLoadError(ValueError):
    """The current model's files exist but cannot be loaded or served."""


class StoreBusyError(RuntimeError):
    """A reload found the store locked by another process, such as an import,
    after waiting for it; retrying later can succeed."""


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

    @property
    def restaurants(self) -> pl.DataFrame:
        """The restaurant features, one row per restaurant, sorted by id."""
        return self.catalogue.restaurants


class Recommender:
    """The model, the feature store and the restaurant features, in memory."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.paths = VarPaths(settings.var_dir)
        self.store = open_store(
            settings.feature_repo, settings.var_dir, settings.feast_profile
        )
        self._online_file = _online_file_id(self.store)
        self._reload_lock = threading.Lock()
        self._install(self._load_state(self.store))

    @property
    def user_reader(self) -> OnlineReader:
        """The reader of user features of the loaded state."""
        return self._state.user_reader

    @property
    def ready(self) -> bool:
        """Return whether a model and restaurant features are loaded."""
        state = self._state
        return state.ranker is not None and state.restaurants_online > 0

    def online_problem(self) -> str | None:
        """Return why the online store no longer serves the user features it
        contained at the last load, or None while it does.

        Reads the features of one user with orders, so a flushed Redis or an
        emptied online store shows up before a reload.
        """
        try:
            return _lost_features(self._state)
        except Exception as error:
            # Feast and the Redis client raise plain exceptions.
            return f"the online store cannot be read: {type(error).__name__}: {error}"

    @property
    def model_version(self) -> str | None:
        """Return the version of the loaded model, if any."""
        metadata = self._state.metadata
        return None if metadata is None else metadata.version

    def reload(self) -> str | None:
        """Load the current model and the restaurant features again and swap
        them in; return the new model version.

        Raises:
            ModelNotFoundError: no current model; the old state stays.
            ModelLoadError: the current model's files are invalid, its
                features are not in the online store, or the store, the
                online store or the Feast registry cannot be read. The
                message is one line, and the error it replaces is its cause.
                The old state stays.
            StoreBusyError: another process still held the store's lock
                after the wait of :func:`features.store.connect`. The old
                state stays.
        """
        with self._reload_lock:
            try:
                store, online_file = self._reopened_store()
                self._check_views(store)
                state = self._load_state(store, require_model=True)
                if state.restaurants_online == 0 and len(state.catalogue) > 0:
                    msg = (
                        "the online store has features for none of the "
                        f"{len(state.catalogue)} restaurants of the store; run "
                        "`recommender features` with this profile or check the "
                        "online store's address, then reload"
                    )
                    raise ModelLoadError(msg)
            except (ModelNotFoundError, ModelLoadError):
                raise
            except StoreLockedError as error:
                msg = (
                    f"the store {self.paths.store} is busy: another process, "
                    "such as `recommender import` or `recommender features`, "
                    "holds its lock; the loaded model and features stay, so "
                    "retry the reload later"
                )
                raise StoreBusyError(msg) from error
            except Exception as error:
                # The store, the online store and the registry raise their own
                # types (DuckDB, SQLite, Redis, SQLAlchemy...); the old state
                # stays either way.
                raise ModelLoadError(_read_failure(self.store, error)) from error
            self.store, self._online_file = store, online_file
            self._install(state)
        return None if state.metadata is None else state.metadata.version

    def _reopened_store(self) -> tuple[FeatureStore, tuple[int, int] | None]:
        """Return the feature store to load from, with the identity of its
        SQLite online store file.

        Feast's SQLite online store keeps its connection open, so it would go
        on reading a file that was deleted or replaced, as by `recommender
        features` after the file was removed. A new store opens the new file.
        """
        online_file = _online_file_id(self.store)
        if online_file != self._online_file:
            logger.info(
                "online store file %s was deleted or replaced since it was "
                "opened; opening it again",
                self.store.config.online_store.path,
            )
            settings = self.settings
            store = open_store(
                settings.feature_repo, settings.var_dir, settings.feast_profile
            )
            return store, _online_file_id(store)
        # Feast caches the registry; `recommender features` may have changed
        # it since the last load.
        self.store.refresh_registry()
        return self.store, online_file

    def _install(self, state: _State) -> None:
        """Make ``state`` the state that requests read, and set the model
        version gauge to its version.

        The gauge is set here, not while a state loads, so that a reload that
        fails after loading leaves the gauge on the version still served.
        """
        self._state = state
        if state.metadata is not None:
            metrics.set_model_version(state.metadata.version)

    def _check_views(self, store: FeatureStore) -> None:
        """Raise ModelLoadError when the registry's feature views are not
        the ones this process's feature tables define: the feature code is
        read once, at start, so a view added or removed since needs a
        restart."""
        known = {*USER_VIEWS, *RESTAURANT_VIEWS}
        registered = {view.name for view in store.list_feature_views()}
        if registered == known:
            return
        added = ", ".join(sorted(registered - known)) or "none"
        removed = ", ".join(sorted(known - registered)) or "none"
        msg = (
            "the feature views of the registry changed since the service "
            f"started (added: {added}; removed: {removed}); restart the "
            "service to load the new feature definitions"
        )
        raise ModelLoadError(msg)

    def _load_state(self, store: FeatureStore, require_model: bool = False) -> _State:
        stuck = materializing_views(store)
        if stuck:
            raise ModelLoadError(materializing_message(stuck))
        ranker, metadata = self._load_model(require_model)
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
            "loaded model %s and %d restaurants, %d with online features",
            None if metadata is None else metadata.version,
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
        self, require_model: bool
    ) -> tuple[LightGBMRanker | None, ModelMetadata | None]:
        """Load the current model, or return Nones when there is none and
        ``require_model`` is false.

        Raises:
            ModelNotFoundError: no current model and ``require_model``.
            ModelLoadError: the model's files exist but are invalid, and
                ``require_model``; otherwise the error is logged.
        """
        models = self.paths.models
        try:
            ranker, metadata = load_current(models)
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

    def recommend(
        self,
        user_id: str,
        k: int,
        filters: Filters | None = None,
        location: tuple[float, float] | None = None,
        include_features: bool = False,
        request_id: str = "",
    ) -> RecommendationList:
        """Rank the user's top ``k`` restaurants among those ``filters`` keep.

        ``location`` (latitude, longitude) replaces the user's home for the
        distance features.
        """
        state = self._state
        filters = filters or Filters()
        rows = state.catalogue.candidates(filters)
        notes = _filter_notes(state, filters)
        try:
            if state.restaurants_online == 0 and len(state.catalogue) > 0:
                # An emptied or wrong online store returns nulls for every
                # read, so its user rows would pass for users without orders.
                msg = "the online store has no restaurant features"
                raise LookupError(msg)
            user = state.user_reader.read_row(user_id)
            # A user without features may be new, or the online store lost
            # every user.
            lost = None
            if user["user_order_count"] is None:
                lost = _lost_features(state)
            if lost is not None:
                raise LookupError(lost)
        except Exception as error:
            # Feast and the Redis client raise plain exceptions, for example
            # while a view is being materialized. A list by popularity in the
            # area is still useful.
            logger.warning(
                "online read failed for user %s, request %s: %s",
                user_id,
                request_id,
                error,
            )
            metrics.count_fallback(ONLINE_STORE_UNAVAILABLE)
            stored = self._stored_user(user_id, request_id)
            if stored is None and not state.repeat_orders:
                notes.append(
                    ListNote(
                        code=NoteCode.HISTORY_UNAVAILABLE,
                        message=f"the past orders of user {user_id} could not "
                        "be read, so the list may contain restaurants they "
                        "ordered from",
                    )
                )
            home_city, vegetarian = None, False
            if stored is not None:
                home_city, ordered, vegetarian = stored
                if not state.repeat_orders:
                    rows = state.catalogue.without(rows, ordered)
            city = filters.city or home_city
            return self._popular(
                state, rows, k, user_id, request_id, city, True, notes, vegetarian
            )

        stored_user = None
        if user["user_order_count"] is None:
            stored_user = state.stored_users.get(user_id)
        if stored_user is not None:
            return self._recommend_stored(
                state,
                stored_user,
                user_id,
                rows,
                k,
                filters,
                location,
                request_id,
                notes,
            )
        if location is not None:
            user["user_latitude"], user["user_longitude"] = location
        order_count = user["user_order_count"]
        has_orders = order_count is not None and order_count > 0
        # An import without liked cuisines stores an empty list, not null.
        has_profile = any(
            user.get(column) not in (None, [])
            for column in ("user_latitude", "user_city", "user_liked_cuisines")
        )
        if has_orders and state.ranker is None:
            metrics.count_fallback(MODEL_UNAVAILABLE)
            logger.warning("no model loaded for request %s", request_id)
            visited = user["user_visited_restaurant_ids"]
            if not state.repeat_orders and visited is not None:
                rows = state.catalogue.without(rows, visited)
            city = filters.city or user["user_city"]
            return self._popular(
                state,
                rows,
                k,
                user_id,
                request_id,
                city,
                True,
                notes,
                is_vegetarian(user),
            )
        if has_orders:
            ranked = self._rank_for(state, user, rows, k, include_features)
            return self._response(
                state, ranked, k, user_id, request_id, Strategy.RANKER, False, notes
            )
        if has_profile or location is not None or filters.diet is not None:
            ranked = rank_by_content(state.catalogue, user, rows, k)
            return self._response(
                state, ranked, k, user_id, request_id, Strategy.CONTENT, False, notes
            )
        return self._popular(
            state,
            rows,
            k,
            user_id,
            request_id,
            filters.city,
            False,
            notes,
            is_vegetarian(user),
        )

    def _recommend_stored(
        self,
        state: _State,
        stored: StoredUser,
        user_id: str,
        rows: np.ndarray,
        k: int,
        filters: Filters,
        location: tuple[float, float] | None,
        request_id: str,
        notes: list[ListNote],
    ) -> RecommendationList:
        """Rank for a user that the last `features` run left out, from the
        profile the store has for them, as for a new caller who declares it.

        The restaurants of their stored orders are left out, as a ranked
        list leaves out past restaurants.
        """
        if not state.repeat_orders:
            rows = state.catalogue.without(rows, stored.ordered)
        if stored.declared:
            reason = (
                "so this list is ranked from the city, location, diet, budget "
                "and liked cuisines the store has for them, not from their orders"
            )
        else:
            reason = (
                "and the store has no city, location, diet, budget or liked "
                "cuisines for them"
            )
        notes.append(
            ListNote(
                code=NoteCode.PROFILE_FROM_STORE,
                message=f"user {user_id} was added to the store after the last "
                f"`recommender features` run, {reason}",
            )
        )
        if stored.declared or location is not None or filters.diet is not None:
            values = stored.preferences(location).user_row().row(0, named=True)
            values[USER_ID] = user_id
            ranked = rank_by_content(state.catalogue, values, rows, k)
            return self._response(
                state, ranked, k, user_id, request_id, Strategy.CONTENT, False, notes
            )
        return self._popular(
            state, rows, k, user_id, request_id, filters.city, False, notes
        )

    def recommend_for_preferences(
        self,
        preferences: Preferences,
        k: int,
        filters: Filters,
        request_id: str = "",
    ) -> RecommendationList:
        """Rank restaurants for an anonymous caller from declared preferences."""
        state = self._state
        rows = state.catalogue.candidates(filters)
        user = preferences.user_row().row(0, named=True)
        ranked = rank_by_content(state.catalogue, user, rows, k)
        return self._response(
            state,
            ranked,
            k,
            None,
            request_id,
            Strategy.CONTENT,
            False,
            _filter_notes(state, filters),
        )

    def similar(
        self, restaurant_id: str, k: int, request_id: str = ""
    ) -> RecommendationList:
        """Rank the restaurants most alike to ``restaurant_id`` by content.

        Raises:
            UnknownRestaurantError: the restaurant is not in the store.
        """
        state = self._state
        restaurants = state.comparable
        found = restaurants.filter(pl.col(RESTAURANT_ID) == restaurant_id)
        if found.height == 0:
            raise UnknownRestaurantError(restaurant_id)
        anchor = found.row(0, named=True)
        notes = []
        if not has_comparable_fields(anchor):
            # Every score would be 0, which ranks by id alone.
            notes.append(
                ListNote(
                    code=NoteCode.NOTHING_TO_COMPARE,
                    message=f"restaurant {restaurant_id} has no cuisines, city, "
                    "price level, location or menu, so no restaurant can be "
                    "compared with it",
                )
            )
            empty = Ranked(restaurant_ids=[], scores=[], reasons=[])
            return self._response(
                state, empty, k, None, request_id, Strategy.CONTENT, False, notes
            )
        if restaurant_id in state.stored_restaurants:
            notes.append(
                ListNote(
                    code=NoteCode.RESTAURANT_FROM_STORE,
                    message=f"restaurant {restaurant_id} has no features in the "
                    "online store, so it is compared by the cuisines, city, "
                    "price level, location and menu the store has for it; "
                    "`recommender features` and a reload add its features",
                )
            )
        others = restaurants.filter(pl.col(RESTAURANT_ID) != restaurant_id)
        scores = similarity_scores(anchor, others)
        ids = others[RESTAURANT_ID].to_list()
        order = _best_first(ids, scores.tolist())
        top = others[order[:k]]
        reasons = _similar_reasons(anchor, top)
        ranked = Ranked(
            restaurant_ids=[ids[i] for i in order],
            scores=[float(scores[i]) for i in order],
            reasons=reasons + [[] for _ in range(max(0, len(order) - len(reasons)))],
        )
        return self._response(
            state, ranked, k, None, request_id, Strategy.CONTENT, False, notes
        )

    def _response(
        self,
        state: _State,
        ranked: Ranked,
        k: int,
        user_id: str | None,
        request_id: str,
        strategy: Strategy,
        degraded: bool,
        notes: list[ListNote] | None = None,
    ) -> RecommendationList:
        metrics.count_strategy(strategy.value)
        items = [
            RecommendedRestaurant(
                restaurant_id=restaurant_id,
                name=state.names.get(restaurant_id, ""),
                score=round(score, 6),
                rank=rank,
                reasons=ranked.reasons[rank - 1] if rank <= len(ranked.reasons) else [],
                features=ranked.features[rank - 1]
                if ranked.features is not None and rank <= len(ranked.features)
                else None,
            )
            for rank, (restaurant_id, score) in enumerate(
                zip(ranked.restaurant_ids[:k], ranked.scores[:k], strict=True), start=1
            )
        ]
        shortfall = []
        if len(items) < k:
            matches = "restaurant matches" if len(items) == 1 else "restaurants match"
            shortfall.append(
                ListNote(
                    code=NoteCode.FEWER_THAN_K,
                    message=f"{len(items)} {matches} this request, fewer than k={k}",
                )
            )
        return RecommendationList(
            request_id=request_id,
            user_id=user_id,
            strategy=strategy,
            model_version=None if state.metadata is None else state.metadata.version,
            degraded=degraded,
            recommendations=items,
            notes=shortfall + (notes or []),
        )

    def _popular(
        self,
        state: _State,
        rows: np.ndarray,
        k: int,
        user_id: str | None,
        request_id: str,
        city: str | None,
        degraded: bool,
        notes: list[ListNote],
        vegetarian: bool = False,
    ) -> RecommendationList:
        ranked = rank_by_popularity(state.catalogue, rows, k, city, vegetarian)
        return self._response(
            state,
            ranked,
            k,
            user_id,
            request_id,
            Strategy.POPULARITY,
            degraded,
            notes,
        )

    def _stored_user(
        self, user_id: str, request_id: str
    ) -> tuple[str | None, list[str], bool] | None:
        """Return the user's city (None when unknown), the restaurants they
        ordered from and whether they declared a vegetarian diet, read from
        the store, or None when the store cannot be read."""
        try:
            # Requests run on the event loop, so they do not wait for a
            # store that another process has locked.
            connection = connect(self.paths.store, read_only=True, lock_wait=0)
            try:
                cities = connection.execute(
                    f"SELECT city, diet FROM {USERS.name} WHERE {USER_ID} = ?",
                    [user_id],
                ).fetchall()
                rows = connection.execute(
                    f"SELECT DISTINCT {RESTAURANT_ID} FROM {ORDERS.name} "
                    f"WHERE {USER_ID} = ?",
                    [user_id],
                ).fetchall()
            finally:
                connection.close()
        except (OSError, ValueError, duckdb.Error) as error:
            logger.warning(
                "could not read the past orders of user %s from the store, "
                "request %s: %s. The degraded list may contain restaurants they "
                "ordered from",
                user_id,
                request_id,
                error,
            )
            return None
        city, diet = cities[0] if cities else (None, None)
        vegetarian = diet is not None and diet.lower() in VEGETARIAN_DIETS
        return city, [row[0] for row in rows], vegetarian

    def _rank_for(
        self,
        state: _State,
        user: dict[str, Any],
        rows: np.ndarray,
        k: int,
        include_features: bool,
    ) -> Ranked:
        ranker = state.ranker
        assert ranker is not None
        visited = user["user_visited_restaurant_ids"]
        if not state.repeat_orders and visited is not None:
            rows = state.catalogue.without(rows, visited)
        if len(rows) == 0:
            return Ranked([], [], [])
        ranked = None
        if state.inputs is not None:
            ranked = rank_by_model(
                state.catalogue,
                state.inputs,
                ranker,
                state.shap,
                user,
                rows,
                k,
                include_features,
            )
        if ranked is None:
            frame = pl.DataFrame([user], schema=state.user_reader.schema)
            ranked = rank_by_model_frames(
                state.catalogue, ranker, frame, rows, k, include_features
            )
        return ranked


def _online_file_id(store: FeatureStore) -> tuple[int, int] | None:
    """Return the device and inode of the store's SQLite online store file,
    or None for a missing file or another kind of online store."""
    config = store.config.online_store
    if getattr(config, "type", None) != "sqlite":
        return None
    try:
        status = Path(config.path).stat()
    except OSError:
        return None
    return status.st_dev, status.st_ino


def _read_failure(store: FeatureStore, error: Exception) -> str:
    """Return one line naming what a reload could not read and why.

    SQLAlchemy, which Feast's SQL registry uses, adds the SQL statement, its
    parameters and a link to its messages; only the driver's message is kept.
    """
    from sqlalchemy.exc import SQLAlchemyError

    if isinstance(error, SQLAlchemyError):
        registry = hide_url_password(str(store.config.registry.path))
        source = f"the Feast registry {registry}"
    else:
        source = "the store or the online store"
    return hide_secrets(f"cannot read {source}: {error_line(error)}")


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


def _filter_notes(state: _State, filters: Filters) -> list[ListNote]:
    """Return a note when a filter can keep no restaurant of the loaded data."""
    if filters.diet == VEGETARIAN and state.catalogue.vegetarian_count == 0:
        return [
            ListNote(
                code=NoteCode.NO_VEGETARIAN_MENUS,
                message="diet=vegetarian keeps restaurants whose menu shows a "
                "vegetarian dish, and none of the loaded restaurants' menus does",
            )
        ]
    return []


def _similar_reasons(
    anchor: dict[str, Any], restaurants: pl.DataFrame
) -> list[list[str]]:
    """Return the shared cuisines and city of each similar restaurant."""
    cuisines = {str(c) for c in (anchor.get("restaurant_cuisines") or [])}
    reasons = []
    for row in restaurants.select("restaurant_cuisines", "restaurant_city").iter_rows():
        shared = [c for c in (row[0] or []) if c in cuisines]
        found = []
        if shared:
            found.append(f"Also {cuisine_name(shared[0])}")
        if row[1] is not None and row[1] == anchor.get("restaurant_city"):
            found.append(f"Also in {row[1]}")
        reasons.append(found)
    return reasons


def _best_first(restaurant_ids: list[str], scores: list[float]) -> list[int]:
    """Return row positions, best score first; ties go to the smaller restaurant
    id."""
    return sorted(range(len(scores)), key=lambda i: (-scores[i], restaurant_ids[i]))
