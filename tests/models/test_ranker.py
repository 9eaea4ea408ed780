"""Tests of the LightGBM ranker on a tiny hand-made training set."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from models.cutoffs import CutoffSettings
from models.dataset import GROUP, LABEL, TrainingSet
from models.ranker import RankerConfig, train_ranker

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


def test_no_positive_labels_rejected() -> None:
    negatives = TrainingSet(
        rows=ROWS.with_columns(pl.lit(0).alias(LABEL)), group_sizes=np.array([3, 3])
    )

    with pytest.raises(ValueError, match="no positive labels"):
        train_ranker(negatives, config(), ["x"])
