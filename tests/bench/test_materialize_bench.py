"""The materialization benchmark cleans up after itself, on small worlds."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

from features.feast_store import PRODUCTION_DEFAULTS, REDIS_ENV, REGISTRY_URL_ENV
from features.paths import PROJECT_DIR

SCRIPT = PROJECT_DIR / "bench" / "materialize_bench.py"


def test_embedded_run_removes_scratch_folder(tmp_path: Path) -> None:
    completed = subprocess.run(
        [sys.executable, str(SCRIPT), "--users", "150", "--out-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
    )

    assert completed.returncode == 0, completed.stderr[-2000:]
    report = json.loads(
        (tmp_path / "materialize_bench_embedded_feast.json").read_text()
    )
    assert report["users"] == 150
    # Every user but the two pruned ones is read back, and matches.
    assert report["sample_checked"] == 148
    assert report["sample_mismatches"] == []
    assert not (tmp_path / "var").exists()


@pytest.mark.slow
@pytest.mark.services
def test_redis_failure_removes_project(services: None, tmp_path: Path) -> None:
    registry_url = os.environ.get(
        REGISTRY_URL_ENV, PRODUCTION_DEFAULTS[REGISTRY_URL_ENV]
    )
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    env = {
        **os.environ,
        REGISTRY_URL_ENV: registry_url,
        # Nothing listens there, so every Redis call fails.
        REDIS_ENV: f"127.0.0.1:{closed_port},db=11",
    }
    command = [sys.executable, str(SCRIPT), "--profile", "production"]
    command += ["--users", "150", "--out-dir", str(tmp_path)]

    completed = subprocess.run(
        command, capture_output=True, text=True, env=env, timeout=600
    )

    assert completed.returncode != 0
    assert "remove_project" not in completed.stderr
    found = re.search(r"Feast project (materialize_bench_\w+) ", completed.stderr)
    assert found is not None, completed.stderr[-2000:]
    url = make_url(registry_url).set(drivername="postgresql")
    with psycopg.connect(url.render_as_string(hide_password=False)) as connection:
        row = connection.execute(
            "SELECT count(*) FROM feature_views WHERE project_id = %s",
            (found.group(1),),
        ).fetchone()
    assert row == (0,)
    assert not (tmp_path / "var").exists()
