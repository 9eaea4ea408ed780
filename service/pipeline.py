"""The pipeline stages, each reading what the previous one wrote under var/."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import polars as pl

from features import store
from features.feast_store import (
    apply_repository,
    check_registry_folder,
    check_repository,
    materialize,
    open_store,
    write_feature_tables,
)
from features.importer import ImportResult, import_into_store
from features.manifest import (
    FEATURE_MANIFEST,
    check_feature_code,
    check_features_current,
    write_manifest,
)
from features.online_prune import prune_online_rows
from features.paths import (
    AUDITS_CONFIG,
    EMBEDDED,
    PRODUCTION,
    PROJECT_DIR,
    SEGMENTS_CONFIG,
    VarPaths,
    check_folder_writable,
)
from features.rejects import RejectLog
from features.schema import (
    MENU_ITEMS,
    ORDER_ITEMS,
    ORDERS,
    RESTAURANTS,
    USER_SEGMENTS,
    USERS,
)
from features.store_checks import check_production_stores
from features.synthetic import WorldConfig, generate_world
from features.transforms import StoreFrames
from features.uci import load_uci, log_summary
from models.analysis import analyse, console_summary, segment_metrics
from models.audits import load_audits
from models.cutoffs import feature_history, serving_cutoff
from models.evaluate import (
    EvaluationSettings,
    evaluate_with_lists,
    format_table,
    write_report,
)
from models.ranker import RankerConfig, load_config
from models.registry import ModelMetadata, check_alias, check_writable, git_state
from models.report_render import write_html
from models.segments import (
    assign_segments,
    attributes_at,
    check_segment_columns,
    load_segments,
)
from models.tracking import (
    EVALUATE,
    TrackingError,
    log_evaluation,
    log_training_run,
    mark_run_failed,
    start_run,
    tracking_uri,
)
from models.training import train_current_model

logger = logging.getLogger(__name__)

# The key of the evaluation report that contains its MLflow run id.
REPORT_RUN_ID = "mlflow_run_id"


@dataclass(frozen=True)
class TrainedModel:
    """A registered model and the MLflow run that records it."""

    metadata: ModelMetadata
    # None when MLflow logging failed. The model is registered all the same.
    run_id: str | None


def import_data(paths: VarPaths, data_dir: Path) -> dict[str, int]:
    """Replace the store's contents with the UCI files in ``data_dir``."""
    data = load_uci(data_dir)
    log_summary(data)
    connection = store.connect(paths.store)
    try:
        store.replace_all(connection, data.tables, data.rejects.to_frame())
        return store.table_counts(connection)
    finally:
        connection.close()


def generate_synthetic(paths: VarPaths, config: WorldConfig) -> dict[str, int]:
    """Replace the store's contents with a generated synthetic world."""
    frames = generate_world(config)
    connection = store.connect(paths.store)
    try:
        # release drops each frame once loaded, so a world of millions of
        # orders is not held twice.
        store.load_frames(connection, frames, RejectLog().to_frame(), release=True)
        return store.table_counts(connection)
    finally:
        connection.close()


def import_files(paths: VarPaths, directory: Path) -> ImportResult:
    """Import a folder of table files into the store, keeping what is there.

    The files are read before the store is opened, so a folder that cannot
    be read leaves no new store behind."""
    return import_into_store(paths.store, directory)


def build_features(
    paths: VarPaths,
    feature_repo: Path,
    config_path: Path,
    feast_profile: str = EMBEDDED,
) -> None:
    """Compute the feature tables at every training cutoff and at the serving
    cutoff, then apply and materialize Feast in ``feast_profile``."""
    if feast_profile == PRODUCTION:
        # Before minutes of computing tables for stores that cannot take them.
        check_production_stores(feature_repo, paths.root)
    frames = read_store(paths)
    config = load_config(config_path)
    tables = feature_history(frames, config.cutoffs)
    # Before the last run's tables and manifest are touched, so that a
    # mistake in the definitions or the profile leaves them usable.
    check_repository(feature_repo, paths.root, feast_profile, tables)
    # A run that stops part way leaves no manifest, so training refuses the
    # tables until a run completes.
    (paths.features / FEATURE_MANIFEST).unlink(missing_ok=True)
    for path in write_feature_tables(tables, paths.features):
        logger.info("wrote %s", path)
    apply_repository(feature_repo, paths.root, feast_profile, tables)
    materialize(feature_repo, paths.root, feast_profile)
    # Feast never deletes online rows, so a user that the data no longer has
    # would still be served the features of an earlier run.
    prune_online_rows(open_store(feature_repo, paths.root, feast_profile), tables)
    write_manifest(paths.features, paths.store, feature_repo)


def train(
    paths: VarPaths,
    config_path: Path,
    feature_repo: Path,
    feast_profile: str = EMBEDDED,
    feature_service: str | None = None,
) -> TrainedModel:
    """Train on the training cutoffs, register the model as ``current`` and
    record an MLflow run of it.

    ``feature_service``, when given, replaces the one named in the config. The
    model is registered before anything is sent to MLflow, and a failure of
    MLflow only logs a warning.
    """
    config = _with_service(load_config(config_path), feature_service)
    if feast_profile == PRODUCTION:
        # Training reads the registry, not Redis.
        check_production_stores(feature_repo, paths.root, online_store=False)
    check_features_current(paths.features, paths.store, feature_repo)
    check_registry_folder(feature_repo, paths.root, feast_profile)
    # Checked before training: a `current` that is not a file, or a models
    # folder that cannot be written, would make the save fail after minutes
    # of boosting.
    check_alias(paths.models)
    check_writable(paths.models)
    frames = read_store(paths)
    feature_store = open_store(feature_repo, paths.root, feast_profile)
    metadata = train_current_model(
        frames, feature_store, config, paths.models, PROJECT_DIR
    )
    return TrainedModel(metadata, record_training(paths, metadata, config))


def record_training(
    paths: VarPaths, metadata: ModelMetadata, config: RankerConfig
) -> str | None:
    """Log a registered model as an MLflow run and return the run id.

    When MLflow fails, log a warning that names the tracking URI and return
    None.
    """
    uri = tracking_uri(paths.root)
    try:
        run_id = log_training_run(
            uri, metadata, config, paths.models / metadata.version
        )
    except TrackingError as error:
        logger.warning(
            "%s; model %s is registered and current all the same",
            error,
            metadata.version,
        )
        return None
    logger.info("MLflow run %s in %s records model %s", run_id, uri, metadata.version)
    return run_id


def evaluate(
    paths: VarPaths,
    config_path: Path,
    settings: EvaluationSettings,
    feature_repo: Path,
    feast_profile: str = EMBEDDED,
    feature_service: str | None = None,
    segments_path: Path = SEGMENTS_CONFIG,
    audits_path: Path = AUDITS_CONFIG,
) -> dict[str, Any]:
    """Evaluate on seeded splits, analyse the latest split by segment, run the
    audits, write the report, print its tables and record an MLflow run.

    ``feature_service``, when given, replaces the one named in the config. The
    report's ``mlflow_run_id`` is the run's id, or None when MLflow failed. A
    failure of MLflow only logs a warning. The audit results are in
    ``report["analysis"]["audits"]``; :func:`failed_audits` lists the failures.

    Raises:
        ValueError: the segments or audits file is invalid, or the reports
            folder is a file or cannot be written (checked before any model
            is trained).
    """
    started_at = time.time()
    # The reports are written last, so a file in their place would otherwise
    # stop the command after every model was trained.
    if paths.reports.exists() and not paths.reports.is_dir():
        msg = (
            f"{paths.reports}: is a file, so the reports cannot be written there; "
            "move or delete it"
        )
        raise ValueError(msg)
    check_folder_writable(paths.reports, "the reports")
    segment_specs = load_segments(segments_path)
    audit_specs = load_audits(audits_path, segment_specs, settings.k)
    if feast_profile == PRODUCTION:
        check_production_stores(feature_repo, paths.root, online_store=False)
    # Evaluation computes its own feature tables, but reads the feature
    # service from the registry that `recommender features` applied. Without
    # a manifest, reading the registry fails later with its own message.
    check_feature_code(paths.features, feature_repo, required=False)
    frames = read_store(paths)
    check_segment_columns(segment_specs, frames, serving_cutoff(frames))
    config = _with_service(load_config(config_path), feature_service)
    feature_store = open_store(feature_repo, paths.root, feast_profile)
    report, ranked = evaluate_with_lists(frames, feature_store, config, settings)
    # Recorded, so that reports and runs tell which declarations they used.
    report["settings"]["segments_file"] = str(segments_path.resolve())
    report["settings"]["audits_file"] = str(audits_path.resolve())
    report["git_commit"], report["git_dirty"] = git_state(PROJECT_DIR)

    users, restaurants = attributes_at(ranked.train, ranked.cutoff, ranked.tables)
    segments = assign_segments(segment_specs, users, restaurants)
    analysis = analyse(
        ranked,
        segments,
        users,
        restaurants,
        audit_specs,
        true_segments=read_true_segments(paths),
        seed=settings.seed,
    )
    report["analysis"] = analysis.section
    report["segments"] = segment_metrics(analysis.section)

    uri = tracking_uri(paths.root)
    run_id = _start_evaluation_run(uri, config.feature_service, started_at)
    report[REPORT_RUN_ID] = run_id
    try:
        json_path, markdown_path = write_report(report, paths.reports)
        html_path = write_html(report, paths.reports)
    except BaseException:
        # Left RUNNING, the run would head `runs list` with no metrics.
        if run_id is not None:
            mark_run_failed(uri, run_id)
        raise
    if run_id is not None:
        try:
            log_evaluation(uri, run_id, report, [json_path, markdown_path, html_path])
        except TrackingError as error:
            logger.warning(
                "%s; the report is written all the same and names run %s, "
                "marked failed",
                error,
                run_id,
            )

    print(format_table(report))
    print()
    print(console_summary(report))
    print(f"\nreport written to {json_path}, {markdown_path} and {html_path}")
    return report


def failed_audits(report: dict[str, Any], not_measured: bool = False) -> list[str]:
    """Return the message of each failed audit of an evaluation report, and
    with ``not_measured`` of each audit that could not be measured."""
    statuses = {"failed", "not_measured"} if not_measured else {"failed"}
    return [
        audit["message"]
        for audit in report.get("analysis", {}).get("audits", [])
        if audit["status"] in statuses
    ]


def read_true_segments(paths: VarPaths) -> pl.DataFrame | None:
    """Return the planted segment of each user of a synthetic world, or None
    when the store has none (imported and UCI data)."""
    connection = store.connect(paths.store, read_only=True)
    try:
        planted = store.read_table(connection, USER_SEGMENTS)
    finally:
        connection.close()
    return planted if planted.height else None


def _start_evaluation_run(
    uri: str, feature_service: str, started_at: float
) -> str | None:
    try:
        return start_run(uri, EVALUATE, f"evaluate {feature_service}", started_at)
    except TrackingError as error:
        logger.warning("%s; the report is written without a run id", error)
        return None


def _with_service(config: RankerConfig, feature_service: str | None) -> RankerConfig:
    if feature_service is None:
        return config
    return replace(config, feature_service=feature_service)


def read_store(paths: VarPaths) -> StoreFrames:
    """Read the tables the features need from the store."""
    connection = store.connect(paths.store, read_only=True)
    try:
        return StoreFrames.from_store_tables(
            users=store.read_table(connection, USERS),
            restaurants=store.read_table(connection, RESTAURANTS),
            menu_items=store.read_table(connection, MENU_ITEMS),
            orders=store.read_table(connection, ORDERS),
            order_items=store.read_table(connection, ORDER_ITEMS),
        )
    finally:
        connection.close()
