"""``recommender`` command: run the pipeline stages one by one or all at once."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import shutil
import socket
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from features.paths import (
    AUDITS_CONFIG,
    FEAST_PROFILE_ENV,
    FEAST_PROFILES,
    FEATURE_REPO,
    RANKER_CONFIG,
    SEGMENTS_CONFIG,
    UCI_DATA_DIR,
    VAR_DIR_ENV,
    VarPaths,
    default_feast_profile,
    default_var_dir,
)
from features.synthetic.config import MIN_DAYS, MIN_RESTAURANTS, MIN_USERS
from features.tracebacks import line_in_folder
from models.tracking import TRACKING_URI_ENV, TrackingError, tracking_uri

if TYPE_CHECKING:
    from service.recommender import Recommender
    from service.settings import Settings

logger = logging.getLogger("recommender")
# The UCI user of the README's examples.
README_USER = "U1077"

# Largest synthetic world the command accepts. Generating and loading 1 million
# users with 20 orders each peaks at 5.9 GB (docs/benchmarks.md), so 3 million
# is an estimated 18 GB, within a 24 GB machine.
MAX_WORLD_USERS = 3_000_000
MAX_WORLD_RESTAURANTS = 100_000

# Exit code of an import that loaded its good rows but rejected others.
EXIT_REJECTS = 3
EXIT_AUDITS = 4
# As a shell reports a process ended by SIGINT.
EXIT_INTERRUPTED = 130
# The module that registers the feature tables, where new features are added.
FEATURE_CODE_MODULE = "features.transforms"
# How long uvicorn's supervisor waits for a worker's reply to a health check.
# uvicorn 0.55 keeps the worker's end of the check's pipe open in the parent,
# so a worker that dies between check and reply costs the whole wait, during
# which nothing replaces it and the parent does not stop on Ctrl-C. A thread
# of the worker replies from its start, while the app still loads, so the wait
# covers only a worker whose interpreter is blocked, not its loading time.
WORKER_REPLY_SECONDS = 30


class RejectedRowsError(Exception):
    """An import rejected rows and the caller did not accept that."""


class AuditFailedError(Exception):
    """An evaluation audit failed: the model is not fit to ship."""


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line and run the chosen stage; return the exit code."""
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # Feast and its dependencies log every step at INFO.
    for noisy in ("feast", "ibis", "numexpr"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # MLflow sets its loggers' level from this variable when it is imported,
    # which happens later, and logs the creation of its database at INFO.
    if not args.verbose:
        os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")

    if str(args.var_dir) in ("", ".") or (
        args.var_dir.exists() and not args.var_dir.is_dir()
    ):
        logger.error("--var-dir must name a folder, got %r", str(args.var_dir))
        return 2
    paths = VarPaths(args.var_dir.resolve())
    try:
        # Deleting the var folder does not need the feature code, which may
        # be the broken part.
        if args.command != "clean":
            _load_feature_code()
        args.handler(args, paths)
    except RejectedRowsError as error:
        logger.error("%s", error)
        return EXIT_REJECTS
    except AuditFailedError as error:
        logger.error("%s", error)
        return EXIT_AUDITS
    except (FileNotFoundError, ValueError, TrackingError) as error:
        logger.error("%s", error)
        return 1
    except KeyboardInterrupt:
        return _interrupted(args.command)
    except Exception as error:
        from features.store import is_interrupt

        # DuckDB reports Ctrl-C during a query as an error, not as
        # KeyboardInterrupt.
        if not is_interrupt(error):
            raise
        return _interrupted(args.command)
    return 0


def _interrupted(command: str) -> int:
    """Log the one line for a command stopped with Ctrl-C; return its exit code.

    A stage stopped part way leaves no file a later stage reads: the store is
    written in one transaction, a model folder is renamed into place, and
    features drops its manifest until it completes.
    """
    logger.error("interrupted; run `recommender %s` again", command)
    return EXIT_INTERRUPTED


def _load_feature_code() -> None:
    """Import the module of the feature tables, which every command reads.

    Data scientists edit that module, so a mistake in it is raised as one
    ValueError naming the file and line instead of an import traceback.
    """
    try:
        importlib.import_module(FEATURE_CODE_MODULE)
    except Exception as error:
        raise ValueError(_feature_code_error(error)) from error


def _feature_code_error(error: Exception) -> str:
    """Return the one-line message for an error raised while importing the
    feature code, with the file and line of the statement that raised it,
    such as a decorator call rather than the line inside the function it
    called."""
    where = line_in_folder(
        error, Path(__file__).resolve().parents[1] / "features", module_level=True
    )
    if isinstance(error, SyntaxError):
        detail = f"SyntaxError: {error.msg}"
    else:
        first_line = (str(error).strip().splitlines() or [""])[0]
        detail = f"{type(error).__name__}: {first_line}".rstrip(": ")
    location = f" at {where}" if where else ""
    return (
        f"cannot load the feature code ({FEATURE_CODE_MODULE}){location}: "
        f"{detail}; fix it and run the command again"
    )


def _data(args: argparse.Namespace, paths: VarPaths) -> None:
    from service.pipeline import generate_synthetic, import_data

    if args.source == "synthetic":
        from features.synthetic import WorldConfig

        config = WorldConfig(
            users=args.users,
            restaurants=args.restaurants,
            days=args.days,
            seed=args.world_seed,
        )
        counts = generate_synthetic(paths, config)
    else:
        counts = import_data(paths, args.data_dir)
    print(", ".join(f"{table}: {count}" for table, count in counts.items()))
    print(f"store written to {paths.store}")


def _import(args: argparse.Namespace, paths: VarPaths) -> None:
    from features.rejects import REJECTS_CSV, describe_rejects, write_rejects_csv
    from features.schema import IMPORT_REJECTS
    from service.pipeline import import_files

    result = import_files(paths, args.directory)
    rejects_csv = paths.root / REJECTS_CSV
    location = str(rejects_csv)
    try:
        write_rejects_csv(result.rejects, rejects_csv)
    except OSError as error:
        # The import is committed by now, with its rejects in the store.
        location = f"the table {IMPORT_REJECTS.name} of {paths.store}"
        logger.warning(
            "could not write %s: %s. The rejects are in %s",
            rejects_csv,
            error.strerror or error,
            location,
        )
    print(f"{'table':<12} {'read':>9} {'inserted':>9} {'unchanged':>9} {'rejected':>9}")
    for table, summary in result.tables.items():
        print(
            f"{table:<12} {summary.read:>9} {summary.inserted:>9} "
            f"{summary.unchanged:>9} {summary.rejected:>9}"
        )
    for (source, reason), count in sorted(result.counts_by_reason().items()):
        print(f"rejected {count} in {source}: {reason}")
    for line in describe_rejects(result.rejects, location):
        print(line)
    rejected = sum(summary.rejected for summary in result.tables.values())
    if rejected and not args.accept_rejects:
        msg = (
            f"{rejected} rows rejected; the other rows were loaded. See "
            f"{location}, or pass --accept-rejects to exit with 0"
        )
        raise RejectedRowsError(msg)


def _features(args: argparse.Namespace, paths: VarPaths) -> None:
    from service.pipeline import build_features

    build_features(paths, args.feature_repo, args.config, args.feast_profile)


def _train(args: argparse.Namespace, paths: VarPaths) -> None:
    from service.pipeline import train

    trained = train(
        paths,
        args.config,
        args.feature_repo,
        args.feast_profile,
        args.feature_service,
    )
    print(f"model {trained.metadata.version} is current in {paths.models}")
    _print_run_id(trained.run_id, paths)


def _evaluate(args: argparse.Namespace, paths: VarPaths) -> None:
    from models.evaluate import EvaluationSettings
    from service.pipeline import REPORT_RUN_ID, evaluate, failed_audits

    settings = EvaluationSettings(n_splits=args.splits, seed=args.seed, k=args.k)
    report = evaluate(
        paths,
        args.config,
        settings,
        args.feature_repo,
        args.feast_profile,
        args.feature_service,
        args.segments,
        args.audits,
    )
    _print_run_id(report[REPORT_RUN_ID], paths)
    failed = failed_audits(report, not_measured=args.strict_audits)
    if failed:
        count = "1 audit" if len(failed) == 1 else f"{len(failed)} audits"
        outcome = "failed or not measured" if args.strict_audits else "failed"
        msg = f"{count} {outcome}:\n" + "\n".join(failed)
        raise AuditFailedError(msg)


def _print_run_id(run_id: str | None, paths: VarPaths) -> None:
    if run_id is not None:
        print(f"MLflow run {run_id} in {tracking_uri(paths.root)}")


def _compare(args: argparse.Namespace, paths: VarPaths) -> None:
    from models.report_compare import compare_files

    print(compare_files(args.before, args.after))


def _runs_list(args: argparse.Namespace, paths: VarPaths) -> None:
    from models.runs import format_runs, list_runs

    uri = tracking_uri(paths.root)
    runs = list_runs(uri, args.max_runs)
    if not runs:
        print(f"no runs in {uri}; `recommender train` and `evaluate` record them")
        return
    print(format_runs(runs))


def _runs_compare(args: argparse.Namespace, paths: VarPaths) -> None:
    from models.runs import compare_runs

    print(compare_runs(tracking_uri(paths.root), args.run_a, args.run_b))


def _serve(args: argparse.Namespace, paths: VarPaths) -> None:
    import uvicorn

    from service.app import create_app
    from service.http_protocol import HTTP_PROTOCOL
    from service.logs import JSON_LOGS_ENV, use_json_logs
    from service.settings import Settings

    _check_port_free(args.host, args.port)
    settings = Settings(
        var_dir=paths.root,
        feature_repo=args.feature_repo,
        feast_profile=args.feast_profile,
    )
    user_id = _example_user(paths)
    hint = (
        f"when the server reports it is running, try (user {user_id} has orders):\n"
        f"  curl 'http://{args.host}:{args.port}/v1/users/{user_id}/"
        "recommendations?k=5'"
    )
    # One JSON line per record, request lines included, instead of uvicorn's
    # text access log.
    use_json_logs()
    # Loading here, not in the app's start-up, turns a missing feature view or
    # an unreachable store into a one-line error instead of a server traceback.
    # Workers load again in their own processes, so with several this first
    # load only checks, and is dropped.
    recommender = _load_for_serving(args, paths, settings)
    if args.workers == 1:
        print(hint)
        uvicorn.run(
            create_app(settings, recommender),
            host=args.host,
            port=args.port,
            http=HTTP_PROTOCOL,
            access_log=False,
            log_config=None,
        )
        return

    del recommender
    # Workers are separate processes that build the app from the environment;
    # their metrics meet in one folder, emptied before they start.
    metrics_dir = paths.root / "prometheus"
    shutil.rmtree(metrics_dir, ignore_errors=True)
    metrics_dir.mkdir(parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    os.environ["RECOMMENDER_VAR_DIR"] = str(paths.root)
    os.environ["RECOMMENDER_FEATURE_REPO"] = str(args.feature_repo)
    os.environ["RECOMMENDER_FEAST_PROFILE"] = args.feast_profile
    os.environ[JSON_LOGS_ENV] = "1"
    # One polars thread per worker unless the caller sets another number. A
    # request's frames have a few hundred rows, where handing work to a pool
    # costs more than it saves, and the workers already fill the cores. With
    # polars' default pool, 2 workers on 2 cores fell behind 200 ranked
    # requests per second (bench/load_bench.py, embedded profile).
    os.environ.setdefault("POLARS_MAX_THREADS", "1")
    print(hint)
    uvicorn.run(
        "service.app:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        http=HTTP_PROTOCOL,
        access_log=False,
        log_config=None,
        # Above uvicorn's default of 5 s, for a worker whose replies wait on
        # the imports of its start on a busy machine.
        timeout_worker_healthcheck=WORKER_REPLY_SECONDS,
    )


def _load_for_serving(
    args: argparse.Namespace, paths: VarPaths, settings: Settings
) -> Recommender:
    """Load what the service serves, or raise ValueError in one line naming
    the profile's stores; warn when the feature tables are stale."""
    from features.feast_store import describe_profile, error_line
    from features.manifest import check_features_current
    from features.paths import PRODUCTION
    from features.store_checks import check_production_stores
    from service.recommender import Recommender

    if settings.feast_profile == PRODUCTION:
        # Feast's Redis client has no timeout, so a Redis that does not reply
        # would hang the start without a word.
        check_production_stores(settings.feature_repo, paths.root)
    try:
        recommender = Recommender(settings)
    except (FileNotFoundError, ValueError):
        raise
    except Exception as error:
        # Feast, SQLite, protobuf, Redis and SQLAlchemy each raise their
        # own types for an unreadable or unreachable store.
        logger.debug("loading for serving failed", exc_info=True)
        where = describe_profile(paths.root, args.feast_profile)
        msg = (
            f"cannot read the features to serve from the "
            f"{args.feast_profile} profile ({where}): "
            f"{error_line(error)}; run "
            "`recommender features` with this profile, or check that its "
            "stores are reachable (-v prints the traceback)"
        )
        raise ValueError(msg) from error
    try:
        check_features_current(paths.features, paths.store, args.feature_repo)
    except ValueError as error:
        logger.warning(
            "%s. Until then the service serves the features of the online "
            "store, and of the users and restaurants added to the store since "
            "that run it reads only what the store declares",
            error,
        )
    return recommender


def _example_user(paths: VarPaths) -> str:
    """Return a user with orders for the start-up hint: U1077 of the README's
    examples when the store has it, else the user with the most orders."""
    import duckdb

    from features import store

    try:
        connection = store.connect(paths.store, read_only=True)
    except (OSError, ValueError, duckdb.Error):
        return README_USER
    try:
        rows = connection.execute(
            "SELECT user_id FROM orders GROUP BY user_id "
            "ORDER BY user_id = ? DESC, count(*) DESC, user_id LIMIT 1",
            [README_USER],
        ).fetchall()
    finally:
        connection.close()
    return str(rows[0][0]) if rows else README_USER


def _promote(args: argparse.Namespace, paths: VarPaths) -> None:
    from models.registry import set_current

    set_current(paths.models, args.version)
    print(
        f"model {args.version} is current; a running service loads it on "
        "POST /v1/admin/reload or at its next start"
    )


def _ingest_feedback(args: argparse.Namespace, paths: VarPaths) -> None:
    from service.feedback import FeedbackLogError, feedback_folder, ingest

    try:
        result = ingest(feedback_folder(paths.root), paths.store)
    except FeedbackLogError as error:
        raise ValueError(str(error)) from error
    print(
        f"feedback events read {result.read}, inserted {result.inserted}, "
        f"already in the store {result.already_present}"
    )


def _clean(args: argparse.Namespace, paths: VarPaths) -> None:
    from service.clean import delete_var_folder

    # paths.root and the default from $RECOMMENDER_VAR_DIR are resolved, but
    # a --var-dir path is not. So a symbolic link that --var-dir names, as the
    # Makefile passes it, is deleted rather than the folder it points to.
    print(delete_var_folder(args.var_dir))


def _check_port_free(host: str, port: int) -> None:
    with socket.socket() as probe:
        # Uvicorn binds with SO_REUSEADDR too, so only a listening socket fails.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            msg = f"cannot listen on {host}:{port}: {error.strerror}; pick --port"
            raise ValueError(msg) from error


def _run(args: argparse.Namespace, paths: VarPaths) -> None:
    if not args.no_serve:
        # Fail before minutes of work, not after.
        _check_port_free(args.host, args.port)
    stages: list[tuple[str, Callable[[argparse.Namespace, VarPaths], None]]] = [
        ("data", _data),
        ("features", _features),
        ("train", _train),
        ("evaluate", _evaluate),
    ]
    for name, stage in stages:
        started = time.perf_counter()
        try:
            stage(args, paths)
        except AuditFailedError as error:
            # The whole job still serves the model it trained; `evaluate` on
            # its own is the release gate.
            logger.warning("%s; serving the model all the same", error)
        logger.info("stage %s took %.1f s", name, time.perf_counter() - started)
    if not args.no_serve:
        _serve(args, paths)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="recommender",
        description="Restaurant recommender pipeline.",
        epilog="Global options such as --var-dir go before the command.",
    )
    parser.add_argument(
        "--var-dir",
        type=Path,
        default=default_var_dir(),
        help=f"folder for generated files (default: ${VAR_DIR_ENV} or ./var)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug lines")
    commands = parser.add_subparsers(dest="command", required=True)

    data = commands.add_parser(
        "data",
        help="replace the store with the bundled UCI data or a synthetic world",
    )
    _add_data_options(data)
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
        _add_data_options,
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
    compare.add_argument("run_a", help="MLflow run id of the first run")
    compare.add_argument("run_b", help="MLflow run id of the second run")
    compare.set_defaults(handler=_runs_compare)


def _add_data_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--source",
        choices=["uci", "synthetic"],
        default="uci",
        help=(
            "uci: the bundled UCI files; synthetic: a generated food-delivery "
            "world (default: uci)"
        ),
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=UCI_DATA_DIR,
        help=f"folder of the UCI CSV files (default: {UCI_DATA_DIR})",
    )
    world = parser.add_argument_group("synthetic world (with --source synthetic)")
    world.add_argument(
        "--users",
        type=int_in_range(MIN_USERS, MAX_WORLD_USERS),
        default=5000,
        help="default: 5000",
    )
    world.add_argument(
        "--restaurants",
        type=int_in_range(MIN_RESTAURANTS, MAX_WORLD_RESTAURANTS),
        default=300,
        help="default: 300",
    )
    world.add_argument(
        "--days",
        type=int_in_range(MIN_DAYS, 3650),
        default=120,
        help="days of orders (default: 120)",
    )
    world.add_argument(
        "--world-seed",
        type=int_in_range(0, 2**32 - 1),
        default=0,
        help="seed of the generator (default: 0)",
    )


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
        "--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)"
    )
    parser.add_argument(
        "--port",
        type=int_in_range(1, 65535),
        default=8000,
        help="port to listen on (default: 8000)",
    )


def int_in_range(low: int, high: int) -> Callable[[str], int]:
    """Return an argparse type that accepts integers from ``low`` to ``high``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            msg = f"expected an integer, got {text!r}"
            raise argparse.ArgumentTypeError(msg) from None
        if not low <= value <= high:
            msg = f"expected an integer from {low} to {high}, got {value}"
            raise argparse.ArgumentTypeError(msg)
        return value

    return parse


if __name__ == "__main__":
    sys.exit(main())
