"""The lists for preferences and similar restaurants, and the response of every list."""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from features.schema import RESTAURANT_ID
from models.explain import cuisine_name
from service import metrics
from service.ranking import Ranked, rank_by_content, rank_by_popularity
from service.recommender_state import _State
from service.schemas import (
    ListNote,
    NoteCode,
    RecommendationList,
    RecommendedRestaurant,
    Strategy,
)
from service.store_profiles import has_comparable_fields
from service.strategies import (
    VEGETARIAN,
    Filters,
    Preferences,
    similarity_scores,
)


class UnknownRestaurantError(KeyError):
    """A similar-restaurants request names a restaurant the service lacks."""


class _ListsMixin:
    """Methods of Recommender for the lists that need no user id, and the
    response that every list is built into."""

    _state: _State

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
