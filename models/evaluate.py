"""Offline evaluation on seeded random splits: the ranker against popularity.

For each split the ranker is trained, and every feature is computed, from the
training part only. Each user with a held-out order is then scored on every
candidate restaurant (for ratings without times, those they did not rate in
the training part), and the held-out orders are the relevant items.
Relevance is binary and defined by the ranker config's ``relevance`` setting,
as in training (:func:`models.cutoffs.relevant_orders`).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from features.store import fingerprint
from features.transforms import StoreFrames, compute_tables
from models._evaluate_ranking import NamedScorer, rank_window
from models._evaluate_ranking import rank_rows as rank_rows
from models._evaluate_ranking import top_k_of_sorted as top_k_of_sorted
from models._evaluate_report import format_table as format_table
from models._evaluate_report import summarize
from models._evaluate_report import without_nan as without_nan
from models._evaluate_report import write_report as write_report
from models.analysis import RankedLists
from models.baselines import BaselineFactory, default_baselines
from models.cutoffs import (
    check_cutoff_span,
    describe_relevance,
    has_order_times,
    serving_cutoff,
    training_snapshots,
)
from models.dataset import (
    labelled_rows,
    numeric_features,
    rows_in_memory,
    split_validation,
    training_set,
)
from models.metrics import mean_ignoring_nan, per_user_metrics
from models.progress import progress
from models.ranker import LightGBMRanker, RankerConfig, Scorer, train_ranker
from models.sanity import check_trainable
from models.splits import Split, random_splits, temporal_splits

if TYPE_CHECKING:
    from feast import FeatureStore

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class EvaluationSettings:
    """Split settings: number of splits, held-out share, first seed, list length."""

    n_splits: int = 5
    test_fraction: float = 0.2
    seed: int = 0
    k: int = 10
    # Feature service of the previous model, trained on every split beside
    # the current one; None, or the current service, leaves it out.
    previous_service: str | None = "ranker_v1"


def evaluate_splits(
    frames: StoreFrames,
    feature_store: FeatureStore,
    config: RankerConfig,
    settings: EvaluationSettings,
    baselines: Sequence[BaselineFactory] | None = None,
) -> dict[str, Any]:
    """Evaluate the ranker and the baselines; return the report.

    ``baselines`` defaults to :func:`models.baselines.default_baselines`; each
    factory builds a fresh baseline that is fitted on each split's training
    part.

    The model's inputs are the numeric features of the configured feature
    service, read from the Feast registry; their values are computed in
    memory from each split's training part with the same transforms.
    """
    report, _ = evaluate_with_lists(frames, feature_store, config, settings, baselines)
    return report


def evaluate_with_lists(
    frames: StoreFrames,
    feature_store: FeatureStore,
    config: RankerConfig,
    settings: EvaluationSettings,
    baselines: Sequence[BaselineFactory] | None = None,
) -> tuple[dict[str, Any], RankedLists]:
    """Evaluate as :func:`evaluate_splits` does, and also return what every
    model recommended on the latest split, for :func:`models.analysis.analyse`.

    With ``settings.previous_service``, a second ranker is trained on each
    split with that feature service's features and reported under the
    service's name, as the previous model.
    """
    timed = has_order_times(frames)
    if timed:
        splits = temporal_splits(
            frames.orders,
            settings.n_splits,
            config.cutoffs.horizon_days,
            serving_cutoff(frames),
        )
        _check_windows(frames, splits, config)
    else:
        splits = random_splits(
            frames.orders, settings.n_splits, settings.test_fraction, settings.seed
        )
    features = numeric_features(feature_store, config.feature_service)
    service = settings.previous_service
    previous = (
        None
        if service is None or service == config.feature_service
        else (service, numeric_features(feature_store, service))
    )
    factories = default_baselines() if baselines is None else list(baselines)
    results = []
    latest: RankedLists | None = None
    for split in progress(splits, "evaluating splits"):
        result, lists = _evaluate_split(
            frames, split, config, features, settings.k, factories, previous
        )
        results.append(result)
        latest = latest or lists
    assert latest is not None
    return {
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "settings": asdict(settings),
        "split_kind": "temporal" if timed else "random",
        "relevance": describe_relevance(config.cutoffs.min_rating),
        "data_fingerprint": fingerprint(frames.orders),
        "ranker": {
            "feature_service": config.feature_service,
            "params": config.params,
            "num_boost_round": config.num_boost_round,
            "seed": config.seed,
            "early_stopping_rounds": config.early_stopping_rounds,
            "negatives_per_group": config.negatives_per_group,
            "max_users_per_cutoff": config.max_users_per_cutoff,
            "cutoffs": asdict(config.cutoffs),
            "candidates": (
                None if config.candidates is None else asdict(config.candidates)
            ),
            "diet_guardrail": (
                None
                if config.diet_guardrail is None
                else config.diet_guardrail.to_dict()
            ),
            "features": features,
        },
        "splits": results,
        "summary": summarize(results),
        "candidate_recall": mean_ignoring_nan(
            [result["candidate_recall"] for result in results]
        ),
    }, latest


def _check_windows(
    frames: StoreFrames, splits: Sequence[Split], config: RankerConfig
) -> None:
    """Raise ValueError, before any model is trained, when a test window
    leaves too few earlier orders for the training cutoffs."""
    for split in splits:
        assert split.test_from is not None
        window = f"the test window from {split.test_from:%Y-%m-%d}"
        if split.train.height == 0:
            msg = f"no orders come before {window}; lower --splits"
            raise ValueError(msg)
        try:
            check_cutoff_span(replace(frames, orders=split.train), config.cutoffs)
        except ValueError as error:
            msg = f"{window} trains on the orders before it: {error}, or lower --splits"
            raise ValueError(msg) from error


def _evaluate_split(
    frames: StoreFrames,
    split: Split,
    config: RankerConfig,
    features: list[str],
    k: int,
    baselines: list[BaselineFactory],
    previous: tuple[str, list[str]] | None = None,
) -> tuple[dict[str, Any], RankedLists]:
    train_frames = replace(frames, orders=split.train)
    scorers = fit_scorers(train_frames, config, features, baselines, previous)
    # The held-out orders are the labels of one more snapshot: the training
    # part as of the start of the test window (temporal splits) or as of its
    # serving cutoff (random splits).
    test_cutoff = split.test_from or serving_cutoff(train_frames)
    ranked = rank_window(
        train_frames,
        split.test,
        test_cutoff,
        config,
        scorers,
        k,
        previous=None if previous is None else previous[0],
    )
    return split_result(split, ranked, k), ranked


def split_result(split: Split, ranked: RankedLists, k: int) -> dict[str, Any]:
    """Return the report entry of one split: its window, sizes, candidate
    recall and every model's NDCG@k and Recall@k over the users of
    ``ranked``."""
    models = {
        name: _list_metrics(lists, ranked.relevant, k)
        for name, lists in ranked.lists.items()
    }
    name = (
        f"split seed {split.seed}"
        if split.test_from is None
        else f"test window from {split.test_from.date().isoformat()}"
    )
    logger.info(
        "%s: %s",
        name,
        ", ".join(
            f"{name} NDCG@{k}={m[f'ndcg@{k}']:.4f}" for name, m in models.items()
        ),
    )
    relevant_pairs = sum(len(items) for items in ranked.relevant.values())
    return {
        "seed": split.seed,
        "test_from": None if split.test_from is None else split.test_from.isoformat(),
        "train_orders": split.train.height,
        "test_orders": split.test.height,
        "test_users": len(ranked.relevant),
        # Share of the relevant pairs that the candidate sources proposed: no
        # model can rank the others.
        "candidate_recall": ranked.candidates["relevant_candidates"].sum()
        / relevant_pairs
        if relevant_pairs
        else math.nan,
        "models": models,
    }


def fit_scorers(
    train_frames: StoreFrames,
    config: RankerConfig,
    features: list[str],
    baselines: Sequence[BaselineFactory],
    previous: tuple[str, list[str]] | None = None,
) -> list[Scorer]:
    """Train the ranker (and the previous one, on its own features) and fit
    the baselines on ``train_frames``; the ranker comes first, then the
    previous ranker, then the baselines in order."""
    snapshots = training_snapshots(train_frames, config.cutoffs)
    rows = labelled_rows(
        snapshots,
        config.negatives_per_group,
        config.seed,
        config.candidates,
        max_users_per_cutoff=config.max_users_per_cutoff,
    )
    tables = {s.snapshot.cutoff: compute_tables(s.snapshot) for s in snapshots}
    training = training_set(rows_in_memory(rows, tables))
    check_trainable(training, features, seed=config.seed)
    fit_part, validation = split_validation(training)
    current = train_ranker(fit_part, config, features, validation)
    _warn_without_splits(current.name, current)
    scorers: list[Scorer] = [current]
    if previous is not None:
        name, previous_features = previous
        ranker = train_ranker(fit_part, config, previous_features, validation)
        _warn_without_splits(name, ranker)
        scorers.append(NamedScorer(name, ranker))
    for factory in baselines:
        baseline = factory()
        baseline.fit(train_frames)
        scorers.append(baseline)
    return scorers


def _warn_without_splits(name: str, ranker: LightGBMRanker) -> None:
    """Log a warning for a ranker without a split, whose figures are those of
    an unranked list; `recommender train` refuses to register one."""
    if not ranker.has_splits():
        logger.warning(
            "%s has no split in any of its trees, so it scores every restaurant "
            "the same and its figures are those of an unranked list; check "
            "min_data_in_leaf, min_sum_hessian_in_leaf, min_gain_to_split and "
            "max_depth in the ranker config's params",
            name,
        )


def _list_metrics(
    ranked: dict[str, list[str]],
    relevant: dict[str, set[str]],
    k: int,
) -> dict[str, float]:
    hits = np.zeros((len(relevant), k), dtype=bool)
    for row, (user, items) in enumerate(relevant.items()):
        listed = ranked.get(user, [])[:k]
        hits[row, : len(listed)] = [item in items for item in listed]
    counts = np.array([len(items) for items in relevant.values()], dtype=np.int64)
    metrics = per_user_metrics(hits, counts, k)
    return {
        f"ndcg@{k}": mean_ignoring_nan(metrics["ndcg"].tolist()),
        f"recall@{k}": mean_ignoring_nan(metrics["recall"].tolist()),
    }
