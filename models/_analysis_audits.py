"""The values that the audits read, collected from the analysis by (metric, segment)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import polars as pl

from features.schema import USER_ID
from models._analysis_settings import FAVOURITE_SEGMENT, POPULARITY, VEGETARIANS
from models.metrics import Confusion
from models.segments import Segment

if TYPE_CHECKING:
    from models.analysis import RankedLists


def _measured(
    ranked: RankedLists,
    overall: Mapping[str, Mapping[str, Any]],
    classification: Mapping[str, Mapping[str, Any]],
    rows: Sequence[Mapping[str, Any]],
    exposure: Sequence[Mapping[str, Any]],
    meat_only: Mapping[str, Mapping[str, float]],
    favourite: Mapping[str, Any],
) -> dict[tuple[str, str], float]:
    """Collect the values the audits read, by (metric, segment)."""
    k = ranked.k
    current = ranked.current
    ndcg = f"ndcg@{k}"
    overall_ndcg = overall[current][ndcg]
    measured: dict[tuple[str, str], float] = {
        (ndcg, "all"): overall_ndcg,
        ("false_positive_rate", "all"): classification[current]["false_positive_rate"],
        ("false_negative_rate", "all"): classification[current]["false_negative_rate"],
        (f"favourite_recall@{k}", FAVOURITE_SEGMENT): favourite["recall"][current],
    }
    for row in rows:
        if row["users"] == 0:
            continue
        value = row["metrics"][current][ndcg]
        measured[(ndcg, row["name"])] = value
        if overall_ndcg:
            measured[("ndcg_ratio_to_overall", row["name"])] = value / overall_ndcg
        if POPULARITY in ranked.lists:
            popularity = _segment_mean(rows, row["name"], POPULARITY)
            if popularity is not None:
                measured[("ndcg_minus_popularity", row["name"])] = value - popularity
    for name, shares in meat_only.items():
        measured[(f"meat_only_share@{k}", name)] = shares[current]
    for row in exposure:
        share = row["share_of_orders"]
        if share and not math.isnan(share):
            measured[("exposure_ratio", row["segment"])] = (
                row["share_of_exposure"][current] / share
            )
    return measured


def _segment_mean(
    rows: Sequence[Mapping[str, Any]], name: str, model: str
) -> float | None:
    for row in rows:
        if row["name"] == name and model in row["means"]:
            value = float(row["means"][model])
            return None if math.isnan(value) else value
    return None


def _rule_rates(
    segment: Segment, users: pl.DataFrame, true_segments: pl.DataFrame
) -> dict[tuple[str, str], float]:
    """Compute the false-positive and false-negative rates of the vegetarians
    rule against the planted vegetarians."""
    truth = users.select(USER_ID).join(true_segments, on=USER_ID, how="inner")
    if truth.height == 0:
        return {}
    planted = truth["segment"] == "vegetarian"
    flagged = truth[USER_ID].is_in(list(segment.members))
    confusion = Confusion(
        tp=int((planted & flagged).sum()),
        fp=int((~planted & flagged).sum()),
        fn=int((planted & ~flagged).sum()),
        tn=int((~planted & ~flagged).sum()),
    )
    return {
        ("segment_false_positive_rate", VEGETARIANS): confusion.false_positive_rate,
        ("segment_false_negative_rate", VEGETARIANS): confusion.false_negative_rate,
    }
