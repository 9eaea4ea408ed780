"""Benchmark: generate a synthetic world and load it into a DuckDB store file.

Each run is a child process, so that its peak resident memory (RSS) covers
generation and loading alone. Results go to ``store_bench.json`` and
``store_bench.md`` in ``--out-dir``; the store file is deleted after each run
unless ``--keep-store`` is given.

    .venv/bin/python bench/store_bench.py                   # 1M users, 20k places
    .venv/bin/python bench/store_bench.py --users 100000 --restaurants 2000
"""

from __future__ import annotations

import argparse
import json
import resource
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench_arguments import (
    add_world_options,
    float_at_least,
    int_at_least,
    memory_limit,
    output_folder,
)
from machine_info import describe_machine

from features.paths import default_var_dir
from features.rejects import RejectLog
from features.store import connect, load_frames, set_memory_limit, table_counts
from features.synthetic import WorldConfig, generate_world

# Targets for the full-size world on a 2-core machine.
TARGET_TOTAL_SECONDS = 600.0
TARGET_PEAK_RSS_BYTES = 8 * 10**9

PACKAGES = ("numpy", "polars", "duckdb", "pyarrow")
METRICS = (
    "generate_s",
    "load_s",
    "total_s",
    "peak_rss_gb",
    "generate_peak_rss_gb",
    "store_gb",
)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    config = WorldConfig(
        users=args.users,
        restaurants=args.restaurants,
        days=args.days,
        seed=args.seed,
        orders_per_user=args.orders_per_user,
    )
    config.validate()
    memory_limit = None if args.memory_limit.lower() == "none" else args.memory_limit
    if args.child_result is not None:
        result = run_once(config, args.out_dir / "store.duckdb", memory_limit)
        if not args.keep_store:
            _remove_store(args.out_dir / "store.duckdb")
        args.child_result.write_text(json.dumps(result))
        return 0

    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    args.out_dir.mkdir(parents=True, exist_ok=True)
    runs = []
    for number in range(1, args.repeat + 1):
        print(f"run {number} of {args.repeat} ...", flush=True)
        runs.append(_run_child(argv if argv is not None else sys.argv[1:], args))
        print(_run_line(runs[-1]), flush=True)

    report = {
        "command": shlex.join([Path(sys.executable).name, *sys.argv]),
        "started_at": started_at,
        "config": {
            "users": config.users,
            "restaurants": config.restaurants,
            "days": config.days,
            "seed": config.seed,
            "orders_per_user": config.orders_per_user,
            "start": config.start.isoformat(),
            "memory_limit": memory_limit,
        },
        "machine": describe_machine(PACKAGES),
        "targets": {
            "total_s": TARGET_TOTAL_SECONDS,
            "peak_rss_gb": TARGET_PEAK_RSS_BYTES / 1e9,
        },
        "runs": runs,
        "summary": summarize(runs),
    }
    json_path = args.out_dir / "store_bench.json"
    json_path.write_text(json.dumps(report, indent=2) + "\n")
    markdown_path = args.out_dir / "store_bench.md"
    markdown_path.write_text(to_markdown(report))
    print(f"wrote {json_path} and {markdown_path}")
    return 0


def run_once(
    config: WorldConfig, store_path: Path, memory_limit: str | None
) -> dict[str, Any]:
    """Generate the world, load it into a new store file, and measure both."""
    _remove_store(store_path)
    started = time.perf_counter()
    frames = generate_world(config)
    generated = time.perf_counter()
    generate_peak_rss = _peak_rss_bytes()
    rows = {name: frame.height for name, frame in frames.items()}

    connection = connect(store_path)
    try:
        if memory_limit is not None:
            set_memory_limit(connection, memory_limit)
        load_frames(connection, frames, RejectLog().to_frame(), release=True)
        loaded = time.perf_counter()
        stored = table_counts(connection)
    finally:
        connection.close()
    mismatched = {name for name, count in rows.items() if stored[name] != count}
    if mismatched:
        msg = f"row counts differ after loading tables {sorted(mismatched)}"
        raise RuntimeError(msg)

    return {
        "generate_s": round(generated - started, 2),
        "load_s": round(loaded - generated, 2),
        "total_s": round(loaded - started, 2),
        "peak_rss_gb": round(_peak_rss_bytes() / 1e9, 3),
        "generate_peak_rss_gb": round(generate_peak_rss / 1e9, 3),
        "store_gb": round(_store_bytes(store_path) / 1e9, 3),
        "rows": rows,
    }


def summarize(runs: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Return the median, minimum and maximum of each metric over the runs."""
    summary = {}
    for metric in METRICS:
        values = [run[metric] for run in runs]
        summary[metric] = {
            "median": round(statistics.median(values), 3),
            "min": min(values),
            "max": max(values),
        }
    return summary


def to_markdown(report: dict[str, Any]) -> str:
    """Render the report as a Markdown page: command, world, machine, rows and
    summary."""
    config = report["config"]
    machine_info = report["machine"]
    summary = report["summary"]
    runs = report["runs"]
    targets = report["targets"]
    packages = ", ".join(
        f"{name} {version}" for name, version in machine_info["packages"].items()
    )
    fast_enough = summary["total_s"]["median"] < targets["total_s"]
    small_enough = summary["peak_rss_gb"]["max"] < targets["peak_rss_gb"]
    total_verdict = "met" if fast_enough else "missed"
    memory_verdict = "met" if small_enough else "missed"
    lines = [
        "# Store benchmark",
        "",
        f"Command: `{report['command']}`, started {report['started_at']}.",
        "",
        f"World: {config['users']:,} users, {config['restaurants']:,} restaurants, "
        f"{config['days']} days, seed {config['seed']}, "
        f"{config['orders_per_user']} orders per user; DuckDB memory_limit "
        f"{config['memory_limit'] or 'default'}.",
        "",
        f"Machine: {machine_info['cpu']}, {machine_info['logical_cores']} logical "
        f"cores, {machine_info['memory_gb']} GB memory, {machine_info['os']}, "
        f"Python {machine_info['python']}, {packages}; "
        f"commit {machine_info['git_commit']}.",
        "",
        "| rows | count |",
        "| --- | ---: |",
        *(f"| {name} | {count:,} |" for name, count in runs[0]["rows"].items()),
        "",
        "| metric | median | min | max |",
        "| --- | ---: | ---: | ---: |",
        *(
            f"| {metric} | {values['median']} | {values['min']} | {values['max']} |"
            for metric, values in summary.items()
        ),
        "",
        f"Runs: {len(runs)}. Targets: total under {targets['total_s']:.0f} s "
        f"({total_verdict} by the median), peak RSS under "
        f"{targets['peak_rss_gb']:.0f} GB ({memory_verdict} by the maximum).",
        "",
    ]
    return "\n".join(lines)


def _run_child(argv: list[str], args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as scratch:
        result_path = Path(scratch) / "result.json"
        command = [
            sys.executable,
            str(Path(__file__).resolve()),
            *argv,
            "--child-result",
            str(result_path),
        ]
        subprocess.run(command, check=True)
        result: dict[str, Any] = json.loads(result_path.read_text())
        return result


def _run_line(run: dict[str, Any]) -> str:
    return (
        f"generate {run['generate_s']} s, load {run['load_s']} s, "
        f"total {run['total_s']} s, peak RSS {run['peak_rss_gb']} GB, "
        f"store {run['store_gb']} GB"
    )


def _peak_rss_bytes() -> int:
    # Linux reports ru_maxrss in kilobytes.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _store_bytes(store_path: Path) -> int:
    wal = store_path.with_name(store_path.name + ".wal")
    return sum(path.stat().st_size for path in (store_path, wal) if path.exists())


def _remove_store(store_path: Path) -> None:
    store_path.with_name(store_path.name + ".wal").unlink(missing_ok=True)
    store_path.unlink(missing_ok=True)


def _parser() -> argparse.ArgumentParser:
    defaults = WorldConfig()
    parser = argparse.ArgumentParser(
        description="Generate a synthetic world and load it into DuckDB, timed.",
    )
    add_world_options(parser, 1_000_000, 20_000, defaults.days)
    parser.add_argument(
        "--seed",
        type=int_at_least(0),
        default=defaults.seed,
        help="random seed of the world (default: %(default)s)",
    )
    parser.add_argument(
        "--orders-per-user",
        type=float_at_least(1),
        default=defaults.orders_per_user,
        help="mean orders per user, new users included (default: %(default)s)",
    )
    parser.add_argument(
        "--memory-limit",
        type=memory_limit,
        default="none",
        help=(
            "DuckDB memory_limit for the load, such as 5GB, or 'none' for "
            "DuckDB's default of 80%% of RAM. It must exceed the largest key "
            "index, about 3 GB for the order items of 20 million orders "
            "(default: %(default)s)"
        ),
    )
    parser.add_argument(
        "--repeat",
        type=int_at_least(1),
        default=1,
        help="number of runs, one after another (default: %(default)s)",
    )
    parser.add_argument(
        "--out-dir",
        type=output_folder,
        default=str(default_var_dir() / "bench"),
        help="folder for the store file and the reports "
        "(default: bench/ in the var folder)",
    )
    parser.add_argument(
        "--keep-store",
        action="store_true",
        help="keep the store file of the last run",
    )
    parser.add_argument("--child-result", type=Path, help=argparse.SUPPRESS)
    return parser


if __name__ == "__main__":
    sys.exit(main())
