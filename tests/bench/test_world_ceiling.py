"""The bounds of bench/world_ceiling.py on small hand-checked cases."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest
from world_ceiling import main
from world_posterior import PosteriorSampler, nearer_of_two

from features.synthetic.orders import REPEAT_SHARE, SLOT_SHARES


def test_nearer_of_two_by_hand() -> None:
    draw = np.array([0.5, 0.3, 0.2])

    # Nearest first: 0.5 * (0.5 + 2 * 0.5), 0.3 * (0.3 + 2 * 0.2), 0.2 * 0.2.
    near_first = nearer_of_two(draw, np.array([1.0, 2.0, 3.0]))
    # Nearest last: 0.5 * 0.5, 0.3 * (0.3 + 2 * 0.5), 0.2 * (0.2 + 2 * 0.8).
    near_last = nearer_of_two(draw, np.array([3.0, 2.0, 1.0]))

    assert near_first == pytest.approx([0.75, 0.21, 0.04])
    assert near_last == pytest.approx([0.25, 0.39, 0.36])


def test_posterior_without_orders_is_prior() -> None:
    explore = np.array([0.1, 0.2, 0.0])
    slot = np.array([0.5, 0.25, 0.25])

    chances = PosteriorSampler(burn_in=1, samples=1, seed=0).chances(explore, slot, {})

    assert chances == pytest.approx(explore + REPEAT_SHARE * slot)


def test_posterior_matches_enumeration() -> None:
    # Four restaurants: every one of the 4**5 favourite lists is enumerated.
    explore = (1 - REPEAT_SHARE) * np.array([0.4, 0.3, 0.2, 0.1])
    slot = np.array([0.1, 0.2, 0.3, 0.4])
    counts = {0: 3, 3: 1}
    shares = REPEAT_SHARE * np.array(SLOT_SHARES) / np.sum(SLOT_SHARES)
    expected = np.zeros(4)
    evidence = 0.0
    for favourites in itertools.product(range(4), repeat=len(shares)):
        chance = explore.copy()
        np.add.at(chance, list(favourites), shares)
        weight = np.prod(slot[list(favourites)]) * np.prod(
            [chance[r] ** times for r, times in counts.items()]
        )
        expected += weight * chance
        evidence += weight
    expected /= evidence

    sampled = PosteriorSampler(burn_in=50, samples=4000, seed=1).chances(
        explore, slot, counts
    )

    assert sampled == pytest.approx(expected, abs=0.01)
    assert sampled.sum() == pytest.approx(1.0)


def test_small_world_records_run(tmp_path: Path) -> None:
    arguments = ["--users", "150", "--restaurants", "60", "--days", "35"]
    arguments += ["--burn-in", "1", "--samples", "2", "--out-dir", str(tmp_path)]

    assert main(arguments) == 0

    result = json.loads((tmp_path / "world_ceiling.json").read_text())
    assert result["machine"]["git_commit"]
    assert result["machine"]["logical_cores"] >= 1
    assert result["started_at"].startswith("20")
    assert result["elapsed_s"] >= 0
    assert result["peak_rss_gb"] > 0
    assert len(result["windows"]) == 5
    assert 0.0 < result["mean_ndcg"] <= 1.0
    assert "Machine: " in (tmp_path / "world_ceiling.md").read_text()


@pytest.mark.parametrize(
    ("option", "value", "expected"),
    [
        ("--samples", "0", "expected an integer of at least 1, got 0"),
        ("--samples", "-3", "expected an integer of at least 1, got -3"),
        ("--burn-in", "-1", "expected an integer of at least 0, got -1"),
        ("--days", "14", "expected an integer of at least 35, got 14"),
        ("--users", "0", "expected an integer of at least 100, got 0"),
    ],
)
def test_bad_option_named(
    option: str, value: str, expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stopped:
        main([option, value])

    assert stopped.value.code == 2
    assert f"argument {option}: {expected}" in capsys.readouterr().err
