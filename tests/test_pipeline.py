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
    report = json.loads((pipeline_var_dir / "reports" / "report.json").read_text())
    ranker = report["summary"]["lightgbm_ranker"]["ndcg@10"]["mean"]
    popularity = report["summary"]["popularity"]["ndcg@10"]["mean"]

    assert len(report["splits"]) == 5
    assert [split["seed"] for split in report["splits"]] == [0, 1, 2, 3, 4]
    assert 0.10 < popularity < 0.25
    assert ranker >= 1.5 * popularity


def test_evaluation_report_has_spread(pipeline_var_dir: Path) -> None:
    report = json.loads((pipeline_var_dir / "reports" / "report.json").read_text())
    markdown = (pipeline_var_dir / "reports" / "report.md").read_text()

    for model in ("lightgbm_ranker", "popularity"):
        for metric in ("ndcg@10", "recall@10"):
            assert report["summary"][model][metric]["std"] > 0
    assert "| lightgbm_ranker |" in markdown
    assert "| popularity |" in markdown


def test_evaluation_report_has_the_segment_analysis(pipeline_var_dir: Path) -> None:
    reports = pipeline_var_dir / "reports"
    report = json.loads((reports / "report.json").read_text())
    analysis = report["analysis"]

    assert analysis["current"] == "lightgbm_ranker"
    assert analysis["previous"] == "ranker_v1"
    assert "ranker_v1" in report["summary"]
    names = {row["name"] for row in analysis["segments"]}
    # UCI users declare a budget and an age band; cities come from the store.
    assert {"budget=low", "budget=medium", "city=San Luis Potosi"} <= names
    gains = [
        row["potential_gain"]
        for row in analysis["segments"]
        if row["potential_gain"] is not None
    ]
    assert gains == sorted(gains, reverse=True)
    for row in analysis["segments"]:
        assert row["small"] == (row["users"] < 30)
        assert row["reference"]["kind"] in ("overall", "baseline")
    audits = {audit["name"]: audit["status"] for audit in analysis["audits"]}
    # No menus in UCI: the meat-only share cannot be measured.
    assert audits["vegetarian_meat_only"] == "not_measured"
    assert audits["small_independent_exposure"] in ("passed", "failed")
    html = (reports / "report.html").read_text()
    assert html.count("<svg") == 4
    markdown = (reports / "report.md").read_text()
    # Both pages open with each model's mean and spread over the splits.
    ranker = report["summary"]["lightgbm_ranker"]["ndcg@10"]
    headline = f"{ranker['mean']:.4f} ± {ranker['std']:.4f}"
    assert f"| lightgbm_ranker | {headline} |" in markdown
    assert f"<tr><td>lightgbm_ranker</td><td>{headline}</td>" in html
    assert "Where to work" in markdown
    users = f"{analysis['test_users']:,}"
    assert f"Random split of seed 0, {users} test users." in markdown


def test_failed_audit_exits_non_zero(
    pipeline_var_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from service.cli import EXIT_AUDITS, main

    # Other tests count the runs of the shared folder's default experiment.
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "failed-audit")

    audits = tmp_path / "audits.yaml"
    audits.write_text(
        "audits:\n"
        "  - name: impossible_ndcg\n"
        "    failure_mode: The list is not perfect for everyone.\n"
        "    metric: ndcg@10\n"
        "    segment: all\n"
        "    threshold: 0.99\n"
        "    direction: min\n"
        "    owner: ranking\n"
    )
    segments = tmp_path / "segments.yaml"
    segments.write_text(
        "segments:\n"
        "  - name: many_ratings\n"
        "    entity: user\n"
        "    description: Users with at least ten ratings before the split.\n"
        "    where: orders_before >= 10\n"
    )
    reports = pipeline_var_dir / "reports"
    # The other tests read the full run's reports: put them back afterwards.
    kept = {path: path.read_bytes() for path in reports.iterdir() if path.is_file()}
    try:
        code = main(
            [
                "--var-dir",
                str(pipeline_var_dir),
                "evaluate",
                "--splits",
                "1",
                "--audits",
                str(audits),
                "--segments",
                str(segments),
            ]
        )
        report = json.loads((reports / "report.json").read_text())
    finally:
        for path, content in kept.items():
            path.write_bytes(content)

    assert code == EXIT_AUDITS
    (audit,) = report["analysis"]["audits"]
    assert audit["status"] == "failed"
    assert audit["message"].startswith("audit impossible_ndcg failed: ndcg@10 on all")
    assert [row["name"] for row in report["analysis"]["segments"]] == ["many_ratings"]
