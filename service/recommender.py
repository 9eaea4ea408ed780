"""Ranks restaurants for one user, with the state loaded once at start-up.

Start-up loads the current model and every restaurant's features (from the
Feast online store) into memory. A request then reads the user's features
from the online store once, computes the pair features of every candidate
restaurant with ``features.pairs.pair_features`` (the transformation of the
on-demand view the model was trained with), scores them and keeps the best
``k``, with up to two reasons each from ``models.explain``. When the model
was trained on ratings without times, restaurants the user already rated are
not candidates.
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
from features.paths import VarPaths
from features.schema import RESTAURANT_ID, RESTAURANTS, USER_ID
from features.store import connect
from models.dataset import with_pair_features
from models.explain import explain, popularity_reasons
from models.registry import load_current
from service.schemas import RecommendationList, RecommendedRestaurant, Strategy
from service.settings import Settings

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Ranked:
    restaurant_ids: list[str]
    scores: list[float]
    # Readable reasons per restaurant, in the order of restaurant_ids; only the
    # first k restaurants of a ranker list have them.
    reasons: list[list[str]]
    # The model's inputs per restaurant, in the order of restaurant_ids.
    features: list[dict[str, float | None]] | None = None


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
        self.repeat_orders = bool(self.metadata.training.get("repeat_orders", False))
        self.popular = self._rank_by_popularity()
        logger.info(
            "loaded model %s and %d restaurants",
            self.metadata.version,
            self.restaurants.height,
        )

    def recommend(
        self, user_id: str, k: int, include_features: bool = False
    ) -> RecommendationList:
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

        if user is None or user["user_order_count"].is_null().all():
            strategy, ranked = Strategy.POPULARITY, self.popular
        else:
            strategy = Strategy.RANKER
            ranked = self._rank_for(user, k, include_features)

        items = [
            RecommendedRestaurant(
                restaurant_id=restaurant_id,
                name=self.names.get(restaurant_id, ""),
                score=round(score, 6),
                rank=rank,
                reasons=ranked.reasons[rank - 1],
                features=(
                    ranked.features[rank - 1]
                    if include_features and ranked.features is not None
                    else None
                ),
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

    def _rank_for(self, user: pl.DataFrame, k: int, include_features: bool) -> _Ranked:
        candidates = self.restaurants
        visited = user["user_visited_restaurant_ids"][0]
        if not self.repeat_orders and visited is not None:
            candidates = candidates.filter(
                ~pl.col(RESTAURANT_ID).is_in(visited.implode())
            )
        rows = with_pair_features(user.join(candidates, how="cross"))
        restaurant_ids = rows[RESTAURANT_ID].to_list()
        scores = self.ranker.score(rows).tolist()
        order = _best_first(restaurant_ids, scores)

        # A row's contributions cost far more than its score (TreeSHAP), so
        # only the returned rows are explained.
        top = rows[order[:k]]
        reasons = [[reason.text for reason in row] for row in explain(self.ranker, top)]
        features = None
        if include_features:
            features = top.select(self.ranker.features).cast(pl.Float64).to_dicts()
        return _Ranked(
            restaurant_ids=[restaurant_ids[i] for i in order],
            scores=[scores[i] for i in order],
            reasons=reasons,
            features=features,
        )

    def _rank_by_popularity(self) -> _Ranked:
        restaurant_ids = self.restaurants[RESTAURANT_ID].to_list()
        shares = self.restaurants["restaurant_order_share"].fill_null(0.0).to_list()
        order = _best_first(restaurant_ids, shares)
        reasons = popularity_reasons(self.restaurants[order])
        return _Ranked(
            restaurant_ids=[restaurant_ids[i] for i in order],
            scores=[shares[i] for i in order],
            reasons=reasons,
        )


def _best_first(restaurant_ids: list[str], scores: list[float]) -> list[int]:
    """Return row positions, best score first; ties go to the smaller restaurant
    id."""
    return sorted(range(len(scores)), key=lambda i: (-scores[i], restaurant_ids[i]))
