"""Hand-over to Feast: write the feature tables, apply the repository, materialize.

Feast's DuckDB offline store reads Parquet files, not ``.duckdb`` tables, so
the feature tables are written as Parquet under ``<var>/features``. The
repository's ``feature_store.yaml`` locates generated files through the
``RECOMMENDER_VAR_DIR`` environment variable, which :func:`open_store` sets.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import sys
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from features.paths import VAR_DIR_ENV
from features.transforms import FeatureTables

if TYPE_CHECKING:
    from feast import FeatureStore

logger = logging.getLogger(__name__)

USER_VIEWS = ("user_profile", "user_history")
RESTAURANT_VIEWS = ("restaurant_profile", "restaurant_popularity")

# Feature rows are stamped with the time they were computed; materializing
# from this date on covers every row the pipeline writes.
MATERIALIZE_FROM = datetime(2000, 1, 1, tzinfo=UTC)


def write_feature_tables(tables: FeatureTables, features_dir: Path) -> list[Path]:
    """Write each feature table to ``features_dir/<name>.parquet``, atomically."""
    features_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, frame in tables.as_dict().items():
        path = features_dir / f"{name}.parquet"
        partial = path.with_suffix(".parquet.partial")
        frame.write_parquet(partial)
        partial.replace(path)
        written.append(path)
    return written


def open_store(repo_path: Path, var_dir: Path) -> FeatureStore:
    """Open the Feast repository with its generated files under ``var_dir``."""
    from feast import FeatureStore

    os.environ[VAR_DIR_ENV] = str(var_dir.resolve())
    (var_dir / "feast").mkdir(parents=True, exist_ok=True)
    return FeatureStore(repo_path=str(repo_path.resolve()))


def apply_repository(repo_path: Path, var_dir: Path) -> None:
    """Register every object of the repository, as ``feast apply`` does."""
    from feast.repo_config import load_repo_config
    from feast.repo_operations import apply_total

    os.environ[VAR_DIR_ENV] = str(var_dir.resolve())
    (var_dir / "feast").mkdir(parents=True, exist_ok=True)
    repo = repo_path.resolve()
    config = load_repo_config(repo, repo / "feature_store.yaml")

    # The definitions read RECOMMENDER_VAR_DIR when imported, so a module left
    # over from an apply with another folder must be imported again.
    _forget_modules_under(repo)
    # apply_total changes the working directory, imports the definitions by
    # module name from it, and prints its plan.
    output = io.StringIO()
    sys.path.insert(0, str(repo))
    try:
        with contextlib.chdir(Path.cwd()), contextlib.redirect_stdout(output):
            apply_total(config, repo, skip_source_validation=False)
    finally:
        sys.path.remove(str(repo))
    for line in output.getvalue().splitlines():
        if line.strip():
            logger.info("feast apply: %s", line.strip())


def _forget_modules_under(folder: Path) -> None:
    for name, module in list(sys.modules.items()):
        location = getattr(module, "__file__", None)
        if location and Path(location).resolve().is_relative_to(folder):
            del sys.modules[name]


def materialize(repo_path: Path, var_dir: Path) -> None:
    """Load the latest feature values into the online store."""
    store = open_store(repo_path, var_dir)
    end = datetime.now(UTC) + timedelta(minutes=1)
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        # ibis 12, under Feast's DuckDB offline store, calls a method that
        # DuckDB 2 deprecates; Feast's import resets filters set earlier.
        warnings.filterwarnings(
            "ignore", message="fetch_arrow_table", category=DeprecationWarning
        )
        store.materialize(start_date=MATERIALIZE_FROM, end_date=end)
    logger.info("materialized feature views into the online store")


class FeaturesNotReadyError(FileNotFoundError):
    """The Feast registry lacks a feature view the caller needs."""


class OnlineReader:
    """Reads whole feature views for one entity from the online store.

    The feature references and their types are looked up in the registry once,
    here, rather than on every read.
    """

    def __init__(
        self, store: FeatureStore, views: tuple[str, ...], join_key: str
    ) -> None:
        self.store = store
        self.join_key = join_key
        self.references: list[str] = []
        self.schema: dict[str, pl.DataType] = {join_key: pl.String()}
        from feast.errors import FeatureViewNotFoundException

        for view_name in views:
            try:
                view = store.get_feature_view(view_name)
            except FeatureViewNotFoundException as error:
                msg = (
                    f"feature view {view_name} not found in the Feast registry; "
                    "run `recommender features` first"
                )
                raise FeaturesNotReadyError(msg) from error
            for field in view.features:
                self.references.append(f"{view_name}:{field.name}")
                self.schema[field.name] = _polars_type(field.dtype)

    def read(self, keys: list[str]) -> pl.DataFrame:
        """Return one row per key; keys the store does not have get null
        features."""
        response = self.store.get_online_features(
            features=self.references,
            entity_rows=[{self.join_key: key} for key in keys],
        ).to_dict()
        return pl.DataFrame(response, schema=self.schema)


def _polars_type(feast_type: object) -> pl.DataType:
    """The polars type of a Feast feature type used in this repository."""
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
