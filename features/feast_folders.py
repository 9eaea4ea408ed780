"""Checks that the Feast registry and project belong to the var folder in use."""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from features.feast_profiles import PROJECT_ENV, open_store, prepare_profile
from features.paths import EMBEDDED

if TYPE_CHECKING:
    from feast import FeatureStore

logger = logging.getLogger(__name__)


def _recorded_tables(registry: Path) -> list[tuple[str, str]] | None:
    """Return the (path, table) of each SQLite online table the registry file
    records, or None when there is no registry file or it cannot be parsed."""
    from feast.protos.feast.core.Registry_pb2 import Registry
    from google.protobuf.message import DecodeError

    if not registry.is_file():
        return None
    proto = Registry()
    try:
        proto.ParseFromString(registry.read_bytes())
    except DecodeError:
        # A damaged registry is left for Feast to report.
        return None
    return sorted(
        (item.sqlite_table.path, item.sqlite_table.name)
        for item in proto.infra.infra_objects
        if item.WhichOneof("infra_object") == "sqlite_table"
    )


def check_registry_folder(repo_path: Path, var_dir: Path, profile: str) -> None:
    """Check that the embedded profile's registry file was written for
    ``var_dir``; the production profile's registry is shared by design.

    Raises:
        ValueError: the registry records another folder's online store, as
            in a copied var folder before its first `recommender features`;
            or, in the production profile, the project's views read another
            folder's feature tables.
    """
    if profile != EMBEDDED:
        _check_project_folder(open_store(repo_path, var_dir, profile), var_dir)
        return
    from feast.repo_config import load_repo_config

    config_file = prepare_profile(repo_path, var_dir, profile)
    config = load_repo_config(repo_path.resolve(), config_file)
    registry = Path(config.registry.path)
    online_store = Path(config.online_store.path)
    tables = _recorded_tables(registry) or []
    others = sorted({path for path, _ in tables if Path(path) != online_store})
    if others:
        msg = (
            f"the Feast registry {registry} was written for the online store "
            f"{others[0]} of another folder, so its feature sources are that "
            "folder's; run `recommender features` in this folder first"
        )
        raise ValueError(msg)


def _other_project_folder(store: FeatureStore, var_dir: Path) -> Path | None:
    """Return the folder of feature tables that a view of the store's project
    reads, when it is not ``var_dir``'s; None when every view reads
    ``var_dir``'s tables or the project is not in the registry yet."""
    from feast import FileSource
    from feast.errors import ProjectNotFoundException

    features_dir = (var_dir / "features").resolve()
    try:
        views = store.list_feature_views()
    except ProjectNotFoundException:
        return None
    for view in views:
        source = view.batch_source
        if not isinstance(source, FileSource) or "://" in source.path:
            continue
        folder = Path(source.path).resolve().parent
        if folder != features_dir:
            return folder
    return None


def _check_project_folder(store: FeatureStore, var_dir: Path) -> None:
    """Raise ValueError when a view of the store's project reads Parquet
    files outside ``var_dir``: another folder ran `recommender features`
    with the same project name since this one did."""
    folder = _other_project_folder(store, var_dir)
    if folder is not None:
        msg = (
            f"the Feast project {store.project} reads its feature tables "
            f"from {folder}, not from {(var_dir / 'features').resolve()}: "
            "another var folder applied it since. Give each folder a project "
            f"of its own ({PROJECT_ENV}) and run `recommender features` here"
        )
        raise ValueError(msg)


def _warn_of_other_folder(store: FeatureStore, var_dir: Path) -> None:
    """Log a warning when the project about to be applied reads another
    existing folder's feature tables: the apply points it at ``var_dir``,
    and pruning then deletes the online rows of that folder's entities."""
    folder = _other_project_folder(store, var_dir)
    # A folder that is gone was moved or deleted, and lost nothing here.
    if folder is not None and folder.is_dir():
        logger.warning(
            "the Feast project %s reads the feature tables of %s; this run "
            "points it at this folder and deletes the online rows of that "
            "folder's users and restaurants that this one lacks. Give each "
            "folder a project of its own (%s)",
            store.project,
            folder,
            PROJECT_ENV,
        )


def _drop_registry_of_other_folder(registry: Path, online_store: Path) -> None:
    """Delete a registry file that describes another folder's online store, or
    online tables that no longer exist.

    Feast records the tables it created with their absolute path. An apply
    drops the recorded tables that the new plan lacks, so in a var folder
    copied from another it would drop the other folder's tables. An apply
    also never creates a recorded table again after it was deleted. The
    registry contains nothing that the apply does not write again.
    """
    tables = _recorded_tables(registry)
    if not tables:
        return
    others = sorted({path for path, _ in tables if Path(path) != online_store})
    if others:
        logger.warning(
            "the Feast registry %s describes the online store %s of another "
            "folder; writing a new registry for %s",
            registry,
            others[0],
            online_store,
        )
        registry.unlink()
        return
    missing = sorted(set(name for _, name in tables) - _sqlite_tables(online_store))
    if missing:
        logger.warning(
            "the online store %s lacks %d of the tables the Feast registry %s "
            "records (such as %s); writing a new registry so that they are "
            "created again",
            online_store,
            len(missing),
            registry,
            missing[0],
        )
        registry.unlink()


def _sqlite_tables(path: Path) -> set[str]:
    """Return the table names of a SQLite file; none when it does not exist
    or cannot be read."""
    import sqlite3

    if not path.is_file():
        return set()
    try:
        with contextlib.closing(
            sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        ) as connection:
            rows = connection.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'"
            ).fetchall()
    except sqlite3.Error:
        return set()
    return {name for (name,) in rows}
