"""Feast reads the feature tables as they were at each cutoff, online and offline.

The module loads a small synthetic world (orders with times), runs
`recommender features` (feature tables at four training cutoffs and at the
serving cutoff, feast apply, materialize into SQLite), then reads the values
back through Feast.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import math
import shutil
import sqlite3
from dataclasses import asdict
from datetime import timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from feast import FeatureService, FeatureStore, FeatureView, Field
from feast.protos.feast.core.Registry_pb2 import Registry
from feast.types import Float64, Int64

import models.dataset as dataset_module
from features.feast_store import (
    FeaturesNotReadyError,
    apply_repository,
    check_repository,
    check_service_names,
    check_view_list,
    check_views,
    open_store,
    write_feature_tables,
)
from features.feast_view_warnings import (
    warn_of_constant_features,
    warn_of_null_features,
    warn_of_views_without_service,
)
from features.pairs import PAIR_FEATURES
from features.paths import (
    EMBEDDED,
    FEATURE_REPO,
    PROJECT_DIR,
    RANKER_CONFIG,
    VarPaths,
)
from features.schema import EVENT_TIMESTAMP, RESTAURANT_ID, USER_ID
from features.store import fingerprint
from features.transforms import (
    FEATURE_TABLES,
    RESTAURANT,
    USER,
    StoreFrames,
    compute_tables,
    join_entity_tables,
    snapshot_at,
)
from models.cutoffs import serving_cutoff, training_snapshots
from models.dataset import (
    labelled_rows,
    numeric_features,
    rows_from_feast,
    rows_in_memory,
)
from models.ranker import load_config
from models.registry import MODEL_FILE, load_current
from models.training import train_current_model
from service.cli import main
from service.pipeline import read_store

pytestmark = pytest.mark.slow

WORLD = ["--users", "300", "--restaurants", "60", "--days", "45", "--world-seed", "3"]
SAMPLE_USERS = 40
SAMPLE_RESTAURANTS = 20


@pytest.fixture(scope="module")
def var_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("feast_features")
    assert main(["--var-dir", str(root), "data", "--source", "synthetic", *WORLD]) == 0
    assert main(["--var-dir", str(root), "features"]) == 0
    return root


@pytest.fixture(scope="module")
def frames(var_dir: Path) -> StoreFrames:
    return read_store(VarPaths(var_dir))


@pytest.fixture(scope="module")
def store(var_dir: Path) -> FeatureStore:
    return open_store(FEATURE_REPO, var_dir)


def _close(expected: Any, actual: Any) -> bool:
    """Equal, with floats compared to 1e-9 and NaN or None as missing."""
    missing = (None,)
    if isinstance(expected, float) and math.isnan(expected):
        expected = None
    if isinstance(actual, float) and math.isnan(actual):
        actual = None
    if expected in missing or actual in missing:
        return expected in missing and actual in missing
    if isinstance(expected, float) or isinstance(actual, float):
        return math.isclose(float(expected), float(actual), rel_tol=1e-9, abs_tol=1e-9)
    if isinstance(expected, list | tuple):
        return len(expected) == len(list(actual)) and all(
            _close(e, a) for e, a in zip(expected, list(actual), strict=True)
        )
    return bool(expected == actual)


def _mismatches(
    expected: pl.DataFrame, actual: pl.DataFrame, key: list[str]
) -> list[str]:
    """Describe every cell of ``expected`` that ``actual`` holds differently."""
    joined = expected.join(actual, on=key, how="left", suffix="__actual")
    problems = []
    for row in joined.iter_rows(named=True):
        for name in expected.columns:
            if name in key:
                continue
            if not _close(row[name], row[f"{name}__actual"]):
                problems.append(
                    f"{[row[k] for k in key]} {name}: expected {row[name]!r}, "
                    f"got {row[f'{name}__actual']!r}"
                )
    return problems


def test_training_cutoffs_are_order_times(var_dir: Path, frames: StoreFrames) -> None:
    config = load_config(RANKER_CONFIG)
    cutoffs = [s.snapshot.cutoff for s in training_snapshots(frames, config.cutoffs)]
    stamps = pl.read_parquet(VarPaths(var_dir).features / "user_activity.parquet")

    assert len(cutoffs) == 4
    assert [b - a for a, b in itertools.pairwise(cutoffs)] == [timedelta(days=7)] * 3
    assert sorted(stamps[EVENT_TIMESTAMP].unique().to_list()) == [
        *cutoffs,
        serving_cutoff(frames),
    ]


def test_historical_reads_each_cutoff(frames: StoreFrames, store: FeatureStore) -> None:
    """At each training cutoff, and one hour after it, Feast returns the values
    computed from the orders before that cutoff."""
    config = load_config(RANKER_CONFIG)
    users = sorted(frames.users[USER_ID].to_list())[:SAMPLE_USERS]
    features = [
        "user_activity:user_order_count",
        "user_activity:user_orders_7d",
        "user_activity:user_days_since_last_order",
        "user_diet:user_vegetarian_order_ratio",
        "user_cuisine:user_pizza_share",
    ]
    for labelled in training_snapshots(frames, config.cutoffs):
        cutoff = labelled.snapshot.cutoff
        expected = join_entity_tables(compute_tables(labelled.snapshot), USER).select(
            USER_ID, *[f.split(":")[1] for f in features]
        )
        expected = expected.filter(pl.col(USER_ID).is_in(users))
        for moment in (cutoff, cutoff + timedelta(hours=1)):
            entity_df = pl.DataFrame(
                {USER_ID: users, EVENT_TIMESTAMP: [moment] * len(users)}
            ).to_pandas()
            result = pl.from_pandas(
                store.get_historical_features(entity_df, features).to_df()
            ).drop(EVENT_TIMESTAMP)

            assert _mismatches(expected, result, [USER_ID]) == []


def test_online_matches_offline_at_serving_cutoff(
    frames: StoreFrames, store: FeatureStore
) -> None:
    """Online reads and offline reads at the serving cutoff agree on every
    feature of ranker_v2, the pair features of the on-demand view included."""
    users = sorted(frames.users[USER_ID].to_list())[:SAMPLE_USERS:4]
    restaurants = sorted(frames.restaurants[RESTAURANT_ID].to_list())[
        :SAMPLE_RESTAURANTS
    ]
    pairs = pl.DataFrame({USER_ID: users}).join(
        pl.DataFrame({RESTAURANT_ID: restaurants}), how="cross"
    )
    service = store.get_feature_service("ranker_v2")
    online = pl.DataFrame(
        store.get_online_features(
            features=service, entity_rows=pairs.to_dicts()
        ).to_dict()
    )
    entity_df = pairs.with_columns(
        pl.lit(serving_cutoff(frames)).alias(EVENT_TIMESTAMP)
    ).to_pandas()
    offline = pl.from_pandas(
        store.get_historical_features(entity_df, service).to_df()
    ).drop(EVENT_TIMESTAMP)

    names = [c for c in offline.columns if c not in (USER_ID, RESTAURANT_ID)]
    assert len(names) >= 50
    assert "vegetarian_gap" in names
    assert online.height == offline.height == pairs.height
    assert _mismatches(offline, online, [USER_ID, RESTAURANT_ID]) == []


@pytest.mark.parametrize("chunk_rows", [250_000, 97])
def test_feast_rows_equal_rows_in_memory(
    frames: StoreFrames,
    store: FeatureStore,
    chunk_rows: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What training reads through Feast is what evaluation computes in memory,
    whether it is read in one call or in chunks of 97 rows."""
    monkeypatch.setattr(dataset_module, "FEAST_CHUNK_ROWS", chunk_rows)
    config = load_config(RANKER_CONFIG)
    snapshots = training_snapshots(frames, config.cutoffs)
    rows = labelled_rows(snapshots, 5, config.seed)
    tables = {s.snapshot.cutoff: compute_tables(s.snapshot) for s in snapshots}
    features = numeric_features(store, "ranker_v2")
    key = ["_row"]

    from_feast = rows_from_feast(rows, store, "ranker_v2").with_row_index("_row")
    in_memory = rows_in_memory(rows, tables).with_row_index("_row")

    assert from_feast.height == rows.height
    assert (
        _mismatches(
            in_memory.select(*key, *features), from_feast.select(*key, *features), key
        )
        == []
    )


@pytest.mark.parametrize("service", ["ranker_v1", "ranker_v2"])
def test_entity_reads_match_service_rows(
    frames: StoreFrames, store: FeatureStore, service: str
) -> None:
    """Training reads each user and restaurant once per cutoff and computes the
    pair features itself; Feast's feature service, asked for every row with
    its on-demand view, gives the same values."""
    config = load_config(RANKER_CONFIG)
    rows = labelled_rows(training_snapshots(frames, config.cutoffs), 5, config.seed)
    names = numeric_features(store, service)
    entity_df = rows.select(USER_ID, RESTAURANT_ID, EVENT_TIMESTAMP).with_row_index(
        "_row"
    )
    per_row = store.get_historical_features(
        entity_df=entity_df.to_pandas(), features=store.get_feature_service(service)
    ).to_df()
    expected = pl.from_pandas(per_row[["_row", *names]]).with_columns(
        pl.col("_row").cast(pl.UInt32), pl.col(names).cast(pl.Float64)
    )

    actual = rows_from_feast(rows, store, service).with_row_index("_row")

    assert actual.columns == ["_row", *rows.columns, *names]
    assert actual.height == rows.height == expected.height
    assert set(PAIR_FEATURES) & set(names)
    assert _mismatches(expected, actual.select("_row", *names), ["_row"]) == []


def test_online_restaurants_match_serving_tables(
    frames: StoreFrames, store: FeatureStore
) -> None:
    tables = compute_tables(snapshot_at(frames, serving_cutoff(frames)))
    expected = join_entity_tables(tables, RESTAURANT)
    names = [c for c in expected.columns if c != RESTAURANT_ID]
    online = pl.DataFrame(
        store.get_online_features(
            features=[
                f"{view}:{name}"
                for view in tables
                if FEATURE_TABLES[view].entity == RESTAURANT
                for name in tables[view].columns
                if name not in (RESTAURANT_ID, EVENT_TIMESTAMP)
            ],
            entity_rows=[{RESTAURANT_ID: r} for r in expected[RESTAURANT_ID]],
        ).to_dict()
    )

    assert len(names) > 20
    assert _mismatches(expected, online, [RESTAURANT_ID]) == []


@pytest.fixture(scope="module")
def serving_tables(frames: StoreFrames) -> dict[str, pl.DataFrame]:
    return compute_tables(snapshot_at(frames, serving_cutoff(frames)))


def test_check_views_accepts_the_tables(
    store: FeatureStore, serving_tables: dict[str, pl.DataFrame]
) -> None:
    check_views(store, serving_tables)


def test_check_views_rejects_other_type(
    store: FeatureStore, serving_tables: dict[str, pl.DataFrame]
) -> None:
    # user_diet declares user_vegetarian_order_ratio as Float64.
    tables = dict(serving_tables)
    tables["user_diet"] = tables["user_diet"].with_columns(
        pl.col("user_vegetarian_order_ratio").cast(pl.Int64)
    )

    with pytest.raises(
        ValueError,
        match="user_diet declares user_vegetarian_order_ratio as Float64, "
        "so its table column must be Float64, but it is Int64;",
    ):
        check_views(store, tables)


def test_check_views_rejects_missing_column(
    store: FeatureStore, serving_tables: dict[str, pl.DataFrame]
) -> None:
    tables = dict(serving_tables)
    tables["user_cuisine"] = tables["user_cuisine"].drop("user_pizza_share")

    with pytest.raises(
        ValueError, match="user_cuisine declares user_pizza_share, but its table"
    ):
        check_views(store, tables)


def test_check_views_rejects_null_type(
    store: FeatureStore, serving_tables: dict[str, pl.DataFrame]
) -> None:
    # pl.lit(None) without a type gives the column the polars type Null.
    tables = dict(serving_tables)
    tables["user_diet"] = tables["user_diet"].with_columns(
        pl.lit(None).alias("user_vegetarian_order_ratio")
    )

    with pytest.raises(ValueError) as raised:
        check_views(store, tables)

    message = str(raised.value)
    assert message.startswith(
        "feature view user_diet declares user_vegetarian_order_ratio as "
        "Float64, so its table column must be Float64, but it is Null;"
    )
    assert "pl.lit(None, pl.Float64)" in message


def test_check_views_accepts_null_type_in_empty_table(
    store: FeatureStore, serving_tables: dict[str, pl.DataFrame]
) -> None:
    tables = dict(serving_tables)
    tables["user_diet"] = (
        tables["user_diet"]
        .clear()
        .with_columns(pl.lit(None).alias("user_vegetarian_order_ratio"))
    )
    assert tables["user_diet"].schema["user_vegetarian_order_ratio"] == pl.Null

    check_views(store, tables)


def test_null_features_warned_by_table(
    var_dir: Path,
    serving_tables: dict[str, pl.DataFrame],
    caplog: pytest.LogCaptureFixture,
) -> None:
    tables = dict(serving_tables)
    tables["user_diet"] = tables["user_diet"].with_columns(
        pl.lit(None, pl.Float64).alias("user_vegetarian_order_ratio"),
        pl.lit(None, pl.Float64).alias("user_vegetarian_item_ratio"),
    )
    rows = tables["user_diet"].height

    with caplog.at_level(logging.WARNING, logger="features.feast_view_warnings"):
        check_repository(FEATURE_REPO, var_dir, EMBEDDED, tables)

    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        "feature table user_diet: user_vegetarian_order_ratio, "
        f"user_vegetarian_item_ratio are null on all {rows} rows, so the ranker "
        "learns nothing from them. Check the transform unless the data lacks "
        "its inputs (the bundled UCI data has no order times or totals, menus, "
        "diets or opening dates)"
    ]


def test_constant_features_warned_by_table(
    store: FeatureStore,
    serving_tables: dict[str, pl.DataFrame],
    caplog: pytest.LogCaptureFixture,
) -> None:
    tables = dict(serving_tables)
    tables["user_diet"] = tables["user_diet"].with_columns(
        pl.lit(3, pl.Int64).alias("user_diet_order_count")
    )
    rows = tables["user_diet"].height

    with caplog.at_level(logging.WARNING, logger="features.feast_view_warnings"):
        found = warn_of_constant_features(store.list_feature_views(), tables)

    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert found == {"user_diet": ["user_diet_order_count"]}
    assert warnings == [
        "feature table user_diet: user_diet_order_count is 3 on all "
        f"{rows} rows, so the ranker learns nothing from it. Check the "
        "transform unless the data lacks its inputs"
    ]


def test_constant_features_none_in_timed_world(
    store: FeatureStore, serving_tables: dict[str, pl.DataFrame]
) -> None:
    assert warn_of_constant_features(store.list_feature_views(), serving_tables) == {}


def test_views_without_service_warned(
    store: FeatureStore, caplog: pytest.LogCaptureFixture
) -> None:
    services = [store.get_feature_service("ranker_v1")]

    with caplog.at_level(logging.WARNING, logger="features.feast_view_warnings"):
        unread = warn_of_views_without_service(store.list_feature_views(), services)

    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert unread == ["restaurant_menu", "user_diet"]
    assert warnings == [
        "feature views restaurant_menu, user_diet are in no feature service, so "
        "no model reads them; add them to a FeatureService in "
        "feature_repo/definitions.py"
    ]


def test_on_demand_source_not_warned(
    store: FeatureStore, caplog: pytest.LogCaptureFixture
) -> None:
    # user_diet is listed only as a source of user_restaurant_pair, whose
    # vegetarian_match Feast computes from it for the model.
    views = store.list_feature_views()
    on_demand = store.list_on_demand_feature_views()
    listed = [view for view in views if view.name != "user_diet"]
    service = FeatureService(name="without_user_diet", features=[*listed, *on_demand])

    with caplog.at_level(logging.WARNING, logger="features.feast_view_warnings"):
        unread = warn_of_views_without_service(views, [service], on_demand)

    assert unread == []
    assert not caplog.records


def test_unlisted_on_demand_sources_warned(store: FeatureStore) -> None:
    views = store.list_feature_views()
    on_demand = store.list_on_demand_feature_views()
    listed = [view for view in views if view.name != "user_diet"]
    service = FeatureService(name="without_user_diet", features=listed)

    unread = warn_of_views_without_service(views, [service], on_demand)

    assert unread == ["user_diet"]


def test_every_view_in_a_service(
    store: FeatureStore, caplog: pytest.LogCaptureFixture
) -> None:
    services = store.list_feature_services()

    with caplog.at_level(logging.WARNING, logger="features.feast_view_warnings"):
        unread = warn_of_views_without_service(store.list_feature_views(), services)

    assert unread == []
    assert not caplog.records


def test_null_features_none_in_timed_world(
    store: FeatureStore, serving_tables: dict[str, pl.DataFrame]
) -> None:
    # The synthetic world has order times and menus, so every feature has a
    # value somewhere.
    assert warn_of_null_features(store.list_feature_views(), serving_tables) == {}


def test_null_features_skip_empty_table(
    store: FeatureStore, serving_tables: dict[str, pl.DataFrame]
) -> None:
    tables = dict(serving_tables)
    tables["user_diet"] = tables["user_diet"].clear()

    assert warn_of_null_features(store.list_feature_views(), tables) == {}


def test_check_views_lists_every_mistake(
    store: FeatureStore, serving_tables: dict[str, pl.DataFrame]
) -> None:
    tables = dict(serving_tables)
    tables["user_cuisine"] = tables["user_cuisine"].drop("user_pizza_share")
    tables["user_diet"] = tables["user_diet"].with_columns(
        pl.col("user_vegetarian_order_ratio").cast(pl.Int64)
    )

    with pytest.raises(ValueError) as raised:
        check_views(store, tables)

    lines = str(raised.value).splitlines()
    assert lines[0] == "2 mistakes in the feature definitions:"
    assert lines[1].startswith(
        "- feature view user_cuisine declares user_pizza_share, but its table"
    )
    assert lines[2].startswith(
        "- feature view user_diet declares user_vegetarian_order_ratio as "
        "Float64, so its table column must be Float64, but it is Int64;"
    )
    assert len(lines) == 3


def _file_view(name: str, path: Path, entity: str, *fields: Any) -> FeatureView:
    from feast import Entity, FileSource, ValueType

    keys = {"user": USER_ID, "restaurant": RESTAURANT_ID}
    key = Entity(name=entity, join_keys=[keys[entity]], value_type=ValueType.STRING)
    return FeatureView(
        name=name,
        entities=[key],
        schema=list(fields),
        source=FileSource(path=str(path), timestamp_field=EVENT_TIMESTAMP),
    )


def _error_with_user_diet_as(
    store: FeatureStore,
    tables: dict[str, pl.DataFrame],
    view_name: str,
    entity: str,
    field: Field,
) -> str:
    """Return the message of check_view_list when the user_diet view is
    replaced by ``view_name`` over the same file, with the on-demand views."""
    path = Path(store.get_feature_view("user_diet").batch_source.path)
    views = [v for v in store.list_feature_views() if v.name != "user_diet"]
    replaced = _file_view(view_name, path, entity, field)
    with pytest.raises(ValueError) as raised:
        check_view_list(
            [*views, replaced], tables, store.list_on_demand_feature_views()
        )
    return str(raised.value)


def test_check_views_rejects_view_named_otherwise(
    store: FeatureStore, serving_tables: dict[str, pl.DataFrame]
) -> None:
    field = Field(name="user_diet_order_count", dtype=Int64)

    message = _error_with_user_diet_as(
        store, serving_tables, "user_diets", "user", field
    )

    assert message == (
        "feature view user_diets reads the table user_diet; name the view "
        "user_diet, because training and the service read each table's "
        "features from the view of the same name"
    )


def test_check_views_rejects_other_entity(
    store: FeatureStore, serving_tables: dict[str, pl.DataFrame]
) -> None:
    field = Field(name="user_diet_order_count", dtype=Int64)

    message = _error_with_user_diet_as(
        store, serving_tables, "user_diet", "restaurant", field
    )

    assert message == (
        "feature view user_diet is keyed on the entities ['restaurant'], but its "
        "table has one row per user_id; set entities=[user]"
    )


def test_check_views_rejects_on_demand_name(
    store: FeatureStore, serving_tables: dict[str, pl.DataFrame]
) -> None:
    field = Field(name="same_city", dtype=Int64)

    message = _error_with_user_diet_as(
        store, serving_tables, "user_diet", "user", field
    )

    assert message == (
        "feature same_city is declared by both feature views "
        "user_restaurant_pair (on demand) and user_diet; rename one"
    )


def test_check_views_rejects_field_repeated_in_view(
    store: FeatureStore, serving_tables: dict[str, pl.DataFrame]
) -> None:
    path = Path(store.get_feature_view("user_diet").batch_source.path)
    field = Field(name="user_vegetarian_order_ratio", dtype=Float64)
    views = [v for v in store.list_feature_views() if v.name != "user_diet"]
    repeated = _file_view("user_diet", path, "user", field, field)

    with pytest.raises(ValueError) as raised:
        check_view_list(
            [*views, repeated], serving_tables, store.list_on_demand_feature_views()
        )

    assert str(raised.value) == (
        "feature view user_diet declares user_vegetarian_order_ratio more than "
        "once; remove the repeated Field"
    )


def test_check_views_rejects_repeated_view_name(
    store: FeatureStore, serving_tables: dict[str, pl.DataFrame]
) -> None:
    path = Path(store.get_feature_view("restaurant_popularity").batch_source.path)
    field = Field(name="restaurant_order_share", dtype=Float64)
    second = _file_view("restaurant_popularity", path, "restaurant", field)

    with pytest.raises(ValueError) as raised:
        check_view_list(
            [*store.list_feature_views(), second],
            serving_tables,
            store.list_on_demand_feature_views(),
        )

    assert str(raised.value) == (
        "two feature views are named restaurant_popularity; rename one, "
        "because Feast keeps one view per name"
    )


def test_unknown_service_names_known_ones(store: FeatureStore) -> None:
    with pytest.raises(FeaturesNotReadyError) as raised:
        numeric_features(store, "ranker_v9")

    assert str(raised.value) == (
        "feature service 'ranker_v9' not found in the Feast registry, which has "
        "ranker_v1, ranker_v2; check feature_service in the ranker config or "
        "--feature-service, or run `recommender features` if the service was "
        "declared since its last run"
    )


def test_check_views_rejects_unsupported_type(
    store: FeatureStore, serving_tables: dict[str, pl.DataFrame]
) -> None:
    from feast.types import UnixTimestamp

    field = Field(name="user_diet_order_count", dtype=UnixTimestamp)

    message = _error_with_user_diet_as(
        store, serving_tables, "user_diet", "user", field
    )

    assert message == (
        "feature view user_diet declares user_diet_order_count as UnixTimestamp, "
        "which the feature tables do not support; use Float64, Float32, Int64, "
        "Int32, String, Bool or an Array of one of them"
    )


def test_check_views_rejects_table_without_view(
    store: FeatureStore, serving_tables: dict[str, pl.DataFrame]
) -> None:
    tables = {**serving_tables, "user_extra": serving_tables["user_diet"]}

    with pytest.raises(ValueError, match="computes the table user_extra, which no"):
        check_view_list(store.list_feature_views(), tables)


def test_check_views_rejects_file_without_transform(
    store: FeatureStore, serving_tables: dict[str, pl.DataFrame], tmp_path: Path
) -> None:
    left_over = tmp_path / "user_extra.parquet"
    serving_tables["user_diet"].write_parquet(left_over)
    view = _file_view(
        "user_extra", left_over, "user", Field(name="user_extra_one", dtype=Int64)
    )

    with pytest.raises(ValueError) as raised:
        check_view_list([*store.list_feature_views(), view], serving_tables)

    assert str(raised.value) == (
        f"feature view user_extra reads {left_over}, but no transform in "
        "features/transforms.py computes the table user_extra (the file is left "
        "from an earlier run); add the transform or remove the view"
    )


def test_check_views_rejects_file_elsewhere(
    store: FeatureStore, serving_tables: dict[str, pl.DataFrame], tmp_path: Path
) -> None:
    path = Path(store.get_feature_view("user_diet").batch_source.path)
    elsewhere = tmp_path / "other" / "user_diet.parquet"
    elsewhere.parent.mkdir()
    serving_tables["user_diet"].write_parquet(elsewhere)
    views = [v for v in store.list_feature_views() if v.name != "user_diet"]
    moved = _file_view(
        "user_diet", elsewhere, "user", Field(name="user_diet_order_count", dtype=Int64)
    )

    with pytest.raises(ValueError) as raised:
        check_view_list([*views, moved], serving_tables, features_dir=path.parent)

    assert str(raised.value) == (
        f"feature view user_diet reads {elsewhere}, outside the feature tables in "
        f"{path.parent}; declare its source with _source(<table>) in "
        "feature_repo/definitions.py"
    )


def test_check_views_rejects_other_source(
    store: FeatureStore, serving_tables: dict[str, pl.DataFrame]
) -> None:
    from feast import Entity, ValueType
    from feast.infra.offline_stores.contrib.postgres_offline_store.postgres_source import (  # noqa: E501
        PostgreSQLSource,
    )

    user = Entity(name="user", join_keys=[USER_ID], value_type=ValueType.STRING)
    view = FeatureView(
        name="user_extra",
        entities=[user],
        schema=[Field(name="user_extra_one", dtype=Int64)],
        source=PostgreSQLSource(
            name="user_extra", query="SELECT 1", timestamp_field=EVENT_TIMESTAMP
        ),
    )

    with pytest.raises(ValueError) as raised:
        check_view_list([*store.list_feature_views(), view], serving_tables)

    assert str(raised.value) == (
        "feature view user_extra reads PostgreSQLSource instead of a Parquet file "
        "of the feature tables; declare its source with _source(<table>) in "
        "feature_repo/definitions.py"
    )


def test_check_views_rejects_no_views(serving_tables: dict[str, pl.DataFrame]) -> None:
    with pytest.raises(ValueError, match="which no feature view reads"):
        check_view_list([], serving_tables)


def test_service_listing_view_twice_rejected(store: FeatureStore) -> None:
    from feast import FeatureService

    view = store.get_feature_view("user_diet")
    service = FeatureService(name="ranker_twice", features=[view, view])

    with pytest.raises(ValueError) as raised:
        check_service_names([service])

    assert str(raised.value) == (
        "feature service ranker_twice lists the feature view user_diet more than "
        "once; list each view once"
    )


def test_check_views_names_missing_file(
    store: FeatureStore, serving_tables: dict[str, pl.DataFrame]
) -> None:
    path = Path(store.get_feature_view("user_cuisine").batch_source.path)
    moved = path.with_name("user_cuisine.moved")
    path.rename(moved)
    try:
        with pytest.raises(ValueError) as raised:
            check_views(store, serving_tables)
    finally:
        moved.rename(path)

    assert str(raised.value) == (
        f"feature view user_cuisine reads {path}, which does not exist: no "
        "transform in features/transforms.py writes a table of that name; add "
        "one (docs/adding-a-feature-view.md) or remove the view"
    )


def test_apply_checks_tables_before_registering(
    serving_tables: dict[str, pl.DataFrame], tmp_path: Path
) -> None:
    var = tmp_path / "var"
    tables = dict(serving_tables)
    tables["user_diet"] = tables["user_diet"].with_columns(
        pl.col("user_vegetarian_order_ratio").cast(pl.Int64)
    )
    write_feature_tables(tables, VarPaths(var).features)

    with pytest.raises(
        ValueError,
        match="user_diet declares user_vegetarian_order_ratio as Float64, "
        "so its table column must be Float64, but it is Int64;",
    ):
        apply_repository(FEATURE_REPO, var, tables=tables)

    # Nothing was registered.
    assert not (var / "feast" / "registry.db").exists()


def _repository_with(tmp_path: Path, statement: str) -> tuple[Path, Path, int]:
    """Copy the feature repository with ``statement`` appended to its
    definitions; return the copy, the definitions file and the new line."""
    repo = tmp_path / "feature_repo"
    shutil.copytree(FEATURE_REPO, repo, ignore=shutil.ignore_patterns("__pycache__"))
    definitions = repo / "definitions.py"
    text = definitions.read_text()
    definitions.write_text(text + "\n" + statement + "\n")
    return repo, definitions, text.count("\n") + 2


def test_apply_error_is_one_line(var_dir: Path, tmp_path: Path) -> None:
    repo, definitions, line = _repository_with(
        tmp_path, "broken = FeatureService(name='x', features=[nope])"
    )

    with pytest.raises(ValueError) as raised:
        apply_repository(repo, tmp_path / "var")

    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith(
        f"feast apply of {repo.resolve()} failed at {definitions.resolve()}:{line}: "
        "NameError: "
    )
    assert "nope" in message


def test_apply_type_error_names_line(var_dir: Path, tmp_path: Path) -> None:
    # An entity named by a string instead of the Entity object.
    repo, definitions, line = _repository_with(
        tmp_path,
        "broken = FeatureView(name='broken', entities=['user'], schema=[], "
        "source=_source('user_profile'))",
    )

    with pytest.raises(ValueError) as raised:
        apply_repository(repo, tmp_path / "var")

    assert f" failed at {definitions.resolve()}:{line}: " in str(raised.value)


def _online_tables(var: Path) -> set[str]:
    with contextlib.closing(sqlite3.connect(var / "feast" / "online_store.db")) as db:
        rows = db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        return {name for (name,) in rows}


def test_features_in_copied_folder_keep_original(var_dir: Path, tmp_path: Path) -> None:
    before = _online_tables(var_dir)
    copy = tmp_path / "copy"
    shutil.copytree(var_dir, copy)

    assert main(["--var-dir", str(copy), "features"]) == 0

    assert len(before) == len(FEATURE_TABLES)
    assert _online_tables(var_dir) == before
    assert _online_tables(copy) == before
    registry = Registry()
    registry.ParseFromString((copy / "feast" / "registry.db").read_bytes())
    paths = {item.sqlite_table.path for item in registry.infra.infra_objects}
    assert paths == {str(copy.resolve() / "feast" / "online_store.db")}


@pytest.mark.parametrize("loss", ["file", "table"])
def test_features_recreate_lost_online_tables(
    var_dir: Path, tmp_path: Path, loss: str
) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(var_dir, copy)
    assert main(["--var-dir", str(copy), "features"]) == 0
    tables = _online_tables(copy)
    online = copy / "feast" / "online_store.db"
    if loss == "file":
        online.unlink()
    else:
        with contextlib.closing(sqlite3.connect(online)) as db:
            db.execute(f"DROP TABLE {sorted(tables)[0]}")
            db.commit()

    assert main(["--var-dir", str(copy), "features"]) == 0

    assert _online_tables(copy) == tables


def test_training_repeatable_and_metadata_filled(
    frames: StoreFrames, store: FeatureStore, tmp_path: Path
) -> None:
    """Two trainings with the same seed and data give the same model file and
    metrics, and every metadata field is filled."""
    config = load_config(RANKER_CONFIG)
    first = train_current_model(frames, store, config, tmp_path / "first", PROJECT_DIR)
    second = train_current_model(
        frames, store, config, tmp_path / "second", PROJECT_DIR
    )

    model_a = (tmp_path / "first" / first.version / MODEL_FILE).read_bytes()
    model_b = (tmp_path / "second" / second.version / MODEL_FILE).read_bytes()
    assert model_a == model_b
    assert first.metrics == second.metrics
    assert first.metrics["validation_ndcg"] > 0
    _, loaded = load_current(tmp_path / "first")
    assert loaded == first
    for name, value in asdict(loaded).items():
        assert value not in (None, "", [], {}), name
    for name in (
        "orders",
        "rows",
        "positives",
        "groups",
        "cutoffs",
        "seed",
        "relevance",
        "rounds",
        "seconds",
    ):
        assert loaded.training[name] not in (None, "", []), name
    assert loaded.feature_service == "ranker_v2"
    assert "neighbour_affinity" in loaded.features
    # Every column of the orders, so moving an order in time changes it.
    assert loaded.data_fingerprint == fingerprint(frames.orders)
    moved = frames.orders.with_columns(
        pl.when(pl.int_range(pl.len()) == 0)
        .then(pl.col("ordered_at") - pl.duration(days=3))
        .otherwise(pl.col("ordered_at"))
        .alias("ordered_at")
    )
    assert fingerprint(moved) != loaded.data_fingerprint
