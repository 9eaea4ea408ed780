"""Tests of the evaluation metrics against values worked out by hand."""

from __future__ import annotations

import dataclasses
import math
import sys
import warnings

import numpy as np
import pytest

from models.metrics import (
    Confusion,
    _bootstrap_means,
    average_precision_at_k,
    bootstrap_interval,
    catalogue_coverage,
    confusion_at,
    dcg_at_k,
    hit_at_k,
    mean_ignoring_nan,
    ndcg_at_k,
    novelty,
    per_user_metrics,
    popularity_bias,
    popularity_percentiles,
    precision_at_k,
    recall_at_k,
    reciprocal_rank,
)


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


def test_precision_two_hits_in_four() -> None:
    # Hits a and b in the top 4: 2 / 4.
    result = precision_at_k(["a", "x", "b", "y"], {"a", "b", "c"}, k=4)

    assert result == pytest.approx(0.5)


def test_precision_short_list_divides_by_k() -> None:
    # One hit in a list of length 1, but the denominator is k = 3: 1 / 3.
    assert precision_at_k(["a"], {"a"}, k=3) == pytest.approx(1 / 3)


def test_precision_ignores_hits_beyond_k() -> None:
    assert precision_at_k(["x", "a"], {"a"}, k=1) == 0.0


def test_precision_empty_relevant_nan() -> None:
    assert math.isnan(precision_at_k(["a"], set(), k=1))


def test_average_precision_three_hits() -> None:
    # Hits at ranks 1, 3 and 5: precision@1 = 1, @3 = 2/3, @5 = 3/5.
    # Divisor min(4 relevant, k = 5) = 4: (1 + 2/3 + 3/5) / 4 = 34/60 = 0.56667.
    result = average_precision_at_k(["a", "x", "b", "y", "c"], {"a", "b", "c", "d"}, 5)

    assert result == pytest.approx(34 / 60)


def test_average_precision_divisor_capped_at_k() -> None:
    # k = 3 keeps hits at ranks 1 and 3: (1 + 2/3) / min(4, 3) = 5/9.
    result = average_precision_at_k(["a", "x", "b", "y", "c"], {"a", "b", "c", "d"}, 3)

    assert result == pytest.approx(5 / 9)


def test_average_precision_perfect_list_one() -> None:
    # Three relevant but k = 2: (1 + 1) / min(3, 2) = 1.
    assert average_precision_at_k(["a", "b"], {"a", "b", "c"}, 2) == pytest.approx(1.0)


def test_average_precision_hit_at_two() -> None:
    # precision@2 = 1/2, divided by min(1, 2) = 1.
    assert average_precision_at_k(["x", "a"], {"a"}, 2) == pytest.approx(0.5)


def test_average_precision_no_hits_zero() -> None:
    assert average_precision_at_k(["x", "y"], {"a"}, 2) == 0.0


def test_average_precision_empty_relevant_nan() -> None:
    assert math.isnan(average_precision_at_k(["a"], set(), 1))


def test_reciprocal_rank_hit_at_three() -> None:
    assert reciprocal_rank(["x", "y", "a"], {"a"}, k=3) == pytest.approx(1 / 3)


def test_reciprocal_rank_first_hit_counts() -> None:
    # Hits at ranks 2 and 3. Only the first one counts: 1 / 2.
    assert reciprocal_rank(["x", "a", "b"], {"a", "b"}, k=3) == pytest.approx(0.5)


def test_reciprocal_rank_hit_beyond_k_zero() -> None:
    assert reciprocal_rank(["x", "y", "a"], {"a"}, k=2) == 0.0


def test_reciprocal_rank_empty_relevant_nan() -> None:
    assert math.isnan(reciprocal_rank(["a"], set(), k=1))


def test_hit_within_k_one() -> None:
    assert hit_at_k(["x", "a"], {"a"}, k=2) == 1.0


def test_hit_beyond_k_zero() -> None:
    assert hit_at_k(["x", "a"], {"a"}, k=1) == 0.0


def test_hit_empty_ranked_zero() -> None:
    assert hit_at_k([], {"a"}, k=3) == 0.0


def test_hit_empty_relevant_nan() -> None:
    assert math.isnan(hit_at_k(["a"], set(), k=1))


@pytest.mark.parametrize(
    "metric", [precision_at_k, average_precision_at_k, reciprocal_rank, hit_at_k]
)
@pytest.mark.parametrize("k", [0, -1])
def test_per_user_metric_invalid_k_raises(metric, k: int) -> None:
    with pytest.raises(ValueError, match=f"got {k}"):
        metric(["a"], {"a"}, k)


def test_per_user_metrics_hand_computed() -> None:
    # k = 3. The first user has hits at ranks 1 and 3 of 2 relevant items, the
    # second no hit of 1, the third a hit at rank 2 of 4 (more than k), and the
    # fourth nothing relevant.
    hits = np.array(
        [
            [True, False, True],
            [False, False, False],
            [False, True, False],
            [False, False, False],
        ]
    )
    counts = np.array([2, 1, 4, 0])
    discount_2 = 1 / math.log2(3)

    metrics = per_user_metrics(hits, counts, k=3)

    # The first DCG, 1 + 1/log2(4) = 1.5, is divided by the ideal 1 + 1/log2(3),
    # and the third, 1/log2(3), by the ideal of 3 hits, 1 + 1/log2(3) + 1/2.
    ndcg = metrics["ndcg"]
    assert ndcg[:3] == pytest.approx(
        [1.5 / (1 + discount_2), 0.0, discount_2 / (1.5 + discount_2)]
    )
    assert ndcg[0] == pytest.approx(0.9197207891481876)
    assert metrics["recall"][:3] == pytest.approx([1.0, 0.0, 0.25])
    assert metrics["precision"][:3] == pytest.approx([2 / 3, 0.0, 1 / 3])
    # AP of the first user is (1/1 + 2/3) / 2, and of the third (1/2) / min(4, 3).
    assert metrics["average_precision"][:3] == pytest.approx([5 / 6, 0.0, 1 / 6])
    assert metrics["reciprocal_rank"][:3] == pytest.approx([1.0, 0.0, 0.5])
    assert metrics["hit"][:3] == pytest.approx([1.0, 0.0, 1.0])
    for name, values in metrics.items():
        assert values.shape == (4,), name
        assert math.isnan(values[3]), name


@pytest.mark.parametrize("k", [1, 3, 10])
def test_per_user_metrics_match_per_list_functions(k: int) -> None:
    # Ids come from a pool of 12, so lists repeat ids and many users share
    # items. Lists run from empty to longer than k, and relevant sets from
    # empty to more than k items.
    rng = np.random.default_rng(k)
    pool = [f"r{index}" for index in range(12)]
    lists = [
        [pool[i] for i in rng.integers(0, 12, size=rng.integers(0, k + 4))]
        for _ in range(2000)
    ]
    relevant = [
        {pool[i] for i in rng.integers(0, 12, size=rng.integers(0, k + 4))}
        for _ in range(2000)
    ]
    hits = np.array(
        [
            [rank < len(ranked) and ranked[rank] in items for rank in range(k)]
            for ranked, items in zip(lists, relevant, strict=True)
        ]
    ).reshape(len(lists), k)
    counts = np.array([len(items) for items in relevant])

    metrics = per_user_metrics(hits, counts, k)

    definitions = {
        "ndcg": ndcg_at_k,
        "recall": recall_at_k,
        "precision": precision_at_k,
        "average_precision": average_precision_at_k,
        "reciprocal_rank": reciprocal_rank,
        "hit": hit_at_k,
    }
    assert list(metrics) == list(definitions)
    assert any(len(items) > k for items in relevant)
    assert any(not items for items in relevant)
    for name, definition in definitions.items():
        expected = np.array(
            [
                definition(ranked, items, k)
                for ranked, items in zip(lists, relevant, strict=True)
            ]
        )
        if name == "ndcg" and sys.version_info >= (3, 12):
            # sum() in dcg_at_k compensates rounding from Python 3.12.
            np.testing.assert_allclose(metrics[name], expected, rtol=1e-15)
        else:
            np.testing.assert_array_equal(metrics[name], expected, strict=True)


def test_per_user_metrics_no_users_empty() -> None:
    metrics = per_user_metrics(np.zeros((0, 2), dtype=bool), np.zeros(0, int), k=2)

    assert all(values.shape == (0,) for values in metrics.values())


@pytest.mark.parametrize(
    ("hits", "counts", "message"),
    [
        (np.zeros((2, 3), dtype=bool), np.ones(2, int), r"shape \(users, k=2\)"),
        (np.zeros(2, dtype=bool), np.ones(2, int), r"shape \(users, k=2\)"),
        (np.zeros((2, 2), dtype=bool), np.ones(3, int), "one count per row"),
        (np.zeros((2, 2), dtype=bool), np.array([1, -1]), "minimum -1"),
        (np.zeros((2, 2), dtype=bool), np.array([1.0, 2.0]), "dtype float64"),
    ],
    ids=["wide", "one-dimensional", "count-length", "negative", "float"],
)
def test_per_user_metrics_invalid_input_raises(
    hits: np.ndarray, counts: np.ndarray, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        per_user_metrics(hits, counts, k=2)


def test_per_user_metrics_invalid_k_raises() -> None:
    with pytest.raises(ValueError, match="got 0"):
        per_user_metrics(np.zeros((1, 0), dtype=bool), np.ones(1, int), k=0)


def test_coverage_top_two() -> None:
    # Top 2 of the lists: {a, b} and {b, d}, so 3 distinct ids of 10: 0.3.
    result = catalogue_coverage([["a", "b", "c"], ["b", "d"]], catalogue_size=10, k=2)

    assert result == pytest.approx(0.3)


def test_coverage_top_three() -> None:
    # Top 3 adds c: {a, b, c, d} is 4 of 10.
    result = catalogue_coverage([["a", "b", "c"], ["b", "d"]], catalogue_size=10, k=3)

    assert result == pytest.approx(0.4)


def test_coverage_reads_generator() -> None:
    lists = (ranked for ranked in [["a"], ["b"]])

    assert catalogue_coverage(lists, catalogue_size=4, k=1) == pytest.approx(0.5)


def test_coverage_no_lists_nan() -> None:
    assert math.isnan(catalogue_coverage([], catalogue_size=5, k=2))


def test_coverage_empty_lists_zero() -> None:
    assert catalogue_coverage([[], []], catalogue_size=5, k=2) == 0.0


@pytest.mark.parametrize("catalogue_size", [0, -3])
def test_coverage_invalid_catalogue_size_raises(catalogue_size: int) -> None:
    with pytest.raises(ValueError, match=f"catalogue_size .* got {catalogue_size}"):
        catalogue_coverage([["a"]], catalogue_size=catalogue_size, k=1)


def test_coverage_more_ids_than_catalogue_raises() -> None:
    with pytest.raises(ValueError, match="3 distinct restaurant ids"):
        catalogue_coverage([["a", "b", "c"]], catalogue_size=2, k=3)


def test_percentiles_ties_share_mean_rank() -> None:
    # Ranks from least popular: d = 1, b and c share (2 + 3) / 2 = 2.5, a = 4.
    # (rank - 1) / (4 - 1): d = 0, b = c = 1.5 / 3 = 0.5, a = 1.
    result = popularity_percentiles({"a": 10, "b": 5, "c": 5, "d": 1})

    assert result == pytest.approx({"a": 1.0, "b": 0.5, "c": 0.5, "d": 0.0})


def test_percentiles_distinct_values() -> None:
    # Ranks b = 1, c = 2, a = 3: (rank - 1) / 2 gives 0, 0.5, 1.
    result = popularity_percentiles({"a": 3.0, "b": 1.0, "c": 2.0})

    assert result == pytest.approx({"a": 1.0, "b": 0.0, "c": 0.5})


def test_percentiles_all_tied_half() -> None:
    # Both share rank 1.5: (1.5 - 1) / (2 - 1) = 0.5.
    assert popularity_percentiles({"a": 2, "b": 2}) == pytest.approx(
        {"a": 0.5, "b": 0.5}
    )


def test_percentiles_single_item_one() -> None:
    assert popularity_percentiles({"a": 7.0}) == {"a": 1.0}


def test_percentiles_empty() -> None:
    assert popularity_percentiles({}) == {}


def test_percentiles_nan_popularity_raises() -> None:
    with pytest.raises(ValueError, match="popularity of 'b'"):
        popularity_percentiles({"a": 1.0, "b": math.nan})


def test_popularity_bias_top_two() -> None:
    # Slots a, b, b, z. z is missing and counts 0: (1 + 0.5 + 0.5 + 0) / 4 = 0.5.
    percentiles = {"a": 1.0, "b": 0.5, "c": 0.0}

    result = popularity_bias([["a", "b", "c"], ["b", "z"]], percentiles, k=2)

    assert result == pytest.approx(0.5)


def test_popularity_bias_top_three() -> None:
    # Slots a, b, c, b, z: (1 + 0.5 + 0 + 0.5 + 0) / 5 = 0.4.
    percentiles = {"a": 1.0, "b": 0.5, "c": 0.0}

    result = popularity_bias([["a", "b", "c"], ["b", "z"]], percentiles, k=3)

    assert result == pytest.approx(0.4)


@pytest.mark.parametrize("lists", [[], [[]], [[], []]], ids=["none", "one", "two"])
def test_popularity_bias_nothing_recommended_nan(lists: list[list[str]]) -> None:
    assert math.isnan(popularity_bias(lists, {"a": 1.0}, k=2))


def test_novelty_known_and_unseen_items() -> None:
    # a: -log2(0.5) = 1 bit, b: -log2(0.25) = 2 bits. c is missing, so with
    # users = 3 it takes p = 1 / 4 and 2 bits. Mean over 3 slots: 5 / 3.
    shares = {"a": 0.5, "b": 0.25}

    result = novelty([["a", "b", "x"], ["c"]], shares, k=2, users=3)

    assert result == pytest.approx(5 / 3)


def test_novelty_zero_share_uses_unseen_rule() -> None:
    # Share 0 with 7 users: p = 1 / 8, so 3 bits.
    assert novelty([["a"]], {"a": 0.0}, k=1, users=7) == pytest.approx(3.0)


def test_novelty_item_everyone_ordered_zero() -> None:
    assert novelty([["a"]], {"a": 1.0}, k=1, users=4) == 0.0


def test_novelty_top_k_only() -> None:
    # Only a (1 bit) is in the top 1. b would add 2 bits.
    result = novelty([["a", "b"]], {"a": 0.5, "b": 0.25}, k=1, users=4)

    assert result == pytest.approx(1.0)


@pytest.mark.parametrize("lists", [[], [[]]], ids=["none", "one-empty"])
def test_novelty_nothing_recommended_nan(lists: list[list[str]]) -> None:
    assert math.isnan(novelty(lists, {"a": 0.5}, k=2, users=4))


@pytest.mark.parametrize("share", [1.5, -0.1, math.nan])
def test_novelty_invalid_share_raises(share: float) -> None:
    with pytest.raises(ValueError, match="popularity_share of 'a'"):
        novelty([["a"]], {"a": share}, k=1, users=4)


def test_novelty_invalid_users_raises() -> None:
    with pytest.raises(ValueError, match="got 0"):
        novelty([["a"]], {"a": 0.5}, k=1, users=0)


@pytest.mark.parametrize(
    "metric",
    [
        lambda k: catalogue_coverage([["a"]], catalogue_size=3, k=k),
        lambda k: popularity_bias([["a"]], {"a": 1.0}, k=k),
        lambda k: novelty([["a"]], {"a": 0.5}, k=k, users=2),
    ],
    ids=["coverage", "popularity_bias", "novelty"],
)
@pytest.mark.parametrize("k", [0, -1])
def test_aggregate_metric_invalid_k_raises(metric, k: int) -> None:
    with pytest.raises(ValueError, match=f"got {k}"):
        metric(k)


def test_aggregate_empty_input_no_warning() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")

        coverage = catalogue_coverage([], catalogue_size=3, k=2)
        bias = popularity_bias([], {}, k=2)
        novelty_bits = novelty([], {}, k=2, users=3)
        low, high = bootstrap_interval([])

    assert math.isnan(coverage)
    assert math.isnan(bias)
    assert math.isnan(novelty_bits)
    assert math.isnan(low)
    assert math.isnan(high)


def test_confusion_rates() -> None:
    confusion = Confusion(tp=2, fp=1, fn=3, tn=4)

    # precision 2 / 3, recall 2 / 5, F1 2*2 / (2*2 + 1 + 3) = 0.5, which is also
    # 2 * (2/3) * (2/5) / (2/3 + 2/5) = (8/15) / (16/15).
    assert confusion.precision == pytest.approx(2 / 3)
    assert confusion.recall == pytest.approx(0.4)
    assert confusion.f1 == pytest.approx(0.5)
    # FPR 1 / (1 + 4), FNR 3 / (3 + 2), accuracy (2 + 4) / 10.
    assert confusion.false_positive_rate == pytest.approx(0.2)
    assert confusion.false_negative_rate == pytest.approx(0.6)
    assert confusion.accuracy == pytest.approx(0.6)


@pytest.mark.parametrize(
    "rate",
    [
        "precision",
        "recall",
        "f1",
        "false_positive_rate",
        "false_negative_rate",
        "accuracy",
    ],
)
def test_confusion_zero_counts_nan(rate: str) -> None:
    assert math.isnan(getattr(Confusion(tp=0, fp=0, fn=0, tn=0), rate))


def test_confusion_negative_count_raises() -> None:
    with pytest.raises(ValueError, match="fn must be a non-negative count, got -1"):
        Confusion(tp=1, fp=0, fn=-1, tn=0)


def test_confusion_is_frozen() -> None:
    confusion = Confusion(tp=1, fp=0, fn=0, tn=0)

    with pytest.raises(dataclasses.FrozenInstanceError):
        confusion.tp = 2  # type: ignore[misc]


def test_confusion_at_counts() -> None:
    # Predicted positive (score >= 0.5): 0.9 (label 1), 0.8 (0), 0.7 (1), so
    # tp = 2, fp = 1. Predicted negative: 0.4 (1), 0.3 (0), 0.1 (0), so fn = 1,
    # tn = 2.
    scores = [0.9, 0.8, 0.4, 0.3, 0.7, 0.1]
    labels = [1, 0, 1, 0, 1, 0]

    assert confusion_at(scores, labels, 0.5) == Confusion(tp=2, fp=1, fn=1, tn=2)


def test_confusion_at_threshold_inclusive() -> None:
    assert confusion_at([0.5], [1], 0.5) == Confusion(tp=1, fp=0, fn=0, tn=0)


def test_confusion_at_numpy_arrays() -> None:
    # float32 scores as LightGBM may return them, with boolean labels.
    scores = np.array([0.2, 0.6, 0.9], dtype=np.float32)
    labels = np.array([True, False, True])

    assert confusion_at(scores, labels, 0.5) == Confusion(tp=1, fp=1, fn=1, tn=0)


def test_confusion_at_all_negative_labels() -> None:
    # Scores 0.9 and 0.6 are false positives, 0.2 is a true negative.
    confusion = confusion_at([0.9, 0.2, 0.6], [0, 0, 0], 0.5)

    assert confusion == Confusion(tp=0, fp=2, fn=0, tn=1)
    assert confusion.precision == 0.0
    assert math.isnan(confusion.recall)
    # 2*0 / (2*0 + 2 + 0) = 0.
    assert confusion.f1 == 0.0
    assert confusion.false_positive_rate == pytest.approx(2 / 3)
    assert math.isnan(confusion.false_negative_rate)
    assert confusion.accuracy == pytest.approx(1 / 3)


def test_confusion_at_all_positive_labels() -> None:
    # 0.9 and 0.6 are true positives, 0.2 is a false negative.
    confusion = confusion_at([0.9, 0.2, 0.6], [1, 1, 1], 0.5)

    assert confusion == Confusion(tp=2, fp=0, fn=1, tn=0)
    assert confusion.precision == 1.0
    assert confusion.recall == pytest.approx(2 / 3)
    # 2*2 / (2*2 + 0 + 1) = 0.8.
    assert confusion.f1 == pytest.approx(0.8)
    assert math.isnan(confusion.false_positive_rate)
    assert confusion.false_negative_rate == pytest.approx(1 / 3)
    assert confusion.accuracy == pytest.approx(2 / 3)


def test_confusion_at_empty_input() -> None:
    confusion = confusion_at([], [], 0.5)

    assert confusion == Confusion(tp=0, fp=0, fn=0, tn=0)
    assert math.isnan(confusion.accuracy)


def test_confusion_at_length_mismatch_raises() -> None:
    with pytest.raises(ValueError, match="scores has 3 values but labels has 2"):
        confusion_at([0.1, 0.2, 0.3], [0, 1], 0.5)


def test_confusion_at_two_dimensional_raises() -> None:
    with pytest.raises(ValueError, match="one-dimensional"):
        confusion_at(np.zeros((2, 2)), np.zeros((2, 2), dtype=int), 0.5)


def test_confusion_at_nan_score_raises() -> None:
    with pytest.raises(ValueError, match=r"scores\[1\] is nan"):
        confusion_at([0.1, math.nan], [0, 1], 0.5)


def test_confusion_at_nan_threshold_raises() -> None:
    with pytest.raises(ValueError, match="threshold"):
        confusion_at([0.1], [0], math.nan)


def test_confusion_at_invalid_label_raises() -> None:
    with pytest.raises(ValueError, match=r"labels\[1\] must be 0 or 1, got 2"):
        confusion_at([0.1, 0.2], [0, 2], 0.5)


@pytest.mark.parametrize("values", [[], [math.nan, math.nan]], ids=["empty", "all-nan"])
def test_bootstrap_no_defined_values_nan(values: list[float]) -> None:
    low, high = bootstrap_interval(values)

    assert math.isnan(low)
    assert math.isnan(high)


@pytest.mark.parametrize("values", [[2.0], [math.nan, 2.0]], ids=["one", "nan-one"])
def test_bootstrap_single_value(values: list[float]) -> None:
    assert bootstrap_interval(values) == (2.0, 2.0)


def test_bootstrap_constant_values_degenerate() -> None:
    low, high = bootstrap_interval([0.25] * 20)

    assert low == pytest.approx(0.25)
    assert high == pytest.approx(0.25)


def test_bootstrap_two_values_hand_computed() -> None:
    # The means of resamples of [0, 1] are 0, 0.5 or 1 with probability 1/4,
    # 1/2, 1/4. With 1000 resamples the 2.5% and 97.5% quantiles fall in the
    # mass at 0 and at 1, and the 30% and 70% quantiles (level 0.4) in the mass
    # at 0.5.
    assert bootstrap_interval([0.0, 1.0], seed=0) == (0.0, 1.0)
    assert bootstrap_interval([0.0, 1.0], level=0.4, seed=0) == (0.5, 0.5)


def test_bootstrap_contains_sample_mean() -> None:
    # Sample mean 7 / 10 = 0.7.
    values = [0.0, 1.0, 1.0, 0.0, 1.0, 1.0, 1.0, 0.0, 1.0, 1.0]

    low, high = bootstrap_interval(values, seed=0)

    assert low < 0.7 < high
    assert low >= 0.0
    assert high <= 1.0


def test_bootstrap_ignores_nan() -> None:
    values = [0.0, 1.0, 1.0, 0.0, 1.0]

    assert bootstrap_interval([*values, math.nan], seed=3) == bootstrap_interval(
        values, seed=3
    )


def test_bootstrap_same_seed_repeats() -> None:
    values = [float(value) ** 1.5 for value in range(20)]

    first = bootstrap_interval(values, seed=5)
    second = bootstrap_interval(values, seed=5)
    other_seed = bootstrap_interval(values, seed=6)

    assert first == second
    assert first != other_seed


def test_bootstrap_narrows_as_n_grows() -> None:
    # The same share of ones, 0.7, at n = 20 and n = 200. The standard error
    # shrinks by sqrt(10) = 3.16, so the width should shrink by about as much.
    pattern = [0.0, 1.0, 1.0, 0.0, 1.0, 1.0, 1.0, 0.0, 1.0, 1.0]
    small_low, small_high = bootstrap_interval(pattern * 2, seed=0)
    large_low, large_high = bootstrap_interval(pattern * 20, seed=0)

    ratio = (small_high - small_low) / (large_high - large_low)

    assert 2.5 < ratio < 4.0


def test_bootstrap_lower_level_nested() -> None:
    # The same seed gives the same resample means, so the 50% interval lies
    # inside the 95% interval.
    values = [float(value) ** 1.5 for value in range(20)]

    low_95, high_95 = bootstrap_interval(values, level=0.95, seed=1)
    low_50, high_50 = bootstrap_interval(values, level=0.5, seed=1)

    assert low_95 < low_50
    assert high_50 < high_95


@pytest.mark.parametrize("level", [0.0, 1.0, 1.5, -0.5])
def test_bootstrap_invalid_level_raises(level: float) -> None:
    with pytest.raises(ValueError, match=f"level .* got {level}"):
        bootstrap_interval([1.0, 2.0], level=level)


def test_bootstrap_invalid_resamples_raises() -> None:
    with pytest.raises(ValueError, match=r"resamples .* got 0"):
        bootstrap_interval([1.0, 2.0], resamples=0)


@pytest.mark.parametrize("max_entries", [10, 3], ids=["row-blocks", "column-slices"])
def test_bootstrap_blocks_match_one_block(max_entries: int) -> None:
    # With n = 4, max_entries = 10 draws 2 resamples per block, and 3 splits
    # each resample into slices of 3 and 1 draws. numpy's Generator produces
    # the same index sequence either way, so the means agree up to rounding.
    values = np.array([1.0, 2.0, 4.0, 8.0])

    one_block = _bootstrap_means(values, 7, np.random.default_rng(3), 1_000)
    blocked = _bootstrap_means(values, 7, np.random.default_rng(3), max_entries)

    assert blocked == pytest.approx(one_block)
