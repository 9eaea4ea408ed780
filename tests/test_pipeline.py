"""The whole pipeline on the bundled UCI data, run as a user runs it."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

pytestmark = pytest.mark.slow


def test_store_holds_uci_tables(pipeline_var_dir: Path) -> None:
    connection = duckdb.connect(str(pipeline_var_dir / "store.duckdb"), read_only=True)
    try:
        counts = {
            table: connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for table in ("users", "restaurants", "menu_items", "orders")
        }
    finally:
        connection.close()

    assert counts == {"users": 138, "restaurants": 130, "menu_items": 0, "orders": 1161}


def test_feast_repository_materialized(pipeline_var_dir: Path) -> None:
    assert (pipeline_var_dir / "feast" / "registry.db").is_file()
    assert (pipeline_var_dir / "feast" / "online_store.db").is_file()
    for table in (
        "user_profile",
        "user_activity",
        "user_diet",
        "user_cuisine",
        "restaurant_profile",
        "restaurant_menu",
        "restaurant_popularity",
    ):
        assert (pipeline_var_dir / "features" / f"{table}.parquet").is_file()


def test_current_model_registered(pipeline_var_dir: Path) -> None:
    models = pipeline_var_dir / "models"
    version = (models / "current").read_text().strip()
    metadata = json.loads((models / version / "metadata.json").read_text())

    assert (models / version / "model.txt").is_file()
    assert metadata["version"] == version
    assert metadata["feature_service"] == "ranker_v2"
    for feature in ("distance_km", "restaurant_order_share", "vegetarian_gap"):
        assert feature in metadata["features"]
    assert metadata["training"]["orders"] == 1161
    # UCI ratings have no times: one cutoff per label fold, every rating a
    # positive label in exactly one fold.
    assert metadata["training"]["cutoff_kind"] == "label fold"
    assert len(metadata["training"]["cutoffs"]) == 5
    assert metadata["training"]["positives"] == 1161
    assert metadata["training"]["repeat_orders"] is False


def test_ranker_beats_popularity(pipeline_var_dir: Path) -> None:
    report = json.loads((pipeline_var_dir / "reports" / "evaluation.json").read_text())
    ranker = report["summary"]["lightgbm_ranker"]["ndcg@10"]["mean"]
    popularity = report["summary"]["popularity"]["ndcg@10"]["mean"]

    assert len(report["splits"]) == 5
    assert [split["seed"] for split in report["splits"]] == [0, 1, 2, 3, 4]
    assert 0.10 < popularity < 0.25
    assert ranker >= 1.5 * popularity


def test_evaluation_report_has_spread(pipeline_var_dir: Path) -> None:
    report = json.loads((pipeline_var_dir / "reports" / "evaluation.json").read_text())
    markdown = (pipeline_var_dir / "reports" / "evaluation.md").read_text()

    for model in ("lightgbm_ranker", "popularity"):
        for metric in ("ndcg@10", "recall@10"):
            assert report["summary"][model][metric]["std"] > 0
    assert "| lightgbm_ranker |" in markdown
    assert "| popularity |" in markdown
