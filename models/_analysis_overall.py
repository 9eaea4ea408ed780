"""Each model's metrics over all test users, and its classification view."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import polars as pl

from features.schema import RESTAURANT_ID, USER_ID
from features.transforms import StoreFrames
from models._analysis_settings import BOOTSTRAP_RESAMPLES
from models._analysis_slots import _mean_of, _Slots, _Values
from models.metrics import (
    Confusion,
    bootstrap_interval,
    catalogue_coverage,
    novelty,
    popularity_bias,
    popularity_percentiles,
)

if TYPE_CHECKING:
    from models.analysis import RankedLists


# The report's per-user metrics, each with its key in per_user_metrics' output.
_PER_USER = {
    "ndcg": "ndcg",
    "recall": "recall",
    "precision": "precision",
    "map": "average_precision",
    "mrr": "reciprocal_rank",
    "hit_rate": "hit",
}


def _restaurant_popularity(
    train: StoreFrames, restaurants: pl.DataFrame, shown: Sequence[str]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64] | None]:
    """Look up the popularity percentile and the self-information, in bits, of
    each restaurant of ``shown``.

    The popularity bias (novelty) of a one-item list is the item's percentile
    (self-information), so these values follow the metrics' own rules for a
    restaurant without orders. Self-information is None when no user ordered
    before the cutoff.
    """
    popularity = dict(restaurants.select(RESTAURANT_ID, "orders_before").iter_rows())
    percentiles = popularity_percentiles(popularity)
    percentile = np.array(
        [popularity_bias([[restaurant]], percentiles, 1) for restaurant in shown],
        dtype=np.float64,
    )
    user_count = train.orders[USER_ID].n_unique()
    if not user_count:
        return percentile, None
    shares = {item: count / user_count for item, count in _buyers(train).items()}
    bits = np.array(
        [novelty([[restaurant]], shares, 1, users=user_count) for restaurant in shown],
        dtype=np.float64,
    )
    return percentile, bits


def _overall(
    ranked: RankedLists,
    model: str,
    metrics: Mapping[str, _Values],
    slots: _Slots,
    percentiles: npt.NDArray[np.float64],
    self_information: npt.NDArray[np.float64] | None,
    catalogue_size: int,
    seed: int,
) -> dict[str, Any]:
    k = ranked.k
    values: dict[str, Any] = {
        f"{name}@{k}": _mean_of(metrics[key])
        for name, key in _PER_USER.items()
        if name != "ndcg"
    }
    ndcg = metrics["ndcg"]
    values = {
        f"ndcg@{k}": _mean_of(ndcg),
        f"ndcg@{k}_ci": list(
            bootstrap_interval(ndcg, resamples=BOOTSTRAP_RESAMPLES, seed=seed)
        ),
        **values,
    }
    # The codes of the top k slots, user by user in the order of
    # ranked.relevant, as popularity_bias and novelty read the lists.
    top = slots.codes[model][slots.relevant_order, :k]
    top_codes = top[top >= 0]
    values["coverage"] = catalogue_coverage(slots.lists[model], catalogue_size, k)
    values["popularity_bias"] = _mean_in_order(percentiles[top_codes])
    values["novelty"] = (
        _mean_in_order(self_information[top_codes])
        if self_information is not None
        else math.nan
    )
    return values


def _mean_in_order(values: npt.NDArray[np.float64]) -> float:
    """Return the mean of ``values``, added one by one from 0.0 as a Python
    loop adds them, or nan when there is no value."""
    if values.size == 0:
        return math.nan
    total = np.cumsum(np.concatenate(([0.0], values)))[-1]
    return float(total) / values.size


def _buyers(train: StoreFrames) -> dict[str, int]:
    """Count the distinct users who ordered from each restaurant."""
    counts = train.orders.group_by(RESTAURANT_ID).agg(pl.col(USER_ID).n_unique())
    return dict(counts.iter_rows())


def _classification(ranked: RankedLists, slots: _Slots) -> dict[str, dict[str, Any]]:
    """Count "shown in the top k" against "ordered" over the candidates, per
    model.

    A relevant restaurant that is not a candidate counts as a false negative.
    """
    counts = {
        user: (candidates, relevant_candidates)
        for user, candidates, relevant_candidates in ranked.candidates.select(
            USER_ID, "candidates", "relevant_candidates"
        ).iter_rows()
    }
    candidates = relevant_candidates = 0
    for user in slots.users:
        user_candidates, user_relevant_candidates = counts.get(user, (0, 0))
        candidates += user_candidates
        relevant_candidates += user_relevant_candidates
    relevant = int(slots.relevant_counts.sum())
    views = {}
    for model in ranked.lists:
        shown_count = int(np.minimum(slots.lengths[model], ranked.k).sum())
        tp = int(slots.hits[model][:, : ranked.k].sum())
        confusion = Confusion(
            tp=tp,
            fp=shown_count - tp,
            fn=relevant - tp,
            tn=candidates - shown_count - (relevant_candidates - tp),
        )
        views[model] = {
            "decision": f"recommended in the top {ranked.k}",
            **asdict(confusion),
            "precision": confusion.precision,
            "recall": confusion.recall,
            "f1": confusion.f1,
            "false_positive_rate": confusion.false_positive_rate,
            "false_negative_rate": confusion.false_negative_rate,
            "accuracy": confusion.accuracy,
        }
    return views


def _best_baseline(
    ranked: RankedLists, overall: Mapping[str, Mapping[str, Any]]
) -> str | None:
    metric = f"ndcg@{ranked.k}"
    scored = [
        model for model in ranked.baselines if not math.isnan(overall[model][metric])
    ]
    return max(scored, key=lambda model: overall[model][metric], default=None)


def _role(ranked: RankedLists, model: str) -> str:
    if model == ranked.current:
        return "current"
    if model == ranked.previous:
        return "previous"
    return "baseline"
