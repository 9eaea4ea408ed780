"""Benchmark: the recommendation API under a constant request rate.

Generates a synthetic world with ``--restaurants`` restaurants (every one is a
candidate of every request, 500 by default), builds its features and trains
the ranker in ``--var-dir`` (a model there is reused with its world), then
starts ``recommender serve --workers 2`` on a free port of 127.0.0.1 (it
stops when ``--port`` names a port in use, rather than measure another
server) and sends ``--rate`` requests
per second for ``--seconds`` seconds from one asyncio client on the same
machine, open loop: a request goes out at its planned time whether or not
earlier ones have finished, so a slow server shows as latency rather than as
a lower rate. Two runs: users with orders (the personalised ranker, with
reasons) and unknown users (the popularity list), so the cost of
personalisation shows as a ratio. Results go to ``load_bench.json`` and
``load_bench.md`` in ``--out-dir``, and the server's output to
``load_bench_server.log`` there.

    .venv/bin/python bench/load_bench.py
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx2
import polars as pl
from bench_arguments import (
    MIN_RESTAURANTS,
    MIN_USERS,
    float_above,
    float_at_least,
    int_at_least,
    int_in_range,
    output_folder,
)
from machine_info import describe_machine, format_machine

from features.paths import VarPaths, default_var_dir
from service.cli import main as recommender

P99_TARGET_MS = 25.0
PACKAGES = ("fastapi", "uvicorn", "lightgbm", "feast", "polars")
HTTP_CLIENT_LOGGERS = ("httpx", "httpx2", "httpcore")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    port = reserve_port(args.port)
    paths = VarPaths(args.var_dir)
    if not (paths.models / "current").is_file():
        _prepare(args)
    # `recommender` sets up logging at INFO, which would log every request of
    # the client on a first run and not on later ones.
    for name in HTTP_CLIENT_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    users, restaurants = _world(paths, args.users_sampled)
    print(
        f"world in {paths.root}: {restaurants:,} restaurants, "
        f"{len(users):,} users with orders sampled",
        flush=True,
    )

    args.out_dir.mkdir(parents=True, exist_ok=True)
    server_log = args.out_dir / "load_bench_server.log"
    env = {**os.environ, "RECOMMENDER_VAR_DIR": str(paths.root)}
    with server_log.open("wb") as log:
        server = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "recommender"),
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--workers",
                str(args.workers),
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base, server, server_log, timeout=300)
        runs = {}
        for name, pick in (
            ("ranker", lambda i: users[i % len(users)]),
            ("popularity", lambda i: f"unknown-{i}"),
        ):
            runs[name] = asyncio.run(
                _load(base, pick, args.rate, args.seconds, args.warmup)
            )
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)

    result = {
        "command": shlex.join([Path(sys.executable).name, *sys.argv]),
        "started_at": started_at,
        "workers": args.workers,
        "port": port,
        "restaurants": restaurants,
        "rate": args.rate,
        "seconds": args.seconds,
        "runs": runs,
        "p99_ratio": runs["ranker"]["p99_ms"] / runs["popularity"]["p99_ms"],
        "meets_target": runs["ranker"]["p99_ms"] <= P99_TARGET_MS
        and runs["ranker"]["errors"] == 0,
        "machine": describe_machine(PACKAGES),
    }
    (args.out_dir / "load_bench.json").write_text(json.dumps(result, indent=2))
    (args.out_dir / "load_bench.md").write_text(_markdown(result))
    print(_markdown(result))
    return 0 if result["meets_target"] else 1


def reserve_port(port: int) -> int:
    """Return ``port`` if nothing listens on it at 127.0.0.1, or a free port
    that the system picks when ``port`` is 0.

    Raises:
        SystemExit: the port is in use, so the benchmark would measure the
            server that already listens there.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as error:
            msg = (
                f"port {port} of 127.0.0.1 is not free ({error.strerror}); stop "
                "the server listening there, or pass --port 0 to pick a free port"
            )
            raise SystemExit(msg) from None
        # NOTE: the port is free when probed; another process could take it
        # before the server binds it, and then the server exits with an error.
        return int(probe.getsockname()[1])


def _prepare(args: argparse.Namespace) -> None:
    root = ["--var-dir", str(args.var_dir)]
    world = [
        "--source",
        "synthetic",
        "--users",
        str(args.users),
        "--restaurants",
        str(args.restaurants),
        "--days",
        "60",
        "--world-seed",
        "0",
    ]
    for command in (["data", *world], ["features"], ["train"]):
        code = recommender([*root, *command])
        if code != 0:
            raise SystemExit(f"recommender {command[0]} failed with {code}")


def _world(paths: VarPaths, count: int) -> tuple[list[str], int]:
    """Return a seeded sample of ``count`` users with orders and the number of
    restaurants of the store, which may be reused from an earlier run."""
    import duckdb

    connection = duckdb.connect(str(paths.store), read_only=True)
    try:
        rows = connection.execute(
            "SELECT DISTINCT user_id FROM orders ORDER BY user_id"
        ).fetchall()
        counted = connection.execute("SELECT count(*) FROM restaurants").fetchone()
    finally:
        connection.close()
    users = pl.Series([row[0] for row in rows], dtype=pl.String)
    restaurants = int(counted[0]) if counted is not None else 0
    return users.sample(min(count, users.len()), seed=0).to_list(), restaurants


def wait_ready(
    base: str, server: subprocess.Popen[bytes], server_log: Path, timeout: float
) -> None:
    """Wait until ``GET {base}/readyz`` returns 200.

    Raises:
        SystemExit: the server exited, or was not ready within ``timeout``
            seconds. The message ends with the last line of ``server_log``.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        code = server.poll()
        if code is not None:
            msg = (
                f"the service exited with code {code} before it was ready: "
                f"{_last_line(server_log)} (full output in {server_log})"
            )
            raise SystemExit(msg)
        try:
            if httpx2.get(f"{base}/readyz", timeout=2).status_code == 200:
                return
        except httpx2.HTTPError:
            pass
        time.sleep(1)
    msg = (
        f"the service at {base} was not ready within {timeout} s; its last "
        f"output: {_last_line(server_log)} (full output in {server_log})"
    )
    raise SystemExit(msg)


def _last_line(path: Path) -> str:
    lines = path.read_text(errors="replace").strip().splitlines()
    return lines[-1].strip() if lines else "(no output)"


async def _load(
    base: str, pick: Any, rate: float, seconds: float, warmup: float
) -> dict[str, Any]:
    limits = httpx2.Limits(max_connections=256, max_keepalive_connections=256)
    latencies: list[float] = []
    errors = 0
    async with httpx2.AsyncClient(base_url=base, limits=limits, timeout=10) as client:

        async def one(index: int, record: bool) -> None:
            nonlocal errors
            started = time.perf_counter()
            try:
                response = await client.get(
                    f"/v1/users/{pick(index)}/recommendations", params={"k": 10}
                )
                ok = response.status_code == 200
            except httpx2.HTTPError:
                ok = False
            if record:
                latencies.append((time.perf_counter() - started) * 1000)
                errors += not ok

        tasks = []
        start = time.perf_counter()
        total = int(rate * (warmup + seconds))
        for index in range(total):
            planned = start + index / rate
            delay = planned - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(index, index >= rate * warmup)))
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - start - warmup
    ordered = sorted(latencies)

    def percentile(share: float) -> float:
        return ordered[min(len(ordered) - 1, int(share * len(ordered)))]

    return {
        "requests": len(latencies),
        "errors": errors,
        "throughput_rps": round(len(latencies) / elapsed, 1),
        "p50_ms": round(statistics.median(ordered), 2),
        "p95_ms": round(percentile(0.95), 2),
        "p99_ms": round(percentile(0.99), 2),
        "max_ms": round(ordered[-1], 2),
    }


def _markdown(result: dict[str, Any]) -> str:
    lines = [
        "# Load benchmark",
        "",
        f"Command: `{result['command']}`. {result['workers']} "
        f"{'worker' if result['workers'] == 1 else 'workers'}, "
        f"{result['restaurants']} candidates per request, {result['rate']} "
        f"requests per second for {result['seconds']} s, k = 10.",
        "",
        "| path | requests | errors | throughput (rps) | p50 (ms) | p95 (ms) | "
        "p99 (ms) | max (ms) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, run in result["runs"].items():
        lines.append(
            f"| {name} | {run['requests']} | {run['errors']} | "
            f"{run['throughput_rps']} | {run['p50_ms']} | {run['p95_ms']} | "
            f"{run['p99_ms']} | {run['max_ms']} |"
        )
    lines += [
        "",
        f"p99 of the ranker over p99 of popularity: {result['p99_ratio']:.1f}. "
        f"Target: p99 at most {P99_TARGET_MS:.0f} ms with no errors on the "
        f"ranker path: {'met' if result['meets_target'] else 'not met'}.",
        f"Started {result['started_at']}. Machine: "
        f"{format_machine(result['machine'])}.",
        "",
    ]
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--users",
        type=int_at_least(MIN_USERS),
        default=5_000,
        help=f"users of the world generated when --var-dir has no model, at "
        f"least {MIN_USERS} (default: %(default)s)",
    )
    parser.add_argument(
        "--restaurants",
        type=int_at_least(MIN_RESTAURANTS),
        default=500,
        help=f"restaurants of that world, every one a candidate of every "
        f"request, at least {MIN_RESTAURANTS} (default: %(default)s)",
    )
    parser.add_argument(
        "--users-sampled",
        type=int_at_least(1),
        default=2_000,
        help="users with orders that the ranker requests cycle through "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--rate",
        type=float_above(0),
        default=200.0,
        help="requests per second (default: %(default)s)",
    )
    parser.add_argument(
        "--seconds",
        type=float_above(0),
        default=60.0,
        help="measured seconds per run (default: %(default)s)",
    )
    parser.add_argument(
        "--warmup",
        type=float_at_least(0),
        default=5.0,
        help="seconds of requests before each run, not measured (default: %(default)s)",
    )
    parser.add_argument(
        "--workers",
        type=int_in_range(1, 64),
        default=2,
        help="worker processes of the server (default: %(default)s)",
    )
    parser.add_argument(
        "--port",
        type=int_in_range(0, 65535),
        default=0,
        help="port of 127.0.0.1 for the server; it must be free. 0 picks a "
        "free port (default: %(default)s)",
    )
    parser.add_argument(
        "--var-dir",
        type=Path,
        default=default_var_dir() / "bench" / "load_world",
        help="folder of the world, features and model; a model there is "
        "reused with its world, whatever --users and --restaurants say "
        "(default: bench/load_world in the var folder)",
    )
    parser.add_argument(
        "--out-dir",
        type=output_folder,
        default=str(default_var_dir() / "bench"),
        help="folder for load_bench.json, load_bench.md and the server's "
        "output load_bench_server.log (default: bench/ in the var folder)",
    )
    return parser


if __name__ == "__main__":
    sys.exit(main())
