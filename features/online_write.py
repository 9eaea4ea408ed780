"""Bulk materialization of feature views into Feast's Redis online store.

Feast 0.67 materializes by converting every value to a protobuf ``Value`` in
Python, one value at a time, and by reading each entity's stored timestamp
before writing it, one view at a time. For a million users that takes
minutes. This module writes the same Redis layout from whole Arrow columns
(see :mod:`features.online_encoding`), with one HMGET and one HSET per entity
for all views of that entity, sent as blocks of Redis protocol (RESP) bytes.

The layout is the one ``feast/infra/online_stores/redis.py`` (Feast 0.67)
writes and reads:

- the key of an entity is ``serialize_entity_key`` (version 3) of its join
  keys, followed by the project name in UTF-8;
- the hash under that key contains the fields of every view of the entity: the
  4-byte murmur3 hash of ``"<view>:<feature>"`` maps to the serialized
  ``Value`` (empty for null), and ``"_ts:<view>"`` to the serialized
  ``google.protobuf.Timestamp`` of the row's event time;
- with ``key_ttl_seconds`` set, an EXPIRE follows each HSET.

Rows follow Feast's materialization: per entity and view, the row with the
latest event timestamp in ``[start_date, end_date]``, written only when it
is newer than the one stored (unless ``skip_dedup`` is set). A NaN in a
scalar float column is stored as null, as Feast's pandas conversion does.

NOTE: Three known differences from Feast 0.67. Feast passes an integer
column with nulls through pandas floats, so it rounds values beyond 2**53;
this writer stores them exactly. Among rows of one entity equal in event and
created time, Feast keeps an arbitrary one, and this writer the last in the
file. Feast sets a view's registry state to MATERIALIZING while it writes;
this writer records only the final state and interval.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
from google.protobuf.timestamp_pb2 import Timestamp

from features.online_encoding import (
    KEY_VALUE_TYPES,
    SUPPORTED_VALUE_TYPES,
    concat_binary,
    encode_entity_keys,
    encode_timestamps,
    encode_values,
    feature_field,
)
from features.online_rows import _batch_source, _latest_rows
from features.online_rows import (
    latest_rows_from_offline_store as latest_rows_from_offline_store,
)
from features.online_rows import latest_rows_from_parquet as latest_rows_from_parquet
from features.redis_resp import (
    RedisAddress,
    RespConnection,
    Sender,
    bulk_strings,
    decimal_strings,
)

if TYPE_CHECKING:
    from feast import FeatureStore, FeatureView
    from feast.infra.online_stores.redis import RedisOnlineStoreConfig

logger = logging.getLogger(__name__)

# Entities per block of pipelined commands. The next block is encoded while
# Redis executes the previous one.
BATCH_ROWS = 50_000
_EMPTY = pa.scalar(b"", pa.large_binary())


def bulk_write_unsupported_reason(store: FeatureStore) -> str | None:
    """Return why the store's online store cannot take the bulk writer, or None."""
    config = store.config.online_store
    kind = getattr(config, "type", type(config).__name__)
    if kind != "redis":
        return f"the online store is {kind!r}, not 'redis'"
    if config.redis_type != "redis":
        return f"redis_type is {config.redis_type!s}, not a single redis server"
    if store.config.entity_key_serialization_version != 3:
        return "entity_key_serialization_version is not 3"
    try:
        RedisAddress.parse(config.connection_string)
    except ValueError as error:
        return str(error)
    return None


def materialize_redis(
    store: FeatureStore,
    start_date: datetime,
    end_date: datetime,
    view_names: Sequence[str] | None = None,
) -> dict[str, int]:
    """Materialize feature views into the Redis online store in bulk.

    Writes each view's latest rows in ``[start_date, end_date]``, then records
    the interval in the registry with ``apply_materialization``, as
    ``FeatureStore.materialize`` does. Views the bulk writer cannot encode (a
    field mapping, a transformation, an unsupported type, an offline-only
    view) and on-demand views stored online go through
    ``FeatureStore.materialize``.

    Returns:
        The number of entities written per bulk-written view.

    Raises:
        ValueError: the online store cannot take the bulk writer (see
            :func:`bulk_write_unsupported_reason`).
    """
    reason = bulk_write_unsupported_reason(store)
    if reason is not None:
        msg = f"cannot bulk-write to the online store: {reason}"
        raise ValueError(msg)
    wanted = None if view_names is None else set(view_names)
    groups: dict[tuple[str, ...], list[FeatureView]] = {}
    fallback = [
        view.name
        for view in store.list_on_demand_feature_views()
        if view.write_to_online_store and (wanted is None or view.name in wanted)
    ]
    for view in store.list_feature_views():
        if wanted is not None and view.name not in wanted:
            continue
        reason = _view_unsupported_reason(view)
        if reason is None:
            groups.setdefault(tuple(sorted(view.join_keys)), []).append(view)
        else:
            logger.info("materializing %s with Feast: %s", view.name, reason)
            fallback.append(view.name)

    written: dict[str, int] = {}
    address = RedisAddress.parse(store.config.online_store.connection_string)
    with RespConnection(address) as redis:
        for views in groups.values():
            tables = [_latest_rows(store, view, start_date, end_date) for view in views]
            writer = _EntityWriter(store, views)
            written.update(writer.write(redis, tables))
            for view in views:
                store.registry.apply_materialization(
                    view, store.project, start_date, end_date
                )
                logger.info("bulk-wrote %d rows of %s", written[view.name], view.name)
    if fallback:
        store.materialize(start_date, end_date, feature_views=fallback)
    _precompute_services(store, list(written))
    return written


class _EntityWriter:
    """Writer of the rows of all views of one entity, one HSET per key."""

    def __init__(self, store: FeatureStore, views: list[FeatureView]) -> None:
        from feast.infra.online_stores.helpers import compute_versioned_name

        online_config: RedisOnlineStoreConfig = store.config.online_store
        versioned = store.config.registry.enable_online_feature_view_versioning
        self.views = views
        self.names = [compute_versioned_name(view, versioned) for view in views]
        self.project = store.project.encode("utf8")
        self.join_types = {
            column.name: column.dtype.to_value_type()
            for column in views[0].entity_columns
        }
        self.check_stored = not online_config.skip_dedup
        self.ttl = online_config.key_ttl_seconds
        ts_fields = [f"_ts:{name}".encode() for name in self.names]
        self.ts_bulks = [bulk_strings(field) for field in ts_fields]
        self.hmget = b"*%d\r\n$5\r\nHMGET\r\n" % (2 + len(views))
        self.hmget_fields = b"".join(self.ts_bulks)

    def write(self, redis: RespConnection, tables: list[pa.Table]) -> dict[str, int]:
        """Write each view's rows that are newer than the stored ones.

        The HSETs of a block and the HMGET of the next block go to Redis from
        a sender thread while this thread encodes the next block's values.
        The blocks hold distinct entities, so their commands do not interact.

        Returns:
            The number of entities written per view.
        """
        joined = self._join(tables)
        starts = range(0, joined.num_rows, BATCH_ROWS)
        written = dict.fromkeys(self.names, 0)
        if joined.num_rows == 0:
            return written
        unanswered = 0
        with Sender(redis.socket) as sender:
            keys = self._keys(joined.slice(0, BATCH_ROWS))
            if self.check_stored:
                sender.send(self._hmget(keys))
            for start in starts:
                block = joined.slice(start, BATCH_ROWS).combine_chunks()
                micros = [
                    _event_micros(block.column(f"{i}:ts")) for i in range(len(tables))
                ]
                segments = self._segments(block, micros)
                redis.expect_integers(unanswered)
                masks = self._masks(redis, block, micros)
                commands, rows = self._commands(keys, segments, masks)
                if rows:
                    sender.send(commands)
                unanswered = rows * (2 if self.ttl else 1)
                if start + BATCH_ROWS < joined.num_rows:
                    keys = self._keys(joined.slice(start + BATCH_ROWS, BATCH_ROWS))
                    if self.check_stored:
                        sender.send(self._hmget(keys))
                for name, mask in zip(self.names, masks, strict=True):
                    written[name] += int(mask.sum())
            redis.expect_integers(unanswered)
        return written

    def _masks(
        self, redis: RespConnection, block: pa.Table, micros: list[np.ndarray]
    ) -> list[np.ndarray]:
        """Per view, the rows to write: those the view has, and unless
        ``skip_dedup`` is set, newer than the stored ones (the HMGET replies)."""
        masks = [
            block.column(f"{i}:present").is_valid().to_numpy(zero_copy_only=False)
            for i in range(len(self.views))
        ]
        if not self.check_stored:
            return masks
        stored = redis.replies(block.num_rows)
        return [
            mask & _newer_than_stored([reply[i] for reply in stored], times)
            for i, (mask, times) in enumerate(zip(masks, micros, strict=True))
        ]

    def _hmget(self, keys: pa.Array) -> pa.Array:
        return concat_binary(self.hmget, keys, self.hmget_fields)

    def _join(self, tables: list[pa.Table]) -> pa.Table:
        """Full-join the views' tables on the join keys, columns renamed
        ``<view index>:<name>``, with ``<index>:present`` set where the view
        has the entity."""
        keys = list(self.join_types)
        joined: pl.DataFrame | None = None
        for index, (view, table) in enumerate(zip(self.views, tables, strict=True)):
            frame = pl.from_arrow(table)
            assert isinstance(frame, pl.DataFrame)
            timestamp = _batch_source(view).timestamp_field
            frame = frame.select(
                *keys,
                pl.lit(True).alias(f"{index}:present"),
                pl.col(timestamp).alias(f"{index}:ts"),
                *(pl.col(f.name).alias(f"{index}:{f.name}") for f in view.features),
            )
            if joined is None:
                joined = frame
            else:
                joined = joined.join(frame, on=keys, how="full", coalesce=True)
        assert joined is not None
        return joined.to_arrow()

    def _keys(self, block: pa.Table) -> pa.Array:
        """RESP bulk strings of the Redis keys of a block's entities."""
        block = block.combine_chunks()
        columns = {name: block.column(name).chunk(0) for name in self.join_types}
        keys = encode_entity_keys(columns, self.join_types)
        return bulk_strings(concat_binary(keys, self.project))

    def _segments(self, block: pa.Table, micros: list[np.ndarray]) -> list[pa.Array]:
        """Per view, the HSET arguments of each entity: timestamp, then features."""
        segments = []
        for index, view in enumerate(self.views):
            parts = [
                self.ts_bulks[index],
                bulk_strings(encode_timestamps(micros[index])),
            ]
            for field in view.features:
                value_type = field.dtype.to_value_type()
                values = _feast_nulls(block.column(f"{index}:{field.name}").chunk(0))
                parts.append(bulk_strings(feature_field(self.names[index], field.name)))
                parts.append(bulk_strings(encode_values(values, value_type)))
            segments.append(concat_binary(*parts))
        return segments

    def _commands(
        self, keys: pa.Array, segments: list[pa.Array], masks: list[np.ndarray]
    ) -> tuple[pa.Array, int]:
        """Build one HSET (and EXPIRE) per entity with a view to write, with
        the segments of the views that ``masks`` select."""
        any_view = np.logical_or.reduce(masks)
        argc = np.full(len(keys), 2, dtype=np.int64)
        parts: list[pa.Array | bytes] = [keys]
        for view, segment, mask in zip(self.views, segments, masks, strict=True):
            argc += mask * 2 * (len(view.features) + 1)
            parts.append(pc.if_else(pa.array(mask), segment, _EMPTY))
        header = concat_binary(b"*", decimal_strings(argc), b"\r\n$4\r\nHSET\r\n")
        commands = concat_binary(header, *parts)
        if self.ttl:
            expire = concat_binary(
                b"*3\r\n$6\r\nEXPIRE\r\n", keys, bulk_strings(b"%d" % self.ttl)
            )
            commands = concat_binary(commands, expire)
        return commands.filter(pa.array(any_view)), int(any_view.sum())


def _view_unsupported_reason(view: FeatureView) -> str | None:
    if not view.online:
        return "the view is offline-only"
    if view.batch_source is None or view.batch_source.field_mapping:
        return "the view's source has a field mapping or no batch source"
    if getattr(view, "feature_transformation", None) or getattr(
        view, "aggregations", None
    ):
        return "the view has a transformation or aggregations"
    for column in view.entity_columns:
        if column.dtype.to_value_type() not in KEY_VALUE_TYPES:
            return f"join key {column.name} has type {column.dtype}"
    for field in view.features:
        if field.dtype.to_value_type() not in SUPPORTED_VALUE_TYPES:
            return f"feature {field.name} has type {field.dtype}"
    return None


def _precompute_services(store: FeatureStore, view_names: list[str]) -> None:
    """Refresh the precomputed vectors of services over the written views, as
    ``FeatureStore.materialize`` does."""
    for service in store.list_feature_services():
        projections = {p.name for p in service.feature_view_projections}
        if service.precompute_online and projections & set(view_names):
            store.precompute_feature_service(service.name)


def _newer_than_stored(stored: list[bytes | None], micros: np.ndarray) -> np.ndarray:
    """Return the mask of rows whose event time is after the stored ``_ts``.

    Feast skips a row unless it is newer than the stored timestamp. A missing
    or zero stored timestamp never blocks a write.
    """
    encoded = pa.array(stored, pa.binary()).dictionary_encode()
    nanos_per_value = [0]
    for value in encoded.dictionary.to_pylist():
        timestamp = Timestamp()
        timestamp.ParseFromString(value)
        nanos_per_value.append(timestamp.seconds * 1_000_000_000 + timestamp.nanos)
    # Index 0 of nanos_per_value stands for a missing timestamp.
    indices = pc.add(encoded.indices, 1).fill_null(0).to_numpy(zero_copy_only=False)
    stored_nanos = np.asarray(nanos_per_value, dtype=np.int64)[indices]
    return (stored_nanos == 0) | (micros * 1000 > stored_nanos)


def _event_micros(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """Return event times as whole microseconds since the epoch, UTC.

    Feast passes event times through Python datetimes, which drop nanoseconds
    and read a naive time as UTC. A null (the view lacks the entity) is 0.
    """
    unit = column.type.unit
    values = pc.cast(column, pa.int64()).fill_null(0).to_numpy()
    if unit == "ns":
        return np.floor_divide(values, 1000)
    return values * {"s": 1_000_000, "ms": 1000, "us": 1}[unit]


def _feast_nulls(array: pa.Array) -> pa.Array:
    """Apply Feast's null rule: a NaN in a scalar float column is null."""
    if pa.types.is_floating(array.type):
        return pc.if_else(pc.is_nan(array), pa.scalar(None, array.type), array)
    return array
