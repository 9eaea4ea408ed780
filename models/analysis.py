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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import polars as pl

from features.schema import RESTAURANT_ID, USER_ID
from features.transforms import StoreFrames
from models.audits import AuditResult, AuditSpec, run_audits
from models.metrics import (
    Confusion,
    average_precision_at_k,
    bootstrap_interval,
    catalogue_coverage,
    hit_at_k,
    ndcg_at_k,
    novelty,
    popularity_bias,
    popularity_percentiles,
    precision_at_k,
    recall_at_k,
    reciprocal_rank,
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
COLD_START = "cold_start"
SMALL_INDEPENDENTS = "small_independents"
FAVOURITE_ORDERS = 3

_PER_USER: dict[str, Callable[[Sequence[str], set[str], int], float]] = {
    "ndcg": ndcg_at_k,
    "recall": recall_at_k,
    "precision": precision_at_k,
    "map": average_precision_at_k,
    "mrr": reciprocal_rank,
    "hit_rate": hit_at_k,
}


@dataclass(frozen=True)
class RankedLists:
    """The lists each model recommended on one split, and the users' orders.

    ``lists`` maps model name to user id to the top ``k`` restaurant ids.
    ``candidates`` counts, per test user with candidates, the restaurants
    every model scored (``candidates``) and the relevant ones among them
    (``relevant_candidates``). ``train`` is the store as the models saw it
    at ``cutoff``, the start of the test window.
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
    per_user = _per_user_metrics(ranked)
    test_users = per_user.filter(pl.col("model") == ranked.current)[USER_ID]
    models = list(ranked.lists)
    user_segments = {
        name: segment for name, segment in segments.items() if segment.entity == USER
    }
    overall = {
        model: _overall(ranked, model, per_user, restaurants, seed) for model in models
    }
    classification = {model: _classification(ranked, model) for model in models}
    rows = _segment_rows(ranked, per_user, user_segments, test_users, seed)
    exposure = _exposure(ranked, segments, restaurants)
    meat_only = _meat_only_shares(ranked, user_segments, restaurants)
    favourite = _favourite_recall(ranked)
    slices = _slices(per_user, ranked.current, users, k)

    measured = _measured(
        ranked, overall, classification, rows, exposure, meat_only, favourite
    )
    if true_segments is not None and VEGETARIANS in user_segments:
        measured.update(_rule_rates(user_segments[VEGETARIANS], users, true_segments))
    sizes = {row["name"]: row["users"] for row in rows}
    results = run_audits(audits, measured, sizes)

    section = {
        "k": k,
        "test_users": test_users.len(),
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


def _per_user_metrics(ranked: RankedLists) -> pl.DataFrame:
    """Compute every per-user metric: one row per (model, test user)."""
    k = ranked.k
    users = sorted(ranked.relevant)
    frames = []
    for model, lists in ranked.lists.items():
        columns: dict[str, Any] = {"model": model, USER_ID: users}
        for name, metric in _PER_USER.items():
            columns[name] = [
                metric(lists.get(user, []), ranked.relevant[user], k) for user in users
            ]
        frames.append(pl.DataFrame(columns))
    return pl.concat(frames)


def _overall(
    ranked: RankedLists,
    model: str,
    per_user: pl.DataFrame,
    restaurants: pl.DataFrame,
    seed: int,
) -> dict[str, Any]:
    k = ranked.k
    rows = per_user.filter(pl.col("model") == model)
    values: dict[str, Any] = {
        f"{name}@{k}": _mean(rows[name]) for name in _PER_USER if name != "ndcg"
    }
    ndcg = rows["ndcg"].to_list()
    values = {
        f"ndcg@{k}": _mean(rows["ndcg"]),
        f"ndcg@{k}_ci": list(
            bootstrap_interval(ndcg, resamples=BOOTSTRAP_RESAMPLES, seed=seed)
        ),
        **values,
    }
    lists = [ranked.lists[model].get(user, []) for user in ranked.relevant]
    orders = restaurants.select(RESTAURANT_ID, "orders_before")
    popularity = dict(orders.iter_rows())
    buyers = _buyers(ranked.train)
    user_count = ranked.train.orders[USER_ID].n_unique()
    values["coverage"] = catalogue_coverage(lists, restaurants.height, k)
    values["popularity_bias"] = popularity_bias(
        lists, popularity_percentiles(popularity), k
    )
    values["novelty"] = (
        novelty(
            lists,
            {item: count / user_count for item, count in buyers.items()},
            k,
            users=user_count,
        )
        if user_count
        else math.nan
    )
    return values


def _buyers(train: StoreFrames) -> dict[str, int]:
    """Count the distinct users who ordered from each restaurant."""
    counts = train.orders.group_by(RESTAURANT_ID).agg(pl.col(USER_ID).n_unique())
    return dict(counts.iter_rows())


def _classification(ranked: RankedLists, model: str) -> dict[str, Any]:
    """Count "shown in the top k" against "ordered" over the candidates.

    A relevant restaurant that is not a candidate counts as a false negative.
    """
    counts = {
        user: (candidates, relevant_candidates)
        for user, candidates, relevant_candidates in ranked.candidates.select(
            USER_ID, "candidates", "relevant_candidates"
        ).iter_rows()
    }
    tp = fp = fn = tn = 0
    for user, relevant in ranked.relevant.items():
        shown = ranked.lists[model].get(user, [])[: ranked.k]
        candidates, relevant_candidates = counts.get(user, (0, 0))
        hits = sum(1 for item in shown if item in relevant)
        tp += hits
        fp += len(shown) - hits
        fn += len(relevant) - hits
        tn += candidates - len(shown) - (relevant_candidates - hits)
    confusion = Confusion(tp=tp, fp=fp, fn=fn, tn=tn)
    return {
        "decision": f"recommended in the top {ranked.k}",
        **asdict(confusion),
        "precision": confusion.precision,
        "recall": confusion.recall,
        "f1": confusion.f1,
        "false_positive_rate": confusion.false_positive_rate,
        "false_negative_rate": confusion.false_negative_rate,
        "accuracy": confusion.accuracy,
    }


def _segment_rows(
    ranked: RankedLists,
    per_user: pl.DataFrame,
    segments: Mapping[str, Segment],
    test_users: pl.Series,
    seed: int,
) -> list[dict[str, Any]]:
    """Build the error-analysis table, sorted by potential gain (largest first)."""
    k = ranked.k
    metric = f"ndcg@{k}"
    current = per_user.filter(pl.col("model") == ranked.current)
    total = current.height
    errors = current.filter(pl.col("hit_rate") == 0.0)[USER_ID]
    error_total = errors.len()
    overall = _mean(current["ndcg"])
    shown = [ranked.current, *([ranked.previous] if ranked.previous else [])]
    rows = []
    for name, segment in segments.items():
        members = test_users.filter(test_users.is_in(list(segment.members)))
        users = members.len()
        in_segment = per_user.filter(pl.col(USER_ID).is_in(members.implode()))
        values = {
            model: in_segment.filter(pl.col("model") == model)["ndcg"].to_list()
            for model in ranked.lists
        }
        baselines = {
            model: _mean_of(values[model])
            for model in ranked.baselines
            if not math.isnan(_mean_of(values[model]))
        }
        best = max(baselines, key=lambda model: baselines[model], default=None)
        shown_models = [*shown, *([best] if best else [])]
        model_value = _mean_of(values[ranked.current])
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
        segment_errors = members.filter(members.is_in(errors.implode())).len()
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
                        metric: _mean_of(values[model]),
                        "ci": list(
                            bootstrap_interval(
                                values[model], resamples=BOOTSTRAP_RESAMPLES, seed=seed
                            )
                        ),
                    }
                    for model in dict.fromkeys(shown_models)
                },
                # NDCG@k of every model, intervals aside.
                "means": {model: _mean_of(values[model]) for model in values},
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
        return (
            f"{users} users: fewer than {SMALL_SEGMENT_USERS}, so the interval is wide"
        )
    return None


def _exposure(
    ranked: RankedLists,
    segments: Mapping[str, Segment],
    restaurants: pl.DataFrame,
) -> list[dict[str, Any]]:
    """Compute each restaurant segment's share of top-k slots and of orders."""
    orders = dict(restaurants.select(RESTAURANT_ID, "orders_before").iter_rows())
    total_orders = sum(orders.values())
    slots = {
        model: [
            restaurant
            for user, items in lists.items()
            if user in ranked.relevant
            for restaurant in items
        ]
        for model, lists in ranked.lists.items()
    }
    rows = []
    for name, segment in segments.items():
        if segment.entity != RESTAURANT:
            continue
        members = segment.members
        segment_orders = sum(orders.get(member, 0) for member in members)
        rows.append(
            {
                "segment": name,
                "restaurants": segment.size,
                "share_of_orders": segment_orders / total_orders
                if total_orders
                else math.nan,
                "share_of_exposure": {
                    model: sum(1 for item in shown if item in members) / len(shown)
                    if shown
                    else math.nan
                    for model, shown in slots.items()
                },
            }
        )
    return rows


def _meat_only_shares(
    ranked: RankedLists,
    segments: Mapping[str, Segment],
    restaurants: pl.DataFrame,
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
    shares: dict[str, dict[str, float]] = {}
    for name, segment in {"all": None, **segments}.items():
        shares[name] = {}
        for model, lists in ranked.lists.items():
            shown = [
                item
                for user, items in lists.items()
                if user in ranked.relevant
                and (segment is None or user in segment.members)
                for item in items
            ]
            shares[name][model] = (
                sum(1 for item in shown if item in meat_only) / len(shown)
                if shown
                else math.nan
            )
    return shares


def _favourite_recall(ranked: RankedLists) -> dict[str, Any]:
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
    recall = {
        model: sum(1 for user, item in pairs if item in lists.get(user, [])[: ranked.k])
        / len(pairs)
        if pairs
        else math.nan
        for model, lists in ranked.lists.items()
    }
    return {
        "pairs": len(pairs),
        "users": len({user for user, _ in pairs}),
        "recall": recall,
    }


def _slices(
    per_user: pl.DataFrame, model: str, users: pl.DataFrame, k: int
) -> list[Any]:
    """Find the worst slices of users by 1 - NDCG@k of the current model."""
    errors = per_user.filter(pl.col("model") == model).select(
        USER_ID, (1.0 - pl.col("ndcg")).alias("error")
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
        if row["name"] == COLD_START and POPULARITY in ranked.lists:
            popularity = _segment_mean(rows, COLD_START, POPULARITY)
            if popularity is not None:
                measured[("ndcg_minus_popularity", COLD_START)] = value - popularity
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


def _mean(values: pl.Series) -> float:
    return _mean_of(values.to_list())


def _mean_of(values: Sequence[float]) -> float:
    defined = [value for value in values if not math.isnan(value)]
    return sum(defined) / len(defined) if defined else math.nan
