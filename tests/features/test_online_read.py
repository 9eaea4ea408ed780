"""One entity's features read straight from Redis, against Feast's own read.

The module writes the feature tables of a small synthetic world into Redis,
under a Feast project of its own in the production profile. The first rows
of each table contain edge values: null, NaN, infinities, -0.0, empty lists and
non-ASCII text. Then it compares ``OnlineReader.read_row`` (one HMGET)
with ``FeatureStore.get_online_features`` for every user and restaurant, and
for unknown keys. The embedded profile's ``read_row`` goes through Feast and
is compared with ``read``. Needs Redis and PostgreSQL on 127.0.0.1 (or the
addresses of the profile's variables); without them the tests are skipped,
or fail when the environment variable CI is ``true``.
"""

from __future__ import annotations

import contextlib
import math
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from feast.errors import ProjectNotFoundException

from features.feast_store import (
    PROJECT_ENV,
    RESTAURANT_VIEWS,
    USER_VIEWS,
    OnlineReader,
    apply_repository,
    materialize,
    open_store,
    remove_project,
    write_feature_tables,
)
from features.online_read import (
    OnlineStoreUnavailableError,
    RedisRowReader,
    serving_client,
)
from features.paths import EMBEDDED, FEATURE_REPO, PRODUCTION
from features.redis_resp import RedisAddress
from features.schema import EVENT_TIMESTAMP, RESTAURANT_ID, USER_ID
from features.synthetic import WorldConfig, generate_world
from features.transforms import FEATURE_TABLES, StoreFrames, compute_tables, snapshot_at
from models.cutoffs import serving_cutoff

pytestmark = [pytest.mark.services, pytest.mark.slow]

UNKNOWN_KEYS = {USER_ID: "U-unknown", RESTAURANT_ID: "R-unknown"}
NAN = float("nan")
INF = float("inf")


@pytest.fixture(scope="module")
def tables() -> dict[str, pl.DataFrame]:
    """The latest feature tables of a small world, with edge values."""
    world = generate_world(
        WorldConfig(users=300, restaurants=60, days=30, seed=5, orders_per_user=6.0)
    )
    frames = StoreFrames.from_tables(world)
    latest = compute_tables(snapshot_at(frames, serving_cutoff(frames)))
    return {name: _with_edge_values(frame) for name, frame in latest.items()}


def _with_edge_values(frame: pl.DataFrame) -> pl.DataFrame:
    columns = {}
    for name, dtype in frame.schema.items():
        column = frame[name]
        if name in (USER_ID, RESTAURANT_ID, EVENT_TIMESTAMP) or frame.height < 8:
            columns[name] = column
            continue
        values = column.to_list()
        if dtype == pl.Float64:
            values[:5] = [None, NAN, INF, -INF, -0.0]
        elif dtype == pl.String:
            values[:3] = [None, "", "Taquería Ñandú 北京"]
        elif dtype == pl.List(pl.String):
            values[:3] = [None, [], ["", "Crème brûlée", "🙂"]]
        elif dtype == pl.List(pl.Float64):
            values[:3] = [None, [], [0.5, NAN, -INF]]
        columns[name] = pl.Series(name, values, dtype=dtype)
    return pl.DataFrame(columns)


@pytest.fixture(scope="module")
def var_dir(
    services: None,
    tables: dict[str, pl.DataFrame],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Path]:
    """A var folder whose tables are materialized in both profiles."""
    root = tmp_path_factory.mktemp("online_read")
    write_feature_tables(tables, root / "features")
    project = f"online_read_{uuid.uuid4().hex[:10]}"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(PROJECT_ENV, project)
        try:
            for profile in (EMBEDDED, PRODUCTION):
                apply_repository(FEATURE_REPO, root, profile)
                materialize(FEATURE_REPO, root, profile)
            yield root
        finally:
            store = open_store(FEATURE_REPO, root, PRODUCTION)
            with contextlib.suppress(ProjectNotFoundException):
                remove_project(store)


def _keys(tables: dict[str, pl.DataFrame], key: str) -> list[str]:
    found: set[str] = set()
    for name, frame in tables.items():
        if FEATURE_TABLES[name].key == key:
            found.update(frame[key].to_list())
    return [*sorted(found), UNKNOWN_KEYS[key]]


def _same(expected: Any, actual: Any) -> bool:
    if isinstance(expected, float) and isinstance(actual, float):
        return (math.isnan(expected) and math.isnan(actual)) or (
            expected == actual
            and math.copysign(1.0, expected) == math.copysign(1.0, actual)
        )
    if isinstance(expected, list) and isinstance(actual, list):
        return len(expected) == len(actual) and all(
            _same(e, a) for e, a in zip(expected, actual, strict=True)
        )
    return type(expected) is type(actual) and bool(expected == actual)


def _differences(expected: dict[str, Any], actual: dict[str, Any]) -> list[str]:
    names = sorted(set(expected) | set(actual))
    return [
        f"{name}: {expected.get(name)!r} != {actual.get(name)!r}"
        for name in names
        if not _same(expected.get(name), actual.get(name))
    ]


@pytest.mark.parametrize(
    ("views", "join_key"),
    [(USER_VIEWS, USER_ID), (RESTAURANT_VIEWS, RESTAURANT_ID)],
    ids=["users", "restaurants"],
)
def test_redis_read_row_matches_feast(
    var_dir: Path,
    tables: dict[str, pl.DataFrame],
    views: tuple[str, ...],
    join_key: str,
) -> None:
    store = open_store(FEATURE_REPO, var_dir, PRODUCTION)
    reader = OnlineReader(store, views, join_key)
    keys = _keys(tables, join_key)

    assert isinstance(reader.direct, RedisRowReader)
    compared = 0
    for key in keys:
        feast_row = {
            name: values[0]
            for name, values in store.get_online_features(
                features=reader.references, entity_rows=[{join_key: key}]
            )
            .to_dict()
            .items()
        }
        assert _differences(feast_row, reader.read_row(key)) == [], key
        compared += 1
    assert compared == len(keys)


def test_redis_read_row_of_unknown_key(var_dir: Path) -> None:
    store = open_store(FEATURE_REPO, var_dir, PRODUCTION)
    reader = OnlineReader(store, USER_VIEWS, USER_ID)

    row = reader.read_row(UNKNOWN_KEYS[USER_ID])

    assert row[USER_ID] == UNKNOWN_KEYS[USER_ID]
    assert set(row) == set(reader.schema)
    assert all(value is None for name, value in row.items() if name != USER_ID)


@pytest.mark.parametrize(
    ("views", "join_key"),
    [(USER_VIEWS, USER_ID), (RESTAURANT_VIEWS, RESTAURANT_ID)],
    ids=["users", "restaurants"],
)
def test_embedded_read_row_matches_read(
    var_dir: Path,
    tables: dict[str, pl.DataFrame],
    views: tuple[str, ...],
    join_key: str,
) -> None:
    store = open_store(FEATURE_REPO, var_dir, EMBEDDED)
    reader = OnlineReader(store, views, join_key)
    keys = _keys(tables, join_key)

    assert reader.direct is None
    for key in keys:
        expected = reader.read([key]).row(0, named=True)
        assert _differences(expected, reader.read_row(key)) == [], key


def test_redis_read_row_unreachable_raises(var_dir: Path) -> None:
    import redis

    store = open_store(FEATURE_REPO, var_dir, PRODUCTION)
    reader = OnlineReader(store, USER_VIEWS, USER_ID)
    assert reader.direct is not None
    # Port 1 on the loopback address has no server, so connecting is refused.
    reader.direct.client = redis.Redis(host="127.0.0.1", port=1)

    with pytest.raises(redis.ConnectionError):
        reader.read_row("U-any")


def test_redis_read_row_pauses_after_timeout(var_dir: Path) -> None:
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    connections: list[socket.socket] = []
    stop = threading.Event()
    with socket.create_server(("127.0.0.1", 0)) as server:
        server.settimeout(0.1)
        port = server.getsockname()[1]

        def hold_each() -> None:
            # Accept and never reply, as a Redis that stopped responding does.
            while not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    connection, _ = server.accept()
                    connections.append(connection)

        holder = threading.Thread(target=hold_each)
        holder.start()
        store = open_store(FEATURE_REPO, var_dir, PRODUCTION)
        reader = OnlineReader(store, USER_VIEWS, USER_ID)
        assert reader.direct is not None
        reader.direct.client = redis.Redis(
            host="127.0.0.1",
            port=port,
            socket_timeout=0.5,
            socket_connect_timeout=0.5,
            retry=Retry(NoBackoff(), retries=0),
        )
        try:
            with pytest.raises(redis.TimeoutError):
                reader.read_row("U-any")
            started = time.monotonic()
            with pytest.raises(OnlineStoreUnavailableError) as skipped:
                reader.read_row("U-any")
            skipped_seconds = time.monotonic() - started
            # Once the pause is over, the next read tries Redis again.
            reader.direct.retry_after = 0.0
            with pytest.raises(redis.TimeoutError):
                reader.read_row("U-any")
        finally:
            reader.direct.client.close()
            stop.set()
            holder.join()
            for connection in connections:
                connection.close()

    assert skipped_seconds < 0.25
    assert str(skipped.value).startswith("Redis failed ")
    assert f"TimeoutError: Timeout reading from 127.0.0.1:{port}" in str(skipped.value)


def test_serving_client_retries_once() -> None:
    import redis

    accepted = 0
    stop = threading.Event()
    with socket.create_server(("127.0.0.1", 0)) as server:
        server.settimeout(0.2)
        port = server.getsockname()[1]

        def close_each() -> None:
            # Accept and close at once, as a Redis that is going down does.
            nonlocal accepted
            while not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    connection, _ = server.accept()
                    accepted += 1
                    connection.close()

        closer = threading.Thread(target=close_each)
        closer.start()
        client = serving_client(RedisAddress(host="127.0.0.1", port=port))
        try:
            with pytest.raises(redis.ConnectionError):
                client.hmget("key", ["field"])
        finally:
            client.close()
            stop.set()
            closer.join()

    # One attempt and one retry; redis-py's default client makes four.
    assert accepted == 2
