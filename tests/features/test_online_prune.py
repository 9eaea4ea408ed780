"""Online rows of entities that a later features run no longer has.

The SQLite tests use the embedded profile in a temporary folder. The Redis
tests use the production profile, under Feast projects of their own, and need
Redis and PostgreSQL on 127.0.0.1 or at the addresses in the profile's
variables. Without them they are skipped, or fail when CI is ``true``.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from feast import FeatureStore
from feast.errors import ProjectNotFoundException, ProjectObjectNotFoundException

from features.feast_store import (
    PRODUCTION_DEFAULTS,
    PROJECT_ENV,
    REDIS_ENV,
    apply_repository,
    materialize,
    open_store,
    remove_project,
    write_feature_tables,
)
from features.online_prune import (
    _glob_literal,
    _values_end,
    entity_fingerprint,
    prune_online_rows,
)
from features.paths import EMBEDDED, FEATURE_REPO, PRODUCTION
from features.schema import RESTAURANT_ID, USER_ID
from features.synthetic import WorldConfig, generate_world
from features.transforms import StoreFrames, compute_tables, snapshot_at
from models.cutoffs import serving_cutoff


@pytest.fixture(scope="module")
def tables() -> dict[str, pl.DataFrame]:
    """The feature tables of a small world at its serving cutoff."""
    world = generate_world(
        WorldConfig(users=100, restaurants=60, days=30, seed=5, orders_per_user=5.0)
    )
    frames = StoreFrames.from_tables(world)
    return compute_tables(snapshot_at(frames, serving_cutoff(frames)))


def _ids(tables: dict[str, pl.DataFrame], table: str, key: str) -> list[str]:
    return sorted(tables[table][key].unique().to_list())


def _without(
    tables: dict[str, pl.DataFrame], dropped: dict[str, set[str]]
) -> dict[str, pl.DataFrame]:
    """The tables without the rows of the dropped ids, per table name."""
    kept_tables = {}
    for name, frame in tables.items():
        key = USER_ID if USER_ID in frame.columns else RESTAURANT_ID
        kept_tables[name] = frame.filter(
            ~pl.col(key).is_in(sorted(dropped.get(name, set())))
        )
    return kept_tables


def _online_values(store: FeatureStore, view_name: str, ids: list[str]) -> list[Any]:
    """Each id's first feature of the view, as the online store returns it."""
    view = store.get_feature_view(view_name)
    feature = view.features[0].name
    response = store.get_online_features(
        features=[f"{view_name}:{feature}"],
        entity_rows=[{view.join_keys[0]: key} for key in ids],
    ).to_dict()
    return list(response[feature])


def _run_features(
    var_dir: Path, profile: str, tables: dict[str, pl.DataFrame]
) -> FeatureStore:
    """Write, apply and materialize the tables, as ``recommender features`` does."""
    write_feature_tables(tables, var_dir / "features")
    apply_repository(FEATURE_REPO, var_dir, profile, tables)
    materialize(FEATURE_REPO, var_dir, profile)
    return open_store(FEATURE_REPO, var_dir, profile)


def _check_pruned(
    store: FeatureStore,
    tables: dict[str, pl.DataFrame],
    var_dir: Path,
    profile: str,
) -> None:
    """Drop two users from every user table, one more from user_activity only,
    and one restaurant; run features again and prune."""
    users = _ids(tables, "user_activity", USER_ID)
    restaurants = _ids(tables, "restaurant_profile", RESTAURANT_ID)
    dropped_users, activity_only, kept_user = users[:2], users[2], users[3]
    user_tables = [name for name in tables if USER_ID in tables[name].columns]
    dropped = {name: set(dropped_users) for name in user_tables}
    dropped["user_activity"].add(activity_only)
    restaurant_tables = [name for name in tables if name not in user_tables]
    dropped.update({name: {restaurants[0]} for name in restaurant_tables})
    smaller = _without(tables, dropped)

    before = _online_values(
        store, "user_activity", [*dropped_users, activity_only, kept_user]
    )
    assert all(value is not None for value in before)

    store = _run_features(var_dir, profile, smaller)
    deleted = prune_online_rows(store, smaller)

    assert deleted["user_activity"] == 3
    assert deleted["user_profile"] == 2
    assert deleted["restaurant_profile"] == 1
    after = _online_values(
        store, "user_activity", [*dropped_users, activity_only, kept_user]
    )
    assert after[:3] == [None, None, None]
    assert after[3] == before[3]
    profile_values = _online_values(
        store, "user_profile", [*dropped_users, activity_only]
    )
    assert profile_values[:2] == [None, None]
    assert profile_values[2] is not None
    restaurant = _online_values(store, "restaurant_profile", restaurants[:2])
    assert restaurant[0] is None
    assert restaurant[1] is not None
    # A second prune finds nothing left to delete.
    assert set(prune_online_rows(store, smaller).values()) == {0}


def test_sqlite_rows_of_dropped_entities_deleted(
    tables: dict[str, pl.DataFrame], tmp_path: Path
) -> None:
    store = _run_features(tmp_path, EMBEDDED, tables)

    _check_pruned(store, tables, tmp_path, EMBEDDED)


def test_prune_without_dropped_entities(
    tables: dict[str, pl.DataFrame], tmp_path: Path
) -> None:
    store = _run_features(tmp_path, EMBEDDED, tables)

    deleted = prune_online_rows(store, tables)

    assert set(deleted) == set(tables)
    assert set(deleted.values()) == {0}


def test_values_end_reads_lengths() -> None:
    # One string value "ab": type code 2, length 2, then the bytes.
    key = b"\x02\x00\x00\x00\x02\x00\x00\x00abproject"

    assert _values_end(key, 0, 1) == 10
    assert _values_end(key[:9], 0, 1) is None
    assert _values_end(key[:6], 0, 1) is None


def test_entity_fingerprint_ignores_order_and_repeats(
    tables: dict[str, pl.DataFrame], tmp_path: Path
) -> None:
    store = _run_features(tmp_path, EMBEDDED, tables)
    view = store.get_feature_view("user_activity")
    users = pl.DataFrame({USER_ID: ["u1", "u2", "u3"], "other": [1, 2, 3]})
    shuffled = pl.DataFrame({USER_ID: ["u3", "u1", "u2", "u1"]})

    assert entity_fingerprint(view, users) == entity_fingerprint(view, shuffled)
    assert entity_fingerprint(view, users)[0] == 3
    assert entity_fingerprint(view, users) != entity_fingerprint(view, users[:2])


def test_glob_literal_escapes_special_bytes() -> None:
    assert _glob_literal(b"a*b?[c]\\") == b"a\\*b\\?\\[c\\]\\\\"
    assert _glob_literal(b"plain_name") == b"plain_name"


@pytest.fixture
def projects(
    services: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, str]]:
    """Two project names, the second ending with the first; both removed after."""
    name = f"prune_{uuid.uuid4().hex[:10]}"
    names = {"pruned": name, "other": f"other_{name}"}
    yield names
    for role, project in names.items():
        monkeypatch.setenv(PROJECT_ENV, project)
        with contextlib.suppress(
            ProjectNotFoundException, ProjectObjectNotFoundException
        ):
            remove_project(open_store(FEATURE_REPO, tmp_path / role, PRODUCTION))


@pytest.mark.services
def test_redis_fields_of_dropped_entities_deleted(
    tables: dict[str, pl.DataFrame],
    projects: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(PROJECT_ENV, projects["other"])
    other = _run_features(tmp_path / "other", PRODUCTION, tables)
    monkeypatch.setenv(PROJECT_ENV, projects["pruned"])
    store = _run_features(tmp_path / "pruned", PRODUCTION, tables)

    _check_pruned(store, tables, tmp_path / "pruned", PRODUCTION)

    # The project whose name ends with the pruned one's keeps every row.
    users = _ids(tables, "user_activity", USER_ID)
    assert all(v is not None for v in _online_values(other, "user_activity", users))


@pytest.mark.services
def test_redis_option_beyond_bulk_writer_pruned(
    tables: dict[str, pl.DataFrame],
    projects: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # ssl is an option of Feast's client that the bulk writer does not take.
    redis_setting = os.environ.get(REDIS_ENV, PRODUCTION_DEFAULTS[REDIS_ENV])
    monkeypatch.setenv(REDIS_ENV, f"{redis_setting},ssl=false")
    monkeypatch.setenv(PROJECT_ENV, projects["pruned"])
    store = _run_features(tmp_path / "pruned", PRODUCTION, tables)

    _check_pruned(store, tables, tmp_path / "pruned", PRODUCTION)
