"""Error analysis of one held-out window: segments, exposure, slices and audits.

The input is what every model recommended on the latest split of the
evaluation (:class:`RankedLists`); nothing is trained here. The output is the
``analysis`` section of the evaluation report and the audit results:

- per model, ranking metrics (NDCG, Recall, Precision, MAP, MRR and hit rate
  at k, NDCG with a bootstrap 95% interval) and beyond-accuracy metrics
  (catalogue coverage, popularity bias, novelty);
- the classification view of each model. A ranker has no score threshold of
  its own: its decision is to show a restaurant in the top k or not, so every
  candidate of a test user is one case, positive when the user ordered there;
- the error-analysis table: one row per user segment, where an error is a
  user with no relevant restaurant in the top k, sorted by potential gain;
- exposure: the share of top-k slots that each restaurant segment receives,
  next to its share of the orders before the cutoff;
- the worst slices that SliceLine finds over the users' attributes;
- the current model against the previous one, segment by segment;
- the audits of ``configs/audits.yaml`` against the measured values.

Room to improve is the gap between a segment's NDCG@k and a reference: the
current model's overall NDCG@k, or the best baseline on that segment when it
does better than that. Structured data has no human-level reference, so each
row names the reference it uses. Potential gain is the room times the
segment's share of users: the rise of the overall NDCG@k if the segment
reached its reference.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import datetime
from itertools import chain
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from features.schema import RESTAURANT_ID, USER_ID
from features.transforms import StoreFrames
from models.audits import AuditResult, AuditSpec, run_audits
from models.metrics import (
    Confusion,
    bootstrap_interval,
    catalogue_coverage,
    novelty,
    per_user_metrics,
    popularity_bias,
    popularity_percentiles,
)
from models.segments import RESTAURANT, USER, Segment
from models.slices import find_slices

logger = logging.getLogger(__name__)

# Segments with fewer users are flagged: their intervals are wide.
SMALL_SEGMENT_USERS = 30
# Columns of the user attribute frame that SliceLine searches; others that a
# store lacks are skipped.
SLICE_COLUMNS = (
    "city",
    "budget",
    "age_band",
    "diet",
    "orders_before",
    "top_restaurant_orders",
    "user_vegetarian_order_ratio",
    "user_coffee_tea_share",
    "user_pizza_share",
)
BOOTSTRAP_RESAMPLES = 1000
POPULARITY = "popularity"
VEGETARIANS = "vegetarians"
FAVOURITE_SEGMENT = "has_favourite"
SMALL_INDEPENDENTS = "small_independents"
FAVOURITE_ORDERS = 3

# The report's per-user metrics, each with its key in per_user_metrics' output.
_PER_USER = {
    "ndcg": "ndcg",
    "recall": "recall",
    "precision": "precision",
    "map": "average_precision",
    "mrr": "reciprocal_rank",
    "hit_rate": "hit",
}

# Per-user values of one metric, in the order of _Slots.users.
_Values = npt.NDArray[np.float64]


@dataclass(frozen=True)
class RankedLists:
    """The lists each model recommended on one split, and the users' orders.

    ``lists`` maps model name to user id to the top ``k`` restaurant ids.
    ``candidates`` counts, per test user with candidates, the restaurants
    every model scored (``candidates``) and the relevant ones among them
    (``relevant_candidates``). ``train`` is the store as the models saw it
    at ``cutoff``, the start of the test window, and ``tables`` its feature
    tables there, when the ranking computed them.
    """

    k: int
    lists: dict[str, dict[str, list[str]]]
    relevant: dict[str, set[str]]
    candidates: pl.DataFrame
    train: StoreFrames
    cutoff: datetime
    current: str
    previous: str | None
    baselines: tuple[str, ...]
    tables: dict[str, pl.DataFrame] | None = None


@dataclass(frozen=True)
class Analysis:
    """The report section and the audit results of one analysis."""

    section: dict[str, Any]
    audits: list[AuditResult]


def analyse(
    ranked: RankedLists,
    segments: Mapping[str, Segment],
    users: pl.DataFrame,
    restaurants: pl.DataFrame,
    audits: Sequence[AuditSpec],
    *,
    true_segments: pl.DataFrame | None = None,
    seed: int = 0,
) -> Analysis:
    """Analyse the lists of every model and run the audits.

    ``segments`` are assigned over ``users`` and ``restaurants``, the
    attribute frames at the split's cutoff (:mod:`models.segments`).
    ``true_segments`` (``user_id``, ``segment``), where a synthetic world
    planted them, measures the vegetarians rule against the planted
    vegetarians.
    """
    k = ranked.k
    slots = _encode_slots(ranked)
    per_user = {
        model: per_user_metrics(hits[:, :k], slots.relevant_counts, k)
        for model, hits in slots.hits.items()
    }
    models = list(ranked.lists)
    user_segments = {
        name: segment for name, segment in segments.items() if segment.entity == USER
    }
    members = {
        name: _member_mask(slots.users, segment)
        for name, segment in user_segments.items()
    }
    percentiles, self_information = _restaurant_popularity(
        ranked.train, restaurants, slots.restaurants
    )
    # Most of a model's time is its bootstrap, in numpy, which releases the
    # GIL: two threads use both cores, and every model keeps its own seed.
    with ThreadPoolExecutor(max_workers=2) as pool:
        overall = dict(
            zip(
                models,
                pool.map(
                    lambda model: _overall(
                        ranked,
                        model,
                        per_user[model],
                        slots,
                        percentiles,
                        self_information,
                        restaurants.height,
                        seed,
                    ),
                    models,
                ),
                strict=True,
            )
        )
    classification = _classification(ranked, slots)
    rows = _segment_rows(ranked, per_user, user_segments, members, seed)
    exposure = _exposure(ranked, segments, restaurants, slots)
    meat_only = _meat_only_shares(ranked, user_segments, members, restaurants, slots)
    favourite = _favourite_recall(ranked, slots)
    slices = _slices(slots.users, per_user[ranked.current]["ndcg"], users)

    measured = _measured(
        ranked, overall, classification, rows, exposure, meat_only, favourite
    )
    if true_segments is not None and VEGETARIANS in user_segments:
        measured.update(_rule_rates(user_segments[VEGETARIANS], users, true_segments))
    sizes = {row["name"]: row["users"] for row in rows}
    results = run_audits(audits, measured, sizes)

    section = {
        "k": k,
        "test_users": len(slots.users),
        "current": ranked.current,
        "previous": ranked.previous,
        "best_baseline": _best_baseline(ranked, overall),
        "models": {model: {"role": _role(ranked, model)} for model in models},
        "overall": overall,
        "classification": classification,
        "segments": rows,
        "exposure": exposure,
        "favourite": favourite,
        "slices": [asdict(found) for found in slices],
        "audits": [asdict(result) for result in results],
        "comparison": _comparison(ranked, rows, overall, meat_only),
    }
    return Analysis(section=section, audits=results)


def segment_metrics(section: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Return NDCG@k per segment and model, for experiment tracking."""
    k = section["k"]
    return {
        row["name"]: {
            model: {f"ndcg@{k}": values[f"ndcg@{k}"]}
            for model, values in row["metrics"].items()
        }
        for row in section["segments"]
    }


def console_summary(report: Mapping[str, Any], rows: int = 8) -> str:
    """Format the top of the error-analysis table and the audits as text."""
    section = report["analysis"]
    k = section["k"]
    current = section["current"]
    lines = [
        f"Where to work: segments by potential gain in NDCG@{k} "
        f"({section['test_users']:,} test users)",
        f"{'segment':<28} {'users':>7} {'errors':>7} {current:>16} "
        f"{'reference':>22} {'gain':>7}",
    ]
    for row in section["segments"][:rows]:
        value = row["metrics"][current][f"ndcg@{k}"]
        reference = row["reference"]
        name = row["name"] + (" *" if row["small"] else "")
        lines.append(
            f"{name:<28} {row['users']:>7,} {_percent(row['share_of_errors']):>7} "
            f"{_number(value):>16} "
            f"{reference['name'][:15] + ' ' + _number(reference['value']):>22} "
            f"{_number(row['potential_gain']):>7}"
        )
    if any(row["small"] for row in section["segments"][:rows]):
        lines.append(f"* fewer than {SMALL_SEGMENT_USERS} users: a wide interval")
    lines.append("")
    results = section["audits"]
    counts = {
        status: sum(1 for audit in results if audit["status"] == status)
        for status in ("passed", "failed", "not_measured")
    }
    lines.append(
        f"Audits: {counts['failed']} failed, {counts['passed']} passed, "
        f"{counts['not_measured']} not measured"
    )
    lines += [f"  {audit['message']}" for audit in results]
    return "\n".join(lines)


def _percent(value: float | None) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:.1%}"


def _number(value: float | None) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:.4f}"


@dataclass(frozen=True)
class _Slots:
    """Every model's lists of the test users, with restaurants as integer codes.

    Row i of a matrix is ``users[i]`` and column r is rank r + 1. A matrix is
    k wide, or as wide as the model's longest list when that is longer. A slot
    past the end of a shorter list has code -1 and is not a hit.
    """

    # Test users (those with a relevant restaurant), sorted.
    users: list[str]
    # Row of each test user, in the order of ``RankedLists.relevant``.
    relevant_order: npt.NDArray[np.intp]
    # Number of relevant restaurants of each test user.
    relevant_counts: npt.NDArray[np.int64]
    # Restaurant id of each code: every restaurant in a test user's list.
    restaurants: list[str]
    code_of: dict[str, int]
    # Per model: each test user's whole list, empty when the model has none.
    lists: dict[str, list[list[str]]]
    # Per model: the length of each list, its codes and whether each is relevant.
    lengths: dict[str, npt.NDArray[np.int64]]
    codes: dict[str, npt.NDArray[np.int64]]
    hits: dict[str, npt.NDArray[np.bool_]]


def _encode_slots(ranked: RankedLists) -> _Slots:
    """Encode the lists of every test user once, for all the array steps."""
    users = sorted(ranked.relevant)
    row_of = {user: row for row, user in enumerate(users)}
    lists = {
        model: [by_user.get(user, []) for user in users]
        for model, by_user in ranked.lists.items()
    }
    restaurants = sorted(
        set().union(*(chain.from_iterable(rows) for rows in lists.values()))
    )
    code_of = {restaurant: code for code, restaurant in enumerate(restaurants)}
    # Each (test user, relevant restaurant) pair that a list can contain, as
    # row * len(restaurants) + code.
    relevant_keys = np.sort(
        np.array(
            [
                row * len(restaurants) + code_of[restaurant]
                for row, user in enumerate(users)
                for restaurant in ranked.relevant[user]
                if restaurant in code_of
            ],
            dtype=np.int64,
        )
    )
    encoded = {
        model: _encode_lists(rows, code_of, relevant_keys, ranked.k)
        for model, rows in lists.items()
    }
    return _Slots(
        users=users,
        relevant_order=np.array([row_of[user] for user in ranked.relevant], np.intp),
        relevant_counts=np.array(
            [len(ranked.relevant[user]) for user in users], dtype=np.int64
        ),
        restaurants=restaurants,
        code_of=code_of,
        lists=lists,
        lengths={model: lengths for model, (lengths, _, _) in encoded.items()},
        codes={model: codes for model, (_, codes, _) in encoded.items()},
        hits={model: hits for model, (_, _, hits) in encoded.items()},
    )


def _encode_lists(
    lists: list[list[str]],
    code_of: Mapping[str, int],
    relevant_keys: npt.NDArray[np.int64],
    k: int,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
    """Return the length of each list, the code at each rank and whether the
    restaurant there is relevant, as :class:`_Slots` stores them."""
    lengths = np.fromiter(map(len, lists), dtype=np.int64, count=len(lists))
    flat = list(chain.from_iterable(lists))
    flat_codes = np.fromiter(map(code_of.__getitem__, flat), np.int64, len(flat))
    rows = np.repeat(np.arange(len(lists)), lengths)
    ranks = np.arange(len(flat)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    width = max(k, int(lengths.max(initial=0)))
    codes = np.full((len(lists), width), -1, dtype=np.int64)
    codes[rows, ranks] = flat_codes
    hits = np.zeros((len(lists), width), dtype=bool)
    hits[rows, ranks] = _contains(relevant_keys, rows * len(code_of) + flat_codes)
    return lengths, codes, hits


def _contains(
    sorted_keys: npt.NDArray[np.int64], keys: npt.NDArray[np.int64]
) -> npt.NDArray[np.bool_]:
    """Mark the keys found in ``sorted_keys``, by binary search."""
    if sorted_keys.size == 0:
        return np.zeros(keys.shape, dtype=bool)
    positions = np.searchsorted(sorted_keys, keys).clip(max=sorted_keys.size - 1)
    return sorted_keys[positions] == keys


def _member_mask(ids: Sequence[str], segment: Segment) -> npt.NDArray[np.bool_]:
    """Mark the ids that belong to the segment."""
    return np.fromiter((id_ in segment.members for id_ in ids), bool, len(ids))


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


def _mean_of(values: _Values) -> float:
    # Python's sum adds in order, as mean_ignoring_nan does, while numpy's
    # pairwise sum can differ in the last bit.
    defined = values[~np.isnan(values)].tolist()
    return sum(defined) / len(defined) if defined else math.nan
