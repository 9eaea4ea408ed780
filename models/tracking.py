"""Record training and evaluation as MLflow runs; ``models.runs`` reads them.

Runs go to ``$MLFLOW_TRACKING_URI`` when it is set, else to a SQLite tracking
store at ``<var>/mlruns/mlflow.db`` with artifacts in ``<var>/mlruns/artifacts``.
MLflow 3.17 rejects its plain file store (``./mlruns``) unless
``MLFLOW_ALLOW_FILE_STORE=true`` is set, so the local store is SQLite.

Metric and parameter names are the report's keys joined by ``.``. MLflow names
cannot contain ``@``, so ``@`` is written as ``_at_``, and any other character
outside letters, digits, ``_`` and ``-`` as ``_``. The report's ``ndcg@10``
mean of ``lightgbm_ranker`` is thus ``lightgbm_ranker.ndcg_at_10.mean``.

mlflow is imported inside the functions, because importing it takes seconds
and the ``recommender`` command imports this module for every subcommand.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from models.tracking_metrics import (
    audit_tags,
    evaluation_metrics,
    flatten_metrics,
    flatten_params,
    metric_name,
    split_metrics,
)

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from models.ranker import RankerConfig
    from models.registry import ModelMetadata

logger = logging.getLogger(__name__)

TRACKING_URI_ENV = "MLFLOW_TRACKING_URI"
EXPERIMENT_NAME_ENV = "MLFLOW_EXPERIMENT_NAME"
DEFAULT_EXPERIMENT = "restaurant-recommender"
MLRUNS_DIR = "mlruns"
DATABASE_FILE = "mlflow.db"
ARTIFACTS_DIR = "artifacts"

TRAIN = "train"
EVALUATE = "evaluate"
KIND_TAG = "kind"
HEADLINE_TAG = "headline_metric"

# The numbers of ModelMetadata.training logged as metrics, when present. Its
# seed and min_rating are settings, logged as params from the config.
TRAINING_METRICS = (
    "orders",
    "rows",
    "positives",
    "groups",
    "seconds",
    "rounds",
    "validation_groups",
    "sanity_ndcg",
)

# MLflow accepts at most 100 params or tags and 1000 metrics per log_batch.
_MAX_PARAMS_PER_BATCH = 100
_MAX_METRICS_PER_BATCH = 1000


class TrackingError(Exception):
    """Error of an MLflow tracking store that is unreachable or rejects a request."""


def tracking_uri(var_dir: Path) -> str:
    """Return ``$MLFLOW_TRACKING_URI``, else the SQLite store under ``var_dir``.

    A blank value counts as unset, as a blank ``RECOMMENDER_VAR_DIR`` does.
    """
    configured = os.environ.get(TRACKING_URI_ENV, "").strip()
    if configured:
        return configured
    database = var_dir.resolve() / MLRUNS_DIR / DATABASE_FILE
    return f"sqlite:///{database}"


def experiment_name() -> str:
    """Return ``$MLFLOW_EXPERIMENT_NAME``, else ``restaurant-recommender``."""
    return os.environ.get(EXPERIMENT_NAME_ENV) or DEFAULT_EXPERIMENT


def start_run(
    uri: str, kind: str, run_name: str, started_at: float | None = None
) -> str:
    """Create a run of ``kind`` (train or evaluate) and return its id.

    ``started_at`` (seconds since the epoch) is when the work began: runs are
    created once it is done, so without it their duration would be meaningless.

    Raises:
        TrackingError: the tracking store failed; the message names ``uri``.
    """
    with tracking_errors(uri, "start a run"):
        client = open_client(uri)
        experiment_id = _experiment_id(client, uri)
        start_time = None if started_at is None else int(started_at * 1000)
        run = client.create_run(
            experiment_id,
            start_time=start_time,
            run_name=run_name,
            tags={KIND_TAG: kind},
        )
        return str(run.info.run_id)


def log_training_run(
    uri: str, metadata: ModelMetadata, config: RankerConfig, model_folder: Path
) -> str:
    """Record a trained model as a finished run and return the run id.

    Logs the settings as params, the provenance as tags, the training counts
    and ``metadata.metrics`` as metrics, and the files of ``model_folder``
    under the artifact path ``model``.

    Raises:
        TrackingError: the tracking store failed; the message names ``uri``.
    """
    params = {
        "feature_service": metadata.feature_service,
        "num_boost_round": str(metadata.num_boost_round),
        "seed": str(config.seed),
        "negatives_per_group": str(config.negatives_per_group),
        "early_stopping_rounds": str(config.early_stopping_rounds),
        "max_users_per_cutoff": str(config.max_users_per_cutoff),
        **flatten_params(asdict(config.cutoffs), "cutoffs"),
        **flatten_params(metadata.params, "lightgbm"),
    }
    for name, settings in (
        (
            "candidates",
            None if config.candidates is None else asdict(config.candidates),
        ),
        ("diet_guardrail", metadata.diet_guardrail),
    ):
        if settings is None:
            params[name] = "None"
        else:
            params.update(flatten_params(settings, name))
    metrics = {
        metric_name("training", key): float(metadata.training[key])
        for key in TRAINING_METRICS
        if isinstance(metadata.training.get(key), int | float)
    }
    metrics.update(flatten_metrics(metadata.metrics))
    headline = next(iter(metadata.metrics), None)
    tags = {
        "model_version": metadata.version,
        "data_fingerprint": metadata.data_fingerprint,
        "git_commit": metadata.git_commit,
        "git_dirty": metadata.git_dirty,
        HEADLINE_TAG: metric_name(headline) if headline else "training.rows",
    }
    seconds = metadata.training.get("seconds")
    started_at = (
        time.time() - float(seconds) if isinstance(seconds, int | float) else None
    )
    run_id = start_run(uri, TRAIN, f"train {metadata.version}", started_at)
    with _finishing_run(uri, run_id) as client:
        _log_batches(client, run_id, metrics, params, tags)
        client.log_artifacts(run_id, str(model_folder), artifact_path="model")
    return run_id


def log_evaluation(
    uri: str,
    run_id: str,
    report: Mapping[str, Any],
    report_files: list[Path],
) -> None:
    """Log an evaluation report to the started run ``run_id`` and finish it.

    The metrics are those of :func:`evaluation_metrics`, and those of
    :func:`split_metrics` for each split with the split's seed as the step.

    Raises:
        TrackingError: the tracking store failed; the message names ``uri``.
    """
    with _finishing_run(uri, run_id) as client:
        metrics = evaluation_metrics(report)
        tags = {
            "data_fingerprint": report["data_fingerprint"],
            "git_commit": report.get("git_commit"),
            "git_dirty": report.get("git_dirty"),
            HEADLINE_TAG: next(iter(metrics), None),
            **audit_tags(report),
        }
        _log_batches(client, run_id, metrics, _evaluation_params(report), tags)
        for split in report["splits"]:
            for name, value in split_metrics(split).items():
                client.log_metric(run_id, name, value, step=int(split["seed"]))
        for path in report_files:
            client.log_artifact(run_id, str(path), artifact_path="report")


def open_client(uri: str) -> MlflowClient:
    """Return an MLflow client of the tracking store at ``uri``.

    Raises:
        TrackingError: ``uri`` cannot be parsed, such as ``http://[::1``.
    """
    from mlflow import MlflowClient

    try:
        return MlflowClient(tracking_uri=uri)
    except ValueError as error:
        # urllib.parse raises a plain ValueError, which names no URI.
        msg = f"invalid MLflow tracking URI {uri!r} ({TRACKING_URI_ENV}): {error}"
        raise TrackingError(msg) from error


def store_missing(uri: str) -> bool:
    """Return True if ``uri`` is a SQLite store without its database file."""
    database = _sqlite_path(uri)
    return database is not None and not database.is_file()


@contextmanager
def tracking_errors(uri: str, action: str) -> Iterator[None]:
    """Turn the errors of MLflow, its HTTP client and its database into
    TrackingError naming the store."""
    try:
        yield
    except _tracking_exceptions() as error:
        msg = f"MLflow tracking at {uri} failed to {action}: {error}"
        raise TrackingError(msg) from error


def _evaluation_params(report: Mapping[str, Any]) -> dict[str, str]:
    """Return the evaluation settings and every ranker setting the report
    records, named as a training run names them."""
    ranker = {
        key: value
        for key, value in report["ranker"].items()
        if key not in ("features", "params")
    }
    return {
        **flatten_params(report["settings"], "evaluation"),
        **flatten_params(ranker),
        **flatten_params(report["ranker"]["params"], "lightgbm"),
    }


def _experiment_id(client: MlflowClient, uri: str) -> str:
    name = experiment_name()
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return str(experiment.experiment_id)
    return str(
        client.create_experiment(name, artifact_location=_artifact_location(uri))
    )


def _artifact_location(uri: str) -> str | None:
    """Return the ``artifacts`` folder beside a SQLite store's database file.

    Other stores choose their own location (None). Without this, MLflow would
    put a SQLite store's artifacts in ``./mlruns`` of the working directory.
    """
    database = _sqlite_path(uri)
    if database is None:
        return None
    return (database.resolve().parent / ARTIFACTS_DIR).as_uri()


def _sqlite_path(uri: str) -> Path | None:
    prefix = "sqlite:///"
    if not uri.startswith(prefix):
        return None
    return Path(uri.removeprefix(prefix))


@contextmanager
def _finishing_run(uri: str, run_id: str) -> Iterator[MlflowClient]:
    """Yield a client, then mark the run FINISHED, or FAILED if logging raised."""
    with tracking_errors(uri, f"log run {run_id}"):
        client = open_client(uri)
        try:
            yield client
        except BaseException:
            _mark_failed(client, run_id)
            raise
        client.set_terminated(run_id, status="FINISHED")


def mark_run_failed(uri: str, run_id: str) -> None:
    """Mark a started run FAILED, as when the files it would log could not be
    written. A store that fails this too is logged at debug level only, since
    the caller is already handling an error."""
    try:
        with tracking_errors(uri, f"mark run {run_id} failed"):
            _mark_failed(open_client(uri), run_id)
    except TrackingError as error:
        logger.debug("%s", error)


def _mark_failed(client: MlflowClient, run_id: str) -> None:
    try:
        client.set_terminated(run_id, status="FAILED")
    except _tracking_exceptions() as error:
        # The store that failed the logging often fails this call too.
        logger.debug("could not mark run %s as failed: %s", run_id, error)


def _log_batches(
    client: MlflowClient,
    run_id: str,
    metrics: Mapping[str, float],
    params: Mapping[str, str],
    tags: Mapping[str, object],
) -> None:
    from mlflow.entities import Metric, Param, RunTag

    timestamp = int(datetime.now(UTC).timestamp() * 1000)
    metric_list = [Metric(k, v, timestamp, 0) for k, v in metrics.items()]
    param_list = [Param(k, v) for k, v in params.items()]
    # A tag without a value (no git checkout, no headline) is left out.
    tag_list = [RunTag(k, str(v)) for k, v in tags.items() if v is not None]
    for start in range(0, len(metric_list), _MAX_METRICS_PER_BATCH):
        batch = metric_list[start : start + _MAX_METRICS_PER_BATCH]
        client.log_batch(run_id, metrics=batch)
    for start in range(0, len(param_list), _MAX_PARAMS_PER_BATCH):
        client.log_batch(
            run_id, params=param_list[start : start + _MAX_PARAMS_PER_BATCH]
        )
    for start in range(0, len(tag_list), _MAX_PARAMS_PER_BATCH):
        client.log_batch(run_id, tags=tag_list[start : start + _MAX_PARAMS_PER_BATCH])


def _tracking_exceptions() -> tuple[type[Exception], ...]:
    """Return the errors of MLflow, its HTTP client, its database and files.

    Alembic's CommandError comes from two processes creating one new SQLite
    store at once (MLflow 3.17 migrates the schema on first use).
    """
    from alembic.util import CommandError
    from mlflow.exceptions import MlflowException
    from requests import RequestException
    from sqlalchemy.exc import SQLAlchemyError

    return (MlflowException, RequestException, SQLAlchemyError, OSError, CommandError)
