"""Tests of the seeded random splits and the fold assignment."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import polars as pl
import pytest

from models.splits import fold_assignment, random_splits, temporal_splits

N_ROWS = 23


@pytest.fixture
def interactions() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "row": list(range(N_ROWS)),
            "user_id": [f"u{i % 5}" for i in range(N_ROWS)],
        }
    )


def test_random_splits_count_and_seeds(interactions: pl.DataFrame) -> None:
    splits = random_splits(interactions, n_splits=3, seed=10)

    assert [split.seed for split in splits] == [10, 11, 12]


def test_random_splits_deterministic(interactions: pl.DataFrame) -> None:
    first = random_splits(interactions, n_splits=3, seed=4)
    second = random_splits(interactions, n_splits=3, seed=4)

    for a, b in zip(first, second, strict=True):
        assert a.test["row"].to_list() == b.test["row"].to_list()
        assert a.train["row"].to_list() == b.train["row"].to_list()


def test_random_splits_differ_across_seeds(interactions: pl.DataFrame) -> None:
    splits = random_splits(interactions, n_splits=3, seed=0)
    test_sets = [frozenset(split.test["row"]) for split in splits]

    assert len(set(test_sets)) == 3


def test_random_splits_partition(interactions: pl.DataFrame) -> None:
    for split in random_splits(interactions, n_splits=4, seed=1):
        train = set(split.train["row"])
        test = set(split.test["row"])

        assert not train & test
        assert train | test == set(range(N_ROWS))
        assert split.train.height + split.test.height == N_ROWS


@pytest.mark.parametrize("test_fraction", [0.2, 0.5, 0.9])
def test_random_splits_test_size(
    interactions: pl.DataFrame, test_fraction: float
) -> None:
    # 0.2 * 23 = 4.6 rounds to 5, and 0.9 * 23 = 20.7 rounds to 21.
    # 0.5 * 23 = 11.5 rounds half to even, to 12.
    expected = round(N_ROWS * test_fraction)

    for split in random_splits(interactions, test_fraction=test_fraction):
        assert split.test.height == expected


def test_random_splits_default_fifth(interactions: pl.DataFrame) -> None:
    splits = random_splits(interactions)

    assert len(splits) == 5
    assert {split.test.height for split in splits} == {5}


def test_random_splits_keep_columns(interactions: pl.DataFrame) -> None:
    split = random_splits(interactions, n_splits=1)[0]

    assert split.train.columns == interactions.columns
    assert split.test.columns == interactions.columns


def test_random_splits_keep_row_order(interactions: pl.DataFrame) -> None:
    split = random_splits(interactions, n_splits=1, seed=3)[0]

    assert split.train["row"].is_sorted()
    assert split.test["row"].is_sorted()


@pytest.mark.parametrize("test_fraction", [0.0, 1.0, -0.1, 1.5])
def test_random_splits_bad_fraction(
    interactions: pl.DataFrame, test_fraction: float
) -> None:
    with pytest.raises(ValueError, match="test_fraction"):
        random_splits(interactions, test_fraction=test_fraction)


@pytest.mark.parametrize("n_splits", [0, -2])
def test_random_splits_bad_count(interactions: pl.DataFrame, n_splits: int) -> None:
    with pytest.raises(ValueError, match="n_splits"):
        random_splits(interactions, n_splits=n_splits)


def test_fold_assignment_balanced() -> None:
    folds = fold_assignment(N_ROWS, n_folds=5, seed=7)
    counts = np.bincount(folds, minlength=5)

    assert len(folds) == N_ROWS
    # 23 rows in 5 folds: three folds of 5 and two of 4.
    assert sorted(counts.tolist()) == [4, 4, 5, 5, 5]


def test_fold_assignment_values_in_range() -> None:
    folds = fold_assignment(N_ROWS, n_folds=4, seed=0)

    assert set(folds.tolist()) == {0, 1, 2, 3}


def test_fold_assignment_deterministic() -> None:
    first = fold_assignment(N_ROWS, n_folds=5, seed=7)
    second = fold_assignment(N_ROWS, n_folds=5, seed=7)

    assert first.tolist() == second.tolist()


def test_fold_assignment_seed_changes_order() -> None:
    first = fold_assignment(N_ROWS, n_folds=5, seed=7)
    second = fold_assignment(N_ROWS, n_folds=5, seed=8)

    assert first.tolist() != second.tolist()


def test_fold_assignment_fewer_rows_than_folds() -> None:
    folds = fold_assignment(3, n_folds=5, seed=0)

    assert sorted(folds.tolist()) == [0, 1, 2]


def test_fold_assignment_no_rows() -> None:
    assert len(fold_assignment(0, n_folds=5, seed=0)) == 0


@pytest.mark.parametrize("n_folds", [1, 0, -3])
def test_fold_assignment_bad_folds(n_folds: int) -> None:
    with pytest.raises(ValueError, match="n_folds"):
        fold_assignment(10, n_folds=n_folds, seed=0)


def timed_orders() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "order_id": ["o1", "o2", "o3", "o4", "o5", "o6"],
            "ordered_at": [
                datetime(2024, 5, 1, 12),
                datetime(2024, 5, 3),
                # One microsecond before the end of the older window.
                datetime(2024, 5, 5, 23, 59, 59, 999999),
                datetime(2024, 5, 6),
                datetime(2024, 5, 8, 9),
                datetime(2024, 5, 9, 23),
            ],
        }
    )


def test_temporal_splits_by_hand() -> None:
    end = datetime(2024, 5, 10, tzinfo=UTC)

    latest, older = temporal_splits(timed_orders(), 2, horizon_days=4, end=end)

    # Windows [05-06, 05-10) and [05-02, 05-06).
    assert latest.test_from == datetime(2024, 5, 6, tzinfo=UTC)
    assert latest.test["order_id"].to_list() == ["o4", "o5", "o6"]
    assert latest.train["order_id"].to_list() == ["o1", "o2", "o3"]
    assert older.test_from == datetime(2024, 5, 2, tzinfo=UTC)
    assert older.test["order_id"].to_list() == ["o2", "o3"]
    # Orders after the older window belong to neither part.
    assert older.train["order_id"].to_list() == ["o1"]
    assert [latest.seed, older.seed] == [0, 1]


def test_temporal_splits_count_checked() -> None:
    with pytest.raises(ValueError, match="n_splits must be at least 1, got 0"):
        temporal_splits(timed_orders(), 0, 4, datetime(2024, 5, 10, tzinfo=UTC))
