"""Fixtures shared by the whole-pipeline, API and production-profile tests."""

from __future__ import annotations

import contextlib
import os
import socket
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import make_url

from features.feast_store import PRODUCTION_DEFAULTS, REDIS_ENV, REGISTRY_URL_ENV
from features.redis_resp import RedisAddress
from service.cli import main


@pytest.fixture(scope="session")
def pipeline_var_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A var folder after `recommender run --no-serve` on the bundled UCI data.

    Runs the real command once per test session: import into DuckDB, feature
    tables, feast apply and materialize, training, and the 5-split evaluation.
    """
    var_dir = tmp_path_factory.mktemp("var")
    exit_code = main(["--var-dir", str(var_dir), "run", "--no-serve"])
    assert exit_code == 0
    return var_dir


PROBE_TIMEOUT_SECONDS = 2.0


def _setting(name: str) -> str:
    return os.environ.get(name, PRODUCTION_DEFAULTS[name])


@pytest.fixture(scope="session")
def services() -> None:
    """Skip (or fail when CI=true) unless Redis and PostgreSQL accept
    connections, then create the registry's database unless it exists."""
    registry = make_url(_setting(REGISTRY_URL_ENV))
    address = RedisAddress.parse(_setting(REDIS_ENV))
    targets = [
        ("Redis", address.host, address.port),
        ("PostgreSQL", registry.host or "127.0.0.1", registry.port or 5432),
    ]
    for name, host, port in targets:
        try:
            with socket.create_connection((host, port), PROBE_TIMEOUT_SECONDS):
                pass
        except OSError as error:
            reason = f"{name} is not reachable at {host}:{port}: {error}"
            if os.environ.get("CI") == "true":
                pytest.fail(f"{reason} (CI=true requires it)", pytrace=False)
            pytest.skip(reason)
    server = registry.set(drivername="postgresql", database="postgres")
    with psycopg.connect(
        server.render_as_string(hide_password=False), autocommit=True
    ) as connection:
        found = connection.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (registry.database,)
        ).fetchone()
        if found is None:
            statement = sql.SQL("CREATE DATABASE {}").format(
                sql.Identifier(registry.database)
            )
            # Another test run may create it between the check and here.
            with contextlib.suppress(psycopg.errors.DuplicateDatabase):
                connection.execute(statement)
