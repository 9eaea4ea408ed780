"""The quality benchmark: its checks on hand-made summaries, and one run on a
small synthetic store."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from quality_bench import main, merge_reports, quality_checks
from quality_report import describe_splits

from service.cli import main as recommender

BASELINES = ["popularity", "user_knn"]
PEER_CHECK = "lightgbm_ranker ndcg@10 >= 1.05 x best LightFM variant"
BASELINE_CHECK = "lightgbm_ranker ndcg@10 >= best baseline"
POPULARITY_CHECK = "lightgbm_ranker ndcg@10 >= 2.0 x popularity"


def summary_of(**means: float) -> dict[str, dict[str, dict[str, float | None]]]:
    return {
        name: {"ndcg@10": {"mean": mean, "std": 0.01}} for name, mean in means.items()
    }


@pytest.mark.parametrize(
    ("means", "expected"),
    [
        # 0.40 >= 1.05 x 0.36 = 0.378; 0.40 < 0.41 (user_knn); 0.40 >= 2 x 0.15.
        (
            {
                "lightgbm_ranker": 0.40,
                "lightfm": 0.36,
                "lightfm_hybrid": 0.30,
                "popularity": 0.15,
                "user_knn": 0.41,
            },
            [True, False, True],
        ),
        # 0.40 < 1.05 x 0.385 = 0.40425, from the hybrid; 0.40 >= 0.39;
        # 0.40 < 2 x 0.21 = 0.42.
        (
            {
                "lightgbm_ranker": 0.40,
                "lightfm": 0.30,
                "lightfm_hybrid": 0.385,
                "popularity": 0.21,
                "user_knn": 0.39,
            },
            [False, True, False],
        ),
        # A ranker equal to its bound passes: 0.5 against user_knn and
        # 2 x 0.25 = 0.5; and 0.5 >= 1.05 x 0.4 = 0.42.
        (
            {
                "lightgbm_ranker": 0.5,
                "lightfm": 0.4,
                "lightfm_hybrid": 0.3,
                "popularity": 0.25,
                "user_knn": 0.5,
            },
            [True, True, True],
        ),
    ],
    ids=["baseline fails", "peer and popularity fail", "bounds reached"],
)
def test_checks_hand_computed(means: dict[str, float], expected: list[bool]) -> None:
    checks = quality_checks(summary_of(**means), 10, BASELINES)

    assert [check.name for check in checks] == [
        PEER_CHECK,
        BASELINE_CHECK,
        POPULARITY_CHECK,
    ]
    assert [check.passed for check in checks] == expected


def test_checks_name_bounds() -> None:
    means = {
        "lightgbm_ranker": 0.40,
        "lightfm": 0.30,
        "lightfm_hybrid": 0.32,
        "popularity": 0.15,
        "user_knn": 0.35,
    }

    peer, baseline, popularity = quality_checks(summary_of(**means), 10, BASELINES)

    assert peer.reference == "lightfm_hybrid"
    assert peer.bound == pytest.approx(0.336)
    assert baseline.reference == "user_knn"
    assert baseline.bound == pytest.approx(0.35)
    assert popularity.reference == "popularity"
    assert popularity.bound == pytest.approx(0.30)
    assert popularity.ranker == pytest.approx(0.40)


def test_nan_ranker_fails_every_check() -> None:
    summary = summary_of(
        lightgbm_ranker=math.nan,
        lightfm=0.1,
        lightfm_hybrid=0.1,
        popularity=0.1,
        user_knn=0.1,
    )

    checks = quality_checks(summary, 10, BASELINES)

    assert [check.passed for check in checks] == [False, False, False]
    assert all(check.ranker is None for check in checks)


def test_missing_peers_fail_peer_check() -> None:
    summary = summary_of(lightgbm_ranker=0.4, popularity=0.1, user_knn=0.2)

    peer, baseline, popularity = quality_checks(summary, 10, BASELINES)

    assert not peer.passed
    assert peer.reference is None
    assert baseline.passed
    assert popularity.passed


def test_nan_peer_left_out() -> None:
    summary = summary_of(
        lightgbm_ranker=0.4,
        lightfm=math.nan,
        lightfm_hybrid=0.3,
        popularity=0.1,
        user_knn=0.2,
    )

    peer = quality_checks(summary, 10, BASELINES)[0]

    assert peer.reference == "lightfm_hybrid"
    assert peer.passed


def test_merge_rejects_other_splits() -> None:
    current = {"splits": [{"seed": 0}, {"seed": 1}], "data_fingerprint": "a"}
    previous = {"splits": [{"seed": 1}, {"seed": 2}], "data_fingerprint": "a"}

    with pytest.raises(ValueError, match="different splits"):
        merge_reports(current, previous, BASELINES)


def test_missing_store_exits_2(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    code = main(["--var-dir", str(tmp_path), "--splits", "1"])

    assert code == 2
    assert "store not found" in caplog.text
    assert not (tmp_path / "bench").exists()


def test_merge_rejects_other_split_kind() -> None:
    current = {"splits": [{"seed": 0}], "data_fingerprint": "a", "split_kind": "random"}
    previous = {
        "splits": [{"seed": 0}],
        "data_fingerprint": "a",
        "split_kind": "temporal",
    }

    with pytest.raises(ValueError, match="different splits"):
        merge_reports(current, previous, BASELINES)


def test_splits_described_by_kind() -> None:
    settings = {"n_splits": 2, "test_fraction": 0.2, "seed": 0}
    temporal = {
        "settings": settings,
        "split_kind": "temporal",
        "split_seeds": [0, 1],
        "splits": [
            {"test_from": "2024-04-22T00:00:00"},
            {"test_from": "2024-04-15T00:00:00"},
        ],
        "ranker": {"cutoffs": {"horizon_days": 7}},
    }
    random = {**temporal, "split_kind": "random"}

    windows = describe_splits(temporal)
    shuffled = describe_splits(random)

    assert "2 test windows of 7 days starting 2024-04-22, 2024-04-15" in windows
    assert "random" not in windows
    assert "2 random 80%/20% splits of the orders, seeds [0, 1]" in shuffled


def test_one_split_described_without_spread() -> None:
    temporal = {
        "settings": {"n_splits": 1, "test_fraction": 0.2, "seed": 0},
        "split_kind": "temporal",
        "split_seeds": [3],
        "splits": [{"test_from": "2024-04-22T00:00:00"}],
        "ranker": {"cutoffs": {"horizon_days": 7}},
    }
    random = {**temporal, "split_kind": "random"}

    window = describe_splits(temporal)
    shuffled = describe_splits(random)

    assert window == (
        "Values of one test window of 7 days starting 2024-04-22, each model "
        "trained on the orders before it."
    )
    assert shuffled == "Values of one random 80%/20% split of the orders, seed 3."


def test_negative_seed_named(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["--seed", "-1"])

    assert stopped.value.code == 2
    assert (
        "argument --seed: expected an integer of at least 0, got -1"
        in capsys.readouterr().err
    )


@pytest.fixture(scope="module")
def synthetic_var_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A var folder with a small synthetic store and its Feast features."""
    var_dir = tmp_path_factory.mktemp("quality_var")
    world = ["--users", "100", "--restaurants", "60", "--days", "45"]
    base = ["--var-dir", str(var_dir)]
    assert recommender([*base, "data", "--source", "synthetic", *world]) == 0
    assert recommender([*base, "features"]) == 0
    return var_dir


@pytest.mark.slow
def test_bench_writes_both_files(synthetic_var_dir: Path) -> None:
    code = main(["--var-dir", str(synthetic_var_dir), "--splits", "2", "--report-only"])

    assert code == 0
    report = json.loads(
        (synthetic_var_dir / "bench" / "quality_bench.json").read_text()
    )
    markdown = (synthetic_var_dir / "bench" / "quality_bench.md").read_text()
    models = ["lightgbm_ranker", "ranker_v1", "lightfm", "lightfm_hybrid"]
    assert list(report["summary"])[:4] == models
    assert "popularity" in report["summary"]
    assert report["split_seeds"] == [0, 1]
    # The synthetic orders have times, so the splits are weekly test windows.
    assert report["split_kind"] == "temporal"
    assert "test windows of 7 days" in markdown
    assert "random" not in markdown
    assert [split["seed"] for split in report["splits"]] == [0, 1]
    assert report["ranker"]["feature_service"] == "ranker_v2"
    assert report["previous_ranker"]["feature_service"] == "ranker_v1"
    assert report["settings"]["previous_service"] == "ranker_v1"
    assert report["machine"]["packages"]["lightfm-next"] is not None
    assert report["command"].endswith(
        f"bench/quality_bench.py --var-dir {synthetic_var_dir} --splits 2 --report-only"
    )
    for name in report["summary"]:
        spread = report["summary"][name]["ndcg@10"]["std"]
        assert spread is not None, name
        assert f"| {name} | " in markdown
    assert len(report["checks"]) == 3
    for check in report["checks"]:
        assert check["passed"] == (check["ranker"] >= check["bound"])
        assert check["name"] in markdown
