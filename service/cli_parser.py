"""The argument parser of the ``recommender`` command."""

from __future__ import annotations

import argparse
from pathlib import Path

from features.paths import (
    AUDITS_CONFIG,
    FEAST_PROFILE_ENV,
    FEAST_PROFILES,
    FEATURE_REPO,
    RANKER_CONFIG,
    SEGMENTS_CONFIG,
    VAR_DIR_ENV,
    default_feast_profile,
    default_var_dir,
)
from models.tracking import TRACKING_URI_ENV
from service.cli_arguments import (
    CommandParser,
    add_data_options,
    folder_argument,
    host_argument,
    int_in_range,
)
from service.cli_commands import (
    EXIT_AUDITS,
    EXIT_REJECTS,
    _clean,
    _compare,
    _data,
    _evaluate,
    _features,
    _import,
    _ingest_feedback,
    _promote,
    _run,
    _runs_compare,
    _runs_list,
    _train,
)
from service.cli_serve import _serve


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="recommender",
        description="Restaurant recommender pipeline.",
        epilog="Global options such as --var-dir go before the command.",
    )
    parser.add_argument(
        "--var-dir",
        type=folder_argument,
        default=default_var_dir(),
        help=f"folder for generated files (default: ${VAR_DIR_ENV} or ./var)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug lines")
    commands = parser.add_subparsers(
        dest="command", required=True, parser_class=CommandParser
    )

    data = commands.add_parser(
        "data",
        help="replace the store with the bundled UCI data or a synthetic world",
    )
    add_data_options(data)
    data.set_defaults(handler=_data)

    importer = commands.add_parser(
        "import",
        help="import a folder of table files (CSV or Parquet) into the store",
        description=(
            "Import users, restaurants, menu_items, orders and order_items "
            "files from DIRECTORY; see docs/data-format.md. Rows already in the "
            "store are left as they are; bad rows go to import_rejects."
        ),
    )
    importer.add_argument("directory", type=Path, help="folder of table files")
    importer.add_argument(
        "--accept-rejects",
        action="store_true",
        help=f"exit with 0 instead of {EXIT_REJECTS} when rows were rejected",
    )
    importer.set_defaults(handler=_import)

    features = commands.add_parser(
        "features", help="build feature tables, feast apply and materialize"
    )
    _add_feature_options(features)
    _add_config_option(features)
    features.set_defaults(handler=_features)

    train = commands.add_parser("train", help="train the ranker, make it current")
    _add_feature_options(train)
    _add_config_option(train)
    _add_service_option(train)
    train.set_defaults(handler=_train)

    evaluate = commands.add_parser(
        "evaluate",
        help="ranker vs baselines on seeded random splits, or weekly windows for "
        "orders with times",
    )
    _add_feature_options(evaluate)
    _add_config_option(evaluate)
    _add_service_option(evaluate)
    _add_evaluation_options(evaluate)
    evaluate.set_defaults(handler=_evaluate)

    compare = commands.add_parser(
        "compare", help="compare two evaluation reports metric by metric"
    )
    compare.add_argument("before", type=Path, help="report.json of the first run")
    compare.add_argument("after", type=Path, help="report.json of the second run")
    compare.set_defaults(handler=_compare)

    _add_runs_commands(commands)

    serve = commands.add_parser("serve", help="serve the API with the current model")
    _add_feature_options(serve)
    _add_server_options(serve)
    serve.set_defaults(handler=_serve)

    promote = commands.add_parser(
        "promote", help="make a trained model version the current one"
    )
    promote.add_argument(
        "version", help="a folder name under models/ in the var folder"
    )
    promote.set_defaults(handler=_promote)

    ingest_feedback = commands.add_parser(
        "ingest-feedback",
        help="copy the service's feedback events into the store, each once",
        description=(
            "Copy the feedback events the service logged into the DuckDB store "
            "table feedback_events. Each event is copied once; an interrupted "
            "run can be run again."
        ),
    )
    ingest_feedback.set_defaults(handler=_ingest_feedback)

    clean = commands.add_parser(
        "clean",
        help="delete the var folder if it contains only generated files",
        description=(
            "Delete the var folder. A folder that contains anything other "
            "than the entries the recommender commands write (store.duckdb, "
            "features/, models/, reports/, feast/, mlruns/ and a few more) is "
            "kept, and the command exits with 1 naming those entries. An empty "
            "folder is deleted, and a symbolic link named by --var-dir is "
            "deleted without its target."
        ),
    )
    clean.set_defaults(handler=_clean)

    run = commands.add_parser("run", help="data, features, train, evaluate, then serve")
    for add_options in (
        add_data_options,
        _add_feature_options,
        _add_config_option,
        _add_service_option,
        _add_evaluation_options,
        _add_server_options,
    ):
        add_options(run)
    run.add_argument(
        "--no-serve", action="store_true", help="stop after the evaluation"
    )
    run.set_defaults(handler=_run)
    return parser


def _add_runs_commands(commands: argparse._SubParsersAction) -> None:
    runs = commands.add_parser(
        "runs",
        help="list and compare the MLflow runs of train and evaluate",
        description=(
            f"Runs are read from ${TRACKING_URI_ENV} when it is set, else from "
            "mlruns/mlflow.db in the var folder."
        ),
    )
    actions = runs.add_subparsers(dest="runs_command", required=True)

    listing = actions.add_parser("list", help="the latest runs, most recent first")
    listing.add_argument(
        "--max-runs",
        type=int_in_range(1, 10_000),
        default=20,
        help="number of runs to list (default: 20)",
    )
    listing.set_defaults(handler=_runs_list)

    compare = actions.add_parser(
        "compare", help="compare the metrics and params of two runs"
    )
    compare.add_argument(
        "run_a",
        help="MLflow run id of the first run, or its start if no other run shares it",
    )
    compare.add_argument("run_b", help="MLflow run id of the second run, likewise")
    compare.set_defaults(handler=_runs_compare)


def _add_feature_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--feature-repo",
        type=Path,
        default=FEATURE_REPO,
        help=f"Feast repository (default: {FEATURE_REPO})",
    )
    parser.add_argument(
        "--feast-profile",
        choices=FEAST_PROFILES,
        default=default_feast_profile(),
        help=(
            "embedded: file registry and SQLite online store under the var "
            "folder; production: PostgreSQL registry and Redis online store "
            f"(default: ${FEAST_PROFILE_ENV} or embedded)"
        ),
    )


def _add_config_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        type=Path,
        default=RANKER_CONFIG,
        help=f"ranker settings (default: {RANKER_CONFIG})",
    )


def _add_service_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--feature-service",
        default=None,
        help=(
            "Feast feature service the model reads, such as ranker_v1 "
            "(default: feature_service in the ranker config)"
        ),
    )


def _add_evaluation_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--segments",
        type=Path,
        default=SEGMENTS_CONFIG,
        help=f"segment declarations (default: {SEGMENTS_CONFIG})",
    )
    parser.add_argument(
        "--audits",
        type=Path,
        default=AUDITS_CONFIG,
        help=f"release audits; a failed one exits with {EXIT_AUDITS} "
        f"(default: {AUDITS_CONFIG})",
    )
    parser.add_argument(
        "--strict-audits",
        action="store_true",
        help=f"an audit that could not be measured also exits with {EXIT_AUDITS}",
    )
    parser.add_argument(
        "--splits",
        type=int_in_range(1, 100),
        default=5,
        help="number of random splits, or of weekly test windows for orders "
        "with times (default: 5)",
    )
    parser.add_argument(
        "--seed",
        type=int_in_range(0, 2**32 - 1),
        default=0,
        help="seed of the first random split (default: 0)",
    )
    parser.add_argument(
        "--k",
        type=int_in_range(1, 1000),
        default=10,
        help="list length for the metrics (default: 10)",
    )


def _add_server_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--workers",
        type=int_in_range(1, 64),
        default=1,
        help="worker processes (default: 1)",
    )
    parser.add_argument(
        "--host",
        type=host_argument,
        default="127.0.0.1",
        help="address to listen on, such as 0.0.0.0 or ::1 (default: 127.0.0.1)",
    )
    parser.add_argument(
        "--port",
        type=int_in_range(1, 65535),
        default=8000,
        help="port to listen on (default: 8000)",
    )
