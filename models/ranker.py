"""The LightGBM lambdarank ranker."""

from __future__ import annotations

import logging
import re
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import lightgbm as lgb
import numpy as np
import polars as pl

from features.schema import RESTAURANT_ID, USER_ID
from models._ranker_config import RankerConfig
from models._ranker_config import load_config as load_config
from models.dataset import LABEL, TrainingSet
from models.guardrail import DietGuardrail

logger = logging.getLogger(__name__)

# Calls of LightGBMRanker.score with at least this many rows predict with
# compiled trees (CompiledTrees).
COMPILE_ROWS = 500_000


class Scorer(Protocol):
    """Anything that scores feature rows; higher means recommended first."""

    name: str

    def score(self, rows: pl.DataFrame) -> np.ndarray: ...


@dataclass(frozen=True)
class FitReport:
    """The fit of a ranker: rounds kept and the validation that chose them."""

    rounds: int
    # Query groups of the validation window; 0 when there was none.
    validation_groups: int = 0
    # NDCG at the first ``eval_at`` cut-off on the validation window, at the
    # best round; None without a validation window.
    validation_ndcg: float | None = None
    stopped_early: bool = False


class LightGBMRanker:
    """A trained lambdarank booster over ``features``."""

    name = "lightgbm_ranker"

    def __init__(
        self,
        booster: lgb.Booster,
        features: tuple[str, ...],
        fit: FitReport | None = None,
        guardrail: DietGuardrail | None = None,
    ) -> None:
        self.booster = booster
        self.features = features
        self.fit = fit
        self.guardrail = guardrail
        self._compiled: CompiledTrees | None = None

    def has_splits(self) -> bool:
        """Return whether a tree splits on a feature; without a split, the
        model scores every candidate the same and cannot rank."""
        return bool(self.booster.feature_importance("split").sum() > 0)

    def __getstate__(self) -> dict[str, Any]:
        # The compiled trees are machine code in this process; a copy compiles
        # its own when it needs them.
        state = dict(self.__dict__)
        state["_compiled"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._compiled = None

    def compile_trees(self) -> CompiledTrees:
        """Return the trees compiled to machine code, compiling them on the
        first call (:class:`CompiledTrees`)."""
        if self._compiled is None:
            self._compiled = CompiledTrees(self.booster)
        return self._compiled

    def score(
        self,
        rows: pl.DataFrame,
        matrix: np.ndarray | None = None,
        demote: bool = True,
    ) -> np.ndarray:
        """Score feature rows; higher means recommended first.

        ``matrix`` contains the rows' values of :attr:`features`, in that order,
        as float64 with NaN for null. Without it the values are read from
        ``rows``. With it, ``rows`` needs only the columns the diet guardrail
        reads. ``demote=False`` leaves the diet guardrail to the caller
        (:meth:`demote`), for scores it changes before ranking.
        """
        if matrix is None:
            # Row-major, as both predictors read a row at a time.
            matrix = rows.select(self.features).cast(pl.Float64).to_numpy(order="c")
        matrix = np.ascontiguousarray(matrix, dtype=np.float64)
        # Batches up to 10,000 rows (a request's candidates) run in one thread.
        # OpenMP threads cost more than they save there: 500 rows took 1.0 ms
        # in one thread and 7 ms in two on a busy 2-core machine, and a service
        # worker shares its cores with the other workers.
        if len(matrix) <= 10_000:
            predicted = self.booster.predict(matrix, num_threads=1)
        elif len(matrix) >= COMPILE_ROWS:
            predicted = self.compile_trees().predict(matrix)
        else:
            predicted = self.booster.predict(matrix)
        scores = np.asarray(predicted, dtype=np.float64)
        return self.demote(rows, scores) if demote else scores

    def demote(self, rows: pl.DataFrame, scores: np.ndarray) -> np.ndarray:
        """Apply the diet guardrail, if the model has one, to ``scores`` of
        ``rows``: meat-only restaurants go below the rest for vegetarians."""
        if self.guardrail is None:
            return scores
        return self.guardrail.demote(rows, scores)


class CompiledTrees:
    """A booster's trees compiled to machine code by lleaves.

    On 2 cores this predicts about 8 times as fast as ``Booster.predict``:
    0.5 s against 4.2 s per million rows for a 294-tree model of 46
    features. Compiling takes 2 to 3 s, so :class:`LightGBMRanker` compiles
    only for calls of at least :data:`COMPILE_ROWS` rows, such as an
    evaluation's chunks. The sums of leaf values run in another order, so a
    score may differ from LightGBM's in the last bits
    (``tests/models/test_ranker.py`` bounds it at 1e-9).
    """

    def __init__(self, booster: lgb.Booster) -> None:
        import lleaves

        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "model.txt"
            booster.save_model(path)
            self._model = lleaves.Model(model_file=str(path))
            self._model.compile()

    def predict(self, matrix: np.ndarray) -> np.ndarray:
        """Raw scores of the rows of a float64 matrix, NaN for missing."""
        return np.asarray(self._model.predict(matrix), dtype=np.float64)


def train_ranker(
    training: TrainingSet,
    config: RankerConfig,
    features: list[str],
    validation: TrainingSet | None = None,
) -> LightGBMRanker:
    """Fit a lambdarank booster on ``training``.

    With a ``validation`` window and ``early_stopping_rounds`` in the config,
    boosting stops once the validation NDCG has not improved for that many
    rounds. The model is then refitted on the training and validation rows
    together for the best number of rounds, so that it learns from the latest
    window too. Without them it boosts ``num_boost_round`` rounds.

    Raises:
        ValueError: the training set has no positive label, so there is
            nothing to rank, or LightGBM rejects a parameter.
    """
    labels = training.rows[LABEL].to_numpy()
    if labels.sum() == 0:
        msg = "training set has no positive labels; are there any interactions?"
        raise ValueError(msg)

    rounds = config.num_boost_round
    report = FitReport(rounds=rounds)
    if validation is not None and config.early_stopping_rounds is not None:
        started = time.perf_counter()
        booster = _boost(config.params, training, features, rounds, validation, config)
        logger.info(
            "chose %s rounds on the validation window in %.1f s",
            booster.best_iteration or rounds,
            time.perf_counter() - started,
        )
        best = booster.best_iteration or rounds
        scores = booster.best_score.get("validation", {})
        report = FitReport(
            rounds=best,
            validation_groups=len(validation.group_sizes),
            validation_ndcg=_first_ndcg(scores),
            stopped_early=best < rounds,
        )
        training = _concat(training, validation)
    booster = _boost(config.params, training, features, report.rounds)
    logger.info(
        "trained ranker on %d rows, %d groups, %d positives, %d rounds%s",
        training.rows.height,
        len(training.group_sizes),
        int(training.rows[LABEL].sum()),
        report.rounds,
        ""
        if report.validation_ndcg is None
        else f" (validation NDCG {report.validation_ndcg:.4f})",
    )
    guardrail = config.diet_guardrail
    if guardrail is not None and not DietGuardrail.applies_to(features):
        guardrail = None
    return LightGBMRanker(booster, tuple(features), report, guardrail)


def _first_ndcg(scores: dict[str, float]) -> float | None:
    """Return the first NDCG among LightGBM's validation scores, such as
    ``ndcg@10``, or None when the config's ``metric`` measures no NDCG."""
    for name, value in scores.items():
        if name.startswith("ndcg@"):
            return float(value)
    return None


_SOURCE_LOCATION = re.compile(r"\s+at \S+\.(?:cpp|hpp|h), line \d+\s*\.?")


def _dataset(training: TrainingSet, features: list[str]) -> lgb.Dataset:
    return lgb.Dataset(
        training.rows.select(features).cast(pl.Float64).to_numpy(),
        label=training.rows[LABEL].to_numpy(),
        group=training.group_sizes,
        feature_name=list(features),
        free_raw_data=False,
    )


def _boost(
    params: dict[str, Any],
    training: TrainingSet,
    features: list[str],
    rounds: int,
    validation: TrainingSet | None = None,
    config: RankerConfig | None = None,
) -> lgb.Booster:
    train_data = _dataset(training, features)
    valid_sets = []
    callbacks: list[Callable[..., Any]] = []
    if validation is not None and config is not None:
        valid_sets.append(
            lgb.Dataset(
                validation.rows.select(features).cast(pl.Float64).to_numpy(),
                label=validation.rows[LABEL].to_numpy(),
                group=validation.group_sizes,
                reference=train_data,
            )
        )
        assert config.early_stopping_rounds is not None
        callbacks.append(
            lgb.early_stopping(
                config.early_stopping_rounds, first_metric_only=True, verbose=False
            )
        )
    try:
        return lgb.train(
            params,
            train_data,
            num_boost_round=rounds,
            valid_sets=valid_sets,
            valid_names=["validation"] if valid_sets else None,
            callbacks=callbacks,
        )
    except lgb.basic.LightGBMError as error:
        # LightGBM ends a failed check with its C++ source file and line.
        reason = _SOURCE_LOCATION.sub("", str(error)).strip()
        msg = f"LightGBM rejected the ranker config's params: {reason}"
        raise ValueError(msg) from error


def _concat(first: TrainingSet, second: TrainingSet) -> TrainingSet:
    return TrainingSet(
        rows=pl.concat([first.rows, second.rows], how="vertical_relaxed"),
        group_sizes=np.concatenate([first.group_sizes, second.group_sizes]),
    )


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
