"""Hand-over to Feast: write the feature tables, apply the repository, materialize.

Feast's DuckDB offline store reads Parquet files, not ``.duckdb`` tables, so
the feature tables are written as Parquet under ``<var>/features``. The
repository's configuration files locate generated files through the
``RECOMMENDER_VAR_DIR`` environment variable, which :func:`open_store` sets.

Each Feast profile has its own configuration file over the same feature
definitions (see :func:`features.paths.feast_yaml`). The ``embedded`` profile
keeps the registry and the SQLite online store under the var folder. The
``production`` profile uses a SQL registry on PostgreSQL and a Redis online
store, located by the variables of :data:`PRODUCTION_DEFAULTS`.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import sys
import warnings
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import polars as pl

from features.feast_folders import _drop_registry_of_other_folder, _warn_of_other_folder
from features.feast_folders import check_registry_folder as check_registry_folder
from features.feast_profiles import PRODUCTION_DEFAULTS as PRODUCTION_DEFAULTS
from features.feast_profiles import PROJECT_ENV as PROJECT_ENV
from features.feast_profiles import REDIS_ENV as REDIS_ENV
from features.feast_profiles import REGISTRY_URL_ENV as REGISTRY_URL_ENV
from features.feast_profiles import URL_PASSWORD as URL_PASSWORD
from features.feast_profiles import describe_profile as describe_profile
from features.feast_profiles import hide_redis_password as hide_redis_password
from features.feast_profiles import hide_secrets as hide_secrets
from features.feast_profiles import hide_url_password as hide_url_password
from features.feast_profiles import open_store, prepare_profile
from features.feast_reader import FeaturesNotReadyError as FeaturesNotReadyError
from features.feast_reader import OnlineReader as OnlineReader
from features.feast_view_checks import (
    check_service_names,
    check_view_list,
)
from features.feast_view_checks import check_views as check_views
from features.feast_view_warnings import (
    warn_of_constant_features,
    warn_of_null_features,
    warn_of_views_without_service,
)
from features.paths import EMBEDDED
from features.tracebacks import line_in_folder
from features.transforms import FEATURE_TABLES, RESTAURANT, USER

_T = TypeVar("_T")

if TYPE_CHECKING:
    from feast import FeatureStore

logger = logging.getLogger(__name__)


def views_of(entity: str) -> tuple[str, ...]:
    """Names of the feature tables (and so feature views) of ``entity``."""
    return tuple(spec.name for spec in FEATURE_TABLES.values() if spec.entity == entity)


USER_VIEWS = views_of(USER)
RESTAURANT_VIEWS = views_of(RESTAURANT)

# Feature rows are stamped with the time they were computed; materializing
# from this date on covers every row the pipeline writes.
MATERIALIZE_FROM = datetime(2000, 1, 1, tzinfo=UTC)


def write_feature_tables(
    tables: dict[str, pl.DataFrame], features_dir: Path
) -> list[Path]:
    """Write each feature table to ``features_dir/<name>.parquet``, atomically."""
    features_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, frame in tables.items():
        path = features_dir / f"{name}.parquet"
        # A name of its own per process, so two runs at once do not move
        # each other's file; the last one to finish wins.
        partial = path.with_suffix(f".parquet.{os.getpid()}.partial")
        frame.write_parquet(partial)
        partial.replace(path)
        written.append(path)
    return written


def apply_repository(
    repo_path: Path,
    var_dir: Path,
    profile: str = EMBEDDED,
    tables: dict[str, pl.DataFrame] | None = None,
) -> None:
    """Register every object of the repository, as ``feast apply`` does.

    With ``tables``, the repository's feature views are first checked against
    them as :func:`check_views` does, so a view that does not match its table
    stops the apply before the registry changes.
    """
    from feast.repo_config import load_repo_config
    from feast.repo_operations import apply_total, parse_repo

    config_file = prepare_profile(repo_path, var_dir, profile)
    repo = repo_path.resolve()
    config = load_repo_config(repo, config_file)
    if profile == EMBEDDED:
        _drop_registry_of_other_folder(
            Path(config.registry.path), Path(config.online_store.path)
        )
    else:
        _warn_of_other_folder(open_store(repo_path, var_dir, profile), var_dir)

    output = io.StringIO()
    with _inside_repository(repo), contextlib.redirect_stdout(output):
        contents = _feast_step(repo, lambda: parse_repo(repo))
        if tables is not None:
            check_view_list(
                contents.feature_views,
                tables,
                contents.on_demand_feature_views,
                features_dir=var_dir / "features",
            )
            check_service_names(contents.feature_services)
        _feast_step(
            repo, lambda: apply_total(config, repo, skip_source_validation=False)
        )
    # The plan lists every changed field of every object: detail, not progress.
    for line in output.getvalue().splitlines():
        if line.strip():
            logger.debug("feast apply: %s", line.strip())
    logger.info("applied the Feast repository %s", repo)


def check_repository(
    repo_path: Path, var_dir: Path, profile: str, tables: dict[str, pl.DataFrame]
) -> None:
    """Check the repository's definitions against ``tables`` as
    :func:`apply_repository` does, without writing anything; a view may read
    a file of ``tables`` that is not written yet. Then log a warning for each
    declared feature that is null on every row, as
    :func:`warn_of_null_features` does, for each numeric feature with one
    value on every row, and one naming the views that no feature service
    lists.

    Raises:
        ValueError: as :func:`check_view_list`, or the definitions do not load.
    """
    from feast.repo_operations import parse_repo

    prepare_profile(repo_path, var_dir, profile)
    repo = repo_path.resolve()
    with _inside_repository(repo), contextlib.redirect_stdout(io.StringIO()):
        contents = _feast_step(repo, lambda: parse_repo(repo))
        check_view_list(
            contents.feature_views,
            tables,
            contents.on_demand_feature_views,
            written=False,
            features_dir=var_dir / "features",
        )
        check_service_names(contents.feature_services)
    warn_of_null_features(contents.feature_views, tables)
    warn_of_constant_features(contents.feature_views, tables)
    warn_of_views_without_service(
        contents.feature_views,
        contents.feature_services,
        contents.on_demand_feature_views,
    )


@contextlib.contextmanager
def _inside_repository(repo: Path) -> Iterator[None]:
    """Run in ``repo`` with it on ``sys.path``, as Feast imports the
    definitions by module name from the working directory."""
    # The definitions read RECOMMENDER_VAR_DIR when imported, so a module left
    # over from an apply with another folder must be imported again.
    _forget_modules_under(repo)
    sys.path.insert(0, str(repo))
    try:
        with contextlib.chdir(repo):
            # As apply_total does: no __pycache__ in the repository.
            sys.dont_write_bytecode = True
            yield
    finally:
        sys.path.remove(str(repo))


def error_line(error: BaseException) -> str:
    """Return the error's type and the line of its message that names the
    cause, for one-line messages.

    That is the last line, except for SQLAlchemy, whose messages open with
    the driver's error and end with a link to its documentation.
    """
    lines = [
        line.strip()
        for line in str(error).strip().splitlines()
        if line.strip() and not line.startswith("(Background on this error at")
    ]
    if not lines:
        return type(error).__name__
    module = type(error).__module__ or ""
    line = lines[0] if module.startswith("sqlalchemy") else lines[-1]
    return f"{type(error).__name__}: {line}"


def _feast_step(repo: Path, step: Callable[[], _T]) -> _T:
    """Run one step of applying ``repo``, with any error as one line."""
    try:
        return step()
    except Exception as error:
        # A mistake in the definitions surfaces as any exception type (a
        # NameError, a DuckDB error on a missing Parquet file, ...).
        where = line_in_folder(error, repo)
        location = f" at {where}" if where else ""
        msg = f"feast apply of {repo} failed{location}: {error_line(error)}"
        raise ValueError(msg) from error


def _forget_modules_under(folder: Path) -> None:
    """Drop from ``sys.modules`` the modules of ``folder``, and any module with
    the name of one of its files (``definitions`` of another repository)."""
    names = {
        ".".join(path.relative_to(folder).with_suffix("").parts)
        for path in folder.rglob("*.py")
    }
    for name, module in list(sys.modules.items()):
        location = getattr(module, "__file__", None)
        inside = location and Path(location).resolve().is_relative_to(folder)
        if inside or name in names:
            del sys.modules[name]


def materialize(repo_path: Path, var_dir: Path, profile: str = EMBEDDED) -> None:
    """Load the latest feature values into the online store.

    A Redis online store (the production profile) is written by the bulk
    writer of :mod:`features.online_write`, which stores the same values and
    records the same materialization intervals as Feast's ``materialize`` in a
    fraction of the time. Other online stores go through Feast's
    ``materialize``.
    """
    from features.online_write import bulk_write_unsupported_reason, materialize_redis

    store = open_store(repo_path, var_dir, profile)
    end = datetime.now(UTC) + timedelta(minutes=1)
    reason = bulk_write_unsupported_reason(store)
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        # ibis 12, under Feast's DuckDB offline store, calls a method that
        # DuckDB 2 deprecates; Feast's import resets filters set earlier.
        warnings.filterwarnings(
            "ignore", message="fetch_arrow_table", category=DeprecationWarning
        )
        if reason is None:
            materialize_redis(store, MATERIALIZE_FROM, end)
        else:
            logger.debug("materializing with Feast: %s", reason)
            try:
                store.materialize(start_date=MATERIALIZE_FROM, end_date=end)
            except BaseException:
                # Feast 0.67 restores a view's state when materializing it
                # raises an Exception, but not on KeyboardInterrupt, which
                # leaves the view MATERIALIZING, a state it does not serve.
                restore_interrupted_views(store)
                raise
    logger.info("materialized feature views into the online store")


def materializing_views(store: FeatureStore) -> list[str]:
    """Return the names of the feature views in Feast's MATERIALIZING state,
    which Feast does not serve, read from the registry without its cache."""
    from feast.feature_view import FeatureViewState

    return sorted(
        view.name
        for view in store.list_feature_views(allow_cache=False)
        if getattr(view, "state", None) == FeatureViewState.MATERIALIZING
    )


def materializing_message(names: list[str]) -> str:
    """Return the one-line error for views left MATERIALIZING."""
    return (
        f"feature views {', '.join(names)} are being materialized (Feast state "
        "MATERIALIZING), so Feast does not serve them; wait for the running "
        "`recommender features` to finish, or run it again if it was stopped"
    )


def restore_interrupted_views(store: FeatureStore) -> list[str]:
    """Set every view left MATERIALIZING back to the state Feast restores after
    a failed run, and return their names.

    That is AVAILABLE_ONLINE for a view materialized before, whose online
    values are then those of the earlier run with some of the stopped run's
    rows, and GENERATED for a view never materialized.
    """
    from feast.feature_view import FeatureViewState

    restored = []
    for view in store.list_feature_views(allow_cache=False):
        if getattr(view, "state", None) != FeatureViewState.MATERIALIZING:
            continue
        if view.materialization_intervals:
            view.state = FeatureViewState.AVAILABLE_ONLINE
        else:
            view.state = FeatureViewState.GENERATED
        store.registry.apply_feature_view(view, store.project, commit=True)
        restored.append(view.name)
    if restored:
        logger.warning(
            "materialization stopped: feature views %s were set back to their "
            "state before it",
            ", ".join(restored),
        )
    return restored


def remove_project(store: FeatureStore) -> None:
    """Delete the store's project: its online values and its registry rows.

    Other projects in the same registry and online store are kept. This differs
    from ``FeatureStore.teardown`` (and so ``feast teardown``) in Feast 0.67,
    which deletes every project of the registry. In a shared PostgreSQL registry
    those include other deployments' projects.
    """
    from feast.infra.registry.sql import SqlRegistry, feature_view_version_history
    from sqlalchemy import delete

    views = store.list_feature_views()
    entities = store.list_entities()
    store._get_provider().teardown_infra(store.project, views, entities)
    store.registry.delete_project(store.project)
    if isinstance(store.registry, SqlRegistry):
        # SqlRegistry.delete_project in Feast 0.67 leaves this table's rows.
        history = feature_view_version_history
        with store.registry.write_engine.begin() as connection:
            connection.execute(
                delete(history).where(history.c.project_id == store.project)
            )
