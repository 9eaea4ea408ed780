"""One entity's features from Feast's Redis online store, in one HMGET.

``FeatureStore.get_online_features`` costs about 1.5 ms of Python per call
(Feast 0.67, one entity, ten views), which is most of a recommendation
request. For the Redis online store the layout is fixed (see
:mod:`features.online_write`, which writes it): one hash per entity under
``serialize_entity_key`` (version 3) followed by the project name, with one
field per feature, the 4-byte murmur3 hash of ``"<view>:<feature>"``, holding
a serialized ``feast.types.Value``. :class:`RedisRowReader` reads every
feature of an entity's views with one HMGET and converts the values with
Feast's own ``feast_value_type_to_python_type``, so it returns what
``get_online_features(...).to_dict()`` returns for that entity.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, cast

from feast.infra.key_encoding_utils import serialize_entity_key
from feast.protos.feast.types.EntityKey_pb2 import EntityKey
from feast.protos.feast.types.Value_pb2 import Value
from feast.type_map import feast_value_type_to_python_type
from feast.value_type import ValueType

from features.online_encoding import feature_field
from features.online_write import bulk_write_unsupported_reason
from features.redis_resp import RedisAddress

if TYPE_CHECKING:
    import redis
    from feast import FeatureStore, FeatureView
    from redis.retry import Retry

# Seconds to wait for Redis to connect or reply; a read that fails raises, and
# the caller decides what a request without features returns.
READ_TIMEOUT_SECONDS = 2.0
# Seconds after a failed connection or a timeout during which reads raise at
# once, without Redis. The service reads on its event loop, so without this
# pause a Redis that stopped replying would block every request, /healthz
# included, for the timeout and its retry, one request after another.
RETRY_AFTER_SECONDS = 5.0


class OnlineStoreUnavailableError(ConnectionError):
    """A read skipped because the online store failed shortly before. Redis
    failed to connect or reply, or another store failed a read through Feast."""


class ReadFailures:
    """The last failed read of one online store, so that reads skip the store
    for a while instead of each waiting for its timeout."""

    def __init__(self, store_name: str) -> None:
        self.store_name = store_name
        # When the last failure happened (time.monotonic()) and what it was.
        self.failed_at: float | None = None
        self.failure = ""

    def raise_if_recent(self, retry_after: float) -> None:
        """Raise OnlineStoreUnavailableError within ``retry_after`` seconds of
        the last failure."""
        failed_at = self.failed_at
        if failed_at is None:
            return
        waited = time.monotonic() - failed_at
        if waited < retry_after:
            msg = (
                f"{self.store_name} failed {waited:.1f} s ago ({self.failure}); "
                f"reads try it again {retry_after:g} s after that failure"
            )
            raise OnlineStoreUnavailableError(msg)

    def record(self, error: Exception) -> None:
        """Remember ``error`` as the last failure, from now."""
        self.failure = f"{type(error).__name__}: {error}"
        self.failed_at = time.monotonic()

    def clear(self) -> None:
        """Forget the last failure after a read succeeded."""
        self.failed_at = None


def direct_read_unsupported_reason(
    store: FeatureStore, views: list[FeatureView], join_key: str
) -> str | None:
    """Return why :class:`RedisRowReader` cannot read these views of the
    store, or None."""
    # The writer's conditions on the store: one Redis server, key version 3.
    reason = bulk_write_unsupported_reason(store)
    if reason is not None:
        return reason
    for view in views:
        for column in view.entity_columns:
            if column.name != join_key or column.dtype.to_value_type() != (
                ValueType.STRING
            ):
                return f"view {view.name} has the entity column {column}"
    return None


def redis_client(
    address: RedisAddress, timeout_seconds: float, retry: Retry | None = None
) -> redis.Redis:
    """Return a redis-py client of ``address`` that waits ``timeout_seconds``
    to connect and for each reply, with redis-py's retries unless ``retry``
    is given."""
    import redis

    options: dict[str, Any] = {} if retry is None else {"retry": retry}
    return redis.Redis(
        host=address.host,
        port=address.port,
        db=address.db,
        username=address.username,
        password=address.password,
        socket_timeout=timeout_seconds,
        socket_connect_timeout=timeout_seconds,
        **options,
    )


def serving_client(address: RedisAddress) -> redis.Redis:
    """Return a Redis client for reads while serving: one immediate retry of
    a failed command, which covers a connection Redis closed while idle.

    redis-py 7's default is three retries with exponential backoff of up to
    10 s between them: a request would wait seconds for its degraded list
    while Redis is down.
    """
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    return redis_client(address, READ_TIMEOUT_SECONDS, Retry(NoBackoff(), retries=1))


class RedisRowReader:
    """Reads all features of one entity's views from Redis with one HMGET.

    The views must share the entity whose join key is ``join_key``, a string.
    """

    def __init__(
        self, store: FeatureStore, views: list[FeatureView], join_key: str
    ) -> None:
        from feast.infra.online_stores.helpers import compute_versioned_name

        versioned = store.config.registry.enable_online_feature_view_versioning
        self.join_key = join_key
        self.project = store.project.encode("utf8")
        self.names: list[str] = []
        self.value_types: list[ValueType] = []
        self.fields: list[bytes] = []
        for view in views:
            view_name = compute_versioned_name(view, versioned)
            for field in view.features:
                self.names.append(field.name)
                self.value_types.append(field.dtype.to_value_type())
                self.fields.append(feature_field(view_name, field.name))
        address = RedisAddress.parse(store.config.online_store.connection_string)
        self.client: redis.Redis = serving_client(address)
        import redis

        self.retry_after = RETRY_AFTER_SECONDS
        self._unreachable = (redis.ConnectionError, redis.TimeoutError)
        self._failures = ReadFailures("Redis")

    def read(self, key: str) -> dict[str, Any]:
        """Return ``{join_key: key, feature: value, ...}``; a feature the store
        lacks, or of an unknown key, is None.

        Raises:
            redis.ConnectionError, redis.TimeoutError: Redis failed to connect
                or reply. Reads in the next ``retry_after`` seconds then raise
                OnlineStoreUnavailableError at once.
        """
        self._failures.raise_if_recent(self.retry_after)
        entity = EntityKey(
            join_keys=[self.join_key], entity_values=[Value(string_val=key)]
        )
        redis_key = serialize_entity_key(entity, entity_key_serialization_version=3)
        # redis-py 7 annotates the key of hmget as str; it sends bytes as they are.
        key_bytes: Any = redis_key + self.project
        try:
            response = self.client.hmget(key_bytes, self.fields)
        except self._unreachable as error:
            self._failures.record(error)
            raise
        self._failures.clear()
        replies = cast(list[bytes | None], response)
        row: dict[str, Any] = {self.join_key: key}
        for name, value_type, reply in zip(
            self.names, self.value_types, replies, strict=True
        ):
            value = Value()
            if reply:
                value.ParseFromString(reply)
            row[name] = feast_value_type_to_python_type(value, value_type)
        return row

    def close(self) -> None:
        """Close the connections to Redis."""
        self.client.close()
