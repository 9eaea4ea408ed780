"""Benchmark: materialize the user feature views of a synthetic world.

Builds the user (and restaurant) feature tables of a generated world at its
serving cutoff, writes them as Parquet, applies the Feast repository, then
times the materialization of every user view into the online store of the
chosen profile. ``--writer bulk`` (the default for the production profile)
times the bulk Redis writer of ``features.online_write`` over all user views
at once; ``--writer feast`` times ``FeatureStore.materialize`` once per view.
Before each run the online values are removed, so every run writes all rows.
A sample of users is read back with ``get_online_features`` and compared with
the tables. Each run then times ``features.online_prune.prune_online_rows``
with one user in a hundred left out of the tables, as if the data no longer
had them, and a sample of those users must read back without features.

Results go to ``materialize_bench_<profile>_<writer>.json`` and ``.md`` in
``--out-dir``. The scratch folder ``<out-dir>/var/`` (feature tables, Feast
files and the SQLite online store) is deleted at the end unless
``--keep-var`` is given, and a production run removes its Feast project.

    .venv/bin/python bench/materialize_bench.py                  # 1M users, SQLite
    .venv/bin/python bench/materialize_bench.py --profile production   # Redis, bulk
    .venv/bin/python bench/materialize_bench.py --profile production --writer feast
    .venv/bin/python bench/materialize_bench.py --users 100000 --repeat 3
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import resource
import shlex
import shutil
import statistics
import sys
import time
import uuid
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import redis
from bench_arguments import MIN_USERS, int_at_least, output_folder
from feast import FeatureStore
from machine_info import describe_machine
from materialize_checks import SAMPLE_USERS, check_pruned, check_sample
from sqlalchemy.exc import SQLAlchemyError

from features.feast_store import (
    MATERIALIZE_FROM,
    PROJECT_ENV,
    REDIS_ENV,
    USER_VIEWS,
    apply_repository,
    open_store,
    remove_project,
    write_feature_tables,
)
from features.online_prune import prune_online_rows
from features.online_write import materialize_redis
from features.paths import (
    EMBEDDED,
    FEAST_PROFILES,
    FEATURE_REPO,
    PRODUCTION,
    default_var_dir,
)
from features.redis_resp import RedisAddress
from features.schema import USER_ID
from features.synthetic import WorldConfig, generate_world
from features.transforms import (
    USER,
    StoreFrames,
    compute_tables,
    join_entity_tables,
    snapshot_at,
)
from models.cutoffs import serving_cutoff
from service.cli import hide_library_warnings

TARGET_SECONDS = 60.0
PACKAGES = ("feast", "polars", "duckdb", "pyarrow", "redis", "hiredis")
BULK = "bulk"
FEAST = "feast"
# One user in this many is left out of the tables that the pruning reads.
PRUNED_EVERY = 100


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    hide_library_warnings()
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    writer = args.writer or (BULK if args.profile == PRODUCTION else FEAST)
    if writer == BULK and args.profile != PRODUCTION:
        msg = "--writer bulk writes to Redis only; use it with --profile production"
        raise SystemExit(msg)
    var_dir = args.out_dir / "var"
    var_dir.mkdir(parents=True, exist_ok=True)
    if args.profile == PRODUCTION:
        # A project of its own, removed at the end, in the shared registry.
        os.environ[PROJECT_ENV] = f"materialize_bench_{uuid.uuid4().hex[:8]}"

    print(f"building the feature tables of {args.users:,} users ...", flush=True)
    started = time.perf_counter()
    tables = _feature_tables(args.users, args.seed)
    build_seconds = time.perf_counter() - started
    write_feature_tables(tables, var_dir / "features")
    users = join_entity_tables(tables, USER)
    del tables
    position = pl.int_range(pl.len())
    ids = users.select(USER_ID).sort(USER_ID)
    kept_users = ids.filter(position % PRUNED_EVERY != 1)
    pruned = ids.filter(position % PRUNED_EVERY == 1)[USER_ID].to_list()

    runs = []
    try:
        for number in range(1, args.repeat + 1):
            print(f"run {number} of {args.repeat} ...", flush=True)
            runs.append(_run_once(var_dir, args.profile, writer, kept_users))
            print(
                f"materialized {args.users:,} users in {runs[-1]['total_s']} s, "
                f"pruned {runs[-1]['pruned_users']:,} in {runs[-1]['prune_s']} s",
                flush=True,
            )
        # The pruned users have no online rows, so the sample leaves them out.
        mismatches = check_sample(
            var_dir, args.profile, users.filter(~pl.col(USER_ID).is_in(pruned))
        )
        mismatches += check_pruned(var_dir, args.profile, pruned)
    finally:
        if args.profile == PRODUCTION:
            _remove_bench_project(var_dir)
        if not args.keep_var:
            shutil.rmtree(var_dir, ignore_errors=True)

    report = {
        "command": shlex.join([Path(sys.executable).name, *sys.argv]),
        "started_at": started_at,
        "users": args.users,
        "profile": args.profile,
        "writer": writer,
        "views": list(USER_VIEWS),
        "features_per_user": users.width - 1,
        "build_tables_s": round(build_seconds, 2),
        "machine": describe_machine(PACKAGES),
        "target_s": TARGET_SECONDS,
        "runs": runs,
        "summary": _summarize(runs),
        "sample_checked": min(SAMPLE_USERS, users.height - len(pruned)),
        "sample_mismatches": mismatches,
        "peak_rss_gb": round(_peak_rss_bytes() / 1e9, 3),
    }
    args.out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"materialize_bench_{args.profile}_{writer}"
    json_path = args.out_dir / f"{stem}.json"
    json_path.write_text(json.dumps(report, indent=2) + "\n")
    markdown_path = args.out_dir / f"{stem}.md"
    markdown_path.write_text(to_markdown(report))
    print(f"wrote {json_path} and {markdown_path}")
    return 0 if not mismatches else 1


def _remove_bench_project(var_dir: Path) -> None:
    """Remove the benchmark's Feast project from the registry and Redis.

    When Redis fails, the registry rows are still removed and one line
    names the project, so a failed run does not end in a second traceback
    that hides the first.
    """
    project = os.environ[PROJECT_ENV]
    try:
        store = open_store(FEATURE_REPO, var_dir, PRODUCTION)
    except (OSError, SQLAlchemyError) as error:
        print(
            f"could not open the Feast registry to remove project {project}: {error}",
            file=sys.stderr,
        )
        return
    try:
        remove_project(store)
    except redis.exceptions.RedisError as error:
        # NOTE: the online keys of the project stay in Redis, and a SQL
        # registry keeps the project's feature view version history rows.
        print(
            f"Redis failed while removing the online values of Feast project "
            f"{project} ({error}); removing its registry entries only",
            file=sys.stderr,
        )
        try:
            store.registry.delete_project(project)
        except SQLAlchemyError as registry_error:
            print(
                f"could not remove Feast project {project} from the registry: "
                f"{registry_error}",
                file=sys.stderr,
            )


def _feature_tables(users: int, seed: int) -> dict[str, pl.DataFrame]:
    """Every feature table of a generated world at its serving cutoff."""
    config = WorldConfig(
        users=users,
        restaurants=max(60, users // 50),
        days=30,
        seed=seed,
        orders_per_user=8.0,
    )
    world = generate_world(config)
    frames = StoreFrames.from_tables(world)
    del world
    return compute_tables(snapshot_at(frames, serving_cutoff(frames)))


def _run_once(
    var_dir: Path, profile: str, writer: str, kept_users: pl.DataFrame
) -> dict[str, Any]:
    """Apply the repository on an empty online store and time the user views:
    all at once with the bulk writer, one at a time with Feast's. Then time
    the pruning of the users that ``kept_users`` lacks."""
    store = open_store(FEATURE_REPO, var_dir, profile)
    if profile == EMBEDDED:
        (var_dir / "feast" / "online_store.db").unlink(missing_ok=True)
        (var_dir / "feast" / "registry.db").unlink(missing_ok=True)
    else:
        with contextlib.suppress(Exception):
            remove_project(store)
    apply_repository(FEATURE_REPO, var_dir, profile)
    store = open_store(FEATURE_REPO, var_dir, profile)

    end = datetime.now(UTC) + timedelta(minutes=1)
    if writer == BULK:
        load = os.getloadavg()[0]
        redis_cpu = _redis_cpu_seconds()
        process_cpu = time.process_time()
        started = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            materialize_redis(store, MATERIALIZE_FROM, end, USER_VIEWS)
        run = {
            "views_s": {},
            "total_s": round(time.perf_counter() - started, 2),
            "process_cpu_s": round(time.process_time() - process_cpu, 2),
            "redis_cpu_s": round(_redis_cpu_seconds() - redis_cpu, 2),
            "load_average_1m": round(load, 2),
        }
        return run | _time_prune(store, kept_users)
    seconds: dict[str, float] = {}
    for view in USER_VIEWS:
        started = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            store.materialize(
                start_date=MATERIALIZE_FROM, end_date=end, feature_views=[view]
            )
        seconds[view] = round(time.perf_counter() - started, 2)
    run = {"views_s": seconds, "total_s": round(sum(seconds.values()), 2)}
    return run | _time_prune(store, kept_users)


def _time_prune(store: FeatureStore, kept_users: pl.DataFrame) -> dict[str, Any]:
    """Time the pruning of the user views to the users of ``kept_users``."""
    started = time.perf_counter()
    deleted = prune_online_rows(store, {view: kept_users for view in USER_VIEWS})
    return {
        "prune_s": round(time.perf_counter() - started, 2),
        "pruned_users": max(deleted.values(), default=0),
    }


def _redis_cpu_seconds() -> float:
    """CPU seconds the Redis server has used, from INFO cpu."""
    address = RedisAddress.parse(os.environ[REDIS_ENV])
    client = redis.Redis(host=address.host, port=address.port, db=address.db)
    try:
        info = client.info("cpu")
    finally:
        client.close()
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def _summarize(runs: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Median, minimum and maximum seconds of the total and of each view."""
    metrics: dict[str, list[float]] = {"total_s": [r["total_s"] for r in runs]}
    metrics["prune_s"] = [r["prune_s"] for r in runs]
    for name in ("process_cpu_s", "redis_cpu_s", "load_average_1m"):
        if name in runs[0]:
            metrics[name] = [r[name] for r in runs]
    for view in runs[0]["views_s"]:
        metrics[f"{view}_s"] = [r["views_s"][view] for r in runs]
    return {
        name: {
            "median": round(statistics.median(values), 2),
            "min": min(values),
            "max": max(values),
        }
        for name, values in metrics.items()
    }


def to_markdown(report: dict[str, Any]) -> str:
    """Render the report as a Markdown page."""
    machine = report["machine"]
    packages = ", ".join(
        f"{name} {version}" for name, version in machine["packages"].items()
    )
    total = report["summary"]["total_s"]
    verdict = "met" if total["median"] < report["target_s"] else "missed"
    store = "SQLite" if report["profile"] == EMBEDDED else "Redis"
    how = (
        "the bulk writer `features.online_write.materialize_redis`, all views at once"
        if report["writer"] == BULK
        else "`FeatureStore.materialize`, one view at a time"
    )
    lines = [
        "# Materialization benchmark",
        "",
        f"Command: `{report['command']}`, started {report['started_at']}.",
        "",
        f"{report['users']:,} users, {report['features_per_user']} features each "
        f"in {len(report['views'])} views ({', '.join(report['views'])}), "
        f"materialized with {how} into the {store} online "
        f"store ({report['profile']} profile).",
        "",
        f"Machine: {machine['cpu']}, {machine['logical_cores']} logical cores, "
        f"{machine['memory_gb']} GB memory, {machine['os']}, Python "
        f"{machine['python']}, {packages}; commit {machine['git_commit']}.",
        "",
        "| metric | median | min | max |",
        "| --- | ---: | ---: | ---: |",
        *(
            f"| {name} | {values['median']} | {values['min']} | {values['max']} |"
            for name, values in report["summary"].items()
        ),
        "",
        f"Runs: {len(report['runs'])}. Target: under {report['target_s']:.0f} s "
        f"({verdict} by the median). Peak RSS {report['peak_rss_gb']} GB. "
        f"{report['sample_checked']} users read back online, "
        f"{len(report['sample_mismatches'])} values differing from the tables "
        "or left to a pruned user.",
        "",
        f"prune_s is the pruning of {report['runs'][0]['pruned_users']:,} users "
        "(one in a hundred) that the tables no longer have, after "
        "materializing.",
        "",
    ]
    return "\n".join(lines)


def _peak_rss_bytes() -> int:
    # Linux reports ru_maxrss in kilobytes.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Materialize the user feature views of a synthetic world, timed.",
    )
    parser.add_argument(
        "--users",
        type=int_at_least(MIN_USERS),
        default=1_000_000,
        help=f"number of users, at least {MIN_USERS} (default: %(default)s)",
    )
    parser.add_argument(
        "--profile",
        choices=FEAST_PROFILES,
        default=EMBEDDED,
        help="embedded: SQLite online store; production: Redis (default: embedded)",
    )
    parser.add_argument(
        "--writer",
        choices=(BULK, FEAST),
        default=None,
        help="bulk: the bulk Redis writer (production profile only); feast: "
        "FeatureStore.materialize (default: bulk for production, else feast)",
    )
    parser.add_argument(
        "--seed", type=int_at_least(0), default=0, help="world seed (default: 0)"
    )
    parser.add_argument(
        "--repeat",
        type=int_at_least(1),
        default=1,
        help="timed runs (default: %(default)s)",
    )
    parser.add_argument(
        "--keep-var",
        action="store_true",
        help="keep the scratch folder <out-dir>/var/ (feature tables, Feast "
        "registry and SQLite online store, about 6 GB at 1,000,000 users); by "
        "default it is deleted at the end of the run",
    )
    parser.add_argument(
        "--out-dir",
        type=output_folder,
        default=str(default_var_dir() / "bench"),
        help="folder for the results (default: bench/ in the var folder)",
    )
    return parser


if __name__ == "__main__":
    sys.exit(main())
