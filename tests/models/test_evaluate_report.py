"""Tests of the evaluation report's summary and table, on hand-made splits."""

from __future__ import annotations

from typing import Any

import pytest

from models.evaluate import format_table, summarize
from models.report_compare import EvaluationReport, compare_reports


def split(
    seed: int, test_from: str | None, ranker: float, popularity: float
) -> dict[str, Any]:
    return {
        "seed": seed,
        "test_from": test_from,
        "candidate_recall": 1.0,
        "models": {
            "lightgbm_ranker": {"ndcg@10": ranker},
            "popularity": {"ndcg@10": popularity},
        },
    }


def report(splits: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    return {
        "settings": {
            "n_splits": len(splits),
            "test_fraction": 0.2,
            "seed": 0,
            "k": 10,
        },
        "split_kind": kind,
        "relevance": "any order",
        "data_fingerprint": "f" * 64,
        "ranker": {
            "feature_service": "ranker_v2",
            "features": ["a", "b"],
            "cutoffs": {"horizon_days": 7},
        },
        "splits": splits,
        "summary": summarize(splits),
        "candidate_recall": 0.75,
    }


def checked(report: dict[str, Any]) -> EvaluationReport:
    return EvaluationReport.model_validate(report)


def test_summary_mean_and_sample_deviation() -> None:
    summary = summarize([split(0, None, 0.4, 0.1), split(1, None, 0.6, 0.3)])

    # Mean 0.5; sample deviation sqrt(((0.1)^2 + (0.1)^2) / 1) = 0.1414.
    assert summary["lightgbm_ranker"]["ndcg@10"]["mean"] == pytest.approx(0.5)
    assert summary["lightgbm_ranker"]["ndcg@10"]["std"] == pytest.approx(0.141421356)
    assert summary["popularity"]["ndcg@10"]["mean"] == pytest.approx(0.2)


def test_summary_single_split_has_no_deviation() -> None:
    summary = summarize([split(0, None, 0.4, 0.1)])

    assert summary["lightgbm_ranker"]["ndcg@10"] == {"mean": 0.4, "std": None}


def test_table_random_splits() -> None:
    table = format_table(
        report([split(0, None, 0.4, 0.1), split(1, None, 0.6, 0.3)], "random")
    )

    assert "| lightgbm_ranker | 0.5000 ± 0.1414 |" in table
    assert "over 2 random 80%/20% splits (seeds 0 to 1)" in table
    assert "Relevant: any order." in table
    assert "Candidate recall: 0.7500" in table


def test_table_temporal_windows() -> None:
    splits = [
        split(0, "2024-04-24T00:00:00+00:00", 0.7, 0.1),
        split(1, "2024-04-17T00:00:00+00:00", 0.5, 0.1),
    ]

    table = format_table(report(splits, "temporal"))

    assert "over 2 test windows of 7 days starting 2024-04-24, 2024-04-17" in table
    assert "| popularity | 0.1000 ± 0.0000 |" in table


def test_table_single_window_no_spread() -> None:
    windows = [split(0, "2024-04-24T00:00:00+00:00", 0.7, 0.1)]

    table = format_table(report(windows, "temporal"))

    assert "| lightgbm_ranker | 0.7000 |" in table
    assert "standard deviation" not in table
    assert (
        "One test window of 7 days starting 2024-04-24; it trains on the orders "
        "before it." in table
    )


def test_compare_reports_changes() -> None:
    before = report([split(0, None, 0.4, 0.1), split(1, None, 0.6, 0.3)], "random")
    after = report([split(0, None, 0.5, 0.1), split(1, None, 0.7, 0.3)], "random")
    after["ranker"] = {**after["ranker"], "features": ["a", "c"]}

    text = compare_reports(checked(before), checked(after))

    assert "| lightgbm_ranker | ndcg@10 | 0.5000 | 0.6000 | +0.1000 |" in text
    assert "features added: c" in text
    assert "features removed: b" in text
    assert "warning" not in text
    assert "models left out" not in text


def test_compare_reports_flags_other_splits() -> None:
    before = report([split(0, None, 0.4, 0.1), split(1, None, 0.6, 0.3)], "random")
    windows = [split(0, "2024-04-24T00:00:00+00:00", 0.7, 0.1)]
    after = report(windows, "temporal")
    after["data_fingerprint"] = "other"
    del after["summary"]["popularity"]

    lines = compare_reports(checked(before), checked(after)).splitlines()

    assert lines[-3:] == [
        "models left out: only before: popularity; only after: none",
        "warning: the reports were evaluated on different orders (data "
        "fingerprints differ), so their metrics are not comparable",
        "warning: the reports used different splits: 2 random before, 1 temporal after",
    ]


def test_compare_reports_flags_other_windows() -> None:
    before = report([split(0, "2024-04-24T00:00:00+00:00", 0.7, 0.1)], "temporal")
    after = report([split(0, "2024-04-17T00:00:00+00:00", 0.7, 0.1)], "temporal")
    after["ranker"] = {**after["ranker"], "cutoffs": {"horizon_days": 14}}

    lines = compare_reports(checked(before), checked(after)).splitlines()

    assert lines[-1] == (
        "warning: the reports held out different orders: test windows of 7 days "
        "starting 2024-04-24 before, test windows of 14 days starting 2024-04-17 "
        "after"
    )


def test_compare_reports_same_windows_no_warning() -> None:
    windows = [
        split(0, "2024-04-24T00:00:00+00:00", 0.7, 0.1),
        split(1, "2024-04-17T00:00:00+00:00", 0.5, 0.1),
    ]

    text = compare_reports(
        checked(report(windows, "temporal")), checked(report(windows, "temporal"))
    )

    assert "warning" not in text
    assert "| lightgbm_ranker | ndcg@10 | 0.6000 | 0.6000 | +0.0000 |" in text
