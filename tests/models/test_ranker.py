"""Tests of the LightGBM ranker on a tiny hand-made training set."""

from __future__ import annotations

import pickle
from dataclasses import replace

import numpy as np
import polars as pl
import pytest

import models.ranker as ranker_module
from models.cutoffs import CutoffSettings
from models.dataset import GROUP, LABEL, TrainingSet, split_validation, training_set
from models.evaluate import _warn_without_splits
from models.ranker import (
    CompiledTrees,
    FitReport,
    LightGBMRanker,
    RankerConfig,
    _first_ndcg,
    train_ranker,
)
from models.sanity import UntrainableSetError, check_trainable
from models.training import _check_splits

# Two groups of three candidates; the relevant one has the largest x.
ROWS = pl.DataFrame(
    {
        GROUP: [0, 0, 0, 1, 1, 1],
        "user_id": ["a", "a", "a", "b", "b", "b"],
        "restaurant_id": ["r1", "r2", "r3", "r1", "r2", "r3"],
        "x": [0.1, 0.9, 0.2, 0.8, 0.3, 0.1],
        LABEL: [0, 1, 0, 1, 0, 0],
    }
)
TRAINING = TrainingSet(rows=ROWS, group_sizes=np.array([3, 3]))


def config(**params: object) -> RankerConfig:
    return RankerConfig(
        params={
            "objective": "lambdarank",
            "min_data_in_leaf": 1,
            "min_data_in_bin": 1,
            "min_sum_hessian_in_leaf": 0.0,
            "learning_rate": 0.3,
            "verbosity": -1,
            **params,
        },
        num_boost_round=20,
        seed=1,
        feature_service="ranker_test",
        cutoffs=CutoffSettings(),
    )


def test_ranker_learns_tiny_set() -> None:
    ranker = train_ranker(TRAINING, config(), ["x"])
    scores = ranker.score(ROWS)

    assert ranker.features == ("x",)
    # Within each group the positive scores highest.
    assert scores[1] > max(scores[0], scores[2])
    assert scores[3] > max(scores[4], scores[5])


def test_invalid_param_named() -> None:
    with pytest.raises(ValueError, match="LightGBM rejected the ranker config"):
        train_ranker(TRAINING, config(num_leaves="abc"), ["x"])


def test_failed_check_without_source_location() -> None:
    with pytest.raises(ValueError) as raised:
        train_ranker(TRAINING, config(bagging_fraction=2.0), ["x"])

    assert str(raised.value) == (
        "LightGBM rejected the ranker config's params: Check failed: "
        "(bagging_fraction) <= (1.0)"
    )


def test_model_without_split_rejected() -> None:
    ranker = train_ranker(TRAINING, config(min_data_in_leaf=100), ["x"])

    with pytest.raises(ValueError) as raised:
        _check_splits(ranker, ROWS.height)

    assert str(raised.value) == (
        "the trained model has no split in any of its trees, so it scores every "
        "restaurant the same and was not registered: no split on the 6 training "
        "rows meets the ranker config's params; check min_data_in_leaf, "
        "min_sum_hessian_in_leaf, min_gain_to_split and max_depth"
    )


def test_model_with_splits_accepted() -> None:
    ranker = train_ranker(TRAINING, config(), ["x"])

    _check_splits(ranker, ROWS.height)

    assert ranker.has_splits()
    assert ranker.booster.feature_importance("split").sum() > 0


def test_evaluation_warns_without_splits(caplog: pytest.LogCaptureFixture) -> None:
    flat = train_ranker(TRAINING, config(min_data_in_leaf=100), ["x"])
    learned = train_ranker(TRAINING, config(), ["x"])

    with caplog.at_level("WARNING", logger="models.evaluate"):
        _warn_without_splits("ranker_v1", flat)
        _warn_without_splits("lightgbm_ranker", learned)

    assert not flat.has_splits()
    assert [record.getMessage()[:60] for record in caplog.records] == [
        "ranker_v1 has no split in any of its trees, so it scores eve"
    ]


def test_no_positive_labels_rejected() -> None:
    negatives = TrainingSet(
        rows=ROWS.with_columns(pl.lit(0).alias(LABEL)), group_sizes=np.array([3, 3])
    )

    with pytest.raises(ValueError, match="no positive labels"):
        train_ranker(negatives, config(), ["x"])


def ranking_set(groups: int, snapshot: int, seed: int) -> TrainingSet:
    """``groups`` groups of ten candidates; the one positive has the largest x,
    and y is noise."""
    rng = np.random.default_rng(seed)
    x = rng.random((groups, 10))
    labels = (x == x.max(axis=1, keepdims=True)).astype(int)
    rows = pl.DataFrame(
        {
            GROUP: np.full(groups * 10, snapshot),
            "user_id": np.repeat([f"u{i:03d}" for i in range(groups)], 10),
            "restaurant_id": np.tile([f"r{j}" for j in range(10)], groups),
            "x": x.ravel(),
            "y": rng.random(groups * 10),
            LABEL: labels.ravel(),
        }
    )
    return TrainingSet(rows=rows, group_sizes=np.full(groups, 10))


def stopping_config(rounds: int | None) -> RankerConfig:
    base = config(
        metric="ndcg",
        eval_at=[3],
        min_sum_hessian_in_leaf=1e-3,
        num_threads=1,
        deterministic=True,
    )
    return RankerConfig(
        params=base.params,
        num_boost_round=200,
        seed=1,
        feature_service="ranker_test",
        cutoffs=CutoffSettings(),
        early_stopping_rounds=rounds,
    )


def test_early_stopping_refits_on_best_rounds() -> None:
    training = ranking_set(40, snapshot=0, seed=1)
    validation = ranking_set(20, snapshot=1, seed=2)

    ranker = train_ranker(training, stopping_config(5), ["x", "y"], validation)

    fit = ranker.fit
    assert fit is not None
    # x alone decides the label, so validation NDCG@3 is high early on and
    # boosting stops long before 200 rounds.
    assert fit.stopped_early
    assert fit.rounds < 200
    assert fit.validation_groups == 20
    assert fit.validation_ndcg is not None
    assert fit.validation_ndcg > 0.85
    # The refitted model has exactly the best number of rounds.
    assert ranker.booster.current_iteration() == fit.rounds


def test_first_ndcg_read_by_name() -> None:
    scores = {"auc": 0.93, "ndcg@3": 0.81, "ndcg@10": 0.84}

    assert _first_ndcg(scores) == 0.81
    assert _first_ndcg({"auc": 0.93}) is None


def test_validation_without_ndcg_not_reported() -> None:
    training = ranking_set(40, snapshot=0, seed=1)
    validation = ranking_set(20, snapshot=1, seed=2)
    settings = stopping_config(5)
    settings = replace(settings, params={**settings.params, "metric": "auc"})

    ranker = train_ranker(training, settings, ["x", "y"], validation)

    assert ranker.fit is not None
    assert ranker.fit.validation_groups == 20
    assert ranker.fit.validation_ndcg is None


def test_without_validation_boosts_all_rounds() -> None:
    training = ranking_set(40, snapshot=0, seed=1)

    ranker = train_ranker(training, stopping_config(5), ["x", "y"])

    assert ranker.fit == FitReport(rounds=200)
    assert ranker.booster.current_iteration() == 200


def test_training_repeatable() -> None:
    training = ranking_set(40, snapshot=0, seed=1)
    validation = ranking_set(20, snapshot=1, seed=2)

    first = train_ranker(training, stopping_config(5), ["x", "y"], validation)
    second = train_ranker(training, stopping_config(5), ["x", "y"], validation)

    assert first.booster.model_to_string() == second.booster.model_to_string()


def test_split_validation_holds_out_latest_snapshot() -> None:
    both = training_set(
        pl.concat(
            [
                ranking_set(3, snapshot=0, seed=1).rows,
                ranking_set(2, snapshot=4, seed=2).rows,
            ]
        )
    )

    fit_part, validation = split_validation(both)

    assert validation is not None
    assert set(fit_part.rows[GROUP]) == {0}
    assert set(validation.rows[GROUP]) == {4}
    assert fit_part.group_sizes.tolist() == [10, 10, 10]
    assert validation.group_sizes.tolist() == [10, 10]


def test_split_validation_one_snapshot() -> None:
    only = ranking_set(3, snapshot=0, seed=1)

    fit_part, validation = split_validation(only)

    assert validation is None
    assert fit_part is only


# ---------------------------------------------------------------------------
# The check that a training set can be learned at all.
# ---------------------------------------------------------------------------


def test_sanity_check_passes_learnable_set() -> None:
    ndcg = check_trainable(ranking_set(30, snapshot=0, seed=3), ["x", "y"], k=10)

    assert ndcg >= 0.9


def test_sanity_check_labels_all_zero() -> None:
    training = ranking_set(5, snapshot=0, seed=3)
    zero = TrainingSet(
        rows=training.rows.with_columns(pl.lit(0).alias(LABEL)),
        group_sizes=training.group_sizes,
    )

    with pytest.raises(UntrainableSetError, match="labels are all zero"):
        check_trainable(zero, ["x", "y"])


def test_sanity_check_constant_features() -> None:
    training = ranking_set(5, snapshot=0, seed=3)
    flat = TrainingSet(
        rows=training.rows.with_columns(pl.lit(0.5).alias("x"), pl.lit(1).alias("y")),
        group_sizes=training.group_sizes,
    )

    with pytest.raises(UntrainableSetError, match=r"every feature is constant"):
        check_trainable(flat, ["x", "y"])


def test_sanity_check_group_sizes_wrong_total() -> None:
    training = ranking_set(5, snapshot=0, seed=3)
    short = TrainingSet(rows=training.rows, group_sizes=np.full(5, 9))

    with pytest.raises(UntrainableSetError, match=r"add up to 45 rows but .* 50"):
        check_trainable(short, ["x", "y"])


def test_sanity_check_groups_out_of_order() -> None:
    training = ranking_set(5, snapshot=0, seed=3)
    shuffled = TrainingSet(
        rows=training.rows.sample(fraction=1.0, shuffle=True, seed=4),
        group_sizes=training.group_sizes,
    )

    with pytest.raises(UntrainableSetError, match="not sorted by group and user"):
        check_trainable(shuffled, ["x", "y"])


def test_sanity_check_labels_unrelated_to_features() -> None:
    # Two candidates per group with identical features, one of them positive:
    # no model can put the positive first in every group.
    rows = pl.DataFrame(
        {
            GROUP: [0] * 40,
            "user_id": np.repeat([f"u{i:02d}" for i in range(20)], 2),
            "restaurant_id": ["r1", "r2"] * 20,
            "x": np.repeat(np.arange(20, dtype=float), 2),
            LABEL: [1, 0] * 10 + [0, 1] * 10,
        }
    )
    training = TrainingSet(rows=rows, group_sizes=np.full(20, 2))

    # Ties go to r1, so half the groups have their positive second:
    # NDCG = (10 * 1 + 10 / log2(3)) / 20 = 0.8155.
    with pytest.raises(UntrainableSetError, match=r"training NDCG@10 0\.815"):
        check_trainable(training, ["x"])


def _noisy_ranker() -> tuple[LightGBMRanker, pl.DataFrame]:
    """A ranker of 200 rounds over x and y, and 12,000 rows to score in which
    a tenth of the values are missing."""
    training = ranking_set(300, snapshot=0, seed=3)
    ranker = train_ranker(training, stopping_config(None), ["x", "y"])
    rng = np.random.default_rng(4)
    values = rng.random((12_000, 2))
    values[rng.random(values.shape) < 0.1] = np.nan
    return ranker, pl.DataFrame({"x": values[:, 0], "y": values[:, 1]})


def test_compiled_trees_predict_as_lightgbm() -> None:
    ranker, rows = _noisy_ranker()
    matrix = rows.to_numpy()

    compiled = CompiledTrees(ranker.booster).predict(matrix)
    expected = ranker.booster.predict(matrix)

    assert np.isnan(matrix).any()
    # The scores spread over many values, so equal scores prove something.
    assert len(np.unique(expected)) > 100
    np.testing.assert_allclose(compiled, expected, rtol=1e-9, atol=1e-12)


def test_large_calls_use_compiled_trees(monkeypatch: pytest.MonkeyPatch) -> None:
    ranker, rows = _noisy_ranker()
    expected = ranker.booster.predict(rows.to_numpy())
    monkeypatch.setattr(ranker_module, "COMPILE_ROWS", 1_000)

    scores = ranker.score(rows)
    copied = pickle.loads(pickle.dumps(ranker))

    assert ranker._compiled is not None
    np.testing.assert_allclose(scores, expected, rtol=1e-9, atol=1e-12)
    # A copy leaves the machine code behind and compiles its own when needed.
    assert copied._compiled is None
    np.testing.assert_allclose(copied.score(rows), expected, rtol=1e-9, atol=1e-12)
