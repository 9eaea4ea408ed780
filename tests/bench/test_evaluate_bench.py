"""The evaluation benchmark, run end to end on a small generated world."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from evaluate_bench import main

from features.paths import VarPaths
from features.synthetic import WorldConfig
from service.pipeline import generate_synthetic


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
    # The @k audits get the run's k, so they are measured.
    assert result["audits"]["favourite_kept[has_favourite]"] != "not_measured"
    assert result["audits"]["vegetarian_meat_only[vegetarians]"] != "not_measured"
    assert "{'cpu'" not in (out_dir / "evaluate_bench.md").read_text()

    # Another world of the same size replaces the store: the saved models were
    # fitted on other orders and are not reused.
    generate_synthetic(
        VarPaths(var_dir), WorldConfig(users=600, restaurants=60, days=50, seed=1)
    )
    assert main([*arguments, "--reuse-models"]) == 0
    replaced = json.loads((out_dir / "evaluate_bench.json").read_text())

    assert replaced["models_reused"] is False
    assert (var_dir / "bench_models.pkl").stat().st_mtime > saved


def test_reused_store_rejects_other_size(tmp_path: Path) -> None:
    var_dir = tmp_path / "world"
    generate_synthetic(
        VarPaths(var_dir), WorldConfig(users=150, restaurants=60, days=20, seed=0)
    )

    with pytest.raises(SystemExit) as stopped:
        main(["--users", "600", "--var-dir", str(var_dir)])

    message = str(stopped.value.code)
    assert message.startswith("--users 600 differs from the world in")
    assert "which has 150 users" in message


@pytest.mark.parametrize(
    ("option", "value", "expected"),
    [
        ("--test-users", "0", "expected an integer of at least 1, got 0"),
        ("--k", "0", "expected an integer of at least 1, got 0"),
        ("--users", "-5", "expected an integer of at least 100, got -5"),
        ("--days", "13", "expected an integer of at least 14, got 13"),
    ],
)
def test_bad_option_named(
    option: str, value: str, expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stopped:
        main([option, value])

    assert stopped.value.code == 2
    assert f"argument {option}: {expected}" in capsys.readouterr().err


def test_out_dir_file_rejected(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    existing_file = tmp_path / "existing_file"
    existing_file.write_text("")

    with pytest.raises(SystemExit) as stopped:
        main(["--var-dir", str(tmp_path / "world"), "--out-dir", str(existing_file)])

    assert stopped.value.code == 2
    assert "argument --out-dir: expected a folder" in capsys.readouterr().err
    assert not (tmp_path / "world").exists()
