"""Metrics for offline evaluation of the recommendations.

Ranking metrics take one user's ranked list of restaurant ids (best first) and
the set of ids that are relevant for that user. Relevance is binary. A user
with no relevant restaurant has no defined value: these functions return
``nan`` and averaging helpers skip such users. Ranked lists are expected to
contain distinct ids, as :func:`models.ranker.top_k` returns them, because a
repeated relevant id counts as a hit at each of its ranks.
:func:`per_user_metrics` computes the same values for many users at once from
a matrix that marks the relevant ranks.

Beyond-accuracy metrics (coverage, popularity bias, novelty) take every user's
list at once. :class:`Confusion` and :func:`confusion_at` describe the scores
as a classifier at a decision threshold, and :func:`bootstrap_interval` gives
a percentile bootstrap interval of a mean. Coverage, popularity bias, novelty
and the bootstrap interval return ``nan`` for empty input rather than raise,
and no function here warns.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.stats import rankdata

from models._metrics_bootstrap import _bootstrap_means as _bootstrap_means
from models._metrics_bootstrap import bootstrap_interval as bootstrap_interval
from models._metrics_classification import Confusion as Confusion
from models._metrics_classification import confusion_at as confusion_at


def dcg_at_k(ranked: Sequence[str], relevant: Collection[str], k: int) -> float:
    """Discounted cumulative gain: sum of 1 / log2(rank + 1) over relevant hits."""
    _check_k(k)
    return sum(
        1.0 / math.log2(rank + 1)
        for rank, item in enumerate(ranked[:k], start=1)
        if item in relevant
    )


def ndcg_at_k(ranked: Sequence[str], relevant: Collection[str], k: int) -> float:
    """DCG@k divided by the DCG of an ideal list, which puts every relevant item
    first; at most k of them count. Returns nan when nothing is relevant."""
    _check_k(k)
    if not relevant:
        return math.nan

    ideal = sum(
        1.0 / math.log2(rank + 1) for rank in range(1, min(len(relevant), k) + 1)
    )
    return dcg_at_k(ranked, relevant, k) / ideal


def recall_at_k(ranked: Sequence[str], relevant: Collection[str], k: int) -> float:
    """Share of the relevant items found in the top k. Returns nan when nothing is
    relevant.

    The denominator is the number of relevant items, not min(k, relevant), so a
    user with more than k relevant items cannot reach 1.
    """
    _check_k(k)
    if not relevant:
        return math.nan

    hits = sum(1 for item in ranked[:k] if item in relevant)
    return hits / len(relevant)


def mean_ignoring_nan(values: Sequence[float]) -> float:
    """Mean of the defined values; nan when none is defined."""
    defined = [value for value in values if not math.isnan(value)]
    return sum(defined) / len(defined) if defined else math.nan


def precision_at_k(ranked: Sequence[str], relevant: Collection[str], k: int) -> float:
    """Share of the top k slots that contain a relevant item: hits in the top k / k.
    Returns nan when nothing is relevant.

    The denominator is k, not len(ranked), so a list shorter than k counts its
    missing slots as misses.
    """
    _check_k(k)
    if not relevant:
        return math.nan

    hits = sum(1 for item in ranked[:k] if item in relevant)
    return hits / k


def average_precision_at_k(
    ranked: Sequence[str], relevant: Collection[str], k: int
) -> float:
    """Average precision at k (AP@k), the per-user term of MAP@k. Returns nan when
    nothing is relevant.

    AP@k is the sum of precision@r over the ranks r <= k that hold a relevant
    item, divided by min(len(relevant), k). This divisor is the number of hits a
    perfect list can reach, so a perfect list scores 1 even when more than k
    items are relevant.
    """
    _check_k(k)
    if not relevant:
        return math.nan

    hits = 0
    precision_sum = 0.0
    for rank, item in enumerate(ranked[:k], start=1):
        if item in relevant:
            hits += 1
            precision_sum += hits / rank
    return precision_sum / min(len(relevant), k)


def reciprocal_rank(ranked: Sequence[str], relevant: Collection[str], k: int) -> float:
    """Reciprocal rank with a cutoff at k, the per-user term of MRR@k: 1 / rank of
    the first relevant item among the top k, or 0.0 when none of the top k is
    relevant. Returns nan when nothing is relevant.
    """
    _check_k(k)
    if not relevant:
        return math.nan

    for rank, item in enumerate(ranked[:k], start=1):
        if item in relevant:
            return 1.0 / rank
    return 0.0


def hit_at_k(ranked: Sequence[str], relevant: Collection[str], k: int) -> float:
    """Hit indicator at k: 1.0 when any of the top k items is relevant, else 0.0.
    Returns nan when nothing is relevant. The hit rate at k is its mean over users.
    """
    _check_k(k)
    if not relevant:
        return math.nan

    return 1.0 if any(item in relevant for item in ranked[:k]) else 0.0


def per_user_metrics(
    hits: npt.NDArray[np.bool_],
    relevant_counts: npt.NDArray[np.integer[Any]],
    k: int,
) -> dict[str, npt.NDArray[np.float64]]:
    """Compute the per-user ranking metrics of many users at once.

    ``hits[u, r]`` is True when the item at rank r + 1 of user u's list is
    relevant, and False past the end of a list shorter than k.
    ``relevant_counts[u]`` is the number of items relevant to user u. Returns
    one float array per metric, keyed ``ndcg``, ``recall``, ``precision``,
    ``average_precision``, ``reciprocal_rank`` and ``hit``, with the value of
    the per-list function of that name (:func:`ndcg_at_k`, ...), nan for a
    user with no relevant item.

    The ranks are added one after another, as the per-list functions add
    them, so under Python 3.11 the values are equal bit for bit.

    NOTE: from Python 3.12, ``sum()`` uses Neumaier summation ("What's New in
    Python 3.12"), so :func:`dcg_at_k`, and with it :func:`ndcg_at_k`, may
    differ from the NDCG here in the last bit.

    Raises:
        ValueError: k is below 1, ``hits`` is not of shape (users, k), or
            ``relevant_counts`` is not one non-negative count per user.
    """
    _check_k(k)
    hit_matrix = np.asarray(hits, dtype=bool)
    counts = np.asarray(relevant_counts)
    _check_per_user_input(hit_matrix, counts, k)

    users = hit_matrix.shape[0]
    hit_counts = np.zeros(users, dtype=np.int64)
    dcg = np.zeros(users)
    precision_sums = np.zeros(users)
    first_hit_ranks = np.zeros(users, dtype=np.int64)
    for rank in range(1, k + 1):
        hit = hit_matrix[:, rank - 1]
        hit_counts += hit
        # Adding 0.0 at a miss leaves a sum as it is, as skipping the rank does.
        dcg += np.where(hit, 1.0 / math.log2(rank + 1), 0.0)
        precision_sums += np.where(hit, hit_counts / rank, 0.0)
        first_hit_ranks[(first_hit_ranks == 0) & hit] = rank

    # ideal[m] is the DCG of hits at ranks 1 to m, summed as ndcg_at_k sums it.
    ideal = np.array(
        [
            sum(1.0 / math.log2(rank + 1) for rank in range(1, count + 1))
            for count in range(k + 1)
        ]
    )
    capped_counts = np.minimum(counts, k)
    defined = counts > 0
    reciprocal_ranks = np.zeros(users)
    np.divide(1.0, first_hit_ranks, out=reciprocal_ranks, where=first_hit_ranks > 0)
    return {
        "ndcg": _divide_where(dcg, ideal[capped_counts], defined),
        "recall": _divide_where(hit_counts, counts, defined),
        "precision": _divide_where(hit_counts, np.full(users, k), defined),
        "average_precision": _divide_where(precision_sums, capped_counts, defined),
        "reciprocal_rank": np.where(defined, reciprocal_ranks, math.nan),
        "hit": np.where(defined, (hit_counts > 0).astype(float), math.nan),
    }


def catalogue_coverage(
    lists: Iterable[Sequence[str]], catalogue_size: int, k: int
) -> float:
    """Compute the share of the catalogue that appears in the top k of any list.

    Coverage is the number of distinct ids in the union of every list's top k,
    divided by ``catalogue_size``. Returns nan when ``lists`` contains no list,
    and 0.0 when it contains only empty lists.

    Raises:
        ValueError: k or catalogue_size is below 1, or the lists contain more
            distinct ids than ``catalogue_size``.
    """
    _check_k(k)
    if catalogue_size < 1:
        msg = f"catalogue_size must be a positive integer, got {catalogue_size}"
        raise ValueError(msg)

    recommended: set[str] = set()
    list_count = 0
    for ranked in lists:
        list_count += 1
        recommended.update(ranked[:k])
    if list_count == 0:
        return math.nan

    if len(recommended) > catalogue_size:
        msg = (
            f"the top {k} of the lists contain {len(recommended)} distinct "
            f"restaurant ids, more than catalogue_size={catalogue_size}; pass the "
            "number of restaurants in the catalogue"
        )
        raise ValueError(msg)
    return len(recommended) / catalogue_size


def popularity_percentiles(popularity: Mapping[str, float]) -> dict[str, float]:
    """Rank each item's popularity as a percentile in [0, 1], the most popular at 1.

    The n items are ranked from 1 (least popular) to n (most popular), and tied
    items share the mean of the ranks they span. An item of rank r gets the
    percentile (r - 1) / (n - 1). A single item gets 1.0, and an empty mapping
    gives an empty dict. The percentiles are relative to the items passed, so
    pass every catalogue item, with 0 for those never ordered.

    Raises:
        ValueError: a popularity value is nan or infinite.
    """
    items = list(popularity)
    for item, value in popularity.items():
        if not math.isfinite(value):
            msg = f"popularity of {item!r} must be a finite number, got {value}"
            raise ValueError(msg)
    if len(items) <= 1:
        return dict.fromkeys(items, 1.0)

    ranks = rankdata([popularity[item] for item in items], method="average")
    percentiles = (ranks - 1.0) / (len(items) - 1)
    return dict(zip(items, percentiles.tolist(), strict=True))


def popularity_bias(
    lists: Iterable[Sequence[str]], percentiles: Mapping[str, float], k: int
) -> float:
    """Compute the mean popularity percentile of the items in the top k of the lists.

    Each of the top k slots of every list counts once, so an item recommended to
    three users counts three times. Items missing from ``percentiles`` count as
    percentile 0.0, the least popular. Values near 1 mean that the lists favour
    popular restaurants. Returns nan when no list recommends any item.
    """
    _check_k(k)

    total = 0.0
    count = 0
    for ranked in lists:
        for item in ranked[:k]:
            total += percentiles.get(item, 0.0)
            count += 1
    return total / count if count else math.nan


def novelty(
    lists: Iterable[Sequence[str]],
    popularity_share: Mapping[str, float],
    k: int,
    *,
    users: int,
) -> float:
    """Compute the mean self-information, in bits, of the items in the top k.

    The self-information of item i is -log2(p(i)), where p(i) is
    ``popularity_share[i]``, the share of the ``users`` training users who
    ordered i. An item missing from ``popularity_share`` or with share 0 takes
    p = 1 / (users + 1), which is below the smallest non-zero share 1 / users,
    so an item nobody ordered counts as rarer than one ordered by a single user.
    As in :func:`popularity_bias`, each of the top k slots of every list counts
    once. Returns nan when no list recommends any item.

    Raises:
        ValueError: k or users is below 1, or the share of a recommended item is
            outside [0, 1].
    """
    _check_k(k)
    if users < 1:
        msg = f"users must be the number of training users (at least 1), got {users}"
        raise ValueError(msg)

    unseen_bits = math.log2(users + 1)
    total = 0.0
    count = 0
    for ranked in lists:
        for item in ranked[:k]:
            share = popularity_share.get(item, 0.0)
            total += _self_information(item, share, unseen_bits)
            count += 1
    return total / count if count else math.nan


def _check_k(k: int) -> None:
    if k < 1:
        msg = f"k must be a positive integer, got {k}"
        raise ValueError(msg)


def _divide_where(
    numerators: npt.NDArray[Any],
    denominators: npt.NDArray[Any],
    defined: npt.NDArray[np.bool_],
) -> npt.NDArray[np.float64]:
    """Divide element by element where ``defined``, and return nan elsewhere."""
    out = np.full(numerators.shape, math.nan)
    np.divide(numerators, denominators, out=out, where=defined)
    return out


def _check_per_user_input(
    hits: npt.NDArray[np.bool_], counts: npt.NDArray[Any], k: int
) -> None:
    if hits.ndim != 2 or hits.shape[1] != k:
        msg = f"hits must have shape (users, k={k}), got {hits.shape}"
        raise ValueError(msg)
    if counts.shape != (hits.shape[0],):
        msg = (
            f"relevant_counts must have one count per row of hits "
            f"({hits.shape[0]}), got shape {counts.shape}"
        )
        raise ValueError(msg)
    if counts.size and (
        not np.issubdtype(counts.dtype, np.integer) or counts.min() < 0
    ):
        msg = (
            "relevant_counts must be non-negative integers, got dtype "
            f"{counts.dtype} with minimum {counts.min()}"
        )
        raise ValueError(msg)


def _self_information(item: str, share: float, unseen_bits: float) -> float:
    # The negated test also rejects a nan share.
    if not 0.0 <= share <= 1.0:
        msg = f"popularity_share of {item!r} must be in [0, 1], got {share}"
        raise ValueError(msg)
    return -math.log2(share) if share > 0.0 else unseen_bits
