"""Warnings about feature views that load but carry nothing for a model.

A feature null on every row, a numeric feature with one value on every row,
or a view that no feature service lists is valid to Feast and to the checks
of :mod:`features.feast_view_checks`, but the ranker learns nothing from it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from typing import Any

import polars as pl

from features.feast_view_checks import table_read_by

logger = logging.getLogger(__name__)


def warn_of_null_features(
    views: Sequence[Any], tables: dict[str, pl.DataFrame]
) -> dict[str, list[str]]:
    """Log a warning for each table with declared features that are null on
    every row, and return those features by table.

    Such a feature carries nothing for the ranker, and usually comes from a
    bug in the transform. The bundled UCI data has no order times or totals, menus,
    diets or opening dates, so the features built from them are null there.
    Empty tables and features missing from their table are skipped.
    """
    found: dict[str, list[str]] = {}
    for view, table_name, table in _views_with_tables(views, tables, min_rows=1):
        names = [
            field.name
            for field in view.features
            if field.name in table.columns
            and table[field.name].null_count() == table.height
        ]
        if not names:
            continue
        found[table_name] = names
        logger.warning(
            "feature table %s: %s %s null on all %d rows, so the ranker learns "
            "nothing from %s. Check the transform unless the data lacks its "
            "inputs (the bundled UCI data has no order times or totals, menus, "
            "diets or opening dates)",
            table_name,
            ", ".join(names),
            "is" if len(names) == 1 else "are",
            table.height,
            "it" if len(names) == 1 else "them",
        )
    return found


def warn_of_constant_features(
    views: Sequence[Any], tables: dict[str, pl.DataFrame]
) -> dict[str, list[str]]:
    """Log a warning for each table with declared numeric features that take
    one value on every row, none null, and return those features by table.

    Like a feature null on every row, such a feature carries nothing for the
    ranker. Tables of fewer than two rows are skipped.
    """
    found: dict[str, list[str]] = {}
    for view, table_name, table in _views_with_tables(views, tables, min_rows=2):
        values = {
            field.name: table[field.name][0]
            for field in view.features
            if field.name in table.columns
            and table.schema[field.name].is_numeric()
            and table[field.name].null_count() == 0
            and table[field.name].n_unique() == 1
        }
        if not values:
            continue
        found[table_name] = list(values)
        singular = len(values) == 1
        logger.warning(
            "feature table %s: %s on all %d rows, so the ranker learns nothing "
            "from %s. Check the transform unless the data lacks its inputs",
            table_name,
            ", ".join(f"{name} is {value}" for name, value in values.items()),
            table.height,
            "it" if singular else "them",
        )
    return found


def warn_of_views_without_service(
    views: Sequence[Any],
    services: Sequence[Any],
    on_demand_views: Sequence[Any] = (),
) -> list[str]:
    """Log a warning naming the feature views that no feature service lists,
    and return their names, sorted.

    Such a view is applied and materialized, but no model reads it, which
    usually means the view was added to the repository and not to a service.
    A source of an on-demand view in ``on_demand_views`` that a service lists
    is read, because Feast retrieves it to compute that view.
    """
    listed = {
        projection.name
        for service in services
        for projection in service.feature_view_projections
    }
    sources = {
        name
        for view in on_demand_views
        if view.name in listed
        for name in view.source_feature_view_projections
    }
    unread = sorted(view.name for view in views if view.name not in listed | sources)
    if unread:
        singular = len(unread) == 1
        logger.warning(
            "feature %s %s %s in no feature service, so no model reads %s; add "
            "%s to a FeatureService in feature_repo/definitions.py",
            "view" if singular else "views",
            ", ".join(unread),
            "is" if singular else "are",
            "it" if singular else "them",
            "it" if singular else "them",
        )
    return unread


def _views_with_tables(
    views: Sequence[Any], tables: dict[str, pl.DataFrame], min_rows: int
) -> Iterator[tuple[Any, str, pl.DataFrame]]:
    """Yield each view, by name, with its table's name and the table, when
    ``tables`` has that table with at least ``min_rows`` rows."""
    for view in sorted(views, key=lambda v: v.name):
        table_name = table_read_by(view)
        table = None if table_name is None else tables.get(table_name)
        if table_name is not None and table is not None and table.height >= min_rows:
            yield view, table_name, table
