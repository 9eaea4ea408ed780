"""Benchmark: train the ranker on a synthetic world of a million users.

Generates a world and loads it into a DuckDB store (or reuses the store
already in ``--var-dir`` with its own world, and stops when ``--users`` or
``--restaurants`` differ from it), computes the feature tables at every training
cutoff and at the serving cutoff, writes them as Parquet and applies the Feast
repository. Then it times what `recommender train` does: the check that the
feature tables come from the store as it is, the read of the store, training
cutoffs, labelled users (``max_users_per_cutoff`` of them per cutoff), candidates,
features through ``get_historical_features``, the learnability check, early
stopping and the refit, and the registration of the model. Training reads the
offline store only, so the online store is not materialized here
(``bench/materialize_bench.py`` times that).

Results go to ``train_bench.json`` and ``train_bench.md`` in ``--out-dir``.

    .venv/bin/python bench/train_bench.py                      # 1M users
    .venv/bin/python bench/train_bench.py --users 100000 --restaurants 2000
"""

from __future__ import annotations

import argparse
import json
import resource
import shlex
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench_arguments import (
    add_world_options,
    check_reused_world,
    int_at_least,
    nonempty_file,
    output_folder,
)
from machine_info import describe_machine, format_machine

from features.feast_store import (
    apply_repository,
    open_store,
    write_feature_tables,
)
from features.manifest import check_features_current, write_manifest
from features.paths import (
    EMBEDDED,
    FEATURE_REPO,
    RANKER_CONFIG,
    VarPaths,
    default_var_dir,
)
from features.synthetic import WorldConfig
from models.cutoffs import feature_history
from models.ranker import RankerConfig, load_config
from models.training import train_current_model
from service.cli import hide_library_warnings
from service.pipeline import PROJECT_DIR, generate_synthetic, read_store

TARGET_SECONDS = 600.0
DEFAULT_USERS = 1_000_000
DEFAULT_RESTAURANTS = 20_000
DEFAULT_DAYS = 120
PACKAGES = ("lightgbm", "feast", "polars", "duckdb", "pyarrow", "scipy")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    hide_library_warnings()
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    paths = VarPaths(args.var_dir)
    # The config is checked before a world of minutes is generated.
    try:
        config = load_config(args.config)
    except ValueError as error:
        raise SystemExit(str(error)) from None
    paths.root.mkdir(parents=True, exist_ok=True)
    phases: dict[str, float] = {}

    if paths.store.exists():
        check_reused_world(paths.store, args.users, args.restaurants)
    else:
        _check_days(args.days or DEFAULT_DAYS, config, args.config)
        world_config = WorldConfig(
            users=args.users or DEFAULT_USERS,
            restaurants=args.restaurants or DEFAULT_RESTAURANTS,
            days=args.days or DEFAULT_DAYS,
            seed=0,
        )
        print(f"generating a world of {world_config.users:,} users ...", flush=True)
        phases["generate_and_load_s"] = _timed(
            lambda: generate_synthetic(paths, world_config)
        )

    if args.reuse_features and any(paths.features.glob("*.parquet")):
        print(f"reusing the feature tables in {paths.features}", flush=True)
    else:
        print("computing the feature tables ...", flush=True)
        started = time.perf_counter()
        tables = feature_history(read_store(paths), config.cutoffs)
        write_feature_tables(tables, paths.features)
        del tables
        write_manifest(paths.features, paths.store, FEATURE_REPO)
        phases["feature_tables_s"] = round(time.perf_counter() - started, 1)
    phases["feast_apply_s"] = _timed(
        lambda: apply_repository(FEATURE_REPO, paths.root, EMBEDDED)
    )

    if args.features_only:
        print(f"feature tables ready in {paths.features}; phases {phases}", flush=True)
        return 0

    feature_store = open_store(FEATURE_REPO, paths.root, EMBEDDED)
    runs: list[dict[str, Any]] = []
    world: dict[str, int] = {}
    for run in range(1, args.repeat + 1):
        print(f"training, run {run} of {args.repeat} ...", flush=True)
        started = time.perf_counter()
        check_features_current(paths.features, paths.store, FEATURE_REPO)
        checked = time.perf_counter()
        frames = read_store(paths)
        read = time.perf_counter()
        metadata = train_current_model(
            frames, feature_store, config, paths.models, PROJECT_DIR
        )
        seconds = round(time.perf_counter() - started, 1)
        print(f"trained in {seconds} s", flush=True)
        world = {
            "users": frames.users.height,
            "restaurants": frames.restaurants.height,
            "orders": frames.orders.height,
        }
        # The next run reads the store again, as `recommender train` does.
        del frames
        runs.append(
            {
                "train_s": seconds,
                "phase_seconds": {
                    "freshness_check": round(checked - started, 1),
                    "store_read": round(read - checked, 1),
                    **metadata.training["phase_seconds"],
                },
            }
        )
    seconds_per_run: list[float] = [run["train_s"] for run in runs]
    train_seconds = statistics.median(seconds_per_run)

    report = {
        "command": shlex.join([Path(sys.executable).name, *sys.argv]),
        "started_at": started_at,
        "world": world,
        "config": str(args.config),
        "max_users_per_cutoff": config.max_users_per_cutoff,
        "negatives_per_group": config.negatives_per_group,
        "phases": phases,
        "train_s": train_seconds,
        "train_min_s": min(seconds_per_run),
        "train_max_s": max(seconds_per_run),
        "runs": runs,
        "target_s": TARGET_SECONDS,
        "meets_target": train_seconds < TARGET_SECONDS,
        "training": metadata.training,
        "metrics": metadata.metrics,
        "peak_rss_gb": round(
            resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2, 2
        ),
        "machine": describe_machine(PACKAGES),
    }
    args.out_dir.mkdir(parents=True, exist_ok=True)
    (args.out_dir / "train_bench.json").write_text(json.dumps(report, indent=2) + "\n")
    (args.out_dir / "train_bench.md").write_text(_markdown(report))
    print(_markdown(report))
    return 0 if report["meets_target"] else 1


def _check_days(days: int, config: RankerConfig, path: Path) -> None:
    """Stop when a world of ``days`` is too short for the training cutoffs of
    ``config``, which `features` would find only after the world is made."""
    cutoffs = config.cutoffs
    needed = (cutoffs.cutoffs - 1) * cutoffs.cutoff_every_days + cutoffs.horizon_days
    if days < needed:
        msg = (
            f"--days {days} is too few for the training cutoffs of {path}: they "
            f"need at least {needed} days of orders; pass --days {needed} or more"
        )
        raise SystemExit(msg)


def _timed(step: Any) -> float:
    started = time.perf_counter()
    step()
    return round(time.perf_counter() - started, 1)


def _markdown(report: dict[str, Any]) -> str:
    world = report["world"]
    training = report["training"]
    lines = [
        "# Training benchmark",
        "",
        f"Command: `{report['command']}`, started {report['started_at']}.",
        "",
        f"World: {world['users']:,} users, {world['restaurants']:,} restaurants, "
        f"{world['orders']:,} orders.",
        "",
        "| phase | seconds |",
        "| --- | ---: |",
        *(
            f"| {name.removesuffix('_s')} | {value} |"
            for name, value in report["phases"].items()
        ),
        f"| **train**, median of {len(report['runs'])} (target under "
        f"{report['target_s']:.0f}) | **{report['train_s']}** |",
        f"| train, fastest and slowest run | {report['train_min_s']}, "
        f"{report['train_max_s']} |",
        "",
        f"Training rows {training['rows']:,} in {training['groups']:,} groups "
        f"({training['positives']:,} positives) over {len(training['cutoffs'])} "
        f"cutoffs; {report['max_users_per_cutoff']} labelled users per cutoff at "
        f"most, {report['negatives_per_group']} negatives per group; "
        f"{training['rounds']} boosting rounds kept; "
        f"metrics {report['metrics']}.",
        "",
        "Inside training, in seconds, run by run:",
        "",
        *(
            f"- run {number}: "
            + ", ".join(
                f"{name.replace('_', ' ')} {value}"
                for name, value in run["phase_seconds"].items()
            )
            for number, run in enumerate(report["runs"], start=1)
        ),
        "",
        f"Peak RSS {report['peak_rss_gb']} GB. Machine: "
        f"{format_machine(report['machine'])}.",
        "",
    ]
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_world_options(
        parser, DEFAULT_USERS, DEFAULT_RESTAURANTS, DEFAULT_DAYS, reusable=True
    )
    parser.add_argument(
        "--config",
        type=nonempty_file,
        default=RANKER_CONFIG,
        help="ranker config file (default: %(default)s)",
    )
    parser.add_argument(
        "--var-dir",
        type=Path,
        default=default_var_dir() / "bench" / "train_world",
        help="folder of the store, features and models; an existing store is "
        "reused with its own world (default: bench/train_world in the var folder)",
    )
    parser.add_argument(
        "--out-dir",
        type=output_folder,
        default=str(default_var_dir() / "bench"),
        help="folder for train_bench.json and train_bench.md "
        "(default: bench/ in the var folder)",
    )
    parser.add_argument(
        "--repeat",
        type=int_at_least(1),
        default=1,
        help="train this many times on the same rows and report the median "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--reuse-features",
        action="store_true",
        help="keep the feature tables already in the var folder (written by an "
        "earlier run with the same store and cutoffs) instead of computing them",
    )
    parser.add_argument(
        "--features-only",
        action="store_true",
        help="stop after writing the feature tables and applying the Feast repository",
    )
    return parser


if __name__ == "__main__":
    sys.exit(main())
