"""Readable reasons for a ranked restaurant, from the ranker's feature contributions.

LightGBM's ``pred_contrib`` splits each score into one SHAP value per feature
plus the expected value, so each value is how far one feature moved this
row's score from the average. Features are grouped into families (distance,
cuisine, vegetarian, ...), and a family's contribution is the sum of its
features' values. Each family has a template that writes a short sentence
from the row's values. A template returns None when the values do not
support its sentence (a vegetarian reason for a user who rarely orders
vegetarian, a distance of 80 km), and then the next family is tried.

Features of the user's activity alone (how often and how much the user
orders) are the same for every candidate of a request, so they cannot
explain why one restaurant ranked above another, and they give no reason. A
model feature in no family and not listed gets a generic reason that names it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import polars as pl

from models._explain_templates import (
    Row,
    _chain,
    _cuisine,
    _distance,
    _generic,
    _neighbours,
    _opening,
    _past_orders,
    _popularity,
    _price,
    _rating,
    _same_city,
    _taste,
    _vegetarian,
)
from models._explain_templates import cuisine_name as cuisine_name
from models.ranker import LightGBMRanker

# A family whose contributions sum to less than this, in score units, gives no
# reason, so that a push close to zero is not presented as a reason.
MIN_CONTRIBUTION = 0.01


@dataclass(frozen=True)
class Reason:
    """A sentence about one recommended restaurant and the push behind it."""

    text: str
    # The family of features the sentence rests on, or the feature's own name
    # for a generic reason.
    family: str
    # Sum of the family's SHAP values for this row, in score units.
    contribution: float


@dataclass(frozen=True)
class _Family:
    name: str
    # Model features whose contributions add up to the family's.
    features: tuple[str, ...]
    # Columns the template reads: model features and the lists behind them.
    reads: tuple[str, ...]
    render: Callable[[Row], str | None]


def explain(
    ranker: LightGBMRanker,
    rows: pl.DataFrame,
    top: int = 2,
    min_contribution: float = MIN_CONTRIBUTION,
) -> list[list[Reason]]:
    """Return up to ``top`` reasons per row, strongest contribution first.

    ``rows`` are the returned restaurants of one or more users, with the
    model's features and, where present, the columns the templates read
    (``restaurant_cuisines``, ``user_cuisine_names``, ...). A row's
    contributions cost far more than its score, so pass only the top ``k``
    rows, not every candidate. A row whose families all contribute less than
    ``min_contribution``, or whose values support none of their templates,
    gets no reason.
    """
    if rows.height == 0:
        return []

    matrix = rows.select(ranker.features).cast(pl.Float64).to_numpy()
    present = [c for c in template_columns(ranker.features) if c in rows.columns]
    values = rows.select(present).to_dicts()
    return explain_matrix(ranker, matrix, values, top, min_contribution)


def explain_matrix(
    ranker: LightGBMRanker,
    matrix: np.ndarray,
    values: Sequence[Row],
    top: int = 2,
    min_contribution: float = MIN_CONTRIBUTION,
    contributions: np.ndarray | None = None,
) -> list[list[Reason]]:
    """Return the reasons of :func:`explain` for rows given as arrays.

    ``matrix`` contains the rows' values of the model's features, in
    ``ranker.features`` order, as float64 with NaN for null. ``values`` maps,
    per row, the columns of :func:`template_columns` that the rows have to
    their values; NaN and None both read as missing. ``contributions`` are
    the rows' SHAP values per feature, (rows, features), computed with
    LightGBM's ``pred_contrib`` when None.
    """
    if len(matrix) == 0:
        return []

    families = _families_for(ranker.features)
    if contributions is None:
        # One thread: a batch of k rows is too small to gain from OpenMP, and
        # on 2 busy cores the threads waiting for a core made it slower
        # (measured 20 ms against 12 ms for 10 rows). The last column is the
        # expected value, which no feature accounts for.
        predicted = ranker.booster.predict(
            np.ascontiguousarray(matrix, dtype=np.float64),
            pred_contrib=True,
            num_threads=1,
        )
        contributions = np.asarray(predicted)[:, :-1]
    by_family = contributions @ _membership(ranker.features)
    order = np.argsort(-by_family, axis=1, kind="stable")
    return [
        _reasons_of_row(
            values[i], order[i], by_family[i], families, top, min_contribution
        )
        for i in range(len(matrix))
    ]


def template_columns(features: tuple[str, ...]) -> list[str]:
    """Return the columns the reason templates of a model over ``features``
    read: model features and the lists behind them."""
    return _columns_read(_families_for(features))


def popularity_reasons(restaurants: pl.DataFrame) -> list[list[str]]:
    """Return the reason of each restaurant of a list ranked by past orders.

    Reads ``restaurant_orders_30d`` and ``restaurant_order_count``; a
    restaurant without orders gets no reason.
    """
    columns = [c for c in _POPULARITY_READS if c in restaurants.columns]
    reasons = []
    for row in restaurants.select(columns).to_dicts():
        text = _popularity(row)
        reasons.append([] if text is None else [text])
    return reasons


def _reasons_of_row(
    row: Row,
    order: np.ndarray,
    contributions: np.ndarray,
    families: tuple[_Family, ...],
    top: int,
    min_contribution: float,
) -> list[Reason]:
    reasons: list[Reason] = []
    for index in order:
        contribution = float(contributions[index])
        # Contributions are sorted, so every later family is weaker.
        if contribution < min_contribution or len(reasons) == top:
            break
        family = families[index]
        text = family.render(row)
        if text is not None:
            reasons.append(Reason(text, family.name, contribution))
    return reasons


_POPULARITY_READS = ("restaurant_orders_30d", "restaurant_order_count")

FAMILIES: tuple[_Family, ...] = (
    _Family(
        "vegetarian",
        features=(
            "vegetarian_match",
            "vegetarian_gap",
            "user_declared_vegetarian",
            "user_diet_order_count",
            "user_vegetarian_order_ratio",
            "user_vegetarian_item_ratio",
            "restaurant_vegetarian_item_share",
            "restaurant_vegetarian_main_count",
            "restaurant_has_vegetarian_options",
        ),
        reads=(
            "user_vegetarian_order_ratio",
            "user_declared_vegetarian",
            "restaurant_vegetarian_item_share",
            "restaurant_has_vegetarian_options",
        ),
        render=_vegetarian,
    ),
    _Family(
        "distance",
        features=(
            "distance_km",
            "history_distance_km",
            "user_latitude",
            "user_longitude",
            "user_history_latitude",
            "user_history_longitude",
            "restaurant_latitude",
            "restaurant_longitude",
        ),
        reads=("distance_km", "history_distance_km"),
        render=_distance,
    ),
    _Family("city", ("same_city",), ("same_city",), _same_city),
    _Family(
        "cuisine",
        features=(
            "cuisine_affinity",
            "declared_cuisine_match",
            "user_top_cuisine_share",
            "user_cuisine_diversity",
            "user_coffee_tea_share",
            "user_pizza_share",
        ),
        reads=(
            "cuisine_affinity",
            "declared_cuisine_match",
            "restaurant_cuisines",
            "user_cuisine_names",
            "user_cuisine_shares",
            "user_liked_cuisines",
        ),
        render=_cuisine,
    ),
    _Family(
        "price",
        features=(
            "price_budget_gap",
            "restaurant_price_level",
            "user_budget_level",
            "restaurant_median_item_price",
        ),
        reads=("price_budget_gap", "restaurant_price_level", "user_budget_level"),
        render=_price,
    ),
    _Family("past_orders", ("past_orders_here",), ("past_orders_here",), _past_orders),
    _Family(
        "popularity",
        features=(
            "restaurant_order_count",
            "restaurant_user_count",
            "restaurant_orders_7d",
            "restaurant_users_7d",
            "restaurant_orders_30d",
            "restaurant_users_30d",
            "restaurant_order_share",
        ),
        reads=_POPULARITY_READS,
        render=_popularity,
    ),
    _Family("taste", ("taste_affinity",), ("taste_affinity",), _taste),
    _Family(
        "neighbours",
        ("neighbour_affinity",),
        ("neighbour_affinity",),
        _neighbours,
    ),
    _Family(
        "rating",
        ("restaurant_mean_rating",),
        ("restaurant_mean_rating", "user_mean_rating"),
        _rating,
    ),
    _Family(
        "opening",
        ("restaurant_days_since_opening",),
        ("restaurant_days_since_opening",),
        _opening,
    ),
    _Family("chain", ("restaurant_is_chain",), ("restaurant_is_chain",), _chain),
)

# Features left to the generic reason on purpose: a template would only
# restate the number.
GENERIC_FEATURES: frozenset[str] = frozenset({"restaurant_menu_item_count"})

# Features of the user alone, equal for every candidate of a request; their
# contributions give no reason.
USER_CONTEXT_FEATURES: frozenset[str] = frozenset(
    {
        "user_order_count",
        "user_orders_7d",
        "user_orders_30d",
        "user_orders_90d",
        "user_days_since_last_order",
        "user_avg_order_value",
        "user_mean_rating",
    }
)

TEMPLATED_FEATURES: frozenset[str] = frozenset(
    feature for family in FAMILIES for feature in family.features
)


@lru_cache(maxsize=8)
def _families_for(features: tuple[str, ...]) -> tuple[_Family, ...]:
    """Return the families of a model: the fixed ones, then one generic family
    per model feature that belongs to none and is not user context."""
    generic = tuple(
        _Family(feature, (feature,), (feature,), _generic(feature))
        for feature in features
        if feature not in TEMPLATED_FEATURES and feature not in USER_CONTEXT_FEATURES
    )
    return FAMILIES + generic


@lru_cache(maxsize=8)
def _membership(features: tuple[str, ...]) -> np.ndarray:
    """Build a (features, families) matrix of ones where a feature is in a
    family, so that contributions @ membership sums each family."""
    families = _families_for(features)
    matrix = np.zeros((len(features), len(families)))
    column_of = {
        feature: column
        for column, family in enumerate(families)
        for feature in family.features
    }
    for row, feature in enumerate(features):
        if feature in column_of:
            matrix[row, column_of[feature]] = 1.0
    matrix.flags.writeable = False
    return matrix


def _columns_read(families: Sequence[_Family]) -> list[str]:
    return list(dict.fromkeys(c for family in families for c in family.reads))
