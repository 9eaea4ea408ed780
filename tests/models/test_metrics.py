"""Tests of the ranking metrics against values worked out by hand."""

from __future__ import annotations

import math

import pytest

from models.metrics import dcg_at_k, mean_ignoring_nan, ndcg_at_k, recall_at_k


def test_dcg_hits_at_one_and_three() -> None:
    # Relevant at ranks 1 and 3: 1 / log2(2) + 1 / log2(4) = 1 + 0.5 = 1.5.
    assert dcg_at_k(["a", "x", "b"], {"a", "b"}, k=3) == pytest.approx(1.5)


def test_dcg_hit_at_two() -> None:
    # 1 / log2(3) = 0.63093.
    assert dcg_at_k(["x", "a", "y"], {"a"}, k=3) == pytest.approx(0.6309297535714575)


def test_dcg_ignores_hits_beyond_k() -> None:
    # Only rank 1 is within k = 2; the hit at rank 3 does not count.
    assert dcg_at_k(["a", "x", "b"], {"a", "b"}, k=2) == pytest.approx(1.0)


def test_dcg_no_hits_zero() -> None:
    assert dcg_at_k(["x", "y"], {"a"}, k=2) == 0.0


def test_dcg_empty_relevant_zero() -> None:
    assert dcg_at_k(["x", "y"], set(), k=2) == 0.0


def test_ndcg_hits_at_one_and_three() -> None:
    # DCG = 1 + 1/log2(4) = 1.5. IDCG with 2 relevant = 1 + 1/log2(3) = 1.63093.
    # NDCG = 1.5 / 1.63093 = 0.91972.
    expected = 1.5 / (1 + 1 / math.log2(3))

    result = ndcg_at_k(["a", "x", "b"], {"a", "b"}, k=3)

    assert result == pytest.approx(expected)
    assert result == pytest.approx(0.9197207891481876)


def test_ndcg_perfect_ranking_one() -> None:
    assert ndcg_at_k(["a", "b", "x"], {"a", "b"}, k=3) == pytest.approx(1.0)


def test_ndcg_ideal_capped_at_k() -> None:
    # Three relevant but k = 2: IDCG = 1 + 1/log2(3), the same as DCG of a, b.
    assert ndcg_at_k(["a", "b", "c"], {"a", "b", "c"}, k=2) == pytest.approx(1.0)


def test_ndcg_single_hit_at_two() -> None:
    # DCG = 1/log2(3) = 0.63093, IDCG = 1 for one relevant item.
    result = ndcg_at_k(["x", "a"], {"a"}, k=5)

    assert result == pytest.approx(1 / math.log2(3))


def test_ndcg_short_list() -> None:
    # The ranked list is shorter than k. DCG = 1 for the hit at rank 1, and
    # IDCG = 1 + 1/log2(3) for two relevant items.
    result = ndcg_at_k(["a"], {"a", "b"}, k=5)

    assert result == pytest.approx(1 / (1 + 1 / math.log2(3)))


def test_ndcg_no_hits_zero() -> None:
    assert ndcg_at_k(["x", "y"], {"a"}, k=2) == 0.0


def test_ndcg_empty_relevant_nan() -> None:
    assert math.isnan(ndcg_at_k(["a", "b"], set(), k=2))


def test_recall_two_of_three() -> None:
    # Hits a and b in the top 3, c missed: 2 / 3.
    result = recall_at_k(["a", "x", "b", "c"], {"a", "b", "c"}, k=3)

    assert result == pytest.approx(2 / 3)


def test_recall_more_relevant_than_k() -> None:
    # Both slots are hits, but the denominator is all 4 relevant items: 2 / 4.
    assert recall_at_k(["a", "b"], {"a", "b", "c", "d"}, k=2) == pytest.approx(0.5)


def test_recall_all_found_one() -> None:
    assert recall_at_k(["x", "a", "b"], {"a", "b"}, k=3) == pytest.approx(1.0)


def test_recall_no_hits_zero() -> None:
    assert recall_at_k(["x", "y"], {"a"}, k=2) == 0.0


def test_recall_empty_relevant_nan() -> None:
    assert math.isnan(recall_at_k(["a"], set(), k=1))


def test_recall_empty_ranked_zero() -> None:
    assert recall_at_k([], {"a"}, k=3) == 0.0


@pytest.mark.parametrize("metric", [dcg_at_k, ndcg_at_k, recall_at_k])
@pytest.mark.parametrize("k", [0, -1])
def test_metric_invalid_k_raises(metric, k: int) -> None:
    with pytest.raises(ValueError, match=f"got {k}"):
        metric(["a"], {"a"}, k)


def test_mean_ignoring_nan_skips_nan() -> None:
    # The nan is left out of the count: (1.0 + 0.5) / 2 = 0.75.
    assert mean_ignoring_nan([1.0, math.nan, 0.5]) == pytest.approx(0.75)


def test_mean_ignoring_nan_keeps_zero() -> None:
    # A zero is a defined value: (0 + 1) / 2.
    assert mean_ignoring_nan([0.0, 1.0]) == pytest.approx(0.5)


def test_mean_ignoring_nan_all_nan() -> None:
    assert math.isnan(mean_ignoring_nan([math.nan, math.nan]))


def test_mean_ignoring_nan_empty() -> None:
    assert math.isnan(mean_ignoring_nan([]))
