"""Pair features of one user against many restaurants, computed with numpy.

:func:`features.pairs.pair_features` defines the pair features, and training
reads them from it. The service scores one user against hundreds of
restaurants per request, and there that polars pipeline of joins costs about
7 ms (500 restaurants on a 2-core machine), mostly per-call overhead. This
module computes the same columns from restaurant arrays built once per loaded
restaurant table (:class:`RestaurantArrays`) and one user's feature values.
``tests/features/test_pair_arrays.py`` compares every column with
:func:`pair_features`.

Values are float64 arrays with NaN where :func:`pair_features` returns null.
Each is computed with the operations of :func:`pair_features` in the same
order, so the values are equal to the bit, except that a restaurant listing
one neighbour twice may sum those two terms in another order.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from features.cities import EARTH_RADIUS_KM
from features.pairs import PAIR_FEATURES
from features.schema import RESTAURANT_ID

# Shares are compared with this when no cuisine of a restaurant matches.
_NO_SHARE = -np.inf


@dataclass(frozen=True)
class RestaurantArrays:
    """Restaurant-side inputs of the pair features, one entry per row of a
    restaurant table, in its row order; NaN where a value is null."""

    restaurant_ids: tuple[str, ...]
    row_of: dict[str, int]
    latitude_radians: np.ndarray
    cos_latitude: np.ndarray
    longitude: np.ndarray
    # Index into city_code_of's values; -1 for a null city.
    city_codes: np.ndarray
    city_code_of: dict[str, int]
    price_level: np.ndarray
    # (restaurants, cuisines) booleans over every distinct cuisine of the
    # table, with None as a cuisine when a list contains a null.
    cuisine_member: np.ndarray
    cuisine_column_of: dict[str | None, int]
    has_cuisines: np.ndarray
    vegetarian_share: np.ndarray
    has_vegetarian_options: np.ndarray
    # (restaurants, factors), 0 where the list is null; -1 length for null.
    taste: np.ndarray
    taste_lengths: np.ndarray
    taste_has_null: np.ndarray
    # Per neighbour id: the rows that list it and its similarity there.
    neighbours_of: dict[str, tuple[np.ndarray, np.ndarray]]

    @classmethod
    def from_frame(cls, restaurants: pl.DataFrame) -> RestaurantArrays:
        """Build the arrays of a frame with ``restaurant_id`` and the
        restaurant columns of :data:`features.pairs.PAIR_INPUTS`."""
        ids = restaurants[RESTAURANT_ID].to_list()
        latitude = _floats(restaurants["restaurant_latitude"])
        latitude_radians = np.radians(latitude)
        cities = restaurants["restaurant_city"].to_list()
        city_code_of = {
            city: code
            for code, city in enumerate(sorted({c for c in cities if c is not None}))
        }
        cuisines = restaurants["restaurant_cuisines"].to_list()
        member, column_of = _cuisine_membership(cuisines)
        taste, lengths, has_null = taste_matrix(
            restaurants["restaurant_taste_factors"].to_list()
        )
        return cls(
            restaurant_ids=tuple(ids),
            row_of={restaurant_id: row for row, restaurant_id in enumerate(ids)},
            latitude_radians=latitude_radians,
            cos_latitude=np.cos(latitude_radians),
            longitude=_floats(restaurants["restaurant_longitude"]),
            city_codes=np.array(
                [-1 if city is None else city_code_of[city] for city in cities],
                dtype=np.int64,
            ),
            city_code_of=city_code_of,
            price_level=_floats(restaurants["restaurant_price_level"]),
            cuisine_member=member,
            cuisine_column_of=column_of,
            has_cuisines=np.array([c is not None for c in cuisines], dtype=bool),
            vegetarian_share=_floats(restaurants["restaurant_vegetarian_item_share"]),
            has_vegetarian_options=_floats(
                restaurants["restaurant_has_vegetarian_options"]
            ),
            taste=taste,
            taste_lengths=lengths,
            taste_has_null=has_null,
            neighbours_of=_neighbour_index(
                restaurants["restaurant_neighbour_ids"].to_list(),
                restaurants["restaurant_neighbour_similarities"].to_list(),
            ),
        )

    def __len__(self) -> int:
        return len(self.restaurant_ids)


def pair_feature_arrays(
    user: Mapping[str, Any], restaurants: RestaurantArrays, rows: np.ndarray
) -> dict[str, np.ndarray] | None:
    """Return the pair features of ``user`` against the restaurants at
    ``rows``, by name in :data:`features.pairs.PAIR_FEATURES` order.

    ``user`` maps the user columns of :data:`features.pairs.PAIR_INPUTS` to
    Python values, None for null, as a row of the online store gives them. An
    absent column counts as null. Returns None for inputs whose
    :func:`pair_features` result this function does not reproduce: a null
    inside a taste-factor list, taste factors of different lengths (polars
    raises), cuisine names and shares of different lengths (polars raises),
    or a NaN cuisine share.
    """
    taste = _taste_affinity(user.get("user_taste_factors"), restaurants, rows)
    cuisine_affinity = _cuisine_affinity(user, restaurants, rows)
    if taste is None or cuisine_affinity is None:
        return None

    counts = Counter(
        visited
        for visited in user.get("user_visited_restaurant_ids") or ()
        if visited is not None
    )
    ratio = _float(user.get("user_vegetarian_order_ratio"))
    distance, history_distance = _haversine_km(
        [
            (user.get("user_latitude"), user.get("user_longitude")),
            (user.get("user_history_latitude"), user.get("user_history_longitude")),
        ],
        restaurants,
        rows,
    )
    features = {
        "distance_km": distance,
        "history_distance_km": history_distance,
        "same_city": _same_city(user.get("user_city"), restaurants, rows),
        "declared_cuisine_match": _declared_match(
            user.get("user_liked_cuisines"), restaurants, rows
        ),
        "cuisine_affinity": cuisine_affinity,
        "price_budget_gap": restaurants.price_level[rows]
        - _float(user.get("user_budget_level")),
        "past_orders_here": _past_orders(counts, restaurants, rows),
        "taste_affinity": taste,
        "neighbour_affinity": _neighbour_affinity(counts, restaurants, rows),
        "vegetarian_match": ratio * restaurants.vegetarian_share[rows],
        "vegetarian_gap": ratio * (1.0 - restaurants.has_vegetarian_options[rows]),
    }
    return {name: features[name] for name in PAIR_FEATURES}


def _haversine_km(
    points: list[tuple[float | None, float | None]],
    restaurants: RestaurantArrays,
    rows: np.ndarray,
) -> list[np.ndarray]:
    """Return the distances in km from each (latitude, longitude) point, with
    the operations of :func:`features.pairs._haversine_km` in its order.

    polars' arcsin differs from numpy's in the last bit for about a third of
    inputs (polars 1.x), so the arcsin of all points runs in polars, once.
    """
    sqrt_a = []
    for latitude, longitude in points:
        phi_a = math.radians(_float(latitude))
        d_phi = restaurants.latitude_radians[rows] - phi_a
        d_lambda = np.radians(restaurants.longitude[rows] - _float(longitude))
        a = np.sin(d_phi / 2) ** 2 + math.cos(phi_a) * restaurants.cos_latitude[
            rows
        ] * (np.sin(d_lambda / 2) ** 2)
        sqrt_a.append(np.sqrt(a))
    arcsin = pl.Series(np.concatenate(sqrt_a)).arcsin().to_numpy()
    return list(2 * EARTH_RADIUS_KM * arcsin.reshape(len(points), len(rows)))


def _same_city(
    city: str | None, restaurants: RestaurantArrays, rows: np.ndarray
) -> np.ndarray:
    codes = restaurants.city_codes[rows]
    if city is None:
        return np.full(len(rows), np.nan)
    same = (codes == restaurants.city_code_of.get(city, -2)).astype(np.float64)
    same[codes < 0] = np.nan
    return same


def _declared_match(
    liked: list[str | None] | None, restaurants: RestaurantArrays, rows: np.ndarray
) -> np.ndarray:
    """Count the distinct liked cuisines each restaurant serves, as polars'
    ``list.set_intersection`` does (a null element matches a null)."""
    if liked is None:
        return np.full(len(rows), np.nan)
    columns = np.array(
        sorted(
            {
                restaurants.cuisine_column_of[cuisine]
                for cuisine in liked
                if cuisine in restaurants.cuisine_column_of
            }
        ),
        dtype=np.int64,
    )
    counts = restaurants.cuisine_member[np.ix_(rows, columns)].sum(axis=1)
    matched = counts.astype(np.float64)
    matched[~restaurants.has_cuisines[rows]] = np.nan
    return matched


def _cuisine_affinity(
    user: Mapping[str, Any], restaurants: RestaurantArrays, rows: np.ndarray
) -> np.ndarray | None:
    """Return, per restaurant, the largest share of the user's orders that
    went to one of its cuisines, and 0 without a match."""
    names = user.get("user_cuisine_names")
    shares = user.get("user_cuisine_shares")
    if (names is None) != (shares is None):
        return None
    by_column = np.full(restaurants.cuisine_member.shape[1], _NO_SHARE)
    if names is not None and shares is not None:
        if len(names) != len(shares):
            return None
        for name, share in zip(names, shares, strict=True):
            if share is not None and math.isnan(share):
                return None
            column = restaurants.cuisine_column_of.get(name)
            if name is None or share is None or column is None:
                continue
            by_column[column] = max(by_column[column], float(share))
    if by_column.size == 0:
        return np.zeros(len(rows))
    best = np.where(restaurants.cuisine_member[rows], by_column, _NO_SHARE).max(axis=1)
    return np.where(best == _NO_SHARE, 0.0, best)


def _past_orders(
    counts: Counter[str], restaurants: RestaurantArrays, rows: np.ndarray
) -> np.ndarray:
    orders = np.zeros(len(restaurants))
    for restaurant_id, count in counts.items():
        row = restaurants.row_of.get(restaurant_id)
        if row is not None:
            orders[row] = count
    return orders[rows]


def _taste_affinity(
    factors: list[float | None] | None, restaurants: RestaurantArrays, rows: np.ndarray
) -> np.ndarray | None:
    """Return the dot product of the taste factors, summed from the first
    factor to the last as polars' ``list.sum`` does; None for inputs that
    polars rejects or that hold nulls."""
    lengths = restaurants.taste_lengths[rows]
    if factors is None:
        return np.full(len(rows), np.nan)
    present = lengths >= 0
    if (
        any(value is None for value in factors)
        or restaurants.taste_has_null[rows].any()
    ):
        return None
    if (lengths[present] != len(factors)).any():
        return None
    if not present.any():
        return np.full(len(rows), np.nan)
    taste = restaurants.taste[rows]
    total = np.zeros(len(rows))
    for index, value in enumerate(factors):
        total += taste[:, index] * float(value or 0.0)
    total[~present] = np.nan
    return total


def _neighbour_affinity(
    counts: Counter[str], restaurants: RestaurantArrays, rows: np.ndarray
) -> np.ndarray:
    """Sum similarity times the user's orders over each restaurant's
    neighbours, in neighbour id order.

    polars 1.x sums a group's floats with Kahan's compensated summation, so
    this does too, one term per restaurant at a time, to round alike.
    """
    matched = [
        (restaurants.neighbours_of[neighbour], count)
        for neighbour, count in sorted(counts.items())
        if neighbour in restaurants.neighbours_of
    ]
    if not matched:
        return np.zeros(len(rows))
    targets = np.concatenate([targets for (targets, _), _ in matched])
    terms = np.concatenate(
        [float(count) * similarities for (_, similarities), count in matched]
    )
    # Group the terms by restaurant, keeping the id order within each.
    by_target = np.argsort(targets, kind="stable")
    targets, terms = targets[by_target], terms[by_target]
    starts = np.flatnonzero(np.r_[True, targets[1:] != targets[:-1]])
    positions = np.arange(len(targets)) - np.repeat(
        starts, np.diff(np.r_[starts, len(targets)])
    )
    total = np.zeros(len(restaurants))
    compensation = np.zeros(len(restaurants))
    for position in range(int(positions.max()) + 1):
        at = positions == position
        target = targets[at]
        adjusted = terms[at] - compensation[target]
        added = total[target] + adjusted
        compensation[target] = (added - total[target]) - adjusted
        total[target] = added
    return total[rows]


def _cuisine_membership(
    cuisines: list[list[str | None] | None],
) -> tuple[np.ndarray, dict[str | None, int]]:
    names = {c for listed in cuisines if listed is not None for c in listed}
    column_of: dict[str | None, int] = {
        name: column
        for column, name in enumerate(sorted(names, key=lambda c: (c is None, c or "")))
    }
    member = np.zeros((len(cuisines), len(column_of)), dtype=bool)
    for row, listed in enumerate(cuisines):
        for cuisine in listed or ():
            member[row, column_of[cuisine]] = True
    return member, column_of


def taste_matrix(
    factors: list[list[float | None] | None],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return the taste-factor lists as a zero-padded matrix, each list's
    length (-1 for null) and whether each list contains a null."""
    lengths = np.array([-1 if f is None else len(f) for f in factors], dtype=np.int64)
    width = int(lengths.max()) if len(factors) else 0
    matrix = np.zeros((len(factors), max(width, 0)))
    has_null = np.zeros(len(factors), dtype=bool)
    for row, listed in enumerate(factors):
        if listed is None:
            continue
        has_null[row] = any(value is None for value in listed)
        matrix[row, : len(listed)] = [
            0.0 if value is None else value for value in listed
        ]
    return matrix, lengths, has_null


def _neighbour_index(
    neighbour_ids: list[list[str | None] | None],
    similarities: list[list[float | None] | None],
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Invert the neighbour lists: per neighbour id, the rows that list it.

    Lists that do not pair up (one missing, or lengths differ) give no
    neighbours, as in pair_features. A null similarity adds nothing to a sum,
    so its entry is left out.
    """
    entries: dict[str, list[tuple[int, float]]] = {}
    for row, (ids, values) in enumerate(zip(neighbour_ids, similarities, strict=True)):
        if ids is None or values is None or len(ids) != len(values):
            continue
        for neighbour, similarity in zip(ids, values, strict=True):
            if neighbour is not None and similarity is not None:
                entries.setdefault(neighbour, []).append((row, similarity))
    return {
        neighbour: (
            np.array([row for row, _ in listed], dtype=np.int64),
            np.array([similarity for _, similarity in listed], dtype=np.float64),
        )
        for neighbour, listed in entries.items()
    }


def _floats(series: pl.Series) -> np.ndarray:
    return series.cast(pl.Float64).fill_null(np.nan).to_numpy().astype(np.float64)


def _float(value: Any) -> float:
    return math.nan if value is None else float(value)
