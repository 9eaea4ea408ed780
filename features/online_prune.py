"""Deletion of online rows whose entity is no longer in its feature table.

Feast's materialization writes the latest row of each entity into the online
store and never deletes a row. ``recommender features`` recomputes every
feature table as a whole, so without this step the online store would keep
serving the features of a user or restaurant that the data no longer has,
for example after ``recommender data`` replaced the data set. After each
materialization, every view's online rows are pruned to the entities of the
table it was materialized from.

Two online stores are pruned, in the layouts Feast 0.67 writes:

- SQLite (the embedded profile): one table per view, named by
  ``compute_table_id``, with one row per entity and feature. The rows of
  stale ``entity_key`` values are deleted.
- Redis (the production profile): one hash per entity, keyed by the
  serialized entity key followed by the project name (see
  :mod:`features.online_write`). The view's fields are deleted from the hash
  of each stale entity, which keeps the fields of the entity's other views.

Other online stores are left as they are, with a warning.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import struct
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from features.online_encoding import KEY_VALUE_TYPES, encode_entity_keys

if TYPE_CHECKING:
    import redis
    from feast import FeatureStore, FeatureView

logger = logging.getLogger(__name__)

# Rows deleted per statement or pipeline, to bound memory and message sizes.
DELETE_BATCH = 10_000
# Keys that one SCAN call examines.
SCAN_COUNT = 10_000
# Seconds to wait for Redis to connect or to reply to one SCAN or pipeline.
REDIS_TIMEOUT_SECONDS = 30.0
# Bytes that Redis glob patterns treat as special.
_GLOB_BYTES = frozenset(b"*?[]\\")


def prune_online_rows(
    store: FeatureStore, tables: Mapping[str, pl.DataFrame]
) -> dict[str, int]:
    """Delete the online rows of entities that each view's table lacks.

    ``tables`` maps a feature view's name to the table it was just
    materialized from. Views without a table here, without join keys, or not
    stored online are left alone.

    Returns:
        The number of entities deleted per pruned view.
    """
    views = [
        view
        for view in store.list_feature_views()
        if view.name in tables and view.online and view.join_keys
    ]
    if not views:
        return {}
    config = store.config.online_store
    kind = getattr(config, "type", type(config).__name__)
    if kind == "sqlite":
        return _prune_sqlite(store, views, tables)
    if kind == "redis" and config.redis_type == "redis":
        if store.config.entity_key_serialization_version == 3:
            return _prune_redis(store, views, tables)
        reason = "entity_key_serialization_version is not 3"
    elif kind == "redis":
        reason = f"redis_type is {config.redis_type!s}, not a single redis server"
    else:
        reason = f"the online store is {kind!r}"
    logger.warning(
        "online rows of entities no longer in the feature tables were not "
        "deleted, because only SQLite and a single Redis server are pruned: %s",
        reason,
    )
    return {}


def current_entity_keys(view: FeatureView, table: pl.DataFrame) -> set[bytes]:
    """Return the serialized entity keys (version 3) of the table's entities.

    Raises:
        ValueError: a join key is missing from the table, is null, or has a
            type that Feast's key encoding does not take.
    """
    value_types = {}
    for column in view.entity_columns:
        value_type = column.dtype.to_value_type()
        if value_type not in KEY_VALUE_TYPES:
            msg = (
                f"feature view {view.name}: join key {column.name} has type "
                f"{value_type.name}; expected one of "
                f"{sorted(t.name for t in KEY_VALUE_TYPES)}"
            )
            raise ValueError(msg)
        value_types[column.name] = value_type
    missing = sorted(set(value_types) - set(table.columns))
    if missing:
        msg = f"feature view {view.name}: its table lacks the join keys {missing}"
        raise ValueError(msg)
    keys = table.select(sorted(value_types)).unique()
    columns = {name: keys[name].to_arrow() for name in value_types}
    return set(encode_entity_keys(columns, value_types).to_pylist())


def entity_fingerprint(view: FeatureView, table: pl.DataFrame) -> tuple[int, ...]:
    """Return the number of distinct entities in the table and two sums of
    their hashes, which differ between two sets of entities except with a
    chance of about 2**-128."""
    keys = pl.struct(sorted(view.join_keys))
    hashes = table.select(
        keys.hash(seed=1).alias("first"), keys.hash(seed=2).alias("second")
    ).unique()
    return (
        hashes.height,
        int(hashes["first"].sum()),
        int(hashes["second"].sum()),
    )


def _prune_sqlite(
    store: FeatureStore, views: list[FeatureView], tables: Mapping[str, pl.DataFrame]
) -> dict[str, int]:
    from feast.infra.online_stores.helpers import compute_table_id

    path = Path(store.config.online_store.path)
    if not path.is_absolute():
        path = Path(store.config.repo_path or ".") / path
    versioned = store.config.registry.enable_online_feature_view_versioning
    deleted: dict[str, int] = {}
    with contextlib.closing(sqlite3.connect(path)) as connection:
        existing = {
            name
            for (name,) in connection.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'"
            )
        }
        for view in views:
            table_id = compute_table_id(store.project, view, versioned)
            if table_id not in existing:
                continue
            keep = current_entity_keys(view, tables[view.name])
            quoted = '"' + table_id.replace('"', '""') + '"'
            stored = connection.execute(f"SELECT DISTINCT entity_key FROM {quoted}")
            stale = [key for (key,) in stored if bytes(key) not in keep]
            with connection:
                for start in range(0, len(stale), DELETE_BATCH):
                    connection.executemany(
                        f"DELETE FROM {quoted} WHERE entity_key = ?",
                        [(key,) for key in stale[start : start + DELETE_BATCH]],
                    )
            deleted[view.name] = len(stale)
            _log_pruned(view.name, len(stale))
    return deleted


def _prune_redis(
    store: FeatureStore, views: list[FeatureView], tables: Mapping[str, pl.DataFrame]
) -> dict[str, int]:
    from feast.infra.key_encoding_utils import serialize_entity_key_prefix
    from feast.infra.online_stores.helpers import compute_versioned_name

    from features.online_encoding import feature_field

    project = store.project.encode("utf8")
    versioned = store.config.registry.enable_online_feature_view_versioning
    client = _redis_client(store)
    groups: dict[tuple[str, ...], list[FeatureView]] = {}
    for view in views:
        groups.setdefault(tuple(sorted(view.join_keys)), []).append(view)
    deleted: dict[str, int] = {}
    try:
        for join_keys, group in groups.items():
            # One SCAN per entity: its views share the entity's hashes.
            prefix = serialize_entity_key_prefix(list(join_keys), 3)
            stored = list(_project_keys(client, prefix, project, len(join_keys)))
            # The views of one entity usually have the same entities, so the
            # stale keys are found once per distinct set of them.
            stale_by_entities: dict[tuple[int, ...], list[bytes]] = {}
            for view in group:
                view_name = compute_versioned_name(view, versioned)
                fields = [
                    feature_field(view_name, field.name) for field in view.features
                ]
                fields.append(f"_ts:{view_name}".encode())
                entities = entity_fingerprint(view, tables[view.name])
                stale = stale_by_entities.get(entities)
                if stale is None:
                    keep = current_entity_keys(view, tables[view.name])
                    stale = [key for key in stored if key[: -len(project)] not in keep]
                    stale_by_entities[entities] = stale
                deleted[view.name] = _delete_fields(client, stale, fields)
                _log_pruned(view.name, deleted[view.name])
    finally:
        client.close()
    return deleted


def _redis_client(store: FeatureStore) -> redis.Redis:
    """Return a client of the store's Redis server: with timeouts for a
    connection string of host, port, db, username and password, else Feast's
    own client, which takes every option Feast does (such as ssl)."""
    import redis
    from feast.infra.online_stores.redis import RedisOnlineStore

    from features.online_read import redis_client
    from features.redis_resp import RedisAddress

    connection_string = store.config.online_store.connection_string
    try:
        address = RedisAddress.parse(connection_string)
    except ValueError:
        # NOTE: Feast's client has no timeout. `recommender features` checks
        # that Redis replies before it computes the tables.
        online_store = store._get_provider().online_store
        assert isinstance(online_store, RedisOnlineStore)
        client = online_store._get_client(store.config.online_store)
        assert isinstance(client, redis.Redis)
        return client
    return redis_client(address, REDIS_TIMEOUT_SECONDS)


def _delete_fields(client: redis.Redis, keys: list[bytes], fields: list[bytes]) -> int:
    """Delete the fields from the hashes of the keys, and return how many of
    those hashes had one of them."""
    count = 0
    for start in range(0, len(keys), DELETE_BATCH):
        with client.pipeline(transaction=False) as pipe:
            for key in keys[start : start + DELETE_BATCH]:
                # redis-py 7 annotates keys and fields as str; bytes are sent
                # as they are.
                pipe.hdel(key, *fields)  # type: ignore[arg-type]
            # A stale key may contain only other views' fields.
            count += sum(1 for removed in pipe.execute() if removed)
    return count


def _project_keys(
    client: redis.Redis, prefix: bytes, project: bytes, key_count: int
) -> Iterator[bytes]:
    """Yield the Redis keys of entities with these join keys in the project.

    The SCAN pattern matches by prefix and suffix. A key is yielded only when
    its entity values end exactly where the project name starts, so that a
    project whose name ends with this one's is not touched.
    """
    pattern = _glob_literal(prefix) + b"*" + _glob_literal(project)
    matches: Any = client.scan_iter(match=pattern, count=SCAN_COUNT)
    for key in matches:
        if _values_end(key, len(prefix), key_count) == len(key) - len(project):
            yield key


def _values_end(key: bytes, offset: int, key_count: int) -> int | None:
    """Return the offset after ``key_count`` serialized entity values (a
    4-byte type code and a 4-byte length before each), or None when the key
    is shorter than they need."""
    for _ in range(key_count):
        if offset + 8 > len(key):
            return None
        (length,) = struct.unpack_from("<I", key, offset + 4)
        offset += 8 + length
    return offset if offset <= len(key) else None


def _glob_literal(value: bytes) -> bytes:
    """Escape the bytes that a Redis MATCH pattern treats as special."""
    return b"".join(
        b"\\" + bytes([byte]) if byte in _GLOB_BYTES else bytes([byte])
        for byte in value
    )


def _log_pruned(view_name: str, count: int) -> None:
    if count:
        logger.info(
            "deleted the online rows of %d entities no longer in %s", count, view_name
        )
