"""The rows to materialize: per entity, a view's latest row in a time window."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

if TYPE_CHECKING:
    from feast import FeatureStore, FeatureView
    from feast.data_source import DataSource


def latest_rows_from_offline_store(
    store: FeatureStore, view: FeatureView, start_date: datetime, end_date: datetime
) -> pa.Table:
    """Read the latest row per entity in the window through Feast's offline store."""
    from feast.infra.offline_stores.offline_utils import get_offline_store_from_config

    offline_store = get_offline_store_from_config(store.config.offline_store)
    source = _batch_source(view)
    job = offline_store.pull_latest_from_table_or_query(
        config=store.config,
        data_source=source,
        join_key_columns=view.join_keys,
        feature_name_columns=[field.name for field in view.features],
        timestamp_field=source.timestamp_field,
        created_timestamp_column=source.created_timestamp_column or None,
        start_date=start_date,
        end_date=end_date,
    )
    return job.to_arrow()


def latest_rows_from_parquet(
    path: Path,
    view: FeatureView,
    start_date: datetime,
    end_date: datetime,
) -> pa.Table:
    """Read the latest row per entity in the window from a Parquet source.

    Selects what Feast's offline store selects: rows with ``start_date <=
    event time <= end_date``, a naive event time read as UTC, and per entity
    the row with the latest event time, then the latest created time. Among
    rows equal on both, the last in the file wins.
    """
    source = _batch_source(view)
    order = [source.timestamp_field]
    if source.created_timestamp_column:
        order.append(source.created_timestamp_column)
    columns = [*view.join_keys, *(field.name for field in view.features), *order]
    table = pq.read_table(path, columns=columns)

    # Choose rows on the keys and times alone: sorting the list columns along
    # would cost seconds per million rows.
    frame = pl.from_arrow(table.select([*view.join_keys, *order]))
    assert isinstance(frame, pl.DataFrame)
    event_time = pl.col(source.timestamp_field)
    if getattr(frame.schema[source.timestamp_field], "time_zone", None) is None:
        event_time = event_time.dt.replace_time_zone("UTC")
    window = event_time.is_between(
        start_date.astimezone(UTC), end_date.astimezone(UTC), closed="both"
    )
    rows = (
        frame.with_row_index("row")
        .filter(window)
        .sort([*order, "row"])
        .unique(subset=view.join_keys, keep="last")
        .get_column("row")
        .sort()
    )
    return table.take(rows.to_arrow())


def _latest_rows(
    store: FeatureStore, view: FeatureView, start_date: datetime, end_date: datetime
) -> pa.Table:
    """Read a local Parquet source with polars, any other through Feast."""
    from feast import FileSource
    from feast.data_format import ParquetFormat

    source = view.batch_source
    # The DuckDB offline store reads a FileSource as Parquet when its format
    # is Parquet, or unset with a path ending in .parquet.
    parquet = isinstance(source, FileSource) and (
        isinstance(source.file_format, ParquetFormat)
        or (source.file_format is None and source.path.endswith(".parquet"))
    )
    local = "://" not in source.path if isinstance(source, FileSource) else False
    if parquet and local and type(source) is FileSource:
        path = Path(source.path)
        if not path.is_absolute():
            path = Path(store.repo_path) / path
        return latest_rows_from_parquet(path, view, start_date, end_date)
    return latest_rows_from_offline_store(store, view, start_date, end_date)


def _batch_source(view: FeatureView) -> DataSource:
    if view.batch_source is None:
        msg = f"feature view {view.name} has no batch source to materialize from"
        raise ValueError(msg)
    return view.batch_source
