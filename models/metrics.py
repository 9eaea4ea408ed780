"""Top-k ranking metrics with binary relevance.

Each function takes one user's ranked list of restaurant ids (best first) and
the set of ids that are relevant for that user. A user with no relevant
restaurant has no defined value: the functions return ``nan`` and averaging
helpers skip such users.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence


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


def _check_k(k: int) -> None:
    if k < 1:
        msg = f"k must be a positive integer, got {k}"
        raise ValueError(msg)
