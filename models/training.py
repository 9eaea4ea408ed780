"""Train the model the service loads, with features read from Feast."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from features.store import fingerprint
from features.transforms import StoreFrames
from models.cutoffs import describe_relevance, has_order_times, training_snapshots
from models.dataset import (
    LABEL,
    labelled_rows,
    numeric_features,
    rows_from_feast,
    split_validation,
    training_set,
)
from models.ranker import LightGBMRanker, RankerConfig, train_ranker
from models.registry import ModelMetadata, git_state, new_version, save_model
from models.sanity import check_trainable

if TYPE_CHECKING:
    from feast import FeatureStore

logger = logging.getLogger(__name__)


def train_current_model(
    store_frames: StoreFrames,
    feature_store: FeatureStore,
    config: RankerConfig,
    models_dir: Path,
    project_dir: Path,
) -> ModelMetadata:
    """Train on the training cutoffs, register the model and make it ``current``.

    Each training row reads its features at its cutoff from the offline store
    through ``get_historical_features`` and the feature service named in
    ``config``; the feature tables must have been written for the same store
    and config (``recommender features``).
    """
    started = time.perf_counter()
    clock = _PhaseClock()
    snapshots = training_snapshots(store_frames, config.cutoffs)
    rows = labelled_rows(
        snapshots,
        config.negatives_per_group,
        config.seed,
        config.candidates,
        max_users_per_cutoff=config.max_users_per_cutoff,
    )
    clock.lap("candidates")
    features = numeric_features(feature_store, config.feature_service)
    featured = rows_from_feast(rows, feature_store, config.feature_service)
    training = training_set(featured)
    clock.lap("features")
    sanity_ndcg = check_trainable(training, features, seed=config.seed)
    clock.lap("sanity_check")
    fit_part, validation = split_validation(training)
    ranker = train_ranker(fit_part, config, features, validation)
    _check_splits(ranker, training.rows.height)
    clock.lap("boosting")
    fit = ranker.fit
    assert fit is not None
    seconds = time.perf_counter() - started
    logger.info("training phases in seconds: %s", clock.seconds)

    timed = has_order_times(store_frames)
    commit, dirty = git_state(project_dir)
    metadata = ModelMetadata(
        version=new_version(),
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        feature_service=config.feature_service,
        features=features,
        params=config.params,
        num_boost_round=config.num_boost_round,
        training={
            "orders": store_frames.orders.height,
            "rows": training.rows.height,
            "positives": int(training.rows[LABEL].sum()),
            "groups": len(training.group_sizes),
            "cutoffs": [s.snapshot.cutoff.isoformat() for s in snapshots],
            "cutoff_kind": "order time" if timed else "label fold",
            # Whether restaurants a user ordered from stay candidates.
            "repeat_orders": timed,
            "seed": config.seed,
            "relevance": describe_relevance(config.cutoffs.min_rating),
            "min_rating": config.cutoffs.min_rating,
            # Rounds kept: chosen on the latest snapshot's groups when
            # early stopping is on, then refitted on every group.
            "rounds": fit.rounds,
            "stopped_early": fit.stopped_early,
            "validation_groups": fit.validation_groups,
            "sanity_ndcg": round(sanity_ndcg, 4),
            "seconds": round(seconds, 2),
            "phase_seconds": clock.seconds,
        },
        data_fingerprint=fingerprint(store_frames.orders),
        diet_guardrail=None if ranker.guardrail is None else ranker.guardrail.to_dict(),
        git_commit=commit,
        git_dirty=dirty,
        metrics={}
        if fit.validation_ndcg is None
        else {"validation_ndcg": round(fit.validation_ndcg, 6)},
    )
    folder = save_model(models_dir, ranker, metadata)
    logger.info("registered model %s in %s", metadata.version, folder)
    return metadata


class _PhaseClock:
    """Seconds spent in each named phase, rounded to 0.01 s."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, phase: str) -> None:
        now = time.perf_counter()
        self.seconds[phase] = round(now - self._last, 2)
        self._last = now


def _check_splits(ranker: LightGBMRanker, rows: int) -> None:
    """Raise ValueError for a model without a single split, which scores every
    candidate the same and so cannot rank, before it is registered."""
    if ranker.has_splits():
        return
    msg = (
        "the trained model has no split in any of its trees, so it scores "
        "every restaurant the same and was not registered: no split "
        f"on the {rows} training rows meets the ranker config's params; check "
        "min_data_in_leaf, min_sum_hessian_in_leaf, min_gain_to_split and "
        "max_depth"
    )
    raise ValueError(msg)
