"""Ranks restaurants for one user, with the state loaded once at start-up.

Start-up loads the current model and every restaurant's features (from the
Feast online store) into memory. A request then reads the user's features
from the online store once, scores every restaurant the user has not visited
with the pair features of ``features.pairs``, and keeps the best ``k``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import polars as pl

from features.feast_store import (
    RESTAURANT_VIEWS,
    USER_VIEWS,
    OnlineReader,
    open_store,
)
from features.pairs import pair_features
from features.paths import VarPaths
from features.schema import RESTAURANT_ID, RESTAURANTS, USER_ID
from features.store import connect
from models.registry import load_current
from service.schemas import RecommendationList, RecommendedRestaurant, Strategy
from service.settings import Settings

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Ranked:
    restaurant_ids: list[str]
    scores: list[float]


class Recommender:
    """The model, the feature store and the restaurant table, held in memory."""

    def __init__(self, settings: Settings) -> None:
        paths = VarPaths(settings.var_dir)
        self.ranker, self.metadata = load_current(paths.models)
        self.store = open_store(
            settings.feature_repo, settings.var_dir, settings.feast_profile
        )

        connection = connect(paths.store, read_only=True)
        try:
            restaurant_ids = [
                row[0]
                for row in connection.execute(
                    f"SELECT {RESTAURANT_ID} FROM {RESTAURANTS.name} "
                    f"ORDER BY {RESTAURANT_ID}"
                ).fetchall()
            ]
        finally:
            connection.close()

        restaurant_reader = OnlineReader(self.store, RESTAURANT_VIEWS, RESTAURANT_ID)
        self.restaurants = restaurant_reader.read(restaurant_ids)
        self.user_reader = OnlineReader(self.store, USER_VIEWS, USER_ID)
        self.names = dict(
            zip(
                self.restaurants[RESTAURANT_ID].to_list(),
                self.restaurants["restaurant_name"].fill_null("").to_list(),
                strict=True,
            )
        )
        self.popular = self._rank_by_popularity()
        logger.info(
            "loaded model %s and %d restaurants",
            self.metadata.version,
            self.restaurants.height,
        )

    def recommend(self, user_id: str, k: int) -> RecommendationList:
        """Rank the user's top ``k`` restaurants: with the model if the online store
        has the user's features, by popularity otherwise."""
        degraded = False
        try:
            user = self.user_reader.read([user_id])
        except Exception as error:
            # Feast raises plain exceptions, for example while a feature view is
            # being materialized; a list by popularity is still useful.
            logger.warning("online read failed for user %s: %s", user_id, error)
            user, degraded = None, True

        if user is None or user["user_visit_count"].is_null().all():
            strategy, ranked = Strategy.POPULARITY, self.popular
        else:
            strategy, ranked = Strategy.RANKER, self._rank_for(user)

        items = [
            RecommendedRestaurant(
                restaurant_id=restaurant_id,
                name=self.names.get(restaurant_id, ""),
                score=round(score, 6),
                rank=rank,
            )
            for rank, (restaurant_id, score) in enumerate(
                zip(ranked.restaurant_ids[:k], ranked.scores[:k], strict=True), start=1
            )
        ]
        return RecommendationList(
            user_id=user_id,
            strategy=strategy,
            model_version=self.metadata.version,
            degraded=degraded,
            recommendations=items,
        )

    def _rank_for(self, user: pl.DataFrame) -> _Ranked:
        visited = user["user_visited_restaurant_ids"][0]
        candidates = self.restaurants.filter(
            ~pl.col(RESTAURANT_ID).is_in(
                visited.to_list() if visited is not None else []
            )
        )
        rows = pair_features(user.join(candidates, how="cross"))
        return _sorted(rows[RESTAURANT_ID].to_list(), self.ranker.score(rows).tolist())

    def _rank_by_popularity(self) -> _Ranked:
        counts = self.restaurants["restaurant_visit_share"].fill_null(0.0).to_list()
        return _sorted(self.restaurants[RESTAURANT_ID].to_list(), counts)


def _sorted(restaurant_ids: list[str], scores: list[float]) -> _Ranked:
    """Best score first; ties go to the smaller restaurant id."""
    order = sorted(range(len(scores)), key=lambda i: (-scores[i], restaurant_ids[i]))
    return _Ranked(
        restaurant_ids=[restaurant_ids[i] for i in order],
        scores=[scores[i] for i in order],
    )
