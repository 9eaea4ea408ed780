"""Fixtures that serve a var folder: with uvicorn in a thread of the test, or
with ``recommender serve --workers N``."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from pathlib import Path
from typing import Any

import httpx2
import psutil
import pytest
import uvicorn
from fastapi import FastAPI

from service.app import create_app
from service.http_protocol import HTTP_PROTOCOL, WEBSOCKET_PROTOCOL
from service.settings import Settings

START_SECONDS = 120.0
# The variables that put prometheus_client in multiprocess mode, and name its
# folder of metric files.
PROMETHEUS_VARIABLES = ("PROMETHEUS_MULTIPROC_DIR", "PROMETHEUS_MULTIPROCESS_DIR")


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


@contextmanager
def _served(
    var_dir: Path, http: type[asyncio.Protocol] = HTTP_PROTOCOL, **settings: Any
) -> Iterator[int]:
    """Serve the app on ``var_dir`` with uvicorn in a thread, with the HTTP
    protocol ``recommender serve`` uses unless given, its WebSocket setting,
    and ``settings`` over the defaults; yield its port."""
    app = create_app(Settings(var_dir=var_dir, **settings))
    with _served_app(app, http) as port:
        yield port


@contextmanager
def _served_app(
    app: FastAPI, http: type[asyncio.Protocol] = HTTP_PROTOCOL
) -> Iterator[int]:
    """Serve ``app`` with uvicorn in a thread, as ``recommender serve`` does
    but with one worker; yield its port."""
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=_free_port(),
        http=http,
        ws=WEBSOCKET_PROTOCOL,
        log_level="warning",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 60
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.1)
        assert server.started
        yield config.port
    finally:
        server.should_exit = True
        thread.join(timeout=10)


# Holds the write lock of the store named by its argument, as an import does,
# after it prints "ready", until it is killed.
_LOCK_HOLDER = """
import sys, time
import duckdb
connection = duckdb.connect(sys.argv[1])
print("ready", flush=True)
time.sleep(600)
"""


@contextmanager
def _store_locked(path: Path) -> Iterator[None]:
    """Hold the write lock of the store at ``path`` in another process."""
    holder = subprocess.Popen(
        [sys.executable, "-c", _LOCK_HOLDER, str(path)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "ready"
        yield
    finally:
        holder.kill()
        holder.wait()


@pytest.fixture
def store_locked() -> Callable[[Path], AbstractContextManager[None]]:
    """Return the context manager that holds a store's write lock in
    another process."""
    return _store_locked


@pytest.fixture
def serve_in_thread() -> Callable[..., AbstractContextManager[int]]:
    """Return the context manager that serves a var folder in a thread."""
    return _served


@pytest.fixture
def serve_app_in_thread() -> Callable[..., AbstractContextManager[int]]:
    """Return the context manager that serves an app in a thread."""
    return _served_app


@pytest.fixture
def worker_processes() -> Callable[[psutil.Process], list[psutil.Process]]:
    """Return the function that lists a server's worker processes."""
    return _worker_processes


def server_log(var_dir: Path, port: int) -> Path:
    """Return the log file of the server that start_workers started on
    ``var_dir`` and ``port``."""
    return var_dir.parent / f"serve_{port}.log"


def _log_tail(url: str, var_dir: Path, lines: int = 40) -> str:
    """Return the last ``lines`` lines of the log of the server at ``url``."""
    path = server_log(var_dir, int(url.rsplit(":", 1)[1]))
    text = path.read_text(errors="replace") if path.is_file() else ""
    return "\n".join(text.splitlines()[-lines:])


@pytest.fixture
def log_tail() -> Callable[[str, Path], str]:
    """Return the function that reads the end of a started server's log."""
    return _log_tail


@pytest.fixture
def start_workers() -> Iterator[Callable[..., tuple[str, subprocess.Popen[bytes]]]]:
    """Yield a function that starts a server with ``workers`` workers (two
    unless given) and waits until all are up.

    Every server it started is stopped after the test. A single worker runs
    in the server's own process.
    """
    started: list[subprocess.Popen[bytes]] = []

    def start(
        var_dir: Path, env: dict[str, str], workers: int = 2
    ) -> tuple[str, subprocess.Popen[bytes]]:
        port = _free_port()
        command = [sys.executable, "-m", "service.cli", "--var-dir", str(var_dir)]
        command += ["serve", "--host", "127.0.0.1", "--port", str(port)]
        command += ["--workers", str(workers)]
        # Importing Feast points both variables at a metrics folder of the test
        # process. A server that inherited them would add its values to that
        # process's /metrics, so it gets its own.
        inherited = {
            name: value
            for name, value in os.environ.items()
            if name not in PROMETHEUS_VARIABLES
        }
        # The server's log, beside the var folder, shows why a test of the
        # server failed (see server_log).
        with server_log(var_dir, port).open("wb") as log:
            process = subprocess.Popen(
                command,
                stdout=subprocess.DEVNULL,
                stderr=log,
                env={**inherited, "PYTHONUNBUFFERED": "1", **env},
            )
        started.append(process)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + START_SECONDS
        while True:
            assert process.poll() is None, "the server exited while starting"
            assert time.monotonic() < deadline, f"no {workers} ready workers in time"
            try:
                ready = httpx2.get(f"{url}/healthz", timeout=2).status_code == 200
            except httpx2.TransportError:
                ready = False
            if not ready:
                time.sleep(0.2)
                continue
            if workers == 1:
                return url, process
            if len(_worker_processes(psutil.Process(process.pid))) == workers:
                return url, process
            time.sleep(0.2)

    yield start
    for process in started:
        if process.poll() is None:
            workers: list[psutil.Process] = []
            with suppress(psutil.NoSuchProcess):
                workers = _worker_processes(psutil.Process(process.pid))
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            # A worker of a server that had to be killed would keep running.
            for worker in workers:
                with suppress(psutil.NoSuchProcess):
                    worker.kill()
