"""Per-segment analysis: errors, exposure, meat-only shares, favourites, slices."""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import polars as pl

from features.schema import RESTAURANT_ID, USER_ID
from models._analysis_settings import (
    BOOTSTRAP_RESAMPLES,
    FAVOURITE_ORDERS,
    SLICE_COLUMNS,
    SMALL_SEGMENT_USERS,
)
from models._analysis_slots import _mean_of, _member_mask, _Slots, _Values
from models.metrics import bootstrap_interval
from models.segments import RESTAURANT, Segment
from models.slices import find_slices

if TYPE_CHECKING:
    from models.analysis import RankedLists

logger = logging.getLogger(__name__)


def _segment_rows(
    ranked: RankedLists,
    per_user: Mapping[str, Mapping[str, _Values]],
    segments: Mapping[str, Segment],
    members: Mapping[str, npt.NDArray[np.bool_]],
    seed: int,
) -> list[dict[str, Any]]:
    """Build the error-analysis table, sorted by potential gain (largest first)."""
    k = ranked.k
    metric = f"ndcg@{k}"
    current = per_user[ranked.current]
    total = current["ndcg"].size
    errors = current["hit"] == 0.0
    error_total = int(errors.sum())
    overall = _mean_of(current["ndcg"])
    shown = [ranked.current, *([ranked.previous] if ranked.previous else [])]
    rows = []
    for name, segment in segments.items():
        in_segment = members[name]
        users = int(in_segment.sum())
        values = {model: per_user[model]["ndcg"][in_segment] for model in ranked.lists}
        means = {model: _mean_of(values[model]) for model in values}
        baselines = {
            model: means[model]
            for model in ranked.baselines
            if not math.isnan(means[model])
        }
        best = max(baselines, key=lambda model: baselines[model], default=None)
        shown_models = [*shown, *([best] if best else [])]
        model_value = means[ranked.current]
        reference = {"kind": "overall", "name": "overall"}
        reference_value = overall
        if best is not None and baselines[best] > overall:
            reference = {"kind": "baseline", "name": best}
            reference_value = baselines[best]
        room = (
            max(0.0, reference_value - model_value)
            if not math.isnan(model_value)
            else math.nan
        )
        share = users / total if total else math.nan
        if users == 0:
            logger.warning(
                "segment %s has no user in the test window: its metrics are nan",
                name,
            )
        segment_errors = int((in_segment & errors).sum())
        rows.append(
            {
                "name": name,
                "entity": segment.entity,
                "description": segment.description,
                "users": users,
                "share_of_users": share,
                "share_of_errors": segment_errors / error_total
                if error_total
                else math.nan,
                "error_rate": segment_errors / users if users else math.nan,
                "small": users < SMALL_SEGMENT_USERS,
                "metrics": {
                    model: {
                        metric: means[model],
                        "ci": list(
                            bootstrap_interval(
                                values[model], resamples=BOOTSTRAP_RESAMPLES, seed=seed
                            )
                        ),
                    }
                    for model in dict.fromkeys(shown_models)
                },
                # NDCG@k of every model, intervals aside.
                "means": means,
                "best_baseline": best,
                "reference": {**reference, "value": reference_value},
                "room": room,
                "potential_gain": room * share,
                "warning": _segment_warning(users),
            }
        )
    return sorted(rows, key=_gain_order)


def _gain_order(row: Mapping[str, Any]) -> tuple[bool, float, str]:
    gain = row["potential_gain"]
    missing = gain is None or math.isnan(gain)
    return (missing, 0.0 if missing else -gain, row["name"])


def _segment_warning(users: int) -> str | None:
    if users == 0:
        return "no users of this segment in the test window"
    if users < SMALL_SEGMENT_USERS:
        count = "1 user" if users == 1 else f"{users} users"
        return f"{count}: fewer than {SMALL_SEGMENT_USERS}, so the interval is wide"
    return None


def _exposure(
    ranked: RankedLists,
    segments: Mapping[str, Segment],
    restaurants: pl.DataFrame,
    slots: _Slots,
) -> list[dict[str, Any]]:
    """Compute each restaurant segment's share of top-k slots and of orders."""
    orders = dict(restaurants.select(RESTAURANT_ID, "orders_before").iter_rows())
    total_orders = sum(orders.values())
    # Slots of each restaurant over the test users' whole lists, per model.
    slot_counts = {
        model: np.bincount(codes[codes >= 0], minlength=len(slots.restaurants))
        for model, codes in slots.codes.items()
    }
    rows = []
    for name, segment in segments.items():
        if segment.entity != RESTAURANT:
            continue
        members = segment.members
        segment_orders = sum(orders.get(member, 0) for member in members)
        shown_members = _member_mask(slots.restaurants, segment)
        share_of_exposure = {}
        for model in ranked.lists:
            slot_total = int(slots.lengths[model].sum())
            share_of_exposure[model] = (
                int(slot_counts[model][shown_members].sum()) / slot_total
                if slot_total
                else math.nan
            )
        rows.append(
            {
                "segment": name,
                "restaurants": segment.size,
                "share_of_orders": segment_orders / total_orders
                if total_orders
                else math.nan,
                "share_of_exposure": share_of_exposure,
            }
        )
    return rows


def _meat_only_shares(
    ranked: RankedLists,
    segments: Mapping[str, Segment],
    members: Mapping[str, npt.NDArray[np.bool_]],
    restaurants: pl.DataFrame,
    slots: _Slots,
) -> dict[str, dict[str, float]]:
    """Compute the share of top-k slots at meat-only places, per user segment
    and model.

    Empty when no restaurant has a menu (the UCI data).
    """
    if "is_meat_only" not in restaurants.columns:
        return {}
    known = restaurants.filter(pl.col("is_meat_only").is_not_null())
    if known.height == 0:
        return {}
    meat_only = set(known.filter(pl.col("is_meat_only"))[RESTAURANT_ID].to_list())
    # One more entry, False, for code -1, the slots past the end of a list.
    is_meat_only = np.append(
        np.fromiter((item in meat_only for item in slots.restaurants), bool),
        False,
    )
    meat_only_slots = {
        model: is_meat_only[codes].sum(axis=1) for model, codes in slots.codes.items()
    }
    everyone = np.ones(len(slots.users), dtype=bool)
    shares: dict[str, dict[str, float]] = {}
    for name, segment in {"all": None, **segments}.items():
        in_segment = everyone if segment is None else members[name]
        shares[name] = {}
        for model in ranked.lists:
            shown = int(slots.lengths[model][in_segment].sum())
            shares[name][model] = (
                int(meat_only_slots[model][in_segment].sum()) / shown
                if shown
                else math.nan
            )
    return shares


def _favourite_recall(ranked: RankedLists, slots: _Slots) -> dict[str, Any]:
    """Compute the share of favourites kept in the top k, per model.

    A favourite is a restaurant the user ordered from at least
    ``FAVOURITE_ORDERS`` times before the cutoff and again in the test window.
    """
    counts = (
        ranked.train.orders.group_by(USER_ID, RESTAURANT_ID)
        .len()
        .filter(pl.col("len") >= FAVOURITE_ORDERS)
    )
    pairs = [
        (user, restaurant)
        for user, restaurant, _ in counts.iter_rows()
        if restaurant in ranked.relevant.get(user, ())
    ]
    row_of = {user: row for row, user in enumerate(slots.users)}
    rows = np.array([row_of[user] for user, _ in pairs], dtype=np.intp)
    # Code -2 matches no slot, because no list contains that restaurant.
    favourites = np.array(
        [slots.code_of.get(restaurant, -2) for _, restaurant in pairs], dtype=np.int64
    )
    recall = {}
    for model, codes in slots.codes.items():
        in_top = codes[rows, : ranked.k] == favourites[:, np.newaxis]
        kept_count = int(in_top.any(axis=1).sum())
        recall[model] = kept_count / len(pairs) if pairs else math.nan
    return {
        "pairs": len(pairs),
        "users": len({user for user, _ in pairs}),
        "recall": recall,
    }


def _slices(test_users: list[str], ndcg: _Values, users: pl.DataFrame) -> list[Any]:
    """Find the worst slices of users by 1 - NDCG@k of the current model."""
    errors = pl.DataFrame(
        {USER_ID: pl.Series(test_users, dtype=pl.String), "error": 1.0 - ndcg}
    )
    columns = [column for column in SLICE_COLUMNS if column in users.columns]
    attributes = errors.select(USER_ID).join(
        users.select(USER_ID, *columns), on=USER_ID, how="left"
    )
    minimum = max(SMALL_SEGMENT_USERS, attributes.height // 100)
    return find_slices(
        attributes,
        errors["error"],
        k=5,
        max_level=2,
        min_support=minimum,
    )


def _comparison(
    ranked: RankedLists,
    rows: Sequence[Mapping[str, Any]],
    overall: Mapping[str, Mapping[str, Any]],
    meat_only: Mapping[str, Mapping[str, float]],
) -> dict[str, Any] | None:
    """Compare the current and previous models, overall and per user segment."""
    previous = ranked.previous
    if previous is None:
        return None
    current = ranked.current
    metric = f"ndcg@{ranked.k}"
    entries = [
        (
            "all",
            len(ranked.relevant),
            overall[current][metric],
            overall[previous][metric],
        )
    ]
    entries += [
        (
            row["name"],
            row["users"],
            row["metrics"][current][metric],
            row["metrics"][previous][metric],
        )
        for row in sorted(rows, key=lambda row: row["name"])
    ]
    return {
        "current": current,
        "previous": previous,
        "metric": metric,
        "rows": [
            {
                "segment": name,
                "users": users,
                "current": now,
                "previous": before,
                "difference": now - before,
                f"meat_only_share@{ranked.k}": {
                    "current": meat_only.get(name, {}).get(current),
                    "previous": meat_only.get(name, {}).get(previous),
                }
                if name in meat_only
                else None,
            }
            for name, users, now, before in entries
        ],
    }
