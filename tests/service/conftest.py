"""A fixture that serves a var folder with ``recommender serve --workers 2``."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx2
import psutil
import pytest

START_SECONDS = 120.0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _worker_processes(server: psutil.Process) -> list[psutil.Process]:
    """Return the live uvicorn worker processes: the multiprocessing children
    that are not its resource tracker. A killed worker that uvicorn has not
    reaped yet is a zombie, without a command line, and is left out."""
    workers = []
    for child in server.children():
        try:
            command = " ".join(child.cmdline())
        except (psutil.ZombieProcess, psutil.NoSuchProcess):
            continue
        if "spawn_main" in command and "resource_tracker" not in command:
            workers.append(child)
    return workers


@pytest.fixture
def worker_processes() -> Callable[[psutil.Process], list[psutil.Process]]:
    """Return the function that lists a server's worker processes."""
    return _worker_processes


@pytest.fixture
def start_workers() -> Iterator[
    Callable[[Path, dict[str, str]], tuple[str, subprocess.Popen[bytes]]]
]:
    """Yield a function that starts two workers and waits until both are up;
    every server it started is stopped after the test."""
    started: list[subprocess.Popen[bytes]] = []

    def start(
        var_dir: Path, env: dict[str, str]
    ) -> tuple[str, subprocess.Popen[bytes]]:
        port = _free_port()
        command = [sys.executable, "-m", "service.cli", "--var-dir", str(var_dir)]
        command += ["serve", "--host", "127.0.0.1", "--port", str(port)]
        command += ["--workers", "2"]
        process = subprocess.Popen(
            command,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **env},
        )
        started.append(process)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + START_SECONDS
        while True:
            assert process.poll() is None, "the server exited while starting"
            assert time.monotonic() < deadline, "no 2 ready workers in time"
            try:
                ready = httpx2.get(f"{url}/healthz", timeout=2).status_code == 200
            except httpx2.TransportError:
                ready = False
            if ready and len(_worker_processes(psutil.Process(process.pid))) == 2:
                return url, process
            time.sleep(0.2)

    yield start
    for process in started:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
