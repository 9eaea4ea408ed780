"""Users vegetarian by their orders, read from the feature tables for degraded
lists: the rule of the online lists, and missing or damaged tables."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import polars as pl
import pytest

from service.store_profiles import read_vegetarians_by_orders

EARLIER = datetime(2024, 1, 1, tzinfo=UTC)
LATEST = datetime(2024, 1, 8, tzinfo=UTC)


def _write_tables(features_dir: Path) -> None:
    """Write user_diet and user_cuisine rows at two cutoffs."""
    features_dir.mkdir(parents=True, exist_ok=True)
    pl.DataFrame(
        {
            "user_id": ["veg", "coffee", "mixed", "was_veg", "veg"],
            "user_vegetarian_order_ratio": [1.0, 1.0, 0.5, 0.4, 0.2],
            "event_timestamp": [LATEST, LATEST, LATEST, LATEST, EARLIER],
        }
    ).write_parquet(features_dir / "user_diet.parquet")
    pl.DataFrame(
        {
            "user_id": ["veg", "coffee", "mixed", "was_veg"],
            "user_coffee_tea_share": [0.1, 0.8, 0.0, 0.0],
            "event_timestamp": [LATEST, LATEST, LATEST, LATEST],
        }
    ).write_parquet(features_dir / "user_cuisine.parquet")


def test_vegetarians_by_latest_rows(tmp_path: Path) -> None:
    _write_tables(tmp_path)

    users = read_vegetarians_by_orders(duckdb.connect(), tmp_path)

    # Mostly coffee or tea orders reveal no diet, as in the online lists.
    assert users == frozenset({"veg"})


@pytest.mark.parametrize("table", ["user_diet", "user_cuisine"])
def test_missing_table_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, table: str
) -> None:
    _write_tables(tmp_path)
    (tmp_path / f"{table}.parquet").unlink()

    with caplog.at_level(logging.WARNING, logger="service.store_profiles"):
        users = read_vegetarians_by_orders(duckdb.connect(), tmp_path)

    assert users == frozenset()
    assert f"missing feature tables {tmp_path / table}.parquet" in caplog.text


def test_damaged_table_logged(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    _write_tables(tmp_path)
    (tmp_path / "user_diet.parquet").write_text("not parquet")

    with caplog.at_level(logging.WARNING, logger="service.store_profiles"):
        users = read_vegetarians_by_orders(duckdb.connect(), tmp_path)

    assert users == frozenset()
    assert "cannot read the vegetarian users" in caplog.text
