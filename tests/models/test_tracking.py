"""MLflow runs of training and evaluation, in a SQLite tracking store per test."""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pytest
from mlflow import MlflowClient

from features.paths import VarPaths
from models.candidates import CandidateSettings
from models.cutoffs import CutoffSettings
from models.evaluate import write_report
from models.ranker import LightGBMRanker, RankerConfig
from models.registry import ModelMetadata, load_current, save_model
from models.runs import compare_runs, format_runs, list_runs
from models.tracking import (
    EVALUATE,
    TrackingError,
    log_evaluation,
    log_training_run,
    metric_name,
    start_run,
    tracking_uri,
)
from models.tracking_metrics import flatten_metrics, flatten_params
from service.pipeline import record_training

FEATURES = ("signal", "noise")
PARAMS = {
    "objective": "lambdarank",
    "num_leaves": 7,
    "min_data_in_leaf": 5,
    "eval_at": [10],
    "num_threads": 1,
    "verbosity": -1,
}
UNREACHABLE = "http://127.0.0.1:9"


@pytest.fixture(scope="module")
def store_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A var folder whose SQLite tracking store the module's tests share.

    Creating a store's tables takes seconds, so each test keeps to an
    experiment of its own instead of a store of its own.
    """
    return tmp_path_factory.mktemp("tracking")


@pytest.fixture
def uri(store_dir: Path) -> str:
    return tracking_uri(store_dir)


@pytest.fixture(autouse=True)
def own_experiment(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Log to an experiment named after the test, and fail fast on a server
    that does not respond."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", request.node.name)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")


@pytest.fixture(scope="module")
def ranker() -> LightGBMRanker:
    """A lambdarank booster on 8 random groups of 10 rows, 5 rounds."""
    generator = np.random.default_rng(0)
    rows = generator.normal(size=(80, len(FEATURES)))
    labels = (rows[:, 0] > 0.8).astype(int)
    dataset = lgb.Dataset(
        rows, label=labels, group=[10] * 8, feature_name=list(FEATURES)
    )
    booster = lgb.train(PARAMS, dataset, num_boost_round=5)
    return LightGBMRanker(booster, FEATURES)


def make_metadata(version: str, rows: int, validation_ndcg: float) -> ModelMetadata:
    return ModelMetadata(
        version=version,
        created_at="2024-06-01T12:00:00+00:00",
        feature_service="ranker_test",
        features=list(FEATURES),
        params=PARAMS,
        num_boost_round=5,
        training={
            "orders": 40,
            "rows": rows,
            "positives": 16,
            "groups": 8,
            "cutoffs": ["2024-05-01T00:00:00"],
            "repeat_orders": False,
            "seed": 3,
            "seconds": 1.5,
        },
        data_fingerprint="f" * 64,
        git_commit="abc123",
        git_dirty=True,
        metrics={"validation_ndcg": validation_ndcg},
    )


def make_config(feature_service: str = "ranker_test") -> RankerConfig:
    return RankerConfig(
        params=PARAMS,
        num_boost_round=5,
        seed=3,
        feature_service=feature_service,
        cutoffs=CutoffSettings(label_folds=4, horizon_days=14),
        negatives_per_group=9,
        candidates=CandidateSettings(total=50),
    )


def make_report(means: tuple[float, float], segment_mean: float) -> dict[str, Any]:
    """A report of two splits whose ranker NDCG@10 values are ``means``."""
    first, second = means
    return {
        "created_at": "2024-06-01T12:00:00+00:00",
        "settings": {"n_splits": 2, "test_fraction": 0.2, "seed": 0, "k": 10},
        "relevance": "any held-out order",
        "data_fingerprint": "f" * 64,
        "git_commit": "abc123",
        "git_dirty": False,
        "ranker": {
            "feature_service": "ranker_test",
            "params": PARAMS,
            "num_boost_round": 5,
            "seed": 3,
            "early_stopping_rounds": 2,
            "negatives_per_group": 9,
            "max_users_per_cutoff": None,
            "cutoffs": {"label_folds": 4},
            "candidates": {"total": 50, "local": 20},
            "diet_guardrail": None,
            "features": list(FEATURES),
        },
        "splits": [
            {
                "seed": 0,
                "test_users": 30,
                "models": {"lightgbm_ranker": {"ndcg@10": first}},
            },
            {
                "seed": 1,
                "test_users": 20,
                "models": {"lightgbm_ranker": {"ndcg@10": second}},
            },
        ],
        "candidate_recall": 0.875,
        "summary": {
            "lightgbm_ranker": {
                "ndcg@10": {"mean": (first + second) / 2, "std": None},
            },
        },
        "segments": {
            "coffee or tea": {
                "lightgbm_ranker": {"ndcg@10": {"mean": segment_mean, "std": None}},
            },
        },
    }


def train_run(
    uri: str,
    var_dir: Path,
    ranker: LightGBMRanker,
    metadata: ModelMetadata,
    config: RankerConfig | None = None,
) -> str:
    """Register a model under ``var_dir`` and log it to ``uri``."""
    save_model(var_dir / "models", ranker, metadata)
    return log_training_run(
        uri, metadata, config or make_config(), var_dir / "models" / metadata.version
    )


def evaluation_run(uri: str, var_dir: Path, report: dict[str, Any]) -> str:
    """Write a report under ``var_dir`` and log it to ``uri``."""
    run_id = start_run(uri, EVALUATE, "evaluate ranker_test")
    files = write_report(report, var_dir / "reports" / run_id)
    log_evaluation(uri, run_id, report, list(files))
    return run_id


def test_tracking_uri_under_var_dir(tmp_path: Path) -> None:
    expected = f"sqlite:///{tmp_path.resolve()}/mlruns/mlflow.db"

    assert tracking_uri(tmp_path) == expected


def test_tracking_uri_from_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")

    assert tracking_uri(tmp_path) == "http://127.0.0.1:5000"


@pytest.mark.parametrize("blank", ["", "  ", "\t\n"], ids=["empty", "spaces", "tab"])
def test_tracking_uri_blank_is_unset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, blank: str
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", blank)
    expected = f"sqlite:///{tmp_path.resolve()}/mlruns/mlflow.db"

    assert tracking_uri(tmp_path) == expected


@pytest.mark.parametrize(
    ("parts", "expected"),
    [
        (("lightgbm_ranker", "ndcg@10", "mean"), "lightgbm_ranker.ndcg_at_10.mean"),
        (("segment", "coffee or tea", "recall@5"), "segment.coffee_or_tea.recall_at_5"),
        (("", "a.b", "c/d"), "a_b.c_d"),
    ],
    ids=["at sign", "spaces", "dots and slashes"],
)
def test_metric_name_mapping(parts: tuple[str, ...], expected: str) -> None:
    assert metric_name(*parts) == expected


def test_colliding_segment_names_kept_apart() -> None:
    segments = {
        "city=Mexico City": {"ndcg@10": 0.25},
        "city=Mexico_City": {"ndcg@10": 0.5},
        "city=Lyon": {"ndcg@10": 0.75},
    }
    spaced = hashlib.sha256(b"city=Mexico City").hexdigest()[:8]
    underscored = hashlib.sha256(b"city=Mexico_City").hexdigest()[:8]

    flat = flatten_metrics(segments, "segment")
    params = flatten_params({"a b": 1, "a_b": 2, "c": 3})

    assert flat == {
        f"segment.city_Mexico_City_{spaced}.ndcg_at_10": 0.25,
        f"segment.city_Mexico_City_{underscored}.ndcg_at_10": 0.5,
        "segment.city_Lyon.ndcg_at_10": 0.75,
    }
    assert sorted(params.values()) == ["1", "2", "3"]
    assert params["c"] == "3"


def test_training_run_params(uri: str, tmp_path: Path, ranker: LightGBMRanker) -> None:
    run_id = train_run(uri, tmp_path, ranker, make_metadata("v1", 80, 0.5))

    params = MlflowClient(uri).get_run(run_id).data.params

    assert params["feature_service"] == "ranker_test"
    assert params["num_boost_round"] == "5"
    assert params["seed"] == "3"
    assert params["negatives_per_group"] == "9"
    assert params["early_stopping_rounds"] == "None"
    assert params["cutoffs.label_folds"] == "4"
    assert params["cutoffs.horizon_days"] == "14"
    assert params["candidates.total"] == "50"
    assert params["max_users_per_cutoff"] == "None"
    assert params["diet_guardrail"] == "None"
    assert params["lightgbm.objective"] == "lambdarank"
    assert params["lightgbm.num_leaves"] == "7"
    assert params["lightgbm.eval_at"] == "[10]"


def test_training_run_metrics(uri: str, tmp_path: Path, ranker: LightGBMRanker) -> None:
    run_id = train_run(uri, tmp_path, ranker, make_metadata("v1", 80, 0.5))

    metrics = MlflowClient(uri).get_run(run_id).data.metrics

    assert metrics == {
        "training.orders": 40.0,
        "training.rows": 80.0,
        "training.positives": 16.0,
        "training.groups": 8.0,
        "training.seconds": 1.5,
        "validation_ndcg": 0.5,
    }


def test_training_run_tags(uri: str, tmp_path: Path, ranker: LightGBMRanker) -> None:
    run_id = train_run(uri, tmp_path, ranker, make_metadata("v1", 80, 0.5))

    run = MlflowClient(uri).get_run(run_id)
    tags = run.data.tags

    assert run.info.status == "FINISHED"
    assert tags["kind"] == "train"
    assert tags["model_version"] == "v1"
    assert tags["data_fingerprint"] == "f" * 64
    assert tags["git_commit"] == "abc123"
    assert tags["git_dirty"] == "True"
    assert tags["headline_metric"] == "validation_ndcg"
    assert tags["mlflow.runName"] == "train v1"


def test_training_run_without_git(
    uri: str, tmp_path: Path, ranker: LightGBMRanker
) -> None:
    metadata = replace(make_metadata("v1", 80, 0.5), git_commit=None, git_dirty=None)

    run_id = train_run(uri, tmp_path, ranker, metadata)

    tags = MlflowClient(uri).get_run(run_id).data.tags
    assert "git_commit" not in tags
    assert "git_dirty" not in tags


def test_training_run_artifacts(
    uri: str, tmp_path: Path, ranker: LightGBMRanker
) -> None:
    run_id = train_run(uri, tmp_path, ranker, make_metadata("v1", 80, 0.5))
    client = MlflowClient(uri)

    names = sorted(item.path for item in client.list_artifacts(run_id, "model"))
    copy = Path(client.download_artifacts(run_id, "model", str(tmp_path)))

    assert names == ["model/metadata.json", "model/model.txt"]
    for name in ("metadata.json", "model.txt"):
        original = tmp_path / "models" / "v1" / name
        assert (copy / name).read_bytes() == original.read_bytes()


def test_artifacts_beside_database(
    uri: str, store_dir: Path, tmp_path: Path, ranker: LightGBMRanker
) -> None:
    run_id = train_run(uri, tmp_path, ranker, make_metadata("v1", 80, 0.5))

    folder = store_dir / "mlruns" / "artifacts" / run_id / "artifacts" / "model"

    assert (folder / "model.txt").is_file()


def test_evaluation_run_metrics(uri: str, tmp_path: Path) -> None:
    run_id = evaluation_run(uri, tmp_path, make_report((0.25, 0.5), segment_mean=0.75))

    metrics = MlflowClient(uri).get_run(run_id).data.metrics

    # The report's std is None, so it is not logged. The latest value of the
    # per-split metric is the last split's.
    assert metrics == {
        "lightgbm_ranker.ndcg_at_10.mean": 0.375,
        "segment.coffee_or_tea.lightgbm_ranker.ndcg_at_10.mean": 0.75,
        "candidate_recall": 0.875,
        "split.lightgbm_ranker.ndcg_at_10": 0.5,
        "split.test_users": 20.0,
    }


def test_evaluation_split_steps(uri: str, tmp_path: Path) -> None:
    run_id = evaluation_run(uri, tmp_path, make_report((0.25, 0.5), segment_mean=0.75))

    history = MlflowClient(uri).get_metric_history(
        run_id, "split.lightgbm_ranker.ndcg_at_10"
    )

    assert sorted((m.step, m.value) for m in history) == [(0, 0.25), (1, 0.5)]


def test_evaluation_split_numbers(uri: str, tmp_path: Path) -> None:
    run_id = evaluation_run(uri, tmp_path, make_report((0.25, 0.5), 0.75))

    history = MlflowClient(uri).get_metric_history(run_id, "split.test_users")

    assert sorted((m.step, m.value) for m in history) == [(0, 30.0), (1, 20.0)]


def test_evaluation_run_params_tags(uri: str, tmp_path: Path) -> None:
    run_id = evaluation_run(uri, tmp_path, make_report((0.25, 0.5), segment_mean=0.75))

    run = MlflowClient(uri).get_run(run_id)

    assert run.info.status == "FINISHED"
    assert run.data.params["evaluation.n_splits"] == "2"
    assert run.data.params["evaluation.test_fraction"] == "0.2"
    assert run.data.params["evaluation.k"] == "10"
    assert run.data.params["feature_service"] == "ranker_test"
    assert run.data.params["cutoffs.label_folds"] == "4"
    assert run.data.params["lightgbm.num_leaves"] == "7"
    assert run.data.params["seed"] == "3"
    assert run.data.params["early_stopping_rounds"] == "2"
    assert run.data.params["negatives_per_group"] == "9"
    assert run.data.params["max_users_per_cutoff"] == "None"
    assert run.data.params["candidates.total"] == "50"
    assert run.data.params["candidates.local"] == "20"
    assert run.data.params["diet_guardrail"] == "None"
    assert "features" not in run.data.params
    assert run.data.tags["kind"] == "evaluate"
    assert run.data.tags["headline_metric"] == "lightgbm_ranker.ndcg_at_10.mean"
    assert run.data.tags["git_commit"] == "abc123"
    assert run.data.tags["git_dirty"] == "False"


def test_evaluation_run_report_files(uri: str, tmp_path: Path) -> None:
    report = make_report((0.25, 0.5), segment_mean=0.75)
    run_id = evaluation_run(uri, tmp_path, report)
    client = MlflowClient(uri)

    names = sorted(item.path for item in client.list_artifacts(run_id, "report"))
    copy = Path(client.download_artifacts(run_id, "report", str(tmp_path)))

    assert names == ["report/report.json", "report/report.md"]
    assert json.loads((copy / "report.json").read_text()) == report


def test_list_runs_latest_first(
    uri: str, tmp_path: Path, ranker: LightGBMRanker
) -> None:
    train_id = train_run(uri, tmp_path, ranker, make_metadata("v1", 80, 0.5))
    evaluate_id = evaluation_run(uri, tmp_path, make_report((0.25, 0.5), 0.75))

    runs = list_runs(uri)

    assert [run.run_id for run in runs] == [evaluate_id, train_id]
    assert [run.kind for run in runs] == ["evaluate", "train"]
    assert runs[0].headline_metric == "lightgbm_ranker.ndcg_at_10.mean"
    assert runs[0].headline_value == 0.375
    assert runs[1].headline_value == 0.5
    assert runs[1].feature_service == "ranker_test"


def _audit(name: str, segment: str, status: str) -> dict[str, Any]:
    return {"name": name, "segment": segment, "status": status}


def audited_report() -> dict[str, Any]:
    """A report whose audits are one failure, one not measured and two passes."""
    return {
        **make_report((0.25, 0.5), segment_mean=0.75),
        "analysis": {
            "audits": [
                _audit("vegetarian_ndcg", "vegetarian", "failed"),
                _audit("cold_start_ndcg", "cold_start", "passed"),
                _audit("pizza_only_ndcg", "pizza_only", "not_measured"),
                _audit("city_floor", "city=Lyon", "passed"),
            ]
        },
    }


def test_evaluation_audit_counts(uri: str) -> None:
    run_id = start_run(uri, EVALUATE, "evaluate ranker_test")
    log_evaluation(uri, run_id, audited_report(), [])

    metrics = MlflowClient(uri).get_run(run_id).data.metrics

    assert metrics["audits.failed"] == 1.0
    assert metrics["audits.not_measured"] == 1.0
    assert metrics["audits.passed"] == 2.0


def test_evaluation_audit_tags(uri: str) -> None:
    run_id = start_run(uri, EVALUATE, "evaluate ranker_test")
    log_evaluation(uri, run_id, audited_report(), [])

    tags = MlflowClient(uri).get_run(run_id).data.tags

    assert tags["audits"] == "1 failed, 1 not measured, 2 passed"
    assert tags["failed_audits"] == "vegetarian_ndcg (vegetarian)"
    # The headline stays the ranker's first metric, not an audit count.
    assert tags["headline_metric"] == "lightgbm_ranker.ndcg_at_10.mean"


def test_list_runs_shows_audits(
    uri: str, tmp_path: Path, ranker: LightGBMRanker
) -> None:
    train_run(uri, tmp_path, ranker, make_metadata("v1", 80, 0.5))
    run_id = start_run(uri, EVALUATE, "evaluate ranker_test")
    log_evaluation(uri, run_id, audited_report(), [])

    runs = list_runs(uri)
    table = format_runs(runs).splitlines()

    assert [run.audits for run in runs] == ["1 failed, 1 not measured, 2 passed", ""]
    assert table[0].endswith("| headline metric | audits |")
    assert table[2].endswith("| 1 failed, 1 not measured, 2 passed |")
    assert table[3].endswith("| validation_ndcg = 0.5000 |  |")


def test_compare_audit_counts(uri: str, tmp_path: Path) -> None:
    passing = {
        **audited_report(),
        "analysis": {"audits": [_audit("vegetarian_ndcg", "vegetarian", "passed")]},
    }
    run_a = start_run(uri, EVALUATE, "evaluate ranker_test")
    log_evaluation(uri, run_a, passing, [])
    run_b = start_run(uri, EVALUATE, "evaluate ranker_test")
    log_evaluation(uri, run_b, audited_report(), [])

    lines = compare_runs(uri, run_a, run_b).splitlines()

    assert "| audits.failed | 0 | 1 | +1 |" in lines
    assert "| audits.passed | 1 | 2 | +1 |" in lines


def test_list_runs_missing_store(tmp_path: Path) -> None:
    assert list_runs(tracking_uri(tmp_path)) == []
    assert not (tmp_path / "mlruns").exists()


def test_compare_training_runs(
    uri: str, tmp_path: Path, ranker: LightGBMRanker
) -> None:
    first = train_run(uri, tmp_path, ranker, make_metadata("v1", 80, 0.5))
    other = replace(make_metadata("v2", 100, 0.5625), feature_service="ranker_other")
    second = train_run(uri, tmp_path, ranker, other, make_config("ranker_other"))

    table = compare_runs(uri, first, second).splitlines()

    assert "| metric | run A | run B | change |" in table
    assert "| training.rows | 80 | 100 | +20 |" in table
    assert "| training.groups | 8 | 8 | +0 |" in table
    assert "| training.seconds | 1.5000 | 1.5000 | +0.0000 |" in table
    assert "| validation_ndcg | 0.5000 | 0.5625 | +0.0625 |" in table
    assert "params that differ:" in table
    assert "- feature_service: ranker_test -> ranker_other" in table
    assert not any(line.startswith("| segment |") for line in table)


def test_compare_params_by_main_name(
    uri: str, tmp_path: Path, ranker: LightGBMRanker
) -> None:
    # eta and learning_rate name one LightGBM parameter, as do
    # min_child_samples and min_data_in_leaf.
    spelled = {**PARAMS, "eta": 0.05, "min_child_samples": 5}
    del spelled["min_data_in_leaf"]
    main = {**PARAMS, "learning_rate": 0.1}
    first = replace(make_metadata("v1", 80, 0.5), params=spelled)
    second = replace(make_metadata("v2", 80, 0.5), params=main)
    first_run = train_run(uri, tmp_path, ranker, first)
    second_run = train_run(uri, tmp_path, ranker, second)

    lines = compare_runs(uri, first_run, second_run).splitlines()
    changes = [line for line in lines if line.startswith("- lightgbm.")]

    assert changes == ["- lightgbm.learning_rate: 0.05 -> 0.1"]


def test_compare_segments(uri: str, tmp_path: Path) -> None:
    first = evaluation_run(uri, tmp_path, make_report((0.25, 0.5), segment_mean=0.75))
    second = evaluation_run(uri, tmp_path, make_report((0.5, 0.5), segment_mean=0.5))

    table = compare_runs(uri, first, second).splitlines()

    assert "| lightgbm_ranker.ndcg_at_10.mean | 0.3750 | 0.5000 | +0.1250 |" in table
    assert "| segment | metric | run A | run B | change |" in table
    assert (
        "| coffee_or_tea | lightgbm_ranker.ndcg_at_10.mean | 0.7500 | 0.5000 "
        "| -0.2500 |" in table
    )
    assert "params: the same in both runs" in table
    # Per-split values are steps of one run, not rows of the comparison.
    assert not any("split." in line for line in table)


def test_compare_tiny_difference_unsigned(uri: str, tmp_path: Path) -> None:
    # The same value summed in another order: 0.1 + 0.2 is 5.6e-17 above 0.3.
    first = evaluation_run(
        uri, tmp_path, make_report((0.25, 0.5), segment_mean=0.1 + 0.2)
    )
    second = evaluation_run(uri, tmp_path, make_report((0.25, 0.5), segment_mean=0.3))

    table = compare_runs(uri, first, second).splitlines()

    assert 0.3 - (0.1 + 0.2) < 0
    assert (
        "| coffee_or_tea | lightgbm_ranker.ndcg_at_10.mean | 0.3000 | 0.3000 "
        "| +0.0000 |" in table
    )


def test_compare_segment_without_users(uri: str, tmp_path: Path) -> None:
    first = evaluation_run(uri, tmp_path, make_report((0.25, 0.5), segment_mean=0.75))
    second = evaluation_run(
        uri, tmp_path, make_report((0.25, 0.5), segment_mean=math.nan)
    )

    table = compare_runs(uri, first, second).splitlines()
    metrics = MlflowClient(uri).get_run(second).data.metrics

    assert "segment.coffee_or_tea.lightgbm_ranker.ndcg_at_10.mean" not in metrics
    assert (
        "| coffee_or_tea | lightgbm_ranker.ndcg_at_10.mean | 0.7500 | n/a | n/a |"
        in table
    )


def test_compare_metric_in_one_run(
    uri: str, tmp_path: Path, ranker: LightGBMRanker
) -> None:
    first = train_run(uri, tmp_path, ranker, make_metadata("v1", 80, 0.5))
    second = evaluation_run(uri, tmp_path, make_report((0.25, 0.5), 0.75))

    table = compare_runs(uri, first, second).splitlines()

    assert "| training.rows | 80 | n/a | n/a |" in table
    assert "| lightgbm_ranker.ndcg_at_10.mean | n/a | 0.3750 | n/a |" in table
    assert table[2] == (
        "note: run A is of kind train and run B of kind evaluate, so they share "
        "few metrics (n/a where one lacks it)"
    )


def test_compare_unknown_run(uri: str, tmp_path: Path, ranker: LightGBMRanker) -> None:
    known = train_run(uri, tmp_path, ranker, make_metadata("v1", 80, 0.5))

    with pytest.raises(ValueError, match="run '0123abcd' not found"):
        compare_runs(uri, known, "0123abcd")


def test_compare_by_id_prefix(uri: str, tmp_path: Path, ranker: LightGBMRanker) -> None:
    first = train_run(uri, tmp_path, ranker, make_metadata("v1", 80, 0.5))
    second = train_run(uri, tmp_path, ranker, make_metadata("v2", 100, 0.5))

    table = compare_runs(uri, first[:8], second[:8]).splitlines()

    assert table == compare_runs(uri, first, second).splitlines()


def test_compare_by_uppercase_id(
    uri: str, tmp_path: Path, ranker: LightGBMRanker
) -> None:
    first = train_run(uri, tmp_path, ranker, make_metadata("v1", 80, 0.5))
    second = train_run(uri, tmp_path, ranker, make_metadata("v2", 100, 0.5))
    expected = compare_runs(uri, first, second).splitlines()

    assert compare_runs(uri, first.upper(), second[:8].upper()).splitlines() == expected


def test_compare_ambiguous_id_prefix(
    uri: str, tmp_path: Path, ranker: LightGBMRanker
) -> None:
    # Of 17 ids, two start with the same one of the 16 hex digits.
    runs = [
        train_run(uri, tmp_path, ranker, make_metadata(f"v{n}", 80, 0.5))
        for n in range(17)
    ]
    firsts = [run[0] for run in runs]
    shared = next(digit for digit in firsts if firsts.count(digit) > 1)

    with pytest.raises(ValueError, match="give more of the id") as raised:
        compare_runs(uri, shared, runs[0])

    assert f"run id {shared!r} starts {firsts.count(shared)} runs" in str(raised.value)


def test_compare_warns_other_data(
    uri: str, tmp_path: Path, ranker: LightGBMRanker, caplog: pytest.LogCaptureFixture
) -> None:
    first = train_run(uri, tmp_path, ranker, make_metadata("v1", 80, 0.5))
    other = replace(make_metadata("v2", 80, 0.5), data_fingerprint="0" * 64)
    second = train_run(uri, tmp_path, ranker, other)

    compare_runs(uri, first, second)

    assert "data fingerprints differ" in caplog.text


def test_unreachable_server_raises(tmp_path: Path, ranker: LightGBMRanker) -> None:
    metadata = make_metadata("v1", 80, 0.5)
    save_model(tmp_path, ranker, metadata)

    with pytest.raises(TrackingError, match=f"MLflow tracking at {UNREACHABLE}"):
        log_training_run(UNREACHABLE, metadata, make_config(), tmp_path / "v1")


def test_unreachable_server_keeps_model(
    tmp_path: Path,
    ranker: LightGBMRanker,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", UNREACHABLE)
    paths = VarPaths(tmp_path)
    metadata = make_metadata("v1", 80, 0.5)
    save_model(paths.models, ranker, metadata)

    run_id = record_training(paths, metadata, make_config())

    assert run_id is None
    assert f"MLflow tracking at {UNREACHABLE} failed" in caplog.text
    assert "model v1 is registered and current" in caplog.text
    assert load_current(paths.models)[1].version == "v1"


def test_training_run_spans_training_time(
    uri: str, tmp_path: Path, ranker: LightGBMRanker
) -> None:
    """The run is created after training, but starts when training did."""
    run_id = train_run(uri, tmp_path, ranker, make_metadata("v1", 80, 0.5))

    info = MlflowClient(uri).get_run(run_id).info

    assert info.end_time is not None
    assert info.end_time - info.start_time >= 1500


def test_malformed_uri_keeps_model(
    tmp_path: Path,
    ranker: LightGBMRanker,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # urllib.parse raises a plain ValueError on an unclosed IPv6 bracket.
    malformed = "http://[::1"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", malformed)
    paths = VarPaths(tmp_path)
    metadata = make_metadata("v1", 80, 0.5)
    save_model(paths.models, ranker, metadata)

    run_id = record_training(paths, metadata, make_config())

    assert run_id is None
    assert f"invalid MLflow tracking URI {malformed!r}" in caplog.text
    assert "model v1 is registered and current" in caplog.text
    assert load_current(paths.models)[1].version == "v1"


def test_malformed_uri_list_runs_named() -> None:
    malformed = "http://[::1"

    with pytest.raises(TrackingError, match=r"invalid MLflow tracking URI 'http"):
        list_runs(malformed)
