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

import math
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import polars as pl

from features.transforms import StoreFrames
from models._analysis_audits import _measured, _rule_rates
from models._analysis_overall import (
    _best_baseline,
    _classification,
    _overall,
    _restaurant_popularity,
    _role,
)
from models._analysis_segments import (
    _comparison,
    _exposure,
    _favourite_recall,
    _meat_only_shares,
    _segment_rows,
    _slices,
)
from models._analysis_settings import SMALL_SEGMENT_USERS, VEGETARIANS
from models._analysis_slots import _encode_slots, _member_mask
from models.audits import AuditResult, AuditSpec, run_audits
from models.metrics import per_user_metrics
from models.segments import USER, Segment


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
        f"{'segment':<28} {'users':>7} {'share of errors':>15} {current:>16} "
        f"{'reference':>22} {'gain':>7}",
    ]
    for row in section["segments"][:rows]:
        value = row["metrics"][current][f"ndcg@{k}"]
        reference = row["reference"]
        name = row["name"] + (" *" if row["small"] else "")
        lines.append(
            f"{name:<28} {row['users']:>7,} {_percent(row['share_of_errors']):>15} "
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
