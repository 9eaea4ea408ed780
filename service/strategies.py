"""Candidate filters and the content-based scores of the service.

The personalised ranker needs a user's order history. Everything else the
service answers is scored here from content: restaurants for a user without
orders or for an anonymous caller's declared preferences (cuisines, diet,
budget, place), scores for restaurants without orders inside a ranked list,
and restaurants similar to a given one. The content score is
:class:`models.baselines.ContentBaseline`, the same fixed weighting the
offline evaluation measures as the ``content`` baseline.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from features.cities import EARTH_RADIUS_KM
from features.cuisines import cuisine_key, normalize_cuisine
from features.pairs import PAIR_INPUTS
from features.schema import RESTAURANT_ID, USER_ID
from models.baselines import ContentBaseline, ContentWeights
from models.dataset import with_pair_features

VEGETARIAN = "vegetarian"
BUDGET_LEVELS = {"low": 1, "medium": 2, "high": 3}
# User columns the pair features read, with their types; absent ones are null.
_USER_COLUMNS: dict[str, pl.DataType] = {
    USER_ID: pl.String(),
    **{name: dtype for name, dtype in PAIR_INPUTS.items() if name.startswith("user_")},
}


@dataclass(frozen=True)
class Filters:
    """Constraints on the restaurants of one request."""

    city: str | None = None
    diet: str | None = None
    exclude_cuisines: tuple[str, ...] = ()

    def apply(self, restaurants: pl.DataFrame) -> pl.DataFrame:
        """Keep the restaurants that meet every constraint.

        ``diet="vegetarian"`` keeps only restaurants whose menu shows a
        vegetarian option; a restaurant without a known menu is left out,
        because nothing shows it has one.
        """
        kept = restaurants
        if self.city is not None:
            kept = kept.filter(
                pl.col("restaurant_city").str.to_lowercase() == self.city.lower()
            )
        if self.diet == VEGETARIAN:
            kept = kept.filter(pl.col("restaurant_has_vegetarian_options") == 1)
        if self.exclude_cuisines:
            excluded = [cuisine_key(cuisine) for cuisine in self.exclude_cuisines]
            cuisines = pl.col("restaurant_cuisines").list.eval(
                normalize_cuisine(pl.element())
            )
            kept = kept.filter(
                ~cuisines.list.eval(pl.element().is_in(excluded))
                .list.any()
                .fill_null(False)
            )
        return kept


@dataclass(frozen=True)
class Preferences:
    """The preferences an anonymous caller declares."""

    latitude: float | None = None
    longitude: float | None = None
    city: str | None = None
    diet: str | None = None
    liked_cuisines: tuple[str, ...] = ()
    budget: str | None = None

    def user_row(self) -> pl.DataFrame:
        """Return a one-row user frame with the columns the pair features
        read, filled from the preferences."""
        values: dict[str, object] = {
            USER_ID: "anonymous",
            "user_latitude": self.latitude,
            "user_longitude": self.longitude,
            "user_city": self.city,
            "user_budget_level": None
            if self.budget is None
            else BUDGET_LEVELS[self.budget],
            "user_liked_cuisines": list(self.liked_cuisines) or None,
            # A declared vegetarian is scored as one whose orders are all
            # vegetarian.
            "user_vegetarian_order_ratio": 1.0 if self.diet == VEGETARIAN else None,
        }
        return content_user_frame(values)


def content_user_frame(values: Mapping[str, Any]) -> pl.DataFrame:
    """Return a one-row user frame with the columns the pair features read,
    taken from ``values`` by name; absent ones are null."""
    return pl.DataFrame(
        {name: [values.get(name)] for name in _USER_COLUMNS},
        schema=_USER_COLUMNS,
    )


def user_content_row(user: pl.DataFrame) -> pl.DataFrame:
    """Return the pair-feature inputs of a known user's feature row, with
    absent columns as nulls."""
    return user.select(
        [
            pl.col(name).cast(dtype)
            if name in user.columns
            else pl.lit(None, dtype).alias(name)
            for name, dtype in _USER_COLUMNS.items()
        ]
    )


def content_scores(user: pl.DataFrame, restaurants: pl.DataFrame) -> np.ndarray:
    """Score every restaurant for one user row with the content weights.

    The popularity prior is each restaurant's share of all orders, scaled so
    that the most ordered restaurant has 1.
    """
    if restaurants.height == 0:
        return np.empty(0)
    rows = with_pair_features(user.join(restaurants, how="cross"))
    share = restaurants["restaurant_order_share"].fill_null(0.0)
    largest = share.max()
    prior = share / largest if isinstance(largest, float) and largest > 0 else share
    model = ContentBaseline()
    model.use_prior(
        pl.DataFrame({RESTAURANT_ID: restaurants[RESTAURANT_ID], "_popularity": prior})
    )
    return model.score(rows)


def content_score_arrays(
    pairs: Mapping[str, np.ndarray], prior: np.ndarray
) -> np.ndarray:
    """Return :func:`content_scores` from pair features as numpy arrays (NaN
    for null) and the popularity prior of the same restaurants.

    The terms of :meth:`models.baselines.ContentBaseline.score` are added in
    its order with its default weights, so the sums round alike.
    """
    weights = ContentWeights()
    # polars 1.x divides a column by a number as a product with its reciprocal,
    # and its log1p differs from numpy's in the last bit for some inputs, so
    # both run in polars.
    distance = pl.Series(pairs["distance_km"])
    proximity = (1.0 / (1.0 + distance / weights.proximity_scale_km)).to_numpy()
    past_orders = pl.Series(_filled(pairs["past_orders_here"])).log1p().to_numpy()
    return (
        weights.declared_cuisine * _filled(pairs["declared_cuisine_match"])
        + weights.cuisine_affinity * _filled(pairs["cuisine_affinity"])
        + weights.vegetarian
        * (_filled(pairs["vegetarian_match"]) - _filled(pairs["vegetarian_gap"]))
        - weights.price * np.abs(_filled(pairs["price_budget_gap"]))
        + weights.proximity * _filled(proximity)
        + weights.same_city * _filled(pairs["same_city"])
        + weights.past_orders * past_orders
        + weights.popularity * prior
    )


def _filled(values: np.ndarray) -> np.ndarray:
    return np.where(np.isnan(values), 0.0, values)


def place_new_restaurants(
    ranker_scores: np.ndarray, content: np.ndarray, is_new: np.ndarray
) -> np.ndarray:
    """Give each restaurant without orders the ranker score of the established
    restaurant whose content score is next below its own.

    The ranker cannot score a restaurant without orders, because its
    popularity and collaborative features are empty. Matching by content rank places it
    where a restaurant of the same content fit already sits, so it can appear.
    """
    placed = ranker_scores.astype(np.float64, copy=True)
    established = np.flatnonzero(~is_new)
    if established.size == 0 or not is_new.any():
        return placed
    order = established[np.argsort(content[established], kind="stable")]
    new = np.flatnonzero(is_new)
    positions = np.searchsorted(content[order], content[new], side="right")
    neighbours = order[np.maximum(positions - 1, 0)]
    # Just below the matched restaurant, so ties keep the established one.
    placed[new] = ranker_scores[neighbours] - 1e-9
    return placed


def similarity_scores(anchor: dict[str, Any], restaurants: pl.DataFrame) -> np.ndarray:
    """Score how alike each restaurant is to ``anchor`` (a restaurant row).

    The score adds the Jaccard overlap of the cuisines (weight 3), the same
    city (1), a price level within one step (0.5 per step closer), the
    closeness of the vegetarian share of the menus (0.5) and nearness, 1 / (1
    + km / 2) (1).
    """
    cuisines = set(anchor.get("restaurant_cuisines") or [])
    latitude = anchor.get("restaurant_latitude")
    longitude = anchor.get("restaurant_longitude")
    price = anchor.get("restaurant_price_level")
    share = anchor.get("restaurant_vegetarian_item_share")

    other = pl.col("restaurant_cuisines").fill_null([])
    overlap = other.list.set_intersection(list(cuisines)).list.len()
    union = other.list.set_union(list(cuisines)).list.len()
    jaccard = pl.when(union > 0).then(overlap / union).otherwise(0.0)
    score = 3.0 * jaccard
    city = anchor.get("restaurant_city")
    # Without a city the anchor shares none, and polars warns on == None.
    if city is not None:
        score += (pl.col("restaurant_city") == city).fill_null(False).cast(pl.Float64)
    if price is not None:
        gap = (pl.col("restaurant_price_level") - price).abs().fill_null(2)
        score += 0.5 * (2 - gap.clip(0, 2)).cast(pl.Float64) / 2
    if share is not None:
        score += 0.5 * (
            1.0 - (pl.col("restaurant_vegetarian_item_share") - share).abs()
        ).fill_null(0.0)
    if latitude is not None and longitude is not None:
        km = _km(
            pl.col("restaurant_latitude"),
            pl.col("restaurant_longitude"),
            latitude,
            longitude,
        )
        score += (1.0 / (1.0 + km / 2.0)).fill_null(0.0)
    return restaurants.select(score.alias("similarity"))["similarity"].to_numpy()


def _km(lat: pl.Expr, lon: pl.Expr, anchor_lat: float, anchor_lon: float) -> pl.Expr:
    """Return the haversine distance in km to a fixed point."""
    radius = EARTH_RADIUS_KM
    lat1 = pl.lit(float(anchor_lat)).radians()
    lon1 = pl.lit(float(anchor_lon)).radians()
    lat2, lon2 = lat.radians(), lon.radians()
    a = ((lat2 - lat1) / 2).sin() ** 2 + lat1.cos() * lat2.cos() * (
        (lon2 - lon1) / 2
    ).sin() ** 2
    return 2 * radius * a.sqrt().arcsin()
