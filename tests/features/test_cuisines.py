"""Tests of the one spelling the store keeps for each cuisine."""

from __future__ import annotations

import polars as pl
import pytest

from features.cuisines import cuisine_key, normalize_cuisine

SPELLINGS = [
    pytest.param("Cafe-Coffee_Shop", "cafe_coffee_shop", id="hyphen"),
    pytest.param("Latin American", "latin_american", id="space"),
    pytest.param("  Mexican ", "mexican", id="padded"),
    pytest.param("Fast_Food", "fast_food", id="underscore"),
    pytest.param("fast \t- food", "fast_food", id="mixed-separators"),
    pytest.param("Crêperie", "crêperie", id="accent"),
    pytest.param("Fast _ Food", "fast_food", id="underscore-between-spaces"),
    pytest.param(" - pizza - ", "pizza", id="hyphens-at-ends"),
    pytest.param("  -  ", "", id="only-separators"),
]


@pytest.mark.parametrize(("raw", "expected"), SPELLINGS)
def test_normalize_cuisine(raw: str, expected: str) -> None:
    frame = pl.DataFrame({"cuisine": [raw]})

    result = frame.select(normalize_cuisine(pl.col("cuisine")))

    assert result["cuisine"].to_list() == [expected]


@pytest.mark.parametrize(("raw", "expected"), SPELLINGS)
def test_cuisine_key(raw: str, expected: str) -> None:
    assert cuisine_key(raw) == expected
