"""The loaded restaurants as arrays, prepared once per model and feature load.

A recommendation request ranks one user against every candidate restaurant.
What depends on the restaurants alone is computed here, once, when the
service loads its state. That is the restaurant inputs of the pair features,
the restaurant columns of the model's input matrix, the popularity order and
reasons, and the rows each filter keeps. A request then computes only what
depends on the user.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from functools import lru_cache
from typing import Any

import numpy as np
import polars as pl

from features.cities import city_centres, nearest_city
from features.cuisines import cuisine_key
from features.pair_arrays import RestaurantArrays
from features.pairs import PAIR_FEATURES
from features.schema import RESTAURANT_ID
from models.explain import popularity_reasons, template_columns
from models.guardrail import COFFEE_TEA_SHARE, REQUIRED_FEATURES
from service.strategies import Filters

# Distinct filters whose candidate rows are cached per loaded state. City and
# cuisine names come from requests, so the number of distinct filters is
# unbounded. Each entry is at most one index per restaurant.
FILTER_CACHE_SIZE = 1024
GUARDRAIL_COLUMNS = (*REQUIRED_FEATURES, COFFEE_TEA_SHARE)
_ROW = "_row"


class Catalogue:
    """The restaurants of one loaded state, in the row order of their frame
    (sorted by restaurant id), with what requests read about them."""

    def __init__(self, restaurants: pl.DataFrame) -> None:
        self.restaurants = restaurants
        self.restaurant_ids: list[str] = restaurants[RESTAURANT_ID].to_list()
        self.row_of = {rid: row for row, rid in enumerate(self.restaurant_ids)}
        # Position of each row's id in Python's string order, the tie-break
        # of every ranked list.
        self.id_rank = np.empty(len(self.restaurant_ids), dtype=np.int64)
        by_id = sorted(
            range(len(self.restaurant_ids)), key=self.restaurant_ids.__getitem__
        )
        self.id_rank[by_id] = np.arange(len(by_id))
        self.all_rows = np.arange(len(self.restaurant_ids), dtype=np.int64)
        # Requests share this array and the cached ones of candidates().
        self.all_rows.flags.writeable = False
        self.pair_inputs = RestaurantArrays.from_frame(restaurants)

        self.order_share = _floats(restaurants["restaurant_order_share"], 0.0)
        self.is_new = (
            restaurants["restaurant_order_count"].fill_null(0) == 0
        ).to_numpy()
        # Menus known to have no vegetarian dish; an unknown menu is not one.
        self.meat_only = (
            (restaurants["restaurant_has_vegetarian_options"] == 0)
            .fill_null(False)
            .to_numpy()
        )
        # Lower-cased by polars, as Filters.apply does.
        self.city_lower: np.ndarray = np.array(
            restaurants["restaurant_city"].str.to_lowercase().to_list(), dtype=object
        )
        self.popularity_order = self.best_first(self.all_rows, self.order_share)
        self.popularity_reasons = popularity_reasons(restaurants)
        self.columns: dict[str, list[Any]] = {
            name: restaurants[name].to_list() for name in restaurants.columns
        }
        self.vegetarian_count = int(
            (restaurants["restaurant_has_vegetarian_options"] == 1).sum()
        )
        self.cuisine_spellings = _spellings(
            (
                cuisine
                for cuisines in self.columns["restaurant_cuisines"]
                for cuisine in cuisines or ()
            ),
            cuisine_key,
        )
        self.city_spellings = _spellings(self.columns["restaurant_city"], str.lower)
        self.city_centres = city_centres(
            restaurants.select(
                city=pl.col("restaurant_city"),
                latitude=pl.col("restaurant_latitude"),
                longitude=pl.col("restaurant_longitude"),
            )
        )
        self._filtered: Callable[[Filters], np.ndarray] = lru_cache(
            maxsize=FILTER_CACHE_SIZE
        )(self._apply)

    def __len__(self) -> int:
        return len(self.restaurant_ids)

    def candidates(self, filters: Filters) -> np.ndarray:
        """Return the rows that ``filters`` keep, in row order, as a read-only
        array that other requests share."""
        if filters == Filters():
            return self.all_rows
        return self._filtered(filters)

    def without(
        self, rows: np.ndarray, restaurant_ids: Iterable[str | None]
    ) -> np.ndarray:
        """Return ``rows`` without those of ``restaurant_ids``."""
        excluded = [self.row_of[r] for r in restaurant_ids if r in self.row_of]
        if not excluded:
            return rows
        return rows[~np.isin(rows, excluded)]

    def spelled_as_stored(self, user: Mapping[str, Any]) -> dict[str, Any]:
        """Return ``user`` with its liked cuisines and its city spelled as the
        restaurants spell them, as the filters and the content reasons match
        them. Cities match ignoring case, and cuisines by their stored spelling
        (``features.cuisines.cuisine_key``).

        The pair features compare names exactly. A liked cuisine becomes every
        stored spelling of it. A name no restaurant has is kept as given.
        """
        spelled = dict(user)
        liked = user.get("user_liked_cuisines")
        if liked:
            names: list[str] = []
            for cuisine in liked:
                key = cuisine_key(cuisine)
                for name in self.cuisine_spellings.get(key, (cuisine,)):
                    if name not in names:
                        names.append(name)
            spelled["user_liked_cuisines"] = names
        city = user.get("user_city")
        if city is not None:
            # NOTE: restaurants whose city differs only in case from this
            # first spelling do not count as in the same city. The UCI loader
            # (features.cities.normalize_city) and `recommender import`
            # (features.import_cities) store one spelling per city, but a
            # store filled by imports that kept the spellings of their files
            # may have several.
            spelled["user_city"] = self.city_spellings.get(city.lower(), (city,))[0]
        return spelled

    def city_at(self, location: tuple[float, float]) -> str | None:
        """Return the city whose restaurants' mean position is nearest to
        ``location`` (latitude, longitude), or None beyond
        :data:`features.cities.MAX_CITY_DISTANCE_KM` of every city."""
        return nearest_city(location[0], location[1], self.city_centres)

    def in_city(self, rows: np.ndarray, city: str) -> np.ndarray:
        """Return the rows of restaurants in ``city``, ignoring case."""
        return rows[self.city_lower[rows] == city.lower()]

    def best_first(self, rows: np.ndarray, scores: np.ndarray) -> np.ndarray:
        """Return positions into ``rows``, best score first; ties go to the
        smaller restaurant id."""
        return np.lexsort((self.id_rank[rows], -np.asarray(scores)))

    def popular(self, rows: np.ndarray) -> np.ndarray:
        """Return ``rows`` by order share, largest first; ties go to the
        smaller restaurant id."""
        selected = np.zeros(len(self), dtype=bool)
        selected[rows] = True
        return self.popularity_order[selected[self.popularity_order]]

    def popularity_prior(self, rows: np.ndarray) -> np.ndarray:
        """Return the order shares of ``rows`` divided by the largest among
        them, as :func:`service.strategies.content_scores` scales them."""
        shares = self.order_share[rows]
        largest = shares.max() if len(shares) else 0.0
        if largest <= 0:
            return shares
        # polars 1.x divides a column by a number as a product with its
        # reciprocal, which rounds unlike numpy's division, so this divides in
        # polars too.
        return (pl.Series(shares) / float(largest)).to_numpy()

    def _apply(self, filters: Filters) -> np.ndarray:
        filtered = filters.apply(self.restaurants.with_row_index(_ROW))
        rows = filtered[_ROW].to_numpy().astype(np.int64)
        rows.flags.writeable = False
        return rows


class ModelInputs:
    """Builds a model's input matrix for one user against catalogue rows.

    Each model feature is a pair feature, a column of the user's row or a
    column of the restaurants, as in the frame that
    ``models.dataset.with_pair_features`` builds from the user's row joined
    to the restaurants. The restaurant columns are filled once, here.
    """

    def __init__(
        self,
        features: tuple[str, ...],
        catalogue: Catalogue,
        user_columns: Iterable[str],
    ) -> None:
        self.features = features
        self.catalogue = catalogue
        self.user_columns = frozenset(user_columns)
        self.restaurant_columns = frozenset(catalogue.restaurants.columns)
        self.user_features: list[tuple[int, str]] = []
        self.pair_features: list[tuple[int, str]] = []
        self.matrix = np.full((len(catalogue), len(features)), np.nan)
        for position, name in enumerate(features):
            source = self.source(name)
            if source == "pair":
                self.pair_features.append((position, name))
            elif source == "user":
                self.user_features.append((position, name))
            elif source == "restaurant":
                self.matrix[:, position] = _floats(catalogue.restaurants[name])
            else:
                msg = (
                    f"model feature {name} is neither a pair feature, a user "
                    "feature nor a restaurant feature of the online store"
                )
                raise ValueError(msg)
        self.position = {name: position for position, name in enumerate(features)}
        # The columns the reason templates read that the joined frame has,
        # with where each comes from.
        self.template_sources = [
            (name, source)
            for name in template_columns(features)
            if (source := self.source(name)) is not None
        ]

    def source(self, name: str) -> str | None:
        """Return where a column of the joined frame comes from: ``pair``,
        ``user``, ``restaurant``, or None when the frame lacks it."""
        if name in PAIR_FEATURES:
            return "pair"
        if name in self.user_columns:
            return "user"
        if name in self.restaurant_columns:
            return "restaurant"
        return None

    def build(
        self,
        user: Mapping[str, Any],
        rows: np.ndarray,
        pairs: Mapping[str, np.ndarray],
    ) -> np.ndarray:
        """Return the (rows, features) float64 matrix, NaN for null."""
        matrix = self.matrix[rows]
        for position, name in self.user_features:
            matrix[:, position] = _float(user.get(name))
        for position, name in self.pair_features:
            matrix[:, position] = pairs[name]
        return matrix

    def guardrail_rows(
        self, user: Mapping[str, Any], rows: np.ndarray, matrix: np.ndarray
    ) -> pl.DataFrame:
        """Return the columns the diet guardrail reads, one row per row, with
        nulls where the joined frame has them."""
        columns = {}
        for name in GUARDRAIL_COLUMNS:
            source = self.source(name)
            if source is None:
                continue
            if name in self.position:
                values = matrix[:, self.position[name]]
            elif source == "user":
                values = np.full(len(rows), _float(user.get(name)))
            else:
                values = _floats(self.catalogue.restaurants[name])[rows]
            columns[name] = values
        return pl.DataFrame(columns, nan_to_null=True)

    def template_values(
        self,
        user: Mapping[str, Any],
        rows: np.ndarray,
        pairs: Mapping[str, np.ndarray],
        positions: Iterable[int],
    ) -> list[dict[str, Any]]:
        """Return, per position into ``rows``, the values the reason templates
        read, as ``explain`` takes them from the joined frame."""
        values = []
        for index in positions:
            row = rows[index]
            found: dict[str, Any] = {}
            for name, source in self.template_sources:
                if source == "pair":
                    found[name] = float(pairs[name][index])
                elif source == "user":
                    found[name] = user.get(name)
                else:
                    found[name] = self.catalogue.columns[name][row]
            values.append(found)
        return values

    def feature_values(self, matrix: np.ndarray) -> list[dict[str, float | None]]:
        """Return each matrix row as ``{feature: value}``, None for NaN."""
        return [
            {
                name: None if math.isnan(value) else value
                for name, value in zip(self.features, row.tolist(), strict=True)
            }
            for row in matrix
        ]


def _spellings(
    names: Iterable[str | None], key: Callable[[str], str]
) -> dict[str, tuple[str, ...]]:
    """Group distinct names by ``key``, each group sorted."""
    groups: dict[str, set[str]] = {}
    for name in names:
        if name is not None:
            groups.setdefault(key(name), set()).add(name)
    return {key: tuple(sorted(group)) for key, group in groups.items()}


def _floats(series: pl.Series, null: float = math.nan) -> np.ndarray:
    return series.cast(pl.Float64).fill_null(null).to_numpy().astype(np.float64)


def _float(value: Any) -> float:
    return math.nan if value is None else float(value)
