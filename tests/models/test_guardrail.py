"""The diet guardrail on hand-made rows."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from models.guardrail import DietGuardrail, read_guardrail


def rows() -> pl.DataFrame:
    """Rows 0-1: a declared vegetarian; 2-3: 9 of 10 orders vegetarian; 4-5:
    the same ratio but mostly coffee; 6-7: 2 orders only; 8: a meat eater.
    Even rows are meat-only places, odd rows serve vegetarian dishes; row 8's
    menu is unknown."""
    return pl.DataFrame(
        {
            "user_declared_vegetarian": [1, 1, 0, 0, 0, 0, 0, 0, 0],
            "user_vegetarian_order_ratio": [
                *(None, None, 0.9, 0.9, 0.95, 0.95),
                *(1.0, 1.0, 0.2),
            ],
            "user_diet_order_count": [0, 0, 10, 10, 20, 20, 2, 2, 10],
            "user_coffee_tea_share": [None, None, 0.1, 0.1, 0.8, 0.8, 0.0, 0.0, 0.0],
            "restaurant_has_vegetarian_options": [0, 1, 0, 1, 0, 1, 0, 1, None],
        }
    )


def test_recognises_declared_and_ordering_vegetarians() -> None:
    recognised = DietGuardrail().vegetarian_users(rows())

    expected = [True] * 4 + [False] * 5
    assert recognised.tolist() == expected


def test_demotes_meat_only_rows_below_every_other_row() -> None:
    scores = np.array([5.0, 1.0, 4.0, 2.0, 3.0, 0.5, 6.0, 0.0, -1.0])

    adjusted = DietGuardrail().demote(rows(), scores)

    # Rows 0 and 2 move down by max - min + 1 = 6 - (-1) + 1 = 8.
    assert adjusted.tolist() == [-3.0, 1.0, -4.0, 2.0, 3.0, 0.5, 6.0, 0.0, -1.0]
    others = np.delete(adjusted, [0, 2])
    assert adjusted[[0, 2]].max() < others.min()


def test_no_vegetarian_user_leaves_scores_unchanged() -> None:
    meat_eaters = rows().slice(6, 3)
    scores = np.array([0.3, 0.2, 0.1])

    assert DietGuardrail().demote(meat_eaters, scores) is scores


def test_applies_only_with_the_diet_features() -> None:
    assert DietGuardrail.applies_to(
        [
            "distance_km",
            "user_declared_vegetarian",
            "user_vegetarian_order_ratio",
            "user_diet_order_count",
            "restaurant_has_vegetarian_options",
        ]
    )
    assert not DietGuardrail.applies_to(["distance_km", "user_order_count"])


def test_read_guardrail_checks_keys_and_ranges() -> None:
    assert read_guardrail(None, "ranker.yaml") is None
    assert read_guardrail({"min_diet_orders": 5}, "ranker.yaml") == DietGuardrail(
        min_diet_orders=5
    )
    with pytest.raises(ValueError, match=r"ranker.yaml: 'diet_guardrail' must be"):
        read_guardrail({"ratio": 0.9}, "ranker.yaml")
    with pytest.raises(ValueError, match=r"min_order_ratio must be in \(0, 1\]"):
        read_guardrail({"min_order_ratio": 1.5}, "ranker.yaml")


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            {"min_order_ratio": "90%"},
            "ranker.yaml: diet_guardrail: min_order_ratio must be a number in "
            "(0, 1], got '90%'",
        ),
        (
            {"max_coffee_tea_share": True},
            "ranker.yaml: diet_guardrail: max_coffee_tea_share must be a number "
            "in (0, 1], got True",
        ),
        (
            {"min_diet_orders": 2.5},
            "ranker.yaml: diet_guardrail: min_diet_orders must be a whole number "
            "of at least 1, got 2.5",
        ),
        (
            {"min_diet_orders": True},
            "ranker.yaml: diet_guardrail: min_diet_orders must be a whole number "
            "of at least 1, got True",
        ),
    ],
)
def test_read_guardrail_wrong_types(raw: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError) as raised:
        read_guardrail(raw, "ranker.yaml")

    assert str(raised.value) == message
