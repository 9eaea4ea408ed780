"""Offline evaluation on seeded random splits: the ranker against popularity.

For each split the ranker is trained, and every feature is computed, from the
training part only. Each user with a held-out order is then scored on every
candidate restaurant (for ratings without times, those they did not rate in
the training part), and the held-out orders are the relevant items.
Relevance is binary and defined by the ranker config's ``relevance`` setting,
as in training (:func:`models.cutoffs.relevant_orders`).
"""

from __future__ import annotations

import json
import logging
import math
import statistics
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from features.schema import RESTAURANT_ID, USER_ID
from features.store import fingerprint
from features.transforms import StoreFrames, compute_tables, snapshot_at
from models.analysis import RankedLists
from models.baselines import BaselineFactory, default_baselines
from models.cutoffs import (
    LabelledSnapshot,
    check_cutoff_span,
    describe_relevance,
    has_order_times,
    relevant_orders,
    serving_cutoff,
    training_snapshots,
)
from models.dataset import (
    LABEL,
    CutoffRows,
    labelled_rows,
    numeric_features,
    rows_in_memory,
    split_validation,
    training_set,
)
from models.metrics import mean_ignoring_nan, per_user_metrics
from models.progress import progress
from models.ranker import (
    COMPILE_ROWS,
    LightGBMRanker,
    RankerConfig,
    Scorer,
    top_k,
    train_ranker,
)
from models.report_render import analysis_markdown, summary_rows
from models.sanity import check_trainable
from models.splits import Split, random_splits, temporal_splits

if TYPE_CHECKING:
    from feast import FeatureStore

logger = logging.getLogger(__name__)


# Rows whose features are held in memory at once while ranking test users:
# about 500 MB with 60 features.
CHUNK_ROWS = 1_000_000


@dataclass
class NamedScorer:
    """A scorer reported under another name, such as a feature service's."""

    name: str
    scorer: Scorer

    def score(self, rows: pl.DataFrame) -> np.ndarray:
        return self.scorer.score(rows)


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
    scorers: list[Scorer] = [train_ranker(fit_part, config, features, validation)]
    if previous is not None:
        name, previous_features = previous
        ranker = train_ranker(fit_part, config, previous_features, validation)
        scorers.append(NamedScorer(name, ranker))
    for factory in baselines:
        baseline = factory()
        baseline.fit(train_frames)
        scorers.append(baseline)
    return scorers


def rank_window(
    train_frames: StoreFrames,
    test_orders: pl.DataFrame,
    cutoff: datetime,
    config: RankerConfig,
    scorers: Sequence[Scorer],
    k: int,
    previous: str | None = None,
    timings: dict[str, float] | None = None,
) -> RankedLists:
    """Rank the candidates of every user with a relevant order in
    ``test_orders`` as of ``cutoff``, with every scorer.

    ``scorers`` come as :func:`fit_scorers` returns them; ``previous`` names
    the previous ranker among them, if any. ``timings``, when given, receives
    the seconds spent per step: candidates, feature tables, feature rows, and
    each scorer (scoring and picking its top ``k``).
    """
    clock = _Clock(timings)
    relevant_orders_ = relevant_orders(test_orders, config.cutoffs.min_rating)
    snapshot = snapshot_at(train_frames, cutoff)
    test = LabelledSnapshot(
        snapshot=snapshot,
        labels=relevant_orders_.select(USER_ID, RESTAURANT_ID),
        repeats_allowed=has_order_times(train_frames),
    )
    # Compiling the rankers' trees takes seconds and runs mostly while the
    # candidates and tables are computed in polars, which releases the GIL.
    with ThreadPoolExecutor(max_workers=1) as pool:
        compiling = None
        catalogue = snapshot.store.restaurants.height
        cap = catalogue if config.candidates is None else config.candidates.total
        users = relevant_orders_[USER_ID].n_unique()
        if users * min(cap, catalogue) >= COMPILE_ROWS:
            compiling = pool.submit(_compile_rankers, scorers)
        rows = labelled_rows(
            [test], None, config.seed, config.candidates, add_missed_positives=False
        )
        clock.lap("candidates")
        cutoff_tables = compute_tables(snapshot)
        tables = {snapshot.cutoff: cutoff_tables}
        clock.lap("feature tables")
        if compiling is not None:
            compiling.result()
            clock.lap("compiling trees")
    lists, counts = rank_rows(rows, tables, scorers, k, timings=timings)
    per_user = relevant_orders_.group_by(USER_ID).agg(pl.col(RESTAURANT_ID).unique())
    relevant = {
        user_id: set(restaurant_ids)
        for user_id, restaurant_ids in zip(
            per_user[USER_ID].to_list(), per_user[RESTAURANT_ID].to_list(), strict=True
        )
    }
    first_baseline = 1 + (previous is not None)
    return RankedLists(
        k=k,
        lists=lists,
        relevant=relevant,
        candidates=counts,
        train=train_frames,
        cutoff=cutoff,
        current=scorers[0].name,
        previous=previous,
        baselines=tuple(scorer.name for scorer in scorers[first_baseline:]),
        tables=cutoff_tables,
    )


def _compile_rankers(scorers: Sequence[Scorer]) -> None:
    for scorer in scorers:
        ranker = _ranker_of(scorer)
        if ranker is not None:
            ranker.compile_trees()


def _ranker_of(scorer: Scorer) -> LightGBMRanker | None:
    """Return the LightGBM ranker a scorer is or names, else None."""
    inner = scorer.scorer if isinstance(scorer, NamedScorer) else scorer
    return inner if isinstance(inner, LightGBMRanker) else None


def rank_rows(
    rows: pl.DataFrame,
    tables_by_cutoff: dict[datetime, dict[str, pl.DataFrame]],
    scorers: Sequence[Scorer],
    k: int,
    chunk_rows: int = CHUNK_ROWS,
    timings: dict[str, float] | None = None,
) -> tuple[dict[str, dict[str, list[str]]], pl.DataFrame]:
    """Rank each user's candidate rows with every scorer, a chunk of users at a
    time, so that memory contains the features of at most two chunks of about
    ``chunk_rows`` rows: the one being scored and the next.

    ``rows`` are labelled rows (:func:`models.dataset.labelled_rows`). Returns
    each scorer's top ``k`` per user, and per user the number of candidates
    and of relevant candidates (columns ``user_id``, ``candidates``,
    ``relevant_candidates``). ``timings`` receives seconds per step, as in
    :func:`rank_window`.
    """
    clock = _Clock(timings)
    counts = (
        rows.group_by(USER_ID, maintain_order=True)
        .agg(
            pl.len().alias("candidates"),
            pl.col(LABEL).sum().cast(pl.Int64).alias("relevant_candidates"),
        )
        .sort(USER_ID)
    )
    lists: dict[str, dict[str, list[str]]] = {scorer.name: {} for scorer in scorers}
    chunk = (counts["candidates"].cum_sum() - 1) // max(chunk_rows, 1)
    chunks = counts.select(USER_ID, "candidates", chunk.alias("_chunk")).partition_by(
        "_chunk", as_dict=False, maintain_order=True
    )
    # One cutoff (an evaluation window) with rows sorted by user: each chunk
    # is a slice, and its features come from arrays. Several cutoffs: each
    # chunk is filtered and joined.
    builder = None
    if len(tables_by_cutoff) == 1 and rows[USER_ID].is_sorted():
        builder = CutoffRows(*next(iter(tables_by_cutoff.items())))
    sizes = [int(users["candidates"].sum()) for users in chunks]
    starts = np.concatenate(([0], np.cumsum(sizes, dtype=np.int64)))

    def featured_rows(index: int) -> pl.DataFrame:
        if builder is not None:
            return builder.rows(rows.slice(int(starts[index]), sizes[index]))
        users = chunks[index][USER_ID].implode()
        part = rows.filter(pl.col(USER_ID).is_in(users))
        return rows_in_memory(part, tables_by_cutoff)

    # The next chunk's features are built in a second thread while the
    # baselines score this one. Both are mostly numpy and polars work, which
    # releases the GIL, so on 2 cores they overlap, and the rankers, whose
    # compiled trees use every core, run alone. The "feature rows" step then
    # times only the wait for the features.
    last = len(chunks) - 1
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(featured_rows, 0) if chunks else None
        for index in progress(range(len(chunks)), "scoring users"):
            assert pending is not None
            featured = pending.result()
            pending = None
            clock.lap("feature rows")
            groups = SortedGroups.of(featured) if builder is not None else None
            for scorer in scorers:
                if pending is None and index < last and _ranker_of(scorer) is None:
                    pending = pool.submit(featured_rows, index + 1)
                scores = scorer.score(featured)
                if groups is None:
                    lists[scorer.name].update(top_k(featured, scores, k))
                else:
                    lists[scorer.name].update(
                        top_k_of_sorted(featured, scores, k, groups)
                    )
                clock.lap(scorer.name)
            del featured
            if pending is None and index < last:
                pending = pool.submit(featured_rows, index + 1)
    return lists, counts


class _Clock:
    """A timer that adds the seconds since its last lap to a step's total in
    ``timings``."""

    def __init__(self, timings: dict[str, float] | None) -> None:
        self._timings = timings
        self._last = time.perf_counter()

    def lap(self, step: str) -> None:
        now = time.perf_counter()
        if self._timings is not None:
            self._timings[step] = self._timings.get(step, 0.0) + now - self._last
        self._last = now


@dataclass(frozen=True)
class SortedGroups:
    """The users of rows sorted by user and restaurant id, as arrays that every
    model's :func:`top_k_of_sorted` of the same rows reuses."""

    user_number: np.ndarray
    place: np.ndarray
    counts: np.ndarray
    user_ids: list[str]
    restaurant_ids: np.ndarray

    @classmethod
    def of(cls, rows: pl.DataFrame) -> SortedGroups:
        """Number the users of ``rows`` in order and each row within its user."""
        user_number = rows[USER_ID].rle_id().to_numpy()
        first = np.flatnonzero(np.r_[True, user_number[1:] != user_number[:-1]])
        counts = np.diff(np.r_[first, len(user_number)])
        return cls(
            user_number=user_number,
            place=np.arange(len(user_number)) - np.repeat(first, counts),
            counts=counts,
            user_ids=rows[USER_ID].gather(first).to_list(),
            restaurant_ids=rows[RESTAURANT_ID].to_numpy(),
        )


def top_k_of_sorted(
    rows: pl.DataFrame, scores: np.ndarray, k: int, groups: SortedGroups | None = None
) -> dict[str, list[str]]:
    """:func:`models.ranker.top_k` for rows sorted by user and restaurant id.

    Ties go to the smaller restaurant id, and NaN scores rank first, as in
    :func:`top_k`. Each user's k-th best score is found first, in a padded
    (users, candidates) array, so that only the rows at or above it are
    sorted: a few per user instead of hundreds. ``groups`` are the rows'
    :class:`SortedGroups`, computed here when not given.
    """
    if rows.height == 0 or k < 1:
        return {}
    if groups is None:
        groups = SortedGroups.of(rows)
    user_number = groups.user_number
    missing = np.isnan(scores)
    key = np.where(missing, np.inf, scores)
    padded = np.full((len(groups.counts), int(groups.counts.max())), -np.inf)
    padded[user_number, groups.place] = key
    kth = min(k, padded.shape[1])
    threshold = -np.partition(-padded, kth - 1, axis=1)[:, kth - 1]
    near = np.flatnonzero(key >= threshold[user_number])
    # lexsort is stable: rows of equal score keep their restaurant id order.
    order = near[np.lexsort((-key[near], ~missing[near], user_number[near]))]
    ordered_users = user_number[order]
    starts = np.flatnonzero(np.r_[True, ordered_users[1:] != ordered_users[:-1]])
    rank = np.arange(len(order)) - np.repeat(starts, np.diff(np.r_[starts, len(order)]))
    kept = order[rank < k]
    restaurant_ids = groups.restaurant_ids[kept].tolist()
    kept_users = user_number[kept]
    bounds = np.flatnonzero(np.r_[True, kept_users[1:] != kept_users[:-1], True])
    return {
        groups.user_ids[number]: restaurant_ids[begin:end]
        for number, begin, end in zip(
            kept_users[bounds[:-1]].tolist(), bounds[:-1], bounds[1:], strict=True
        )
    }


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


def summarize(
    results: list[dict[str, Any]],
) -> dict[str, dict[str, dict[str, float | None]]]:
    """Mean and sample standard deviation of each metric over the splits; the
    deviation is None (null in JSON) for a single split."""
    summary: dict[str, dict[str, dict[str, float | None]]] = {}
    for name, metrics in results[0]["models"].items():
        summary[name] = {}
        for metric in metrics:
            values = [result["models"][name][metric] for result in results]
            spread = statistics.stdev(values) if len(values) > 1 else None
            summary[name][metric] = {
                "mean": statistics.fmean(values),
                "std": spread,
            }
    return summary


def format_table(report: dict[str, Any]) -> str:
    """Format the summary as a Markdown table, one row per model."""
    metrics, rows = summary_rows(report["summary"])
    header = "| model | " + " | ".join(metrics) + " |"
    rule = "| --- | " + " | ".join("---:" for _ in metrics) + " |"
    lines = [header, rule]
    lines.extend("| " + " | ".join(row) + " |" for row in rows)
    settings = report["settings"]
    lines.append("")
    if report.get("split_kind") == "temporal":
        windows = [split["test_from"][:10] for split in report["splits"]]
        horizon = report["ranker"]["cutoffs"]["horizon_days"]
        if len(windows) == 1:
            over = f"one test window of {horizon} days starting {windows[0]}"
        else:
            over = (
                f"{len(windows)} test windows of {horizon} days starting "
                f"{', '.join(windows)}"
            )
        lines.append(
            f"Mean ± sample standard deviation over {over}; each trains on the "
            "orders before its window."
        )
    elif settings["n_splits"] == 1:
        lines.append(
            f"One random {1 - settings['test_fraction']:.0%}/"
            f"{settings['test_fraction']:.0%} split (seed {settings['seed']})."
        )
    else:
        lines.append(
            f"Mean ± sample standard deviation over {settings['n_splits']} random "
            f"{1 - settings['test_fraction']:.0%}/{settings['test_fraction']:.0%} "
            f"splits (seeds {settings['seed']} to "
            f"{settings['seed'] + settings['n_splits'] - 1})."
        )
    lines.append(f"Relevant: {report['relevance']}.")
    if "candidate_recall" in report:
        lines.append(
            f"Candidate recall: {report['candidate_recall']:.4f} of the relevant "
            "restaurants were among the candidates that every model ranks."
        )
    return "\n".join(lines)


def without_nan(value: Any) -> Any:
    """Replace nan by None, since strict JSON has no nan."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {key: without_nan(item) for key, item in value.items()}
    if isinstance(value, list):
        return [without_nan(item) for item in value]
    return value


def write_report(report: dict[str, Any], reports_dir: Path) -> tuple[Path, Path]:
    """Write ``report.json`` and ``report.md``; return their paths."""
    reports_dir.mkdir(parents=True, exist_ok=True)
    json_path = reports_dir / "report.json"
    markdown_path = reports_dir / "report.md"
    json_path.write_text(json.dumps(without_nan(report), indent=2) + "\n")
    markdown = "# Offline evaluation\n\n" + format_table(report) + "\n"
    if "analysis" in report:
        markdown += "\n" + analysis_markdown(report) + "\n"
    markdown_path.write_text(markdown)
    return json_path, markdown_path
