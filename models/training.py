"""Train the model the service loads, on every interaction in the store."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from features.schema import RESTAURANT_ID, USER_ID
from features.store import fingerprint
from models.dataset import training_set
from models.ranker import RankerConfig, train_ranker
from models.registry import ModelMetadata, git_state, new_version, save_model

logger = logging.getLogger(__name__)

FEATURE_SERVICE = "ranker_v1"


def train_current_model(
    users: pl.DataFrame,
    restaurants: pl.DataFrame,
    orders: pl.DataFrame,
    config: RankerConfig,
    models_dir: Path,
    project_dir: Path,
) -> ModelMetadata:
    """Train on all orders, register the model and make it ``current``."""
    started = time.perf_counter()
    interactions = orders.select(USER_ID, RESTAURANT_ID, "rating")
    training = training_set(
        users,
        restaurants,
        interactions,
        config.label_folds,
        config.seed,
        config.negatives_per_group,
    )
    ranker = train_ranker(training, config)
    seconds = time.perf_counter() - started

    commit, dirty = git_state(project_dir)
    metadata = ModelMetadata(
        version=new_version(),
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        feature_service=FEATURE_SERVICE,
        features=list(config.features),
        params=config.params,
        num_boost_round=config.num_boost_round,
        training={
            "interactions": interactions.height,
            "rows": training.rows.height,
            "groups": len(training.group_sizes),
            "label_folds": config.label_folds,
            "seed": config.seed,
            "seconds": round(seconds, 2),
        },
        data_fingerprint=fingerprint(interactions),
        git_commit=commit,
        git_dirty=dirty,
    )
    folder = save_model(models_dir, ranker, metadata)
    logger.info("registered model %s in %s", metadata.version, folder)
    return metadata
