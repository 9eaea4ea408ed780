"""POST /v1/admin/reload in the production profile when the PostgreSQL
registry breaks while the service runs.

The test serves a registry database of its own on the configured server, so
that it can drop it, and deletes the project's Redis keys at the end. If a
server is not reachable, it is skipped, unless the environment variable CI
is ``true``, in which case it fails.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient
from psycopg import sql
from sqlalchemy.engine import URL, make_url

from features.feast_store import (
    PRODUCTION_DEFAULTS,
    PROJECT_ENV,
    REGISTRY_URL_ENV,
    open_store,
)
from features.paths import (
    FEATURE_REPO,
    PRODUCTION,
    RANKER_CONFIG,
    UCI_DATA_DIR,
    VarPaths,
)
from service.app import create_app
from service.pipeline import build_features, import_data, train
from service.settings import Settings

pytestmark = [pytest.mark.services, pytest.mark.slow]

TOKEN = "reload-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def _on_server(url: URL, statement: sql.Composable) -> None:
    """Run ``statement`` on the server of ``url``, outside its database."""
    server = url.set(drivername="postgresql", database="postgres")
    with psycopg.connect(
        server.render_as_string(hide_password=False), autocommit=True
    ) as connection:
        connection.execute(statement)


def _create(url: URL) -> None:
    _on_server(url, sql.SQL("CREATE DATABASE {}").format(sql.Identifier(url.database)))


def _drop(url: URL) -> None:
    _on_server(
        url,
        sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
            sql.Identifier(url.database)
        ),
    )


@pytest.fixture
def registry_url(services: None) -> Iterator[URL]:
    """The URL of a new registry database beside the configured one,
    dropped after the test."""
    configured = make_url(
        os.environ.get(REGISTRY_URL_ENV, PRODUCTION_DEFAULTS[REGISTRY_URL_ENV])
    )
    url = configured.set(
        database=f"{configured.database}_reload_{uuid.uuid4().hex[:8]}"
    )
    _create(url)
    try:
        yield url
    finally:
        _drop(url)


def test_broken_registry_reload_one_line(
    registry_url: URL,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv(
        REGISTRY_URL_ENV, registry_url.render_as_string(hide_password=False)
    )
    monkeypatch.setenv(PROJECT_ENV, f"recommender_test_{uuid.uuid4().hex[:12]}")
    var_dir = tmp_path / "var"
    paths = VarPaths(var_dir)
    import_data(paths, UCI_DATA_DIR)
    build_features(paths, FEATURE_REPO, RANKER_CONFIG, PRODUCTION)
    train(paths, RANKER_CONFIG, FEATURE_REPO, PRODUCTION)
    store = open_store(FEATURE_REPO, var_dir, PRODUCTION)
    views, entities = store.list_feature_views(), store.list_entities()
    settings = Settings(var_dir=var_dir, feast_profile=PRODUCTION, admin_token=TOKEN)

    try:
        with (
            caplog.at_level("ERROR", logger="service.app"),
            TestClient(create_app(settings)) as client,
        ):
            _drop(registry_url)
            dropped = client.post("/v1/admin/reload", headers=AUTH)
            _create(registry_url)
            emptied = client.post("/v1/admin/reload", headers=AUTH)
    finally:
        # The registry is gone, so the Redis keys are deleted by the views
        # read before.
        store._get_provider().teardown_infra(store.project, views, entities)

    masked_url = registry_url.render_as_string(hide_password=True)
    prefix = f"cannot read the Feast registry {masked_url}: "
    dropped_detail = dropped.json()["detail"]
    emptied_detail = emptied.json()["detail"]
    assert dropped.status_code == 409
    assert dropped_detail.startswith(f"{prefix}OperationalError: ")
    assert f'database "{registry_url.database}" does not exist' in dropped_detail
    assert "\n" not in dropped_detail
    assert emptied.status_code == 409
    assert emptied_detail.startswith(f"{prefix}ProgrammingError: ")
    assert emptied_detail.endswith("does not exist")
    assert "SELECT" not in emptied_detail
    assert "\n" not in emptied_detail
    # The log keeps the statement that failed.
    assert "[SQL: SELECT" in caplog.text
