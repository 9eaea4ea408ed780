"""Tests of candidate pairs and the leak-free training set on the UCI data."""

from __future__ import annotations

from collections import Counter, defaultdict

import polars as pl
import pytest

from features.paths import UCI_DATA_DIR
from features.uci import load_uci
from models.dataset import GROUP, LABEL, TrainingSet, candidate_pairs, training_set
from models.splits import fold_assignment

N_FOLDS = 5
SEED = 7


@pytest.fixture(scope="module")
def uci_tables() -> dict[str, pl.DataFrame]:
    return load_uci(UCI_DATA_DIR).tables


@pytest.fixture(scope="module")
def interactions(uci_tables) -> pl.DataFrame:
    return uci_tables["orders"].select("user_id", "restaurant_id", "rating")


@pytest.fixture(scope="module")
def training(uci_tables, interactions) -> TrainingSet:
    return training_set(
        uci_tables["users"], uci_tables["restaurants"], interactions, N_FOLDS, SEED
    )


@pytest.fixture(scope="module")
def visits_by_fold(interactions) -> dict[int, set[tuple[str, str]]]:
    """The (user, restaurant) pairs of each fold, with folds recomputed here."""
    folds = fold_assignment(interactions.height, N_FOLDS, SEED)
    pairs: dict[int, set[tuple[str, str]]] = defaultdict(set)
    for fold, pair in zip(
        folds.tolist(),
        interactions.select("user_id", "restaurant_id").rows(),
        strict=True,
    ):
        pairs[fold].add(pair)
    return pairs


def visits_outside(
    visits_by_fold: dict[int, set[tuple[str, str]]], fold: int
) -> set[tuple[str, str]]:
    return set().union(*(v for f, v in visits_by_fold.items() if f != fold))


def test_positives_not_in_other_folds(training: TrainingSet, visits_by_fold) -> None:
    positives = training.rows.filter(pl.col(LABEL) == 1)

    for fold in range(N_FOLDS):
        visible = visits_outside(visits_by_fold, fold)
        in_group = positives.filter(pl.col(GROUP) == fold)
        pairs = set(in_group.select("user_id", "restaurant_id").rows())
        assert not pairs & visible, f"fold {fold}"


def test_candidates_not_in_other_folds(training: TrainingSet, visits_by_fold) -> None:
    for fold in range(N_FOLDS):
        visible = visits_outside(visits_by_fold, fold)
        in_group = training.rows.filter(pl.col(GROUP) == fold)
        pairs = set(in_group.select("user_id", "restaurant_id").rows())
        assert not pairs & visible, f"fold {fold}"


def test_positives_are_fold_visits(training: TrainingSet, visits_by_fold) -> None:
    positives = training.rows.filter(pl.col(LABEL) == 1)

    for fold in range(N_FOLDS):
        in_group = positives.filter(pl.col(GROUP) == fold)
        pairs = in_group.select("user_id", "restaurant_id").rows()
        assert len(pairs) == len(set(pairs)), f"fold {fold}"
        assert set(pairs) == visits_by_fold[fold], f"fold {fold}"


def test_features_from_other_folds(training: TrainingSet, visits_by_fold) -> None:
    """user_visit_count in group (fold, user) counts the user's other-fold visits."""
    groups = training.rows.group_by(GROUP, "user_id").agg(
        pl.col("user_visit_count").unique()
    )

    for fold, user_id, counts in groups.rows():
        visible = visits_outside(visits_by_fold, fold)
        expected = sum(1 for user, _ in visible if user == user_id)
        assert counts == [expected], f"fold {fold}, user {user_id}"


def test_every_group_has_positive(training: TrainingSet) -> None:
    positives = training.rows.group_by(GROUP, "user_id").agg(pl.col(LABEL).sum())

    assert positives[LABEL].min() >= 1


def test_one_group_per_fold_user(training: TrainingSet, visits_by_fold) -> None:
    expected = {
        (fold, user_id)
        for fold, pairs in visits_by_fold.items()
        for user_id, _ in pairs
    }
    groups = set(training.rows.select(GROUP, "user_id").unique().rows())

    assert groups == expected
    assert len(training.group_sizes) == len(expected)


def test_group_sizes_sum_to_rows(training: TrainingSet) -> None:
    assert int(training.group_sizes.sum()) == training.rows.height


def test_group_sizes_contiguous(training: TrainingSet) -> None:
    keys = training.rows.select(GROUP, "user_id").rows()
    runs: list[int] = []
    previous = None
    for key in keys:
        if key == previous:
            runs[-1] += 1
        else:
            runs.append(1)
        previous = key

    assert training.group_sizes.tolist() == runs
    # Each (fold, user) key forms exactly one run.
    assert len(runs) == len(set(keys))


def test_group_covers_unvisited_restaurants(
    training: TrainingSet, uci_tables, visits_by_fold
) -> None:
    """A group lists every restaurant except those visited in other folds."""
    n_restaurants = uci_tables["restaurants"].height
    sizes = training.rows.group_by(GROUP, "user_id").len()

    for fold, user_id, size in sizes.rows():
        visible = visits_outside(visits_by_fold, fold)
        seen = sum(1 for user, _ in visible if user == user_id)
        assert size == n_restaurants - seen, f"fold {fold}, user {user_id}"


def test_labels_binary(training: TrainingSet, interactions) -> None:
    labels = Counter(training.rows[LABEL].to_list())

    assert set(labels) == {0, 1}
    assert labels[1] == interactions.height


def test_training_set_deterministic(uci_tables, interactions, training) -> None:
    again = training_set(
        uci_tables["users"], uci_tables["restaurants"], interactions, N_FOLDS, SEED
    )
    columns = [GROUP, "user_id", "restaurant_id", LABEL]

    assert again.rows.select(columns).equals(training.rows.select(columns))
    assert again.group_sizes.tolist() == training.group_sizes.tolist()


def test_repeat_visit_one_row(uci_tables) -> None:
    users = uci_tables["users"].filter(pl.col("user_id").is_in(["U1001", "U1002"]))
    restaurants = uci_tables["restaurants"].head(4)
    first, second, third, fourth = restaurants["restaurant_id"].to_list()
    # With 2 folds and seed 0 the six rows fall in folds 1, 0, 1, 0, 0, 1, so
    # rows 0 and 2, the same visit made twice, share fold 1.
    assert fold_assignment(6, 2, 0).tolist() == [1, 0, 1, 0, 0, 1]
    interactions = pl.DataFrame(
        {
            "user_id": ["U1001", "U1002", "U1001", "U1002", "U1002", "U1002"],
            "restaurant_id": [first, second, first, first, third, fourth],
            "rating": [2.0] * 6,
        }
    )

    rows = training_set(users, restaurants, interactions, 2, 0).rows
    keys = rows.select(GROUP, "user_id", "restaurant_id").rows()

    assert len(keys) == len(set(keys))


def test_candidate_pairs_excludes_given() -> None:
    exclude = pl.DataFrame(
        {"user_id": ["a", "b", "c"], "restaurant_id": ["x", "z", "x"], "rating": 1.0}
    )

    pairs = candidate_pairs(["a", "b"], ["x", "y", "z"], exclude)

    assert set(pairs.rows()) == {("a", "y"), ("a", "z"), ("b", "x"), ("b", "y")}
    assert pairs.columns == ["user_id", "restaurant_id"]


def test_candidate_pairs_nothing_excluded() -> None:
    exclude = pl.DataFrame(
        {"user_id": [], "restaurant_id": []},
        schema={"user_id": pl.String, "restaurant_id": pl.String},
    )

    pairs = candidate_pairs(["a", "b"], ["x", "y", "z"], exclude)

    assert pairs.height == 6
    assert len(set(pairs.rows())) == 6


def test_candidate_pairs_no_users() -> None:
    exclude = pl.DataFrame({"user_id": ["a"], "restaurant_id": ["x"]})

    assert candidate_pairs([], ["x", "y"], exclude).height == 0


def test_sampled_negatives_bounded(
    uci_tables, interactions, training: TrainingSet
) -> None:
    sampled = training_set(
        uci_tables["users"],
        uci_tables["restaurants"],
        interactions,
        N_FOLDS,
        SEED,
        negatives_per_group=5,
    )
    counts = sampled.rows.group_by(GROUP, "user_id").agg(
        (pl.col(LABEL) == 0).sum().alias("negatives"),
        (pl.col(LABEL) == 1).sum().alias("positives"),
    )
    full_positives = int(training.rows[LABEL].sum())

    assert counts["negatives"].max() == 5
    assert int(sampled.rows[LABEL].sum()) == full_positives
    assert int(sampled.group_sizes.sum()) == sampled.rows.height


def test_sampled_negatives_deterministic(uci_tables, interactions) -> None:
    def draw() -> pl.DataFrame:
        return training_set(
            uci_tables["users"],
            uci_tables["restaurants"],
            interactions,
            N_FOLDS,
            SEED,
            negatives_per_group=5,
        ).rows.select(GROUP, "user_id", "restaurant_id")

    assert draw().equals(draw())
