"""Benchmark: the recommendation API under a constant request rate.

Generates a synthetic world with ``--restaurants`` restaurants (every one is a
candidate of every request, 500 by default), builds its features and trains
the ranker in ``--var-dir`` (reused when a model is there), then starts
``recommender serve --workers 2`` on 127.0.0.1 and sends ``--rate`` requests
per second for ``--seconds`` seconds from one asyncio client on the same
machine, open loop: a request goes out at its planned time whether or not
earlier ones have finished, so a slow server shows as latency rather than as
a lower rate. Two runs: users with orders (the personalised ranker, with
reasons) and unknown users (the popularity list), so the cost of
personalisation shows as a ratio. Results go to ``load_bench.json`` and
``load_bench.md`` in ``--out-dir``.

    .venv/bin/python bench/load_bench.py
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shlex
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx2
import polars as pl
from machine_info import describe_machine

from features.paths import VarPaths, default_var_dir
from service.cli import main as recommender

P99_TARGET_MS = 25.0
PACKAGES = ("fastapi", "uvicorn", "lightgbm", "feast", "polars")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    paths = VarPaths(args.var_dir)
    if not (paths.models / "current").is_file():
        _prepare(args)
    users = _users_with_orders(paths, args.users_sampled)

    env = {**os.environ, "RECOMMENDER_VAR_DIR": str(paths.root)}
    server = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "recommender"),
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(args.port),
            "--workers",
            str(args.workers),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{args.port}"
    try:
        _wait_ready(base, timeout=300)
        runs = {}
        for name, pick in (
            ("ranker", lambda i: users[i % len(users)]),
            ("popularity", lambda i: f"unknown-{i}"),
        ):
            runs[name] = asyncio.run(
                _load(base, pick, args.rate, args.seconds, args.warmup)
            )
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)

    result = {
        "command": shlex.join([Path(sys.executable).name, *sys.argv]),
        "workers": args.workers,
        "restaurants": args.restaurants,
        "rate": args.rate,
        "seconds": args.seconds,
        "runs": runs,
        "p99_ratio": runs["ranker"]["p99_ms"] / runs["popularity"]["p99_ms"],
        "meets_target": runs["ranker"]["p99_ms"] <= P99_TARGET_MS
        and runs["ranker"]["errors"] == 0,
        "machine": describe_machine(PACKAGES),
    }
    args.out_dir.mkdir(parents=True, exist_ok=True)
    (args.out_dir / "load_bench.json").write_text(json.dumps(result, indent=2))
    (args.out_dir / "load_bench.md").write_text(_markdown(result))
    print(_markdown(result))
    return 0 if result["meets_target"] else 1


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


def _users_with_orders(paths: VarPaths, count: int) -> list[str]:
    import duckdb

    connection = duckdb.connect(str(paths.store), read_only=True)
    try:
        rows = connection.execute(
            "SELECT DISTINCT user_id FROM orders ORDER BY user_id"
        ).fetchall()
    finally:
        connection.close()
    users = pl.Series([row[0] for row in rows], dtype=pl.String)
    return users.sample(min(count, users.len()), seed=0).to_list()


def _wait_ready(base: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx2.get(f"{base}/readyz", timeout=2).status_code == 200:
                return
        except httpx2.HTTPError:
            pass
        time.sleep(1)
    raise SystemExit(f"the service at {base} was not ready within {timeout} s")


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
        f"Command: `{result['command']}`. {result['workers']} workers, "
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
        f"Machine: {result['machine']}.",
        "",
    ]
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=5_000)
    parser.add_argument("--restaurants", type=int, default=500)
    parser.add_argument("--users-sampled", type=int, default=2_000)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument(
        "--var-dir", type=Path, default=default_var_dir() / "bench" / "load_world"
    )
    parser.add_argument("--out-dir", type=Path, default=default_var_dir() / "bench")
    return parser


if __name__ == "__main__":
    sys.exit(main())
