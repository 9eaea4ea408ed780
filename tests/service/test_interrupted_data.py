"""Ctrl-C while `recommender data` loads a world into the store."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from features import store
from service.cli import main

pytestmark = pytest.mark.slow

RECOMMENDER = Path(sys.executable).parent / "recommender"
WAIT_SECONDS = 120.0


def test_ctrl_c_during_load_one_line(tmp_path: Path) -> None:
    var_dir = tmp_path / "var"
    command = ["--var-dir", str(var_dir), "data", "--source", "synthetic"]
    small = ["--users", "100", "--restaurants", "60", "--days", "30"]
    assert main([*command, *small]) == 0
    log_path = tmp_path / "data.log"
    large = ["--users", "50000", "--restaurants", "1000", "--days", "30"]
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [str(RECOMMENDER), *command, *large],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        # The first table is in the store's staging tables: the load has
        # begun, and inserting the orders takes seconds more.
        deadline = time.monotonic() + WAIT_SECONDS
        while "inserted" not in log_path.read_text():
            assert process.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline
            time.sleep(0.05)
        process.send_signal(signal.SIGINT)
        exit_code = process.wait(WAIT_SECONDS)
    output = log_path.read_text()

    assert exit_code == 130, output
    assert "interrupted; run `recommender data` again" in output
    assert "Traceback" not in output
    connection = store.connect(var_dir / "store.duckdb", read_only=True)
    try:
        counts = store.table_counts(connection)
        staged = connection.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE table_name LIKE '%staged'"
        ).fetchone()
    finally:
        connection.close()
    assert counts["users"] == 100
    assert staged == (0,)
