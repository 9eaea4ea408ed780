"""Tests of the ranker config's LightGBM params as load_config passes them on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pytest
import yaml

from models.ranker import load_config


def write_config(folder: Path, params: dict[str, Any], seed: int = 11) -> Path:
    """Write a valid ranker config with ``params`` after the objective."""
    settings: dict[str, Any] = {
        "feature_service": "ranker_test",
        "seed": seed,
        "num_boost_round": 20,
        "params": {"objective": "lambdarank", **params},
    }
    path = folder / "ranker.yaml"
    path.write_text(yaml.safe_dump(settings))
    return path


def predictions(params: dict[str, Any]) -> np.ndarray:
    """Train 10 rounds with bagging on fixed random data; return the scores."""
    rng = np.random.default_rng(0)
    features = rng.random((400, 4))
    labels = rng.integers(0, 2, 400)
    data = lgb.Dataset(features, label=labels, group=[20] * 20)
    sampled = {
        **params,
        "verbosity": -1,
        "bagging_fraction": 0.5,
        "bagging_freq": 1,
        "feature_fraction": 0.5,
    }
    booster = lgb.train(sampled, data, num_boost_round=10)
    return np.asarray(booster.predict(features[:20]))


@pytest.mark.parametrize("alias", ["random_state", "random_seed"])
def test_seed_alias_in_params_kept(tmp_path: Path, alias: str) -> None:
    config = load_config(write_config(tmp_path, {alias: 42}, seed=7))
    assert "seed" not in config.params
    assert config.params[alias] == 42
    assert config.seed == 7


def test_seed_alias_seeds_lightgbm(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path, {"random_state": 42}, seed=7))
    expected = predictions({"objective": "lambdarank", "seed": 42})
    assert np.array_equal(predictions(config.params), expected)


def test_seed_defaults_to_config_seed(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path, {}, seed=7))
    assert config.params["seed"] == 7


def test_params_seed_kept(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path, {"seed": 3}, seed=7))
    assert config.params["seed"] == 3
