"""The load benchmark's checks before it measures: the port, the server and
the options."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest
from load_bench import main, reserve_port, wait_ready


def test_busy_port_stops_before_any_work(tmp_path: Path) -> None:
    var_dir = tmp_path / "world"
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]

        with pytest.raises(SystemExit) as stopped:
            main(["--port", str(port), "--var-dir", str(var_dir)])

    assert f"port {port} of 127.0.0.1 is not free" in str(stopped.value.code)
    # Nothing was generated or trained.
    assert not var_dir.exists()


def test_port_zero_picks_free_port() -> None:
    port = reserve_port(0)

    assert 0 < port < 65536
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", port))


def test_server_exit_stops_waiting(tmp_path: Path) -> None:
    log_path = tmp_path / "server.log"
    with log_path.open("wb") as log:
        server = subprocess.Popen(
            [sys.executable, "-c", "import sys; sys.exit('cannot bind the port')"],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    port = reserve_port(0)

    with pytest.raises(SystemExit) as stopped:
        wait_ready(f"http://127.0.0.1:{port}", server, log_path, timeout=60)

    message = str(stopped.value.code)
    assert "exited with code 1 before it was ready" in message
    assert "cannot bind the port" in message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("option", "value", "expected"),
    [
        ("--workers", "0", "expected an integer from 1 to 64, got 0"),
        ("--rate", "0", "expected a number greater than 0, got '0'"),
        ("--seconds", "-1", "expected a number greater than 0, got '-1'"),
        ("--users", "5", "expected an integer of at least 100, got 5"),
        ("--restaurants", "0", "expected an integer of at least 60, got 0"),
        ("--port", "70000", "expected an integer from 0 to 65535, got 70000"),
    ],
)
def test_bad_option_named(
    option: str, value: str, expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stopped:
        main([option, value])

    assert stopped.value.code == 2
    assert f"argument {option}: {expected}" in capsys.readouterr().err
