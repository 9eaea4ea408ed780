"""Lists for a user id (Recommender.recommend), with their fallbacks."""

from __future__ import annotations

import logging
from typing import Any

import duckdb
import numpy as np
import polars as pl

from features.paths import VarPaths
from features.schema import ORDERS, RESTAURANT_ID, USER_ID, USERS
from features.store import connect
from features.transforms import VEGETARIAN_DIETS
from service import metrics
from service.log_limits import WarningLimiter
from service.ranking import (
    Ranked,
    is_vegetarian,
    rank_by_content,
    rank_by_model,
    rank_by_model_frames,
)
from service.recommender_lists import _filter_notes, _ListsMixin
from service.recommender_state import _lost_features, _State
from service.schemas import ListNote, NoteCode, RecommendationList, Strategy
from service.store_profiles import StoredUser
from service.strategies import Filters

# Recommender logs under one name, service.recommender, whichever module defines
# the method.
logger = logging.getLogger("service.recommender")

ONLINE_STORE_UNAVAILABLE = "online_store_unavailable"
MODEL_UNAVAILABLE = "model_unavailable"


class _UserListsMixin(_ListsMixin):
    """Methods of Recommender that rank for a user id, with their fallbacks."""

    paths: VarPaths
    # Limits the warnings of the fallbacks, which every request logs while
    # the online store or the model is unavailable.
    degraded_warnings: WarningLimiter
    # Whether the last read of a user's online features failed. While it
    # does, the API calls recommend in a thread, because the fallback opens
    # the DuckDB store (16 to 20 ms) and a hung Redis blocks each read until
    # its timeout.
    online_failing: bool

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
        distance features, and its nearest city replaces the home city.
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
            self.online_failing = False
        except Exception as error:
            self.online_failing = True
            # Feast and the Redis client raise plain exceptions, for example
            # while a view is being materialized. A list by popularity in the
            # area is still useful.
            self.degraded_warnings.warning(
                logger,
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
            vegetarian = vegetarian or user_id in state.vegetarians_by_orders
            if location is not None:
                home_city = state.catalogue.city_at(location)
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
            # Distances and the city are measured from where the user is now.
            user["user_latitude"], user["user_longitude"] = location
            user["user_city"] = state.catalogue.city_at(location)
        order_count = user["user_order_count"]
        has_orders = order_count is not None and order_count > 0
        # An import without liked cuisines stores an empty list, not null.
        has_profile = any(
            user.get(column) not in (None, [])
            for column in ("user_latitude", "user_city", "user_liked_cuisines")
        )
        if has_orders and state.ranker is None:
            metrics.count_fallback(MODEL_UNAVAILABLE)
            self.degraded_warnings.warning(
                logger, "no model loaded for request %s", request_id
            )
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
            if location is not None:
                values["user_city"] = state.catalogue.city_at(location)
            ranked = rank_by_content(state.catalogue, values, rows, k)
            return self._response(
                state, ranked, k, user_id, request_id, Strategy.CONTENT, False, notes
            )
        return self._popular(
            state, rows, k, user_id, request_id, filters.city, False, notes
        )

    def _stored_user(
        self, user_id: str, request_id: str
    ) -> tuple[str | None, list[str], bool] | None:
        """Return the user's city (None when unknown), the restaurants they
        ordered from and whether they declared a vegetarian diet, read from
        the store, or None when the store cannot be read."""
        try:
            # The first request after the online store fails runs on the
            # event loop (the API moves later ones to a thread), so no request
            # waits for a store that another process has locked.
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
            self.degraded_warnings.warning(
                logger,
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
