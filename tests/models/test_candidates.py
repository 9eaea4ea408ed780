"""Tests of candidate generation on a hand-made world of seven restaurants."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import polars as pl
import pytest

import models.candidates as candidates_module
from features.schema import RESTAURANT_ID, USER_ID
from features.transforms import Snapshot, StoreFrames
from models.candidates import (
    SOURCE,
    CandidateSettings,
    candidate_recall,
    generate_candidates,
)

RESTAURANTS = pl.DataFrame(
    {
        RESTAURANT_ID: ["r1", "r2", "r3", "r4", "r5", "r6", "r7"],
        "city": ["A", "A", "B", "A", "A", "B", "A"],
        "cuisines": [
            ["mexican"],
            ["pizza"],
            ["thai"],
            ["thai"],
            ["mexican"],
            ["sushi"],
            ["pizza"],
        ],
    }
)
USERS = pl.DataFrame(
    {
        USER_ID: ["u1", "u2", "u3", "u4", "u5"],
        "city": ["A", "B", "A", "B", "B"],
        "liked_cuisines": [["thai"], None, None, None, None],
    },
    schema={
        USER_ID: pl.String,
        "city": pl.String,
        "liked_cuisines": pl.List(pl.String),
    },
)
# Popularity: r1 3 orders; r2, r3 and r6 one each; r4, r5 and r7 none.
ORDERS = pl.DataFrame(
    {
        USER_ID: ["u1", "u2", "u2", "u4", "u4", "u5"],
        RESTAURANT_ID: ["r1", "r1", "r2", "r1", "r3", "r6"],
    }
)
ALL = ["r1", "r2", "r3", "r4", "r5", "r6", "r7"]
SETTINGS = CandidateSettings(total=3, collaborative=2, content=1, local=2, popular=1)


def snapshot() -> Snapshot:
    store = StoreFrames(
        users=USERS, restaurants=RESTAURANTS, menu_items=pl.DataFrame(), orders=ORDERS
    )
    return Snapshot(store=store, orders=ORDERS, cutoff=datetime(2024, 1, 1, tzinfo=UTC))


def as_dict(candidates: pl.DataFrame) -> dict[str, dict[str, str]]:
    result: dict[str, dict[str, str]] = {}
    for row in candidates.iter_rows(named=True):
        result.setdefault(row[USER_ID], {})[row[RESTAURANT_ID]] = row[SOURCE]
    return result


def test_sources_by_hand() -> None:
    candidates = generate_candidates(snapshot(), ["u1", "u2", "u3"], ALL, SETTINGS)

    assert as_dict(candidates) == {
        # History r1; r1 is co-ordered with r2 (by u2) and r3 (by u4).
        "u1": {"r1": "history", "r2": "collaborative", "r3": "collaborative"},
        # History r1 and r2; then r3 co-ordered with r1 fills the third place
        # before content (r5) and the local r6.
        "u2": {"r1": "history", "r2": "history", "r3": "collaborative"},
        # No orders and no declared cuisine: the two most ordered
        # restaurants of city A.
        "u3": {"r1": "local", "r2": "local"},
    }


def test_sorted_by_user_and_restaurant() -> None:
    candidates = generate_candidates(snapshot(), ["u3", "u1"], ALL, SETTINGS)

    assert candidates.columns == [USER_ID, RESTAURANT_ID, SOURCE]
    assert candidates.equals(candidates.sort(USER_ID, RESTAURANT_ID))


def test_content_from_declared_cuisine() -> None:
    # With only the content source open, u1's declared Thai and ordered
    # Mexican propose r3 (Thai, 1 order) first, then r4 and r5 (no orders)
    # by id.
    settings = CandidateSettings(
        total=3, collaborative=1, content=3, local=1, popular=1
    )

    candidates = generate_candidates(snapshot(), ["u1"], ALL, settings)

    assert as_dict(candidates)["u1"] == {
        "r1": "history",
        "r2": "collaborative",
        "r3": "content",
    }
    wider = CandidateSettings(total=5, collaborative=1, content=3, local=1, popular=1)
    assert as_dict(generate_candidates(snapshot(), ["u1"], ALL, wider))["u1"] == {
        "r1": "history",
        "r2": "collaborative",
        "r3": "content",
        "r4": "content",
        "r5": "content",
    }


def test_closed_restaurants_never_proposed() -> None:
    open_now = ["r1", "r2", "r4", "r5", "r6", "r7"]

    candidates = generate_candidates(snapshot(), ["u1", "u2"], open_now, SETTINGS)

    assert "r3" not in candidates[RESTAURANT_ID].to_list()


def test_small_catalogue_every_restaurant() -> None:
    settings = CandidateSettings(total=7)

    candidates = generate_candidates(snapshot(), ["u1", "u3"], ALL, settings)

    assert candidates.height == 14
    assert set(candidates[SOURCE]) == {"all"}


def test_unknown_user_gets_popular() -> None:
    candidates = generate_candidates(snapshot(), ["stranger"], ALL, SETTINGS)

    # No city, no orders: only the most ordered restaurant.
    assert as_dict(candidates) == {"stranger": {"r1": "popular"}}


@pytest.mark.parametrize("name", ["total", "collaborative", "content", "local"])
def test_settings_must_be_positive(name: str) -> None:
    settings = CandidateSettings(**{name: 0})

    with pytest.raises(ValueError, match=f"candidates: {name} must be a positive"):
        generate_candidates(snapshot(), ["u1"], ALL, settings)


def test_candidate_recall_by_hand() -> None:
    candidates = pl.DataFrame(
        {USER_ID: ["u1", "u1", "u2"], RESTAURANT_ID: ["r1", "r2", "r1"]}
    )
    relevant = pl.DataFrame(
        {USER_ID: ["u1", "u1", "u2", "u2"], RESTAURANT_ID: ["r2", "r5", "r1", "r1"]}
    )

    # Distinct relevant pairs (u1, r2), (u1, r5), (u2, r1); two are candidates.
    assert candidate_recall(candidates, relevant) == pytest.approx(2 / 3)
    assert math.isnan(candidate_recall(candidates, relevant.clear()))


def test_co_visitation_counted_over_sampled_users(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    full = generate_candidates(snapshot(), ["u1", "u2", "u3"], ALL, SETTINGS)
    monkeypatch.setattr(candidates_module, "CO_VISIT_USERS", 4)
    all_four = generate_candidates(snapshot(), ["u1", "u2", "u3"], ALL, SETTINGS)
    monkeypatch.setattr(candidates_module, "CO_VISIT_USERS", 0)
    none = generate_candidates(snapshot(), ["u1", "u2", "u3"], ALL, SETTINGS)

    # Four users have orders, so a sample of four is every one of them.
    assert all_four.equals(full)
    assert "collaborative" in full[SOURCE].to_list()
    assert "collaborative" not in none[SOURCE].to_list()
