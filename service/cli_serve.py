"""The ``recommender serve`` handler: port check, first load and uvicorn start."""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import socket
from typing import TYPE_CHECKING

from features.paths import VarPaths

if TYPE_CHECKING:
    from service.recommender import Recommender
    from service.settings import Settings

logger = logging.getLogger("recommender")
# The UCI user of the README's examples.
README_USER = "U1077"

# How long uvicorn's supervisor waits for a worker's reply to a health check.
# uvicorn 0.55 keeps the worker's end of the check's pipe open in the parent,
# so a worker that dies between check and reply costs the whole wait, during
# which nothing replaces it and the parent does not stop on Ctrl-C. A thread
# of the worker replies from its start, while the app still loads, so the wait
# covers only a worker whose interpreter is blocked, not its loading time.
WORKER_REPLY_SECONDS = 30


def _serve(args: argparse.Namespace, paths: VarPaths) -> None:
    import uvicorn

    from service.app import create_app
    from service.http_protocol import HTTP_PROTOCOL, WEBSOCKET_PROTOCOL
    from service.logs import JSON_LOGS_ENV, use_json_logs
    from service.settings import load_settings

    _check_port_free(args.host, args.port)
    settings = load_settings(
        var_dir=paths.root,
        feature_repo=args.feature_repo,
        feast_profile=args.feast_profile,
    )
    user_id = _example_user(paths)
    hint = (
        f"when the server reports it is running, try (user {user_id} has orders):\n"
        f"  curl '{base_url(args.host, args.port)}/v1/users/{user_id}/"
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
            ws=WEBSOCKET_PROTOCOL,
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
        ws=WEBSOCKET_PROTOCOL,
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


def _is_ipv6(host: str) -> bool:
    """Return whether uvicorn (0.55) binds ``host`` as an IPv6 address, which
    it does for any host with a ':'."""
    return ":" in host


def base_url(host: str, port: int) -> str:
    """Return the URL of a server on ``host`` and ``port``, with an IPv6
    address in brackets."""
    address = f"[{host}]" if _is_ipv6(host) else host
    return f"http://{address}:{port}"


def _check_port_free(host: str, port: int) -> None:
    """Raise ValueError when uvicorn could not listen on ``host`` and ``port``."""
    family = socket.AF_INET6 if _is_ipv6(host) else socket.AF_INET
    address = base_url(host, port).removeprefix("http://")
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        # Uvicorn binds with SO_REUSEADDR too, so only a listening socket fails.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            msg = (
                f"cannot listen on {address}: {error.strerror}; pick another "
                "--port, or check --host"
            )
            raise ValueError(msg) from error
