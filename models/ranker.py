"""The LightGBM lambdarank ranker."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import lightgbm as lgb
import numpy as np
import polars as pl
import yaml

from features.schema import RESTAURANT_ID, USER_ID
from models.cutoffs import CutoffSettings
from models.dataset import LABEL, TrainingSet

logger = logging.getLogger(__name__)


class Scorer(Protocol):
    """Anything that scores feature rows; higher means recommended first."""

    name: str

    def score(self, rows: pl.DataFrame) -> np.ndarray: ...


@dataclass(frozen=True)
class RankerConfig:
    """Training settings, read from ``configs/ranker.yaml``."""

    params: dict[str, Any]
    num_boost_round: int
    seed: int
    # The Feast feature service whose numeric features the model reads.
    feature_service: str
    cutoffs: CutoffSettings
    # None keeps every negative candidate of a training group.
    negatives_per_group: int | None = None


_SETTINGS = {
    "params",
    "num_boost_round",
    "seed",
    "feature_service",
    "cutoffs",
    "negatives_per_group",
}
# The keys of the ``cutoffs`` mapping and their smallest valid values.
_CUTOFF_MINIMUMS = {"count": 1, "every_days": 1, "horizon_days": 1, "label_folds": 2}


def load_config(path: Path) -> RankerConfig:
    """Read a ranker config file.

    Raises:
        ValueError: a required key is missing; names the key and the file.
    """
    raw = yaml.safe_load(path.read_text())
    if not isinstance(raw, dict):
        msg = f"{path}: expected a mapping of settings, got {type(raw).__name__}"
        raise ValueError(msg)
    for key in ("params", "num_boost_round", "seed", "feature_service"):
        if key not in raw:
            msg = f"{path}: missing required setting {key!r}"
            raise ValueError(msg)
    unknown_settings = set(raw) - _SETTINGS
    if unknown_settings:
        msg = (
            f"{path}: unknown settings {sorted(unknown_settings)}; expected some of "
            f"{sorted(_SETTINGS)}"
        )
        raise ValueError(msg)

    params = dict(raw["params"])
    seed = int(raw["seed"])
    params.setdefault("seed", seed)
    windows = raw.get("cutoffs") or {}
    if not isinstance(windows, dict):
        msg = f"{path}: 'cutoffs' must be a mapping, got {type(windows).__name__}"
        raise ValueError(msg)
    unknown = set(windows) - set(_CUTOFF_MINIMUMS)
    if unknown:
        msg = f"{path}: unknown 'cutoffs' settings {sorted(unknown)}"
        raise ValueError(msg)
    for key, value in windows.items():
        minimum = _CUTOFF_MINIMUMS[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            msg = (
                f"{path}: cutoffs: {key} must be an integer of at least {minimum}, "
                f"got {value!r}"
            )
            raise ValueError(msg)
    defaults = CutoffSettings()
    cutoffs = CutoffSettings(
        label_folds=windows.get("label_folds", defaults.label_folds),
        seed=seed,
        cutoffs=windows.get("count", defaults.cutoffs),
        cutoff_every_days=windows.get("every_days", defaults.cutoff_every_days),
        horizon_days=windows.get("horizon_days", defaults.horizon_days),
    )
    try:
        negatives = _optional_int(raw.get("negatives_per_group"))
    except ValueError as error:
        msg = f"{path}: {error}"
        raise ValueError(msg) from error
    return RankerConfig(
        params=params,
        num_boost_round=int(raw["num_boost_round"]),
        seed=seed,
        feature_service=str(raw["feature_service"]),
        cutoffs=cutoffs,
        negatives_per_group=negatives,
    )


def _optional_int(value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        msg = f"negatives_per_group must be a positive integer or null, got {value!r}"
        raise ValueError(msg)
    return value


class LightGBMRanker:
    """A trained lambdarank booster over ``features``."""

    name = "lightgbm_ranker"

    def __init__(self, booster: lgb.Booster, features: tuple[str, ...]) -> None:
        self.booster = booster
        self.features = features

    def score(self, rows: pl.DataFrame) -> np.ndarray:
        matrix = rows.select(self.features).cast(pl.Float64).to_numpy()
        return np.asarray(self.booster.predict(matrix), dtype=np.float64)


def train_ranker(
    training: TrainingSet, config: RankerConfig, features: list[str]
) -> LightGBMRanker:
    """Fit a lambdarank booster on ``training``.

    Raises:
        ValueError: the training set has no positive label, so there is
            nothing to rank.
    """
    labels = training.rows[LABEL].to_numpy()
    if labels.sum() == 0:
        msg = "training set has no positive labels; are there any interactions?"
        raise ValueError(msg)

    matrix = training.rows.select(features).cast(pl.Float64).to_numpy()
    dataset = lgb.Dataset(
        matrix,
        label=labels,
        group=training.group_sizes,
        feature_name=list(features),
        free_raw_data=False,
    )
    try:
        booster = lgb.train(
            config.params, dataset, num_boost_round=config.num_boost_round
        )
    except lgb.basic.LightGBMError as error:
        msg = f"LightGBM rejected the ranker config's params: {error}"
        raise ValueError(msg) from error
    logger.info(
        "trained ranker on %d rows, %d groups, %d positives",
        training.rows.height,
        len(training.group_sizes),
        int(labels.sum()),
    )
    return LightGBMRanker(booster, tuple(features))


def top_k(rows: pl.DataFrame, scores: np.ndarray, k: int) -> dict[str, list[str]]:
    """Return each user's ``k`` best restaurant ids, best first.

    Ties go to the smaller restaurant id, so that the order is deterministic.
    """
    ranked = (
        rows.select(USER_ID, RESTAURANT_ID)
        .with_columns(pl.Series("score", scores))
        .sort([USER_ID, "score", RESTAURANT_ID], descending=[False, True, False])
        .group_by(USER_ID, maintain_order=True)
        .agg(pl.col(RESTAURANT_ID).head(k))
    )
    return dict(
        zip(ranked[USER_ID].to_list(), ranked[RESTAURANT_ID].to_list(), strict=True)
    )
