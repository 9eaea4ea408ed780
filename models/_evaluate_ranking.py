"""Ranking of every test user's candidates with every scorer, a chunk at a time."""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import polars as pl

from features.schema import RESTAURANT_ID, USER_ID
from features.transforms import StoreFrames, compute_tables, snapshot_at
from models.analysis import RankedLists
from models.cutoffs import LabelledSnapshot, has_order_times, relevant_orders
from models.dataset import LABEL, CutoffRows, labelled_rows, rows_in_memory
from models.progress import progress
from models.ranker import COMPILE_ROWS, LightGBMRanker, RankerConfig, Scorer, top_k

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
