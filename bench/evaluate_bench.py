"""Benchmark: evaluate 100,000 users of a synthetic world.

Generates a world and loads it into a DuckDB store (or reuses the store
already in ``--var-dir`` with its own world, and stops when ``--users`` or
``--restaurants`` differ from it). The latest weekly window is the test window. The
current ranker, the previous one (``ranker_v1``) and the baselines are
trained on the orders before it, untimed. ``--test-users`` users with an
order in the window are drawn (seeded), and the benchmark times what
``make evaluate`` does for them on that window, once the models exist:

- candidates, feature tables at the cutoff, and every model's ranking of
  every candidate, in chunks of users;
- the segment attributes and members;
- the analysis: ranking and beyond-accuracy metrics, bootstrap intervals,
  exposure, SliceLine, the comparison and the audits;
- writing ``report.json``, ``report.md`` and ``report.html``.

Results go to ``evaluate_bench.json`` and ``evaluate_bench.md`` in
``--out-dir``.

    .venv/bin/python bench/evaluate_bench.py                  # 100,000 users
    .venv/bin/python bench/evaluate_bench.py --users 20000 --test-users 5000
    .venv/bin/python bench/evaluate_bench.py --reuse-models   # models of the last run
"""

from __future__ import annotations

import argparse
import hashlib
import json
import pickle
import resource
import shlex
import sys
import time
from dataclasses import asdict, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
from bench_arguments import (
    add_world_options,
    check_reused_world,
    int_at_least,
    nonempty_file,
    output_folder,
)
from machine_info import describe_machine, format_machine

from features.feast_store import apply_repository, open_store
from features.paths import (
    AUDITS_CONFIG,
    EMBEDDED,
    FEATURE_REPO,
    RANKER_CONFIG,
    SEGMENTS_CONFIG,
    VarPaths,
    default_var_dir,
)
from features.schema import USER_ID
from features.store import fingerprint
from features.synthetic import WorldConfig
from models.analysis import analyse, segment_metrics
from models.audits import load_audits
from models.baselines import default_baselines
from models.cutoffs import describe_relevance, serving_cutoff
from models.dataset import numeric_features
from models.evaluate import (
    fit_scorers,
    rank_window,
    split_result,
    summarize,
    write_report,
)
from models.ranker import load_config
from models.report_render import write_html
from models.segments import assign_segments, attributes_at, load_segments
from models.splits import temporal_splits
from service.cli import hide_library_warnings
from service.pipeline import generate_synthetic, read_store, read_true_segments

TARGET_SECONDS = 180.0
DEFAULT_USERS = 210_000
DEFAULT_RESTAURANTS = 2_000
DEFAULT_DAYS = 120
PREVIOUS = "ranker_v1"
PACKAGES = ("lightgbm", "polars", "numpy", "sliceline", "matplotlib")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    hide_library_warnings()
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    paths = VarPaths(args.var_dir)
    paths.root.mkdir(parents=True, exist_ok=True)
    if paths.store.exists():
        check_reused_world(paths.store, args.users, args.restaurants)
    else:
        world = WorldConfig(
            users=args.users or DEFAULT_USERS,
            restaurants=args.restaurants or DEFAULT_RESTAURANTS,
            days=args.days or DEFAULT_DAYS,
            seed=0,
        )
        print(f"generating a world of {world.users:,} users ...", flush=True)
        generate_synthetic(paths, world)
    frames = read_store(paths)
    data_fingerprint = fingerprint(frames.orders)
    config = load_config(args.config)
    # The registry gives the feature lists of both services.
    apply_repository(FEATURE_REPO, paths.root, EMBEDDED)
    feature_store = open_store(FEATURE_REPO, paths.root, EMBEDDED)
    features = numeric_features(feature_store, config.feature_service)
    previous = (PREVIOUS, numeric_features(feature_store, PREVIOUS))

    (split,) = temporal_splits(
        frames.orders, 1, config.cutoffs.horizon_days, serving_cutoff(frames)
    )
    assert split.test_from is not None
    train_frames = replace(frames, orders=split.train)
    fitting = time.perf_counter()
    models_key = _models_key(args.config, data_fingerprint)
    scorers = _fitted_models(args, paths.root / "bench_models.pkl", models_key)
    reused = scorers is not None
    if scorers is None:
        print("training the models (not timed) ...", flush=True)
        scorers = fit_scorers(
            train_frames, config, features, default_baselines(), previous
        )
        _save_models(paths.root / "bench_models.pkl", models_key, scorers)
    fit_seconds = round(time.perf_counter() - fitting, 1)

    window_users = split.test[USER_ID].unique().sort()
    sample = window_users.sample(
        min(args.test_users, window_users.len()), seed=args.seed
    )
    test = split.test.filter(pl.col(USER_ID).is_in(sample.implode()))
    segment_specs = load_segments(SEGMENTS_CONFIG)
    audit_specs = load_audits(AUDITS_CONFIG, segment_specs, args.k)
    true_segments = read_true_segments(paths)

    print(f"evaluating {sample.len():,} users ...", flush=True)
    phases: dict[str, float] = {}
    clock = time.perf_counter()
    started = clock

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        phases[name] = round(now - clock, 1)
        clock = now

    ranking: dict[str, float] = {}
    ranked = rank_window(
        train_frames,
        test,
        split.test_from,
        config,
        scorers,
        args.k,
        previous=PREVIOUS,
        timings=ranking,
    )
    lap("rank")
    users, restaurants = attributes_at(train_frames, split.test_from, ranked.tables)
    segments = assign_segments(segment_specs, users, restaurants)
    lap("segments")
    analysis = analyse(
        ranked,
        segments,
        users,
        restaurants,
        audit_specs,
        true_segments=true_segments,
    )
    lap("analysis")
    result = split_result(split, ranked, args.k)
    report: dict[str, Any] = {
        "created_at": started_at,
        "split_kind": "temporal",
        "relevance": describe_relevance(config.cutoffs.min_rating),
        "settings": {"n_splits": 1, "k": args.k},
        "ranker": {
            "feature_service": config.feature_service,
            "cutoffs": asdict(config.cutoffs),
            "features": features,
        },
        "summary": summarize([result]),
        "splits": [result],
        "candidate_recall": result["candidate_recall"],
        "analysis": analysis.section,
        "segments": segment_metrics(analysis.section),
    }
    write_report(report, args.out_dir / "report")
    write_html(report, args.out_dir / "report")
    lap("report")
    seconds = round(time.perf_counter() - started, 1)

    outcome = {
        "command": shlex.join([Path(sys.executable).name, *sys.argv]),
        "started_at": started_at,
        "world": {
            "users": frames.users.height,
            "restaurants": frames.restaurants.height,
            "orders": frames.orders.height,
        },
        "test_from": split.test_from.isoformat(),
        "window_users": window_users.len(),
        "evaluated_users": len(ranked.relevant),
        "candidate_rows": int(ranked.candidates["candidates"].sum()),
        "models": list(ranked.lists),
        "fit_s": fit_seconds,
        "models_reused": reused,
        "phases": phases,
        "rank_phases": {name: round(value, 1) for name, value in ranking.items()},
        "evaluate_s": seconds,
        "target_s": TARGET_SECONDS,
        "meets_target": seconds < TARGET_SECONDS,
        "ndcg_at_k": {
            model: values[f"ndcg@{args.k}"]
            for model, values in analysis.section["overall"].items()
        },
        "audits": {
            audit.name + ("" if audit.segment == "all" else f"[{audit.segment}]"): (
                audit.status
            )
            for audit in analysis.audits
        },
        "peak_rss_gb": round(
            resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2, 2
        ),
        "machine": describe_machine(PACKAGES),
    }
    args.out_dir.mkdir(parents=True, exist_ok=True)
    (args.out_dir / "evaluate_bench.json").write_text(
        json.dumps(outcome, indent=2) + "\n"
    )
    (args.out_dir / "evaluate_bench.md").write_text(_markdown(outcome))
    print(_markdown(outcome))
    return 0 if outcome["meets_target"] else 1


def _models_key(config: Path, data_fingerprint: str) -> str:
    """Return a hash of what the fitted models depend on: the config file and
    the orders of the store (:func:`features.store.fingerprint`)."""
    digest = hashlib.sha256(config.read_bytes())
    digest.update(data_fingerprint.encode())
    return digest.hexdigest()


def _fitted_models(args: argparse.Namespace, path: Path, key: str) -> list[Any] | None:
    """Return the models fitted by an earlier run on the same orders, with
    ``--reuse-models`` and the same config file; None otherwise."""
    if not args.reuse_models or not path.exists():
        return None
    with path.open("rb") as handle:
        saved_key, scorers = pickle.load(handle)
    if saved_key != key:
        print(
            f"not reusing the models saved in {path}: the ranker config or the "
            "store's orders changed since they were fitted",
            flush=True,
        )
        return None
    print(f"reusing the models saved in {path}", flush=True)
    return list(scorers)


def _save_models(path: Path, key: str, scorers: list[Any]) -> None:
    with path.open("wb") as handle:
        pickle.dump((key, scorers), handle)


def _markdown(result: dict[str, Any]) -> str:
    world = result["world"]
    lines = [
        "# Evaluation benchmark",
        "",
        f"Command: `{result['command']}`, started {result['started_at']}.",
        "",
        f"World: {world['users']:,} users, {world['restaurants']:,} restaurants, "
        f"{world['orders']:,} orders. Test window from {result['test_from'][:10]}: "
        f"{result['evaluated_users']:,} users evaluated of "
        f"{result['window_users']:,} with an order in it, "
        f"{result['candidate_rows']:,} candidate rows, "
        f"{len(result['models'])} models ({', '.join(result['models'])}).",
        "",
        "| phase | seconds |",
        "| --- | ---: |",
        *(f"| {name} | {value} |" for name, value in result["phases"].items()),
        f"| **evaluate** (target under {result['target_s']:.0f}) | "
        f"**{result['evaluate_s']}** |",
        "",
        "Within the ranking:",
        "",
        "| step | seconds |",
        "| --- | ---: |",
        *(f"| {name} | {value} |" for name, value in result["rank_phases"].items()),
        "",
        (
            f"Loading the models saved by an earlier run took {result['fit_s']} s"
            if result["models_reused"]
            else f"Training the models beforehand took {result['fit_s']} s"
        )
        + " (not counted).",
        f"Peak RSS {result['peak_rss_gb']} GB. Machine: "
        f"{format_machine(result['machine'])}.",
        "",
    ]
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_world_options(
        parser, DEFAULT_USERS, DEFAULT_RESTAURANTS, DEFAULT_DAYS, reusable=True
    )
    parser.add_argument(
        "--test-users",
        type=int_at_least(1),
        default=100_000,
        help="users with an order in the test window to evaluate, drawn with "
        "--seed (default: %(default)s)",
    )
    parser.add_argument(
        "--seed",
        type=int_at_least(0),
        default=0,
        help="seed of the draw of test users (default: %(default)s)",
    )
    parser.add_argument(
        "--k",
        type=int_at_least(1),
        default=10,
        help="list length of the metrics and of the @k audits (default: %(default)s)",
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
        default=default_var_dir() / "bench" / "evaluate_world",
        help="folder of the store; an existing store is reused with its own "
        "world (default: bench/evaluate_world in the var folder)",
    )
    parser.add_argument(
        "--reuse-models",
        action="store_true",
        help="load the models fitted by an earlier run on the same orders and "
        "config instead of training them again",
    )
    parser.add_argument(
        "--out-dir",
        type=output_folder,
        default=str(default_var_dir() / "bench" / "evaluate"),
        help="folder for evaluate_bench.json, evaluate_bench.md and report/ "
        "(default: bench/evaluate in the var folder)",
    )
    return parser


if __name__ == "__main__":
    sys.exit(main())
