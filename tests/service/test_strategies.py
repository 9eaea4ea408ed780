"""Filters and content scores of the service on hand-made restaurants."""

from __future__ import annotations

import math
import warnings

import numpy as np
import polars as pl
import pytest

from features.schema import RESTAURANT_ID
from service.strategies import (
    Filters,
    Preferences,
    place_new_restaurants,
    similarity_scores,
)


def restaurants() -> pl.DataFrame:
    return pl.DataFrame(
        {
            RESTAURANT_ID: ["a", "b", "c", "d"],
            "restaurant_city": ["Madrid", "madrid", "Porto", "Madrid"],
            "restaurant_cuisines": [["Pizza"], ["Steak", "Grill"], ["pizza"], None],
            "restaurant_has_vegetarian_options": [1, 0, 1, None],
            "restaurant_price_level": [2, 3, 2, 1],
            "restaurant_vegetarian_item_share": [0.5, 0.0, 0.5, None],
            "restaurant_latitude": [40.0, 40.0, 41.0, 40.0],
            "restaurant_longitude": [-3.0, -3.0, -8.0, -3.0],
        }
    )


def test_city_filter_ignores_case() -> None:
    kept = Filters(city="MADRID").apply(restaurants())

    assert kept[RESTAURANT_ID].to_list() == ["a", "b", "d"]


def test_vegetarian_filter_keeps_known_options_only() -> None:
    kept = Filters(diet="vegetarian").apply(restaurants())

    # b has none; d's menu is unknown, so nothing shows it has one.
    assert kept[RESTAURANT_ID].to_list() == ["a", "c"]


def test_excluded_cuisines_match_any_tag_in_any_case() -> None:
    kept = Filters(exclude_cuisines=("PIZZA", "grill")).apply(restaurants())

    # d has no cuisine tags, so nothing excludes it.
    assert kept[RESTAURANT_ID].to_list() == ["d"]


def test_new_restaurant_takes_the_score_below_its_content_match() -> None:
    ranker = np.array([3.0, 1.0, 2.0, 0.0])
    content = np.array([0.9, 0.1, 0.5, 0.6])
    is_new = np.array([False, False, False, True])

    placed = place_new_restaurants(ranker, content, is_new)

    # Established content scores sorted: 0.1 (b), 0.5 (c), 0.9 (a). The new
    # restaurant's 0.6 sits above c's 0.5, so it takes c's 2.0, just below.
    assert placed[:3].tolist() == [3.0, 1.0, 2.0]
    assert placed[3] == pytest.approx(2.0 - 1e-9)
    assert placed[3] < placed[2]


def test_new_restaurant_below_every_content_score_takes_the_lowest() -> None:
    placed = place_new_restaurants(
        np.array([3.0, 1.0, 0.0]), np.array([0.9, 0.5, 0.1]), np.array([0, 0, 1], bool)
    )

    assert placed[2] == pytest.approx(1.0 - 1e-9)


def test_similarity_adds_cuisine_city_price_share_and_nearness() -> None:
    frame = restaurants()
    anchor = frame.row(0, named=True)

    scores = similarity_scores(anchor, frame)

    # a itself: Jaccard 1 (3) + same city (1) + same price (0.5) + same share
    # (0.5) + 0 km (1) = 6.
    assert scores[0] == pytest.approx(6.0)
    # b: no shared cuisine, "madrid" differs from "Madrid" (0), price one step
    # off (0.25), share gap 0.5 (0.25), 0 km (1) = 1.5.
    assert scores[1] == pytest.approx(1.5)
    # c: "pizza" differs from "Pizza", so Jaccard 0.
    far = (
        2
        * 6371.0
        * math.asin(
            math.sqrt(
                math.sin(math.radians(1.0) / 2) ** 2
                + math.cos(math.radians(40.0))
                * math.cos(math.radians(41.0))
                * math.sin(math.radians(-5.0) / 2) ** 2
            )
        )
    )
    assert scores[2] == pytest.approx(0.5 + 0.5 + 1.0 / (1.0 + far / 2.0))


def test_similarity_of_anchor_without_city() -> None:
    frame = restaurants()
    anchor = {**frame.row(0, named=True), "restaurant_city": None}

    # polars warns on a comparison with None, on stderr beside the JSON logs.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        scores = similarity_scores(anchor, frame)

    # a itself without the same city term: 3 + 0.5 + 0.5 + 1 = 5.
    assert scores[0] == pytest.approx(5.0)
    # d: no cuisines, price one step off (0.25), no share (0), 0 km (1).
    assert scores[3] == pytest.approx(1.25)


def test_preferences_row_declares_diet_and_budget() -> None:
    row = Preferences(
        latitude=40.0, longitude=-3.0, diet="vegetarian", budget="high"
    ).user_row()

    assert row.height == 1
    assert row["user_vegetarian_order_ratio"][0] == 1.0
    assert row["user_budget_level"][0] == 3
    assert row["user_city"][0] is None
