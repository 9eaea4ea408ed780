"""Ranked lists of one request: by the ranker, by content and by popularity.

Each list is computed from the catalogue's arrays (:mod:`service.catalogue`)
and :func:`features.pair_arrays.pair_feature_arrays`. When that function
declines a user's inputs, the ranker and content lists are computed from
polars frames instead, with ``features.pairs.pair_features`` and
:func:`service.strategies.content_scores`, the definitions the arrays are
tested against.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from features.cuisines import cuisine_key
from features.pair_arrays import pair_feature_arrays
from models.dataset import with_pair_features
from models.explain import cuisine_name, explain, explain_matrix
from models.guardrail import move_below
from models.ranker import LightGBMRanker
from service.catalogue import Catalogue, ModelInputs
from service.shap_tables import ShapTables
from service.strategies import (
    content_score_arrays,
    content_scores,
    content_user_frame,
    place_new_restaurants,
    user_content_row,
)

NEW_RESTAURANT_REASON = "No orders yet"
# A user with at least this share of vegetarian orders gets the vegetarian
# reason in content-ranked lists.
CONTENT_VEGETARIAN_RATIO = 0.9
CONTENT_MAX_COFFEE_TEA_SHARE = 0.5


@dataclass(frozen=True)
class Ranked:
    """The first restaurants of a ranked list, best first, with their scores,
    reasons and, on request, model inputs."""

    restaurant_ids: list[str]
    scores: list[float]
    reasons: list[list[str]]
    features: list[dict[str, float | None]] | None = None


def rank_by_model(
    catalogue: Catalogue,
    inputs: ModelInputs,
    ranker: LightGBMRanker,
    shap: ShapTables | None,
    user: Mapping[str, Any],
    rows: np.ndarray,
    k: int,
    include_features: bool,
) -> Ranked | None:
    """Rank ``rows`` for ``user`` with the ranker and explain the first ``k``.

    Restaurants without orders are placed by their content score
    (:func:`service.strategies.place_new_restaurants`). The reasons' SHAP
    values come from ``shap``, or from LightGBM when it is None. Returns None
    when :func:`pair_feature_arrays` declines the user's inputs.
    """
    pairs = pair_feature_arrays(user, catalogue.pair_inputs, rows)
    if pairs is None:
        return None
    matrix = inputs.build(user, rows, pairs)
    guardrail_rows = inputs.guardrail_rows(user, rows, matrix)
    scores = ranker.score(guardrail_rows, matrix, demote=False)
    is_new = catalogue.is_new[rows]
    if is_new.any():
        prior = catalogue.popularity_prior(rows)
        content = content_score_arrays(pairs, prior)
        scores = place_new_restaurants(scores, content, is_new)
    # After the placement, which gives new restaurants the scores of others.
    scores = ranker.demote(guardrail_rows, scores)
    top = catalogue.best_first(rows, scores)[:k]

    # A row's contributions cost far more than its score (TreeSHAP), so only
    # the returned rows that get a model reason are explained.
    explained = [index for index in top if not is_new[index]]
    new_rows = [int(index) for index in top if is_new[index]]
    reasons_of = dict(
        zip(
            new_rows,
            new_restaurant_reasons(user, catalogue, rows[new_rows].tolist()),
            strict=True,
        )
    )
    values = inputs.template_values(user, rows, pairs, explained)
    explained_matrix = matrix[explained]
    contributions = None if shap is None else shap.contributions(explained_matrix)
    reasons = explain_matrix(
        ranker, explained_matrix, values, contributions=contributions
    )
    for index, row in zip(explained, reasons, strict=True):
        reasons_of[int(index)] = [reason.text for reason in row]
    return Ranked(
        restaurant_ids=[catalogue.restaurant_ids[rows[i]] for i in top],
        scores=[float(scores[i]) for i in top],
        reasons=[reasons_of[int(i)] for i in top],
        features=inputs.feature_values(matrix[top]) if include_features else None,
    )


def rank_by_model_frames(
    catalogue: Catalogue,
    ranker: LightGBMRanker,
    user: pl.DataFrame,
    rows: np.ndarray,
    k: int,
    include_features: bool,
) -> Ranked:
    """Return what :func:`rank_by_model` returns, computed with polars frames
    from ``user``, a one-row frame of the user's features."""
    candidates = catalogue.restaurants[rows.tolist()]
    joined = with_pair_features(user.join(candidates, how="cross"))
    scores = ranker.score(joined, demote=False)
    is_new = catalogue.is_new[rows]
    if is_new.any():
        content = content_scores(user_content_row(user), candidates)
        scores = place_new_restaurants(scores, content, is_new)
    scores = ranker.demote(joined, scores)
    top = catalogue.best_first(rows, scores)[:k]

    rows_of_top = joined[top.tolist()]
    reasons = [[reason.text for reason in row] for row in explain(ranker, rows_of_top)]
    user_row = user.row(0, named=True)
    for position, index in enumerate(top):
        if is_new[index]:
            reasons[position] = new_restaurant_reasons(
                user_row, catalogue, [int(rows[index])]
            )[0]
    features = None
    if include_features:
        features = rows_of_top.select(ranker.features).cast(pl.Float64).to_dicts()
    return Ranked(
        restaurant_ids=[catalogue.restaurant_ids[rows[i]] for i in top],
        scores=[float(scores[i]) for i in top],
        reasons=reasons,
        features=features,
    )


def rank_by_content(
    catalogue: Catalogue, user: Mapping[str, Any], rows: np.ndarray, k: int
) -> Ranked:
    """Rank ``rows`` by the content score for ``user`` and give reasons to
    the first ``k``.

    The user's liked cuisines and city match the restaurants' ignoring case,
    as in the reasons. The scores come from the catalogue's arrays, or from
    polars frames when :func:`pair_feature_arrays` declines the user's inputs.
    """
    user = catalogue.spelled_as_stored(user)
    pairs = pair_feature_arrays(user, catalogue.pair_inputs, rows)
    if pairs is None:
        candidates = catalogue.restaurants[rows.tolist()]
        scores = content_scores(content_user_frame(user), candidates)
    else:
        scores = content_score_arrays(pairs, catalogue.popularity_prior(rows))
    if is_vegetarian(user):
        # As the diet guardrail does for ranker lists.
        scores = move_below(scores, catalogue.meat_only[rows])
    top = catalogue.best_first(rows, scores)[:k]
    return Ranked(
        restaurant_ids=[catalogue.restaurant_ids[rows[i]] for i in top],
        scores=[float(scores[i]) for i in top],
        reasons=content_reasons(user, catalogue, rows[top]),
    )


def rank_by_popularity(
    catalogue: Catalogue,
    rows: np.ndarray,
    k: int,
    city: str | None,
    vegetarian: bool = False,
) -> Ranked:
    """Rank ``rows`` by order share, within ``city`` when it has any of them;
    for a ``vegetarian``, meat-only restaurants come after the others."""
    if city is not None:
        local = catalogue.in_city(rows, city)
        if len(local):
            rows = local
    ordered = catalogue.popular(rows)
    if vegetarian:
        meat_only = catalogue.meat_only[ordered]
        ordered = np.concatenate([ordered[~meat_only], ordered[meat_only]])
    top = ordered[:k]
    return Ranked(
        restaurant_ids=[catalogue.restaurant_ids[row] for row in top],
        scores=[float(catalogue.order_share[row]) for row in top],
        reasons=[catalogue.popularity_reasons[row] for row in top],
    )


def content_reasons(
    user: Mapping[str, Any], catalogue: Catalogue, rows: Sequence[int]
) -> list[list[str]]:
    """Return one or two reasons per restaurant of a content-ranked list: the
    matches with the user's tastes, or else how popular the restaurant is, or
    that it is new."""
    reasons = []
    for row, found in zip(rows, _content_matches(user, catalogue, rows), strict=True):
        popular = catalogue.popularity_reasons[row]
        reasons.append(found[:2] or popular[:1] or [NEW_RESTAURANT_REASON])
    return reasons


def new_restaurant_reasons(
    user: Mapping[str, Any], catalogue: Catalogue, rows: Sequence[int]
) -> list[list[str]]:
    """Return the reasons of restaurants without orders in a ranked list: that
    they are new, then their first match with the user's tastes, if any."""
    return [
        [NEW_RESTAURANT_REASON, *found[:1]]
        for found in _content_matches(user, catalogue, rows)
    ]


def is_vegetarian(user: Mapping[str, Any]) -> bool:
    """Return whether a user row is of a vegetarian: declared, or with almost
    only vegetarian orders, not mostly at coffee or tea places."""
    ratio = user.get("user_vegetarian_order_ratio") or 0.0
    coffee_tea = user.get("user_coffee_tea_share") or 0.0
    # Drinks and pastries are vegetarian for every customer, so mostly coffee
    # or tea orders reveal nothing of a diet, as in the diet guardrail.
    return user.get("user_declared_vegetarian") == 1 or (
        ratio >= CONTENT_VEGETARIAN_RATIO and coffee_tea < CONTENT_MAX_COFFEE_TEA_SHARE
    )


def _content_matches(
    user: Mapping[str, Any], catalogue: Catalogue, rows: Sequence[int]
) -> list[list[str]]:
    """Per restaurant: a cuisine the user likes, and vegetarian dishes for a
    user who declared a vegetarian diet or orders almost only vegetarian."""
    liked = {cuisine_key(c) for c in (user.get("user_liked_cuisines") or [])}
    vegetarian = is_vegetarian(user)
    cuisines = catalogue.columns["restaurant_cuisines"]
    has_options = catalogue.columns["restaurant_has_vegetarian_options"]
    matches = []
    for row in rows:
        found = []
        matched = [c for c in (cuisines[row] or []) if cuisine_key(c) in liked]
        if matched:
            found.append(f"{cuisine_name(matched[0])}, a cuisine you like")
        if vegetarian and has_options[row] == 1:
            found.append("Has vegetarian dishes")
        matches.append(found)
    return matches
