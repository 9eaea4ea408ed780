"""Checks of the Feast feature views and services against the feature tables."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from features.transforms import FEATURE_TABLES

if TYPE_CHECKING:
    from feast import FeatureStore


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
            of a type the tables do not support. Also raised when two views
            share a name, when two views, or a view and an on-demand view,
            declare one feature name, or when a table has no view. The
            message names the view, and the file, table or feature. Every
            mistake found is listed, one per line after a count, when there
            are several.
    """
    problems: list[str] = []
    owners: dict[str, str] = {}
    for view in on_demand_views:
        for field in view.features:
            owners[field.name] = f"{view.name} (on demand)"
    read_tables = set()
    view_names: set[str] = set()
    for view in sorted(views, key=lambda v: v.name):
        # A view of a table counts as its reader even when misnamed, so that
        # one mistake is not reported twice.
        read_tables.add(table_read_by(view))
        if view.name in view_names:
            problems.append(
                f"two feature views are named {view.name}; rename one, because "
                "Feast keeps one view per name"
            )
            continue
        view_names.add(view.name)
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


def table_read_by(view: Any) -> str | None:
    """Return the feature table a view reads, named by its local Parquet
    file, or None for another kind of source."""
    from feast import FileSource

    source = view.batch_source
    if isinstance(source, FileSource) and "://" not in source.path:
        return Path(source.path).stem
    return None


def _check_view_source(
    view: Any,
    tables: dict[str, pl.DataFrame],
    written: bool,
    features_dir: Path | None,
) -> pl.DataFrame:
    """Return the feature table a view reads, or raise ValueError when its
    source, name or entity does not fit the tables (see check_view_list)."""
    table_name = table_read_by(view)
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
    if actual == declared or _accepts_untyped(actual, declared, table):
        return
    msg = (
        f"feature view {view.name} declares {field.name} as "
        f"{field.dtype}, so its table column must be {declared}, but it is "
        f"{actual}; "
        "change the Field's dtype or cast the column in the transform"
    )
    if actual == pl.Null:
        msg += (
            " (a column of only None has the type Null, so give the None a "
            "type, as pl.lit(None, pl.Float64) does)"
        )
    raise ValueError(msg)


def _accepts_untyped(
    actual: pl.DataType, declared: pl.DataType, table: pl.DataFrame
) -> bool:
    """Return whether a column of polars type Null or List(Null) passes
    the type check of a feature declared as ``declared``.

    Polars gives the type Null to a column built from no values, so it passes
    in an empty table, which has no value to mistype. In a table with rows,
    Null means the transform wrote None without a type, so the Parquet file
    records no type for the feature. List(Null) passes for a declared list,
    because polars gives it to a column whose lists are all empty.
    """
    if actual == pl.Null:
        return table.is_empty()
    return actual == pl.List(pl.Null) and isinstance(declared, pl.List)


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
