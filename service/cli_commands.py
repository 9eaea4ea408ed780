"""Handlers of the ``recommender`` subcommands, except ``serve`` (cli_serve)."""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Callable

from features.paths import VarPaths
from models.tracking import tracking_uri
from service.cli_serve import _check_port_free, _serve

logger = logging.getLogger("recommender")

# Exit code of an import that loaded its good rows but rejected others.
EXIT_REJECTS = 3
EXIT_AUDITS = 4


class RejectedRowsError(Exception):
    """An import rejected rows and the caller did not accept that."""


class AuditFailedError(Exception):
    """An evaluation audit failed: the model is not fit to ship."""


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
        rows = "row" if rejected == 1 else "rows"
        msg = (
            f"{rejected} {rows} rejected; the other rows were loaded. See "
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
    from models.tracking import EXPERIMENT_NAME_ENV, experiment_name

    uri = tracking_uri(paths.root)
    runs = list_runs(uri, args.max_runs)
    if not runs:
        print(
            f"no runs in the experiment {experiment_name()!r} of {uri} (set "
            f"{EXPERIMENT_NAME_ENV} to read another); `recommender train` and "
            "`evaluate` record them"
        )
        return
    print(format_runs(runs))


def _runs_compare(args: argparse.Namespace, paths: VarPaths) -> None:
    from models.runs import compare_runs

    print(compare_runs(tracking_uri(paths.root), args.run_a, args.run_b))


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
