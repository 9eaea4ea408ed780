"""The bulk Redis writer against Feast's own encodings and materialization.

The encoder tests compare every byte with Feast 0.67 and protobuf and need no
server. The materialization tests write the same feature tables into Redis
twice, under two Feast projects of the production profile: once with
``FeatureStore.materialize`` and once with the bulk writer. Then they compare
what Feast reads back, and the raw Redis hashes. They need Redis and
PostgreSQL on 127.0.0.1, or at the addresses in the profile's variables.
Without them the tests are skipped, or fail when the environment variable CI
is ``true``.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import uuid
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
import pytest
import redis
from feast import FeatureStore
from feast.errors import ProjectNotFoundException
from feast.infra.key_encoding_utils import serialize_entity_key
from feast.infra.online_stores.helpers import _mmh3
from feast.protos.feast.types.EntityKey_pb2 import EntityKey
from feast.protos.feast.types.Value_pb2 import (
    BoolList,
    BytesList,
    DoubleList,
    FloatList,
    Int32List,
    Int64List,
    StringList,
    Value,
)
from feast.value_type import ValueType
from google.protobuf.timestamp_pb2 import Timestamp
from polars.testing import assert_frame_equal

from features.feast_store import (
    MATERIALIZE_FROM,
    PRODUCTION_DEFAULTS,
    PROJECT_ENV,
    REDIS_ENV,
    apply_repository,
    open_store,
    remove_project,
    write_feature_tables,
)
from features.online_encoding import (
    encode_entity_keys,
    encode_timestamps,
    encode_values,
    feature_field,
)
from features.online_write import (
    bulk_write_unsupported_reason,
    latest_rows_from_offline_store,
    latest_rows_from_parquet,
    materialize_redis,
)
from features.paths import EMBEDDED, FEATURE_REPO, PRODUCTION
from features.redis_resp import RedisAddress
from features.schema import EVENT_TIMESTAMP, RESTAURANT_ID, USER_ID
from features.synthetic import WorldConfig, generate_world
from features.transforms import FEATURE_TABLES, StoreFrames, compute_tables, snapshot_at
from models.cutoffs import serving_cutoff

NAN = float("nan")
INF = float("inf")

# Values per Feast type, with the protobuf message Feast builds for each.
EDGE_VALUES: list[tuple[ValueType, pa.DataType, list[Any], Any]] = [
    (
        ValueType.DOUBLE,
        pa.float64(),
        [0.0, -0.0, 1.5, -2.25, NAN, INF, -INF, 1e308, 5e-324, None],
        lambda v: Value(double_val=v),
    ),
    (
        ValueType.FLOAT,
        pa.float32(),
        [0.0, 1.5, NAN, -INF, None],
        lambda v: Value(float_val=v),
    ),
    (
        ValueType.INT64,
        pa.int64(),
        [0, 1, -1, 127, 128, 300, 2**53 + 1, 2**63 - 1, -(2**63), None],
        lambda v: Value(int64_val=v),
    ),
    (
        ValueType.INT32,
        pa.int32(),
        [0, 1, -1, 2**31 - 1, -(2**31), None],
        lambda v: Value(int32_val=v),
    ),
    (ValueType.BOOL, pa.bool_(), [True, False, None], lambda v: Value(bool_val=v)),
    (
        ValueType.STRING,
        pa.string(),
        ["", "a", "Café Ñandú", "北京烤鸭", "🙂", "x" * 200, None],
        lambda v: Value(string_val=v),
    ),
    (
        ValueType.BYTES,
        pa.binary(),
        [b"", b"\x00\xff\r\n", b"y" * 130, None],
        lambda v: Value(bytes_val=v),
    ),
    (
        ValueType.STRING_LIST,
        pa.list_(pa.string()),
        [[], [""], ["a", "Crème brûlée"], ["z" * 150] * 3, None],
        lambda v: Value(string_list_val=StringList(val=v)),
    ),
    (
        ValueType.BYTES_LIST,
        pa.list_(pa.binary()),
        [[], [b"", b"\x01"], None],
        lambda v: Value(bytes_list_val=BytesList(val=v)),
    ),
    (
        ValueType.DOUBLE_LIST,
        pa.list_(pa.float64()),
        [[], [0.0], [1.5, NAN, -INF], [0.25] * 40, None],
        lambda v: Value(double_list_val=DoubleList(val=v)),
    ),
    (
        ValueType.FLOAT_LIST,
        pa.list_(pa.float32()),
        [[], [1.5, -0.5], None],
        lambda v: Value(float_list_val=FloatList(val=v)),
    ),
    (
        ValueType.INT64_LIST,
        pa.list_(pa.int64()),
        [[], [0, -1, 2**62], list(range(200)), None],
        lambda v: Value(int64_list_val=Int64List(val=v)),
    ),
    (
        ValueType.INT32_LIST,
        pa.list_(pa.int32()),
        [[], [-(2**31), 7], None],
        lambda v: Value(int32_list_val=Int32List(val=v)),
    ),
    (
        ValueType.BOOL_LIST,
        pa.list_(pa.bool_()),
        [[], [True, False, True], None],
        lambda v: Value(bool_list_val=BoolList(val=v)),
    ),
]


@pytest.mark.parametrize(
    ("value_type", "arrow_type", "values", "message"),
    EDGE_VALUES,
    ids=[case[0].name for case in EDGE_VALUES],
)
def test_encode_values_matches_protobuf(
    value_type: ValueType, arrow_type: pa.DataType, values: list[Any], message: Any
) -> None:
    encoded = encode_values(pa.array(values, arrow_type), value_type).to_pylist()

    for value, actual in zip(values, encoded, strict=True):
        expected = b"" if value is None else message(value).SerializeToString()
        assert actual == expected, f"{value_type.name} {value!r}"


def test_encode_values_of_sliced_lists() -> None:
    lists = pa.array([["skip"], ["a", "b"], None, ["c"]], pa.list_(pa.string()))

    encoded = encode_values(lists.slice(1), ValueType.STRING_LIST).to_pylist()

    assert encoded == [
        Value(string_list_val=StringList(val=["a", "b"])).SerializeToString(),
        b"",
        Value(string_list_val=StringList(val=["c"])).SerializeToString(),
    ]


def test_encode_values_rejects_unsupported_type() -> None:
    with pytest.raises(ValueError, match="UNIX_TIMESTAMP has no bulk encoder"):
        encode_values(pa.array([1]), ValueType.UNIX_TIMESTAMP)


def test_entity_keys_match_feast() -> None:
    user_ids = ["U1077", "", "Ünïcode-ユーザー", "u" * 300]

    encoded = encode_entity_keys(
        {USER_ID: pa.array(user_ids)}, {USER_ID: ValueType.STRING}
    ).to_pylist()

    for user_id, actual in zip(user_ids, encoded, strict=True):
        key = EntityKey(join_keys=[USER_ID], entity_values=[Value(string_val=user_id)])
        assert actual == serialize_entity_key(key, entity_key_serialization_version=3)


def test_compound_entity_keys_match_feast() -> None:
    rows = [("b", 1, -7), ("a", -(2**40), 2**31 - 1)]
    columns = {
        "zone": pa.array([row[0] for row in rows]),
        "account": pa.array([row[1] for row in rows], pa.int64()),
        "branch": pa.array([row[2] for row in rows], pa.int32()),
    }
    types = {
        "zone": ValueType.STRING,
        "account": ValueType.INT64,
        "branch": ValueType.INT32,
    }

    encoded = encode_entity_keys(columns, types).to_pylist()

    for (zone, account, branch), actual in zip(rows, encoded, strict=True):
        key = EntityKey(
            join_keys=["zone", "account", "branch"],
            entity_values=[
                Value(string_val=zone),
                Value(int64_val=account),
                Value(int32_val=branch),
            ],
        )
        assert actual == serialize_entity_key(key, entity_key_serialization_version=3)


def test_entity_keys_reject_null() -> None:
    with pytest.raises(ValueError, match="join key user_id has 1 null values"):
        encode_entity_keys(
            {USER_ID: pa.array(["U1", None])}, {USER_ID: ValueType.STRING}
        )


def test_timestamps_match_protobuf() -> None:
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    micros = np.array(
        [0, 1, 999_999, 1_000_000, 1_733_356_800_000_000, 1_733_356_800_123_456, -1]
    )

    encoded = encode_timestamps(micros).to_pylist()

    for value, actual in zip(micros.tolist(), encoded, strict=True):
        timestamp = Timestamp()
        timestamp.FromDatetime(epoch + timedelta(microseconds=value))
        assert actual == timestamp.SerializeToString(), value


def test_feature_field_matches_feast_hash() -> None:
    assert feature_field("user_profile", "user_city") == _mmh3("user_profile:user_city")
    assert feature_field("vista", "ñ") == _mmh3("vista:ñ")


def test_redis_address_parses_options() -> None:
    address = RedisAddress.parse("10.0.0.5:6380,db=3,password=secret")

    assert address == RedisAddress("10.0.0.5", 6380, db=3, password="secret")


def test_redis_address_rejects_ssl() -> None:
    with pytest.raises(ValueError, match=r"the options \['ssl'\]"):
        RedisAddress.parse("127.0.0.1:6379,ssl=true")


# --- materialization against Redis and PostgreSQL -------------------------

USERS = 300
# Share of the entities whose row at the later cutoff is removed, so that
# their earlier row is the latest one in the tables.
DROPPED_SHARE = 0.1


def _setting(name: str) -> str:
    return os.environ.get(name, PRODUCTION_DEFAULTS[name])


@pytest.fixture(scope="module")
def tables(tmp_path_factory: pytest.TempPathFactory) -> dict[str, pl.DataFrame]:
    """Feature tables at two cutoffs a week apart, with edge values at the later."""
    world = generate_world(
        WorldConfig(users=USERS, restaurants=60, days=30, seed=3, orders_per_user=6.0)
    )
    frames = StoreFrames.from_tables(world)
    latest = serving_cutoff(frames)
    earlier = compute_tables(snapshot_at(frames, latest - timedelta(days=7)))
    later = compute_tables(snapshot_at(frames, latest))
    stacked = {}
    for index, (name, frame) in enumerate(later.items()):
        key = FEATURE_TABLES[name].key
        keep = (pl.col(key).hash(seed=index) % 100) >= DROPPED_SHARE * 100
        stacked[name] = pl.concat(
            [earlier[name], _with_edge_values(frame.filter(keep))]
        )
    return stacked


def _with_edge_values(frame: pl.DataFrame) -> pl.DataFrame:
    """Put nulls, NaN, infinities, large integers, empty lists and non-ASCII
    strings in the first rows of the table's columns."""
    columns = {}
    for name, dtype in frame.schema.items():
        column = frame[name]
        if name in (USER_ID, RESTAURANT_ID, EVENT_TIMESTAMP) or frame.height < 8:
            columns[name] = column
            continue
        values = column.to_list()
        if dtype == pl.Float64:
            values[:5] = [None, NAN, INF, -INF, -0.0]
        elif dtype == pl.Int64 and column.null_count() == 0:
            # Feast converts integers through pandas, which turns a column with
            # nulls into floats; large values stay exact without nulls.
            values[:3] = [2**62, -(2**40), 0]
        elif dtype == pl.String:
            values[:3] = [None, "", "Taquería Ñandú 北京"]
        elif dtype == pl.List(pl.String):
            values[:3] = [None, [], ["", "Crème brûlée", "🙂"]]
        elif dtype == pl.List(pl.Float64):
            values[:3] = [None, [], [0.5, NAN, -INF]]
        columns[name] = pl.Series(name, values, dtype=dtype)
    return pl.DataFrame(columns)


@pytest.fixture(scope="module")
def stores(
    services: None,
    tables: dict[str, pl.DataFrame],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[dict[str, FeatureStore]]:
    """Two projects over the same tables: ``feast`` and ``bulk``, applied."""
    var_dir = tmp_path_factory.mktemp("online_write")
    write_feature_tables(tables, var_dir / "features")
    suffix = uuid.uuid4().hex[:10]
    opened = {}
    try:
        for writer in ("feast", "bulk"):
            with pytest.MonkeyPatch.context() as patch:
                patch.setenv(PROJECT_ENV, f"online_write_{writer}_{suffix}")
                apply_repository(FEATURE_REPO, var_dir, PRODUCTION)
                opened[writer] = open_store(FEATURE_REPO, var_dir, PRODUCTION)
        yield opened
    finally:
        for store in opened.values():
            with contextlib.suppress(ProjectNotFoundException):
                remove_project(store)


def _materialize(stores: dict[str, FeatureStore], end: datetime) -> None:
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        stores["feast"].materialize(start_date=MATERIALIZE_FROM, end_date=end)
        materialize_redis(stores["bulk"], MATERIALIZE_FROM, end)


def _online(store: FeatureStore, view_names: list[str], keys: dict[str, list[str]]):
    """Every feature of every view, read back for every key of its entity."""
    results = {}
    for view_name in view_names:
        view = store.get_feature_view(view_name)
        join_key = view.join_keys[0]
        response = store.get_online_features(
            features=[f"{view_name}:{field.name}" for field in view.features],
            entity_rows=[{join_key: key} for key in keys[join_key]],
        ).to_dict()
        results[view_name] = response
    return results


def _same(expected: Any, actual: Any) -> bool:
    if isinstance(expected, float) and isinstance(actual, float):
        return (math.isnan(expected) and math.isnan(actual)) or expected == actual
    if isinstance(expected, list) and isinstance(actual, list):
        return len(expected) == len(actual) and all(
            _same(e, a) for e, a in zip(expected, actual, strict=True)
        )
    return bool(expected == actual)


def _redis_hashes(project: str) -> dict[bytes, dict[bytes, bytes]]:
    """Every hash of a project, by key without the project suffix."""
    address = RedisAddress.parse(_setting(REDIS_ENV))
    client = redis.Redis(host=address.host, port=address.port, db=address.db)
    try:
        suffix = project.encode()
        return {
            key[: -len(suffix)]: client.hgetall(key)
            for key in client.scan_iter(match=b"*" + suffix, count=1000)
        }
    finally:
        client.close()


def _entity_keys(tables: dict[str, pl.DataFrame]) -> dict[str, list[str]]:
    keys: dict[str, set[str]] = {USER_ID: {"U-unknown"}, RESTAURANT_ID: {"R-unknown"}}
    for name, frame in tables.items():
        key = FEATURE_TABLES[name].key
        keys[key].update(frame[key].to_list())
    return {key: sorted(values) for key, values in keys.items()}


@pytest.mark.services
@pytest.mark.slow
def test_bulk_writer_matches_feast_materialize(
    stores: dict[str, FeatureStore], tables: dict[str, pl.DataFrame]
) -> None:
    end = datetime.now(UTC) + timedelta(minutes=1)
    _materialize(stores, end)
    view_names = sorted(tables)
    keys = _entity_keys(tables)

    feast_values = _online(stores["feast"], view_names, keys)
    bulk_values = _online(stores["bulk"], view_names, keys)

    for view_name in view_names:
        for feature, expected in feast_values[view_name].items():
            actual = bulk_values[view_name][feature]
            differing = [
                (index, e, a)
                for index, (e, a) in enumerate(zip(expected, actual, strict=True))
                if not _same(e, a)
            ]
            assert differing == [], f"{view_name}:{feature}"
    assert _redis_hashes(stores["bulk"].project) == _redis_hashes(
        stores["feast"].project
    )


@pytest.mark.services
@pytest.mark.slow
def test_bulk_writer_keeps_latest_rows(
    stores: dict[str, FeatureStore], tables: dict[str, pl.DataFrame]
) -> None:
    frame = tables["user_profile"]
    cutoffs = sorted(frame[EVENT_TIMESTAMP].unique().to_list())
    end = datetime.now(UTC) + timedelta(minutes=1)
    _materialize(stores, end)

    # A second window that ends before the later cutoff contains only older
    # rows. Feast skips rows older than the stored ones, so the bulk writer must.
    _materialize(stores, cutoffs[0] + timedelta(seconds=1))
    hashes = _redis_hashes(stores["bulk"].project)
    online = _online(stores["bulk"], ["user_profile"], _entity_keys(tables))

    assert hashes == _redis_hashes(stores["feast"].project)
    latest = frame.sort(EVENT_TIMESTAMP).unique(USER_ID, keep="last")
    expected = dict(zip(latest[USER_ID], latest["user_budget_level"], strict=True))
    read = dict(
        zip(
            online["user_profile"][USER_ID],
            online["user_profile"]["user_budget_level"],
            strict=True,
        )
    )
    assert read == {**expected, "U-unknown": None}
    dropped = set(frame[USER_ID]) - set(
        frame.filter(pl.col(EVENT_TIMESTAMP) == cutoffs[-1])[USER_ID]
    )
    assert dropped, "the tables should have users missing from the later cutoff"


@pytest.mark.services
@pytest.mark.slow
def test_bulk_writer_records_materialization(stores: dict[str, FeatureStore]) -> None:
    end = datetime.now(UTC) + timedelta(minutes=1)
    _materialize(stores, end)

    for view in stores["feast"].list_feature_views():
        bulk_view = stores["bulk"].get_feature_view(view.name)
        assert bulk_view.materialization_intervals == view.materialization_intervals
        assert bulk_view.most_recent_end_time == end


@pytest.mark.services
@pytest.mark.slow
def test_parquet_reader_matches_offline_store(
    stores: dict[str, FeatureStore], tables: dict[str, pl.DataFrame]
) -> None:
    store = stores["bulk"]
    cutoffs = sorted(tables["user_profile"][EVENT_TIMESTAMP].unique().to_list())
    windows = [
        (MATERIALIZE_FROM, datetime.now(UTC)),
        (MATERIALIZE_FROM, cutoffs[0]),
        (cutoffs[-1], cutoffs[-1]),
        (cutoffs[-1] + timedelta(microseconds=1), datetime.now(UTC)),
    ]
    for view in store.list_feature_views():
        path = Path(view.batch_source.path)
        for start, end in windows:
            expected = latest_rows_from_offline_store(store, view, start, end)
            actual = latest_rows_from_parquet(path, view, start, end)
            key = view.join_keys[0]
            assert_frame_equal(
                _frame(actual).sort(key), _frame(expected).sort(key), check_dtypes=False
            )


def _frame(table: pa.Table) -> pl.DataFrame:
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    return frame


@pytest.mark.services
@pytest.mark.slow
def test_bulk_writer_follows_ttl_and_skip_dedup(
    stores: dict[str, FeatureStore], tables: dict[str, pl.DataFrame]
) -> None:
    cutoffs = sorted(tables["user_profile"][EVENT_TIMESTAMP].unique().to_list())
    _materialize(stores, datetime.now(UTC) + timedelta(minutes=1))
    configs = [store.config.online_store for store in stores.values()]
    try:
        for config in configs:
            config.key_ttl_seconds = 600
            config.skip_dedup = True
        # Without the timestamp check, the older rows replace the newer ones.
        _materialize(stores, cutoffs[0] + timedelta(seconds=1))
    finally:
        for config in configs:
            config.key_ttl_seconds = None
            config.skip_dedup = False
    ttls = {writer: _ttls(store.project) for writer, store in stores.items()}
    hashes = _redis_hashes(stores["bulk"].project)

    assert hashes == _redis_hashes(stores["feast"].project)
    expiring = {key for key, ttl in ttls["feast"].items() if ttl > 0}
    assert expiring
    assert {key for key, ttl in ttls["bulk"].items() if ttl > 0} == expiring
    assert max(ttls["bulk"].values()) <= 600
    earlier = Timestamp()
    earlier.FromDatetime(cutoffs[0])
    stamps = {fields.get(b"_ts:user_profile") for fields in hashes.values()}
    assert earlier.SerializeToString() in stamps


def _ttls(project: str) -> dict[bytes, int]:
    """The TTL in seconds of every key of a project, -1 for none."""
    address = RedisAddress.parse(_setting(REDIS_ENV))
    client = redis.Redis(host=address.host, port=address.port, db=address.db)
    try:
        suffix = project.encode()
        return {
            key[: -len(suffix)]: client.ttl(key)
            for key in client.scan_iter(match=b"*" + suffix, count=1000)
        }
    finally:
        client.close()


def test_embedded_profile_is_not_bulk_written(tmp_path: Path) -> None:
    store = open_store(FEATURE_REPO, tmp_path, EMBEDDED)

    assert bulk_write_unsupported_reason(store) == (
        "the online store is 'sqlite', not 'redis'"
    )
