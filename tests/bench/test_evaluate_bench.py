"""The evaluation benchmark, run end to end on a small generated world."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from evaluate_bench import main


def test_small_world_writes_results_and_report(tmp_path: Path) -> None:
    var_dir, out_dir = tmp_path / "world", tmp_path / "out"
    arguments = [
        "--users",
        "600",
        "--restaurants",
        "60",
        "--days",
        "50",
        "--test-users",
        "80",
        "--var-dir",
        str(var_dir),
        "--out-dir",
        str(out_dir),
    ]

    # A small world finishes far below the target, so the exit code is 0.
    assert main(arguments) == 0
    result = json.loads((out_dir / "evaluate_bench.json").read_text())
    saved = (var_dir / "bench_models.pkl").stat().st_mtime
    assert main([*arguments, "--reuse-models"]) == 0
    again = json.loads((out_dir / "evaluate_bench.json").read_text())

    assert result["evaluated_users"] == 80
    assert result["models_reused"] is False
    assert again["models_reused"] is True
    assert (var_dir / "bench_models.pkl").stat().st_mtime == saved
    assert again["ndcg_at_k"] == result["ndcg_at_k"]
    assert set(result["rank_phases"]) >= {"candidates", "feature rows", "ranker_v1"}
    assert result["phases"]["rank"] >= sum(result["rank_phases"].values()) - 0.5
    assert 0.0 < result["ndcg_at_k"]["lightgbm_ranker"] <= 1.0
    report = json.loads((out_dir / "report" / "report.json").read_text())
    assert report["summary"]["lightgbm_ranker"]["ndcg@10"]["mean"] == pytest.approx(
        result["ndcg_at_k"]["lightgbm_ranker"]
    )
    assert (out_dir / "report" / "report.html").stat().st_size > 10_000
    assert "| candidates |" in (out_dir / "evaluate_bench.md").read_text()
