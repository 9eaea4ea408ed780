"""TreeSHAP tables against LightGBM's ``pred_contrib`` on small trained models.

The models are trained on random data with missing values, under each of
LightGBM's missing-value rules (NaN, zero as missing, none), and deep enough
that paths split on one feature several times. The rows compared include NaN,
0, values LightGBM reads as 0 (below 1e-35), infinities, values beyond 1e300
and values equal to split thresholds.
"""

from __future__ import annotations

from typing import Any

import lightgbm as lgb
import numpy as np
import pytest

from service.shap_tables import ShapTables, checked_tables

FEATURES = 6
TOLERANCE = 1e-9


def _data(seed: int, rows: int = 600) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, FEATURES))
    x[rng.random((rows, FEATURES)) < 0.15] = np.nan
    x[rng.random((rows, FEATURES)) < 0.1] = 0.0
    signal = np.nan_to_num(x[:, 0]) * 2 + np.nan_to_num(x[:, 1]) ** 2
    y = signal + np.where(np.isnan(x[:, 2]), 1.5, 0.0) + rng.normal(size=rows) * 0.1
    return x, y


def _train(params: dict[str, Any], seed: int = 1) -> lgb.Booster:
    x, y = _data(seed)
    group = None
    if params.get("objective") == "lambdarank":
        # Relevance grades 0 to 3 in 30 query groups of 20 rows.
        y = np.digitize(y, np.quantile(y, [0.5, 0.75, 0.9]))
        group = [20] * 30
    settings = {
        "objective": "regression",
        "num_leaves": 15,
        "min_data_in_leaf": 5,
        "learning_rate": 0.1,
        "verbosity": -1,
        "seed": seed,
        "deterministic": True,
        "num_threads": 1,
        **params,
    }
    return lgb.train(settings, lgb.Dataset(x, label=y, group=group), num_boost_round=30)


def _rows(booster: lgb.Booster, seed: int = 2) -> np.ndarray:
    rows, _ = _data(seed, rows=300)
    tables = ShapTables(booster)
    thresholds = tables.thresholds[:, 0]
    # Some values exactly at thresholds, and some LightGBM reads as 0.
    for index in range(0, 300, 7):
        split = index % len(thresholds)
        rows[index, tables.split_features[split]] = thresholds[split]
    rows[3::11, 1] = 1e-40
    rows[5::13, 0] = -1e-40
    # LightGBM clips values beyond 1e300, its bound for thresholds too.
    rows[6::17, 2] = np.inf
    rows[8::19, 3] = -np.inf
    rows[9::23, 4] = 1e301
    return rows


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"zero_as_missing": True},
        {"use_missing": False},
        {"max_depth": 12, "num_leaves": 40},
        {"objective": "lambdarank", "num_leaves": 7},
    ],
    ids=["nan missing", "zero missing", "no missing", "deep", "lambdarank"],
)
def test_tables_match_pred_contrib(params: dict[str, Any]) -> None:
    booster = _train(params)
    rows = _rows(booster)
    expected = booster.predict(rows, pred_contrib=True)[:, :-1]

    contributions = ShapTables(booster).contributions(rows)

    assert contributions.shape == expected.shape
    np.testing.assert_allclose(contributions, expected, rtol=0, atol=TOLERANCE)
    assert np.abs(expected).max() > 0.1


def test_tables_cover_each_missing_type() -> None:
    kinds = set()
    for params in ({}, {"zero_as_missing": True}, {"use_missing": False}):
        model = _train(params).dump_model()
        stack = [tree["tree_structure"] for tree in model["tree_info"]]
        while stack:
            node = stack.pop()
            if "split_index" in node:
                kinds.add(node["missing_type"])
                stack += [node["left_child"], node["right_child"]]

    assert kinds == {"NaN", "Zero", "None"}


def test_tables_of_one_row_and_of_none() -> None:
    booster = _train({})
    rows = _rows(booster)
    tables = ShapTables(booster)
    expected = booster.predict(rows[:1], pred_contrib=True)[:, :-1]

    np.testing.assert_allclose(
        tables.contributions(rows[:1]), expected, rtol=0, atol=TOLERANCE
    )
    assert tables.contributions(rows[:0]).shape == (0, FEATURES)


def test_categorical_model_keeps_pred_contrib() -> None:
    x, y = _data(3)
    x[:, 5] = np.random.default_rng(3).integers(0, 4, size=len(x))
    y = y + (x[:, 5] == 2) * 3.0
    booster = lgb.train(
        {"objective": "regression", "verbosity": -1, "min_data_in_leaf": 5},
        lgb.Dataset(x, label=y, categorical_feature=[5]),
        num_boost_round=10,
    )

    with pytest.raises(ValueError, match="numerical splits"):
        ShapTables(booster)
    assert checked_tables(booster) is None


def test_checked_tables_of_supported_model() -> None:
    booster = _train({})

    tables = checked_tables(booster)

    assert isinstance(tables, ShapTables)
    probe = tables.probe_rows(50)
    assert np.isnan(probe).any()


def test_model_over_table_limit_keeps_pred_contrib(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    booster = _train({})
    monkeypatch.setattr("service.shap_tables.MAX_TABLE_VALUES", 100)

    with pytest.raises(ValueError, match="the limit is 100"):
        ShapTables(booster)
    assert checked_tables(booster) is None
