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
import re
import sys
import warnings
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import polars as pl

from features.paths import EMBEDDED, PRODUCTION, VAR_DIR_ENV, feast_yaml
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

# Variables that profiles/production.yaml expands, with their values when unset.
# They are the Feast project name (letters, digits, underscores), the SQLAlchemy
# URL of the registry database, and the Redis connection string in Feast's
# "host:port,option=value" format.
PROJECT_ENV = "RECOMMENDER_FEAST_PROJECT"
REGISTRY_URL_ENV = "RECOMMENDER_REGISTRY_URL"
REDIS_ENV = "RECOMMENDER_REDIS_CONNECTION_STRING"
PRODUCTION_DEFAULTS = {
    PROJECT_ENV: "restaurant_recommender",
    REGISTRY_URL_ENV: (
        "postgresql+psycopg://postgres@127.0.0.1:5432/restaurant_recommender"
    ),
    REDIS_ENV: "127.0.0.1:6379",
}


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


def prepare_profile(repo_path: Path, var_dir: Path, profile: str) -> Path:
    """Set the environment variables that the profile's configuration file
    expands, and return that file.

    ``RECOMMENDER_VAR_DIR`` is always set to ``var_dir``. For the production
    profile, each variable of :data:`PRODUCTION_DEFAULTS` keeps its value if it
    is set and gets the default otherwise.
    """
    config_file = feast_yaml(repo_path.resolve(), profile)
    os.environ[VAR_DIR_ENV] = str(var_dir.resolve())
    (var_dir / "feast").mkdir(parents=True, exist_ok=True)
    if profile == PRODUCTION:
        for name, default in PRODUCTION_DEFAULTS.items():
            os.environ.setdefault(name, default)
    return config_file


def describe_profile(var_dir: Path, profile: str) -> str:
    """Return where the profile's registry and online store are, for messages."""
    if profile == PRODUCTION:
        registry = os.environ.get(
            REGISTRY_URL_ENV, PRODUCTION_DEFAULTS[REGISTRY_URL_ENV]
        )
        redis = os.environ.get(REDIS_ENV, PRODUCTION_DEFAULTS[REDIS_ENV])
        masked_registry = hide_url_password(registry)
        return f"registry {masked_registry}, Redis {hide_redis_password(redis)}"
    feast_dir = var_dir / "feast"
    return (
        f"registry {feast_dir / 'registry.db'}, "
        f"online store {feast_dir / 'online_store.db'}"
    )


# The password of a URL: between "scheme://user:" and the last "@".
URL_PASSWORD = re.compile(r"(://[^:/@]*:)(.*)@")


def hide_url_password(url: str) -> str:
    """Return a SQLAlchemy URL with its password shown as ``***``."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        # Not a URL SQLAlchemy parses (a port that is not a number...), so
        # the password is found by its place in the text.
        return URL_PASSWORD.sub(r"\1***@", url)


def hide_secrets(text: str) -> str:
    """Return ``text`` with the passwords of the production profile's
    variables shown as ``***``, for messages that quote a setting."""
    secrets = []
    registry = os.environ.get(REGISTRY_URL_ENV, "")
    found = URL_PASSWORD.search(registry)
    if found and found.group(2):
        secrets.append(found.group(2))
    for part in os.environ.get(REDIS_ENV, "").split(","):
        name, equals, value = part.partition("=")
        if equals and name.strip().lower() == "password" and value.strip():
            secrets.append(value.strip())
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def hide_redis_password(connection_string: str) -> str:
    """Return a connection string in Feast's ``host:port,option=value``
    format with the value of its ``password`` option shown as ``***``."""
    parts = connection_string.split(",")
    for index, part in enumerate(parts):
        name, equals, _ = part.partition("=")
        if equals and name.strip().lower() == "password":
            parts[index] = f"{name}=***"
    return ",".join(parts)


def open_store(repo_path: Path, var_dir: Path, profile: str = EMBEDDED) -> FeatureStore:
    """Open the Feast repository in ``profile``, with its generated files under
    ``var_dir``."""
    from feast import FeatureStore

    config_file = prepare_profile(repo_path, var_dir, profile)
    return FeatureStore(repo_path=str(repo_path.resolve()), fs_yaml_file=config_file)


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
    a file of ``tables`` that is not written yet.

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


def check_views(store: FeatureStore, tables: dict[str, pl.DataFrame]) -> None:
    """Check the registered feature views against the feature tables, as
    :func:`check_view_list` does."""
    check_view_list(
        store.list_feature_views(), tables, store.list_on_demand_feature_views()
    )


def check_service_names(services: Sequence[Any]) -> None:
    """Raise ValueError when two feature services share a name, because the
    apply would silently keep only one of them."""
    seen: set[str] = set()
    for service in services:
        if service.name in seen:
            msg = (
                f"two feature services are named {service.name}; rename one "
                "(a service that extends another needs a name of its own)"
            )
            raise ValueError(msg)
        seen.add(service.name)
        views = [projection.name for projection in service.feature_view_projections]
        repeated = sorted({name for name in views if views.count(name) > 1})
        if repeated:
            msg = (
                f"feature service {service.name} lists the feature view "
                f"{repeated[0]} more than once; list each view once"
            )
            raise ValueError(msg)


def check_view_list(
    views: Sequence[Any],
    tables: dict[str, pl.DataFrame],
    on_demand_views: Sequence[Any] = (),
    written: bool = True,
    features_dir: Path | None = None,
) -> None:
    """Check feature views against the feature tables.

    ``written=False`` accepts a missing file for a view of one of ``tables``,
    which is about to be written. With ``features_dir``, every view must read
    a file in it.

    Raises:
        ValueError: a view reads another source than a Parquet file of
            ``tables``, or a file that is missing or elsewhere. Or it is
            named other than its table, or keyed on another entity. Or it
            declares a feature its table lacks, or has with another type, or
            of a type the tables do not support. Also raised when two views,
            or a view and an on-demand view, declare one feature name, or a
            table has no view. The message names the view, and the file,
            table or feature. Every mistake found is listed, one per line
            after a count, when there are several.
    """
    problems: list[str] = []
    owners: dict[str, str] = {}
    for view in on_demand_views:
        for field in view.features:
            owners[field.name] = f"{view.name} (on demand)"
    read_tables = set()
    for view in sorted(views, key=lambda v: v.name):
        # A view of a table counts as its reader even when misnamed, so that
        # one mistake is not reported twice.
        read_tables.add(_table_read_by(view))
        try:
            table = _check_view_source(view, tables, written, features_dir)
        except ValueError as error:
            problems.append(str(error))
            continue
        for field in view.features:
            if owners.get(field.name) == view.name:
                problems.append(
                    f"feature view {view.name} declares {field.name} more than "
                    "once; remove the repeated Field"
                )
                continue
            if field.name in owners:
                problems.append(
                    f"feature {field.name} is declared by both feature views "
                    f"{owners[field.name]} and {view.name}; rename one"
                )
                continue
            owners[field.name] = view.name
            try:
                _check_field(view, field, table)
            except ValueError as error:
                problems.append(str(error))
    problems += [
        f"features/transforms.py computes the table {name}, which no feature "
        "view reads, so the service could not serve it; declare a view named "
        "after it (docs/adding-a-feature-view.md) or remove the transform"
        for name in sorted(set(tables) - read_tables)
    ]
    if len(problems) == 1:
        raise ValueError(problems[0])
    if problems:
        listed = "\n".join(f"- {problem}" for problem in problems)
        msg = f"{len(problems)} mistakes in the feature definitions:\n{listed}"
        raise ValueError(msg)


def _check_view_source(
    view: Any,
    tables: dict[str, pl.DataFrame],
    written: bool,
    features_dir: Path | None,
) -> pl.DataFrame:
    """Return the feature table a view reads, or raise ValueError when its
    source, name or entity does not fit the tables (see check_view_list)."""
    table_name = _table_read_by(view)
    if table_name is None:
        msg = (
            f"feature view {view.name} reads {type(view.batch_source).__name__}"
            " instead of a Parquet file of the feature tables; declare its "
            "source with _source(<table>) in feature_repo/definitions.py"
        )
        raise ValueError(msg)
    if features_dir is not None:
        folder = Path(view.batch_source.path).resolve().parent
        if folder != features_dir.resolve():
            msg = (
                f"feature view {view.name} reads {view.batch_source.path}, "
                f"outside the feature tables in {features_dir}; declare its "
                "source with _source(<table>) in feature_repo/definitions.py"
            )
            raise ValueError(msg)
    table = tables.get(table_name)
    if table is None or written:
        _check_source_file(view)
    if table is None:
        msg = (
            f"feature view {view.name} reads {view.batch_source.path}, but "
            "no transform in features/transforms.py computes the table "
            f"{table_name} (the file is left from an earlier run); add the "
            "transform or remove the view"
        )
        raise ValueError(msg)
    _check_view_table(view, table_name)
    return table


def _table_read_by(view: Any) -> str | None:
    """Return the feature table a view reads, named by its local Parquet
    file, or None for another kind of source."""
    from feast import FileSource

    source = view.batch_source
    if isinstance(source, FileSource) and "://" not in source.path:
        return Path(source.path).stem
    return None


def _check_view_table(view: Any, table_name: str) -> None:
    """Raise ValueError when a view is named other than the table it reads,
    or is keyed on another entity."""
    if view.name != table_name:
        msg = (
            f"feature view {view.name} reads the table {table_name}; name the "
            f"view {table_name}, because training and the service read each "
            "table's features from the view of the same name"
        )
        raise ValueError(msg)
    spec = FEATURE_TABLES.get(table_name)
    if spec is not None and list(view.entities) != [spec.entity]:
        msg = (
            f"feature view {view.name} is keyed on the entities {list(view.entities)}, "
            f"but its table has one row per {spec.key}; set "
            f"entities=[{spec.entity}]"
        )
        raise ValueError(msg)


def _check_field(view: Any, field: Any, table: pl.DataFrame) -> None:
    """Raise ValueError when a declared feature is missing from its table or
    has another type there."""
    if field.name not in table.columns:
        msg = (
            f"feature view {view.name} declares {field.name}, but its "
            f"table has no such column; it has {table.columns}"
        )
        raise ValueError(msg)
    try:
        declared = _polars_type(field.dtype)
    except TypeError:
        msg = (
            f"feature view {view.name} declares {field.name} as {field.dtype}, "
            "which the feature tables do not support; use Float64, Float32, "
            "Int64, Int32, String, Bool or an Array of one of them"
        )
        raise ValueError(msg) from None
    actual = table.schema[field.name]
    if actual != declared and not (actual == pl.Null or actual == pl.List(pl.Null)):
        msg = (
            f"feature view {view.name} declares {field.name} as "
            f"{field.dtype}, so its table column must be {declared}, but it is "
            f"{actual}; "
            "change the Field's dtype or cast the column in the transform"
        )
        raise ValueError(msg)


def _check_source_file(view: Any) -> None:
    """Raise ValueError when a view reads a local Parquet file that is missing,
    which materializing would report as a long DuckDB traceback."""
    from feast import FileSource

    source = view.batch_source
    if not isinstance(source, FileSource) or "://" in source.path:
        return
    if not Path(source.path).exists():
        msg = (
            f"feature view {view.name} reads {source.path}, which does not "
            "exist: no transform in features/transforms.py writes a table of "
            "that name; add one (docs/adding-a-feature-view.md) or remove the view"
        )
        raise ValueError(msg)


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


class FeaturesNotReadyError(FileNotFoundError):
    """The Feast registry lacks a feature view the caller needs."""


class OnlineReader:
    """Reads whole feature views for one entity from the online store.

    The feature references and their types are looked up in the registry once,
    here, rather than on every read. :meth:`read_row` reads a Redis online
    store directly (:mod:`features.online_read`), and any other online store
    through Feast.
    """

    def __init__(
        self, store: FeatureStore, views: tuple[str, ...], join_key: str
    ) -> None:
        self.store = store
        self.join_key = join_key
        self.references: list[str] = []
        self.schema: dict[str, pl.DataType] = {join_key: pl.String()}
        from feast.errors import FeatureViewNotFoundException

        from features.online_read import RedisRowReader, direct_read_unsupported_reason

        feature_views = []
        for view_name in views:
            try:
                view = store.get_feature_view(view_name)
            except FeatureViewNotFoundException as error:
                msg = (
                    f"feature view {view_name} not found in the Feast registry; "
                    "run `recommender features` first. If it has run since, "
                    f"features/transforms.py computes a table {view_name} that "
                    "no feature view declares: declare one or remove the transform"
                )
                raise FeaturesNotReadyError(msg) from error
            feature_views.append(view)
            for field in view.features:
                self.references.append(f"{view_name}:{field.name}")
                self.schema[field.name] = _polars_type(field.dtype)
        reason = direct_read_unsupported_reason(store, feature_views, join_key)
        self.direct: RedisRowReader | None = None
        if reason is None:
            self.direct = RedisRowReader(store, feature_views, join_key)
        else:
            logger.debug("reading %s through Feast: %s", join_key, reason)

    def read(self, keys: list[str]) -> pl.DataFrame:
        """Return one row per key; keys the store does not have get null
        features."""
        response = self.store.get_online_features(
            features=self.references,
            entity_rows=[{self.join_key: key} for key in keys],
        ).to_dict()
        return pl.DataFrame(response, schema=self.schema)

    def read_row(self, key: str) -> dict[str, Any]:
        """Return the join key and every feature of one key by name, as Python
        values; a key the store does not have gets None features.

        The values equal those of ``read([key]).row(0, named=True)``, without
        the cost of building a frame.
        """
        if self.direct is not None:
            return self.direct.read(key)
        response = self.store.get_online_features(
            features=self.references, entity_rows=[{self.join_key: key}]
        ).to_dict()
        return {name: values[0] for name, values in response.items()}


def _polars_type(feast_type: object) -> pl.DataType:
    """Return the polars type of a Feast feature type used in this repository."""
    from feast.types import Array, Bool, Float32, Float64, Int32, Int64, String

    scalars: dict[object, pl.DataType] = {
        Float64: pl.Float64(),
        Float32: pl.Float32(),
        Int64: pl.Int64(),
        Int32: pl.Int32(),
        String: pl.String(),
        Bool: pl.Boolean(),
    }
    if isinstance(feast_type, Array):
        return pl.List(_polars_type(feast_type.base_type))
    if feast_type in scalars:
        return scalars[feast_type]
    msg = f"no polars type for Feast type {feast_type!r}; add it to _polars_type"
    raise TypeError(msg)
