"""The production Feast profile against the local Redis and PostgreSQL servers.

The module builds the UCI feature tables once, then applies and materializes
them in the production profile under a project name of its own. At the end it
removes that project's registry rows and Redis keys. If a server is not
reachable, the tests are skipped, unless the environment variable CI is
``true``, in which case they fail.
"""

from __future__ import annotations

import contextlib
import logging
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import duckdb
import polars as pl
import psycopg
import pytest
from fastapi.testclient import TestClient
from feast.errors import ProjectNotFoundException
from psycopg import sql
from sqlalchemy.engine import URL, make_url

from features.feast_store import (
    PRODUCTION_DEFAULTS,
    PROJECT_ENV,
    REDIS_ENV,
    REGISTRY_URL_ENV,
    RESTAURANT_VIEWS,
    USER_VIEWS,
    OnlineReader,
    apply_repository,
    materialize,
    open_store,
    remove_project,
)
from features.online_read import redis_client
from features.paths import (
    EMBEDDED,
    FEATURE_REPO,
    PRODUCTION,
    RANKER_CONFIG,
    UCI_DATA_DIR,
    VarPaths,
)
from features.redis_resp import RedisAddress
from features.schema import RESTAURANT_ID, USER_ID
from features.synthetic import WorldConfig
from service.app import create_app
from service.pipeline import build_features, generate_synthetic, import_data, train
from service.settings import Settings

pytestmark = [pytest.mark.services, pytest.mark.slow]

KNOWN_USER = "U1077"
# 135085 has the most ratings in rating_final.csv (36).
KNOWN_RESTAURANT = "135085"


def _setting(name: str) -> str:
    return os.environ.get(name, PRODUCTION_DEFAULTS[name])


def _registry_url() -> URL:
    return make_url(_setting(REGISTRY_URL_ENV))


def _libpq_url(url: URL, database: str | None = None) -> str:
    """The URL without SQLAlchemy's driver suffix, as psycopg expects it."""
    plain = url.set(drivername="postgresql")
    if database is not None:
        plain = plain.set(database=database)
    return plain.render_as_string(hide_password=False)


def _create_registry_database(url: URL) -> None:
    """Create the registry's database on the server unless it exists."""
    with psycopg.connect(_libpq_url(url, "postgres"), autocommit=True) as connection:
        found = connection.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (url.database,)
        ).fetchone()
        if found is not None:
            return
        statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(url.database))
        # Another test run may create it between the check and this statement.
        with contextlib.suppress(psycopg.errors.DuplicateDatabase):
            connection.execute(statement)


@pytest.fixture(scope="module")
def project(services: None) -> Iterator[str]:
    """A Feast project name used by this module only."""
    name = f"recommender_test_{uuid.uuid4().hex[:12]}"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(PROJECT_ENV, name)
        yield name


@pytest.fixture(scope="module")
def var_dir(project: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A var folder with UCI features in the production profile and a model."""
    _create_registry_database(_registry_url())
    root = tmp_path_factory.mktemp("production")
    paths = VarPaths(root)
    import_data(paths, UCI_DATA_DIR)
    try:
        build_features(paths, FEATURE_REPO, RANKER_CONFIG, PRODUCTION)
        train(paths, RANKER_CONFIG, FEATURE_REPO, PRODUCTION)
        yield root
    finally:
        store = open_store(FEATURE_REPO, root, PRODUCTION)
        # The project is missing if the apply failed before registering it.
        with contextlib.suppress(ProjectNotFoundException):
            remove_project(store)


@pytest.fixture(scope="module")
def readers(
    var_dir: Path,
) -> dict[str, tuple[OnlineReader, OnlineReader]]:
    """User and restaurant readers of both profiles over the same feature tables."""
    apply_repository(FEATURE_REPO, var_dir, EMBEDDED)
    materialize(FEATURE_REPO, var_dir, EMBEDDED)
    stores = {
        profile: open_store(FEATURE_REPO, var_dir, profile)
        for profile in (EMBEDDED, PRODUCTION)
    }
    return {
        profile: (
            OnlineReader(store, USER_VIEWS, USER_ID),
            OnlineReader(store, RESTAURANT_VIEWS, RESTAURANT_ID),
        )
        for profile, store in stores.items()
    }


def test_user_features_match_embedded(
    readers: dict[str, tuple[OnlineReader, OnlineReader]],
) -> None:
    production = readers[PRODUCTION][0].read([KNOWN_USER])
    embedded = readers[EMBEDDED][0].read([KNOWN_USER])

    assert production["user_order_count"][0] is not None
    assert production.to_dicts() == embedded.to_dicts()


def test_restaurant_features_match_embedded(
    readers: dict[str, tuple[OnlineReader, OnlineReader]],
) -> None:
    production = readers[PRODUCTION][1].read([KNOWN_RESTAURANT])
    embedded = readers[EMBEDDED][1].read([KNOWN_RESTAURANT])

    assert production["restaurant_name"][0] == "Tortas Locas Hipocampo"
    assert production.to_dicts() == embedded.to_dicts()


def test_registry_lives_in_postgres(var_dir: Path, project: str) -> None:
    with psycopg.connect(_libpq_url(_registry_url())) as connection:
        projects = connection.execute(
            "SELECT count(*) FROM projects WHERE project_id = %s", (project,)
        ).fetchone()
        views = connection.execute(
            "SELECT feature_view_name FROM feature_views WHERE project_id = %s "
            "ORDER BY feature_view_name",
            (project,),
        ).fetchall()

    assert projects == (1,)
    assert [row[0] for row in views] == sorted(USER_VIEWS + RESTAURANT_VIEWS)


def test_values_live_in_redis(var_dir: Path, project: str) -> None:
    features = VarPaths(var_dir).features
    users = pl.concat(
        [pl.read_parquet(features / f"{view}.parquet")[USER_ID] for view in USER_VIEWS]
    ).n_unique()
    restaurants = pl.concat(
        [
            pl.read_parquet(features / f"{view}.parquet")[RESTAURANT_ID]
            for view in RESTAURANT_VIEWS
        ]
    ).n_unique()
    # The database and credentials of the connection string, as Feast uses.
    client = redis_client(RedisAddress.parse(_setting(REDIS_ENV)), 5.0)
    try:
        # Feast's Redis key is the serialized entity key followed by the project.
        keys = sum(1 for _ in client.scan_iter(match=f"*{project}", count=1000))
    finally:
        client.close()

    assert keys == users + restaurants


def test_api_ranks_over_production(var_dir: Path) -> None:
    settings = Settings(var_dir=var_dir, feast_profile=PRODUCTION)
    with TestClient(create_app(settings)) as client:
        response = client.get(
            f"/v1/users/{KNOWN_USER}/recommendations", params={"k": 5}
        )
    body = response.json()

    assert response.status_code == 200
    assert body["strategy"] == "ranker"
    assert body["degraded"] is False
    assert len(body["recommendations"]) == 5


def test_features_again_replaces_redis_values(
    project: str, var_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Features computed again from changed orders with the same last day
    carry the same event time: midnight after the last order. A second
    `features` run must still overwrite Redis. The test runs last, because it
    points the module's project at a folder of its own."""
    paths = VarPaths(tmp_path / "var")
    generate_synthetic(paths, WorldConfig(users=300, restaurants=60, days=30))
    with caplog.at_level(logging.WARNING, logger="features.feast_folders"):
        build_features(paths, FEATURE_REPO, RANKER_CONFIG, PRODUCTION)
    # The module's folder still exists, and its users are pruned.
    taken_over = [
        record.getMessage()
        for record in caplog.records
        if "reads the feature tables of" in record.getMessage()
    ]
    assert taken_over == [
        f"the Feast project {project} reads the feature tables of "
        f"{(var_dir / 'features').resolve()}; this run points it at this folder "
        "and deletes the online rows of that folder's users and restaurants "
        f"that this one lacks. Give each folder a project of its own ({PROJECT_ENV})"
    ]
    caplog.clear()
    with duckdb.connect(str(paths.store)) as db:
        user, count = db.execute(
            "SELECT user_id, count(*) FROM orders GROUP BY user_id "
            "HAVING count(*) > 1 ORDER BY user_id LIMIT 1"
        ).fetchall()[0]
        # The user's first order, never the world's last, so the cutoff stays.
        db.execute(
            "DELETE FROM order_items WHERE order_id = (SELECT order_id FROM orders "
            "WHERE user_id = ? ORDER BY ordered_at LIMIT 1)",
            [user],
        )
        db.execute(
            "DELETE FROM orders WHERE order_id = (SELECT order_id FROM orders "
            "WHERE user_id = ? ORDER BY ordered_at LIMIT 1)",
            [user],
        )

    build_features(paths, FEATURE_REPO, RANKER_CONFIG, PRODUCTION)
    store = open_store(FEATURE_REPO, paths.root, PRODUCTION)
    stored = OnlineReader(store, USER_VIEWS, USER_ID).read([user])

    assert stored["user_order_count"][0] == count - 1
    # The module's folder shares the project, whose views now read the other
    # folder's tables: training there stops instead of reading them.
    with pytest.raises(ValueError) as raised:
        train(VarPaths(var_dir), RANKER_CONFIG, FEATURE_REPO, PRODUCTION)
    assert str(raised.value).startswith(
        f"the Feast project {store.project} reads its feature tables from "
        f"{paths.features.resolve()}, not from {(var_dir / 'features').resolve()}"
    )
