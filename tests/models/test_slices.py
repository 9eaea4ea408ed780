"""Slice finding with SliceLine, on hand-built users with planted error groups."""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterable, Sequence
from datetime import date

import polars as pl
import pytest

from models.slices import Slice, find_slices

HIGH = 0.9
LOW = 0.1


def grid_users() -> pl.DataFrame:
    """Return 400 users: 50 for each city x budget x has_promo combination."""
    rows = [
        (city, budget, promo)
        for city, budget, promo in itertools.product(
            ["A", "B"], ["high", "low"], [False, True]
        )
        for _ in range(50)
    ]
    return pl.DataFrame(
        {
            "user_id": [f"u{i}" for i in range(len(rows))],
            "city": [row[0] for row in rows],
            "budget": [row[1] for row in rows],
            "has_promo": [row[2] for row in rows],
        }
    )


def planted_errors(mask: Iterable[bool]) -> list[float]:
    """Return HIGH for the users in ``mask`` and LOW for the others."""
    return [HIGH if inside else LOW for inside in mask]


def single_column(name: str, values: Sequence[object]) -> pl.DataFrame:
    return pl.DataFrame(
        {"user_id": [f"u{i}" for i in range(len(values))]}
    ).with_columns(pl.Series(name, values))


def test_planted_conjunction_is_top_slice() -> None:
    users = grid_users()
    planted = (users["city"] == "B") & (users["budget"] == "low")
    top = find_slices(users, planted_errors(planted))[0]

    assert top.description == "city = B and budget = low"
    assert top.conditions == {"city": "B", "budget": "low"}
    # 2 promo values x 50 users.
    assert top.size == 100
    assert top.error == pytest.approx(0.9)
    # (100 x 0.9 + 300 x 0.1) / 400 = 120 / 400
    assert top.overall_error == pytest.approx(0.3)
    # 0.95 x (0.9 / 0.3 - 1) - 0.05 x (400 / 100 - 1) = 1.9 - 0.15
    assert top.score == pytest.approx(1.75)


def test_slices_follow_sliceline_ranking() -> None:
    users = grid_users()
    planted = (users["city"] == "B") & (users["budget"] == "low")
    slices = find_slices(users, pl.Series(planted_errors(planted)), k=5)

    # city = B alone: 200 users, error (100 x 0.9 + 100 x 0.1) / 200 = 0.5, score
    # 0.95 x (0.5 / 0.3 - 1) - 0.05 x (400 / 200 - 1) = 0.6333 - 0.05 = 0.5833.
    # budget = low is the same by symmetry.
    assert {s.description for s in slices[1:3]} == {"city = B", "budget = low"}
    for single in slices[1:3]:
        assert single.size == 200
        assert single.error == pytest.approx(0.5)
        assert single.score == pytest.approx(0.95 * (0.5 / 0.3 - 1) - 0.05)

    # city = B or budget = low with one has_promo value: 100 users, error 0.5,
    # score 0.6333 - 0.05 x 3 = 0.4833. Four slices tie, and the list stops at k.
    assert len(slices) == 5
    assert slices[3].size == 100
    assert slices[3].error == pytest.approx(0.5)
    assert slices[3].score == pytest.approx(0.95 * (0.5 / 0.3 - 1) - 0.15)
    assert slices[4].score == pytest.approx(slices[3].score)
    assert "has_promo" in slices[4].conditions

    scores = [s.score for s in slices]
    assert scores == sorted(scores, reverse=True)


def test_boolean_values_read_true_and_false() -> None:
    users = grid_users()
    planted = users["has_promo"] & (users["city"] == "A")
    top = find_slices(users, planted_errors(planted))[0]

    assert top.description == "city = A and has_promo = true"
    assert top.conditions == {"city": "A", "has_promo": "true"}
    assert top.size == 100


# Values 0..99, four users each: 400 users. Polars' "lower" quantiles take the
# value at sorted index floor(q x 399): 99, 199 and 299, which hold 24, 49 and 74.
@pytest.mark.parametrize(
    ("low", "high", "label", "description"),
    [
        (0, 24, "< 24", "orders_before < 24"),
        (24, 49, "[24, 49)", "orders_before in [24, 49)"),
        (49, 74, "[49, 74)", "orders_before in [49, 74)"),
        (74, 100, ">= 74", "orders_before >= 74"),
    ],
    ids=["first", "second", "third", "last"],
)
def test_integer_bins(low: int, high: int, label: str, description: str) -> None:
    values = [i % 100 for i in range(400)]
    users = single_column("orders_before", values)
    planted = [low <= value < high for value in values]
    top = find_slices(users, planted_errors(planted))[0]

    assert top.conditions == {"orders_before": label}
    assert top.description == description
    # Each value appears four times.
    assert top.size == 4 * (high - low)
    assert top.error == pytest.approx(0.9)


def test_float_bins_cut_at_rounded_edges() -> None:
    # The quantiles are 24/7, 49/7 and 74/7, which round to 3.43, 7 and 10.6.
    values = [(i % 100) / 7 for i in range(400)]
    users = single_column("distance_km", values)
    # 24/7 = 3.4286 < 3.43 <= 25/7 = 3.5714, so the first bin contains j = 0..24.
    planted = [value < 3.43 for value in values]
    top = find_slices(users, planted_errors(planted))[0]

    assert top.conditions == {"distance_km": "< 3.43"}
    # 25 values x 4 users.
    assert top.size == 100


def test_float_bin_labels_between_edges() -> None:
    values = [(i % 100) / 7 for i in range(400)]
    users = single_column("distance_km", values)
    planted = [3.43 <= value < 7 for value in values]
    top = find_slices(users, planted_errors(planted))[0]

    assert top.description == "distance_km in [3.43, 7)"
    # j = 25..48: 24 values x 4 users.
    assert top.size == 96


def test_tied_minimum_edge_at_next_value() -> None:
    # 360 zeros: every quartile is 0, so the only edge is the next value, 1.
    values = [0] * 360 + list(range(1, 41))
    users = single_column("reviews", values)
    planted = [value > 0 for value in values]
    top = find_slices(users, planted_errors(planted))[0]

    assert top.description == "reviews >= 1"
    assert top.size == 40
    # (40 x 0.9 + 360 x 0.1) / 400 = 72 / 400
    assert top.overall_error == pytest.approx(0.18)


def test_edge_rounded_above_maximum_is_dropped() -> None:
    # The 0.75 quantile is 0.9996, which rounds to 1 above the maximum. The
    # next value above the minimum, 0.9996, becomes the only edge.
    values = [0.1] * 200 + [0.9996] * 200
    users = single_column("share", values)
    planted = [value > 0.5 for value in values]
    top = find_slices(users, planted_errors(planted))[0]

    assert top.description == "share >= 0.9996"
    assert top.size == 200


def test_numeric_nulls_and_nan_are_missing() -> None:
    present: list[float | None] = [float(i % 50) for i in range(300)]
    values: list[float | None] = [None] * 50 + [float("nan")] * 50 + present
    users = single_column("mean_rating", values)
    planted = [i < 100 for i in range(400)]
    top = find_slices(users, planted_errors(planted))[0]

    assert top.description == "mean_rating is missing"
    assert top.conditions == {"mean_rating": "missing"}
    # 50 nulls + 50 NaN.
    assert top.size == 100
    assert top.error == pytest.approx(0.9)


def test_string_nulls_are_missing() -> None:
    values = [None] * 80 + ["ios", "android", "web", "ios"] * 80
    users = single_column("device", values)
    planted = [value is None for value in values]
    top = find_slices(users, planted_errors(planted))[0]

    assert top.description == "device is missing"
    assert top.size == 80


def test_numeric_column_of_one_value_and_nulls() -> None:
    values = [None] * 100 + [5] * 300
    users = single_column("visits", values)
    planted = [value == 5 for value in values]
    top = find_slices(users, planted_errors(planted))[0]

    assert top.description == "visits = 5"
    assert top.conditions == {"visits": "5"}
    assert top.size == 300


def test_no_positive_score_gives_empty_list() -> None:
    # Each city has 100 errors of 0.1 and 100 of 0.2, so its mean equals the
    # overall 0.15, and its score is 0.95 x 0 - 0.05 x (400 / 200 - 1) < 0.
    users = single_column("city", ["A"] * 200 + ["B"] * 200)
    errors = [0.1, 0.2] * 200

    assert find_slices(users, errors) == []


@pytest.mark.parametrize(
    ("users", "errors", "reason"),
    [
        (single_column("city", []), [], "there are no users"),
        (single_column("city", ["A", "B"] * 10), [0.0, 1.0] * 10, "fewer than"),
        (single_column("city", ["A", "B"] * 50), [0.4] * 100, "same error"),
        (single_column("city", ["A"] * 100), [0.0, 1.0] * 50, "two distinct"),
    ],
    ids=["empty", "below-min-support", "equal-errors", "constant-column"],
)
def test_degenerate_input_logs_warning(
    users: pl.DataFrame,
    errors: list[float],
    reason: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="models.slices"):
        slices: list[Slice] = find_slices(users, errors)

    assert slices == []
    assert reason in caplog.text


def test_mismatched_lengths_raise() -> None:
    users = single_column("city", ["A", "B", "A", "B"])

    with pytest.raises(ValueError, match="errors has 3 values but attributes has 4"):
        find_slices(users, [0.1, 0.2, 0.3])


@pytest.mark.parametrize(
    ("errors", "message"),
    [
        ([0.1, 1.5, 0.2, 0.3], "1 values outside"),
        ([0.1, -0.2, 0.2, 0.3], "the first is -0.2"),
        (pl.Series([0.1, None, 0.2, 0.3]), "1 null or NaN"),
    ],
    ids=["above-one", "negative", "null"],
)
def test_invalid_errors_raise(errors: object, message: str) -> None:
    users = single_column("city", ["A", "B", "A", "B"])

    with pytest.raises(ValueError, match=message):
        find_slices(users, errors)  # type: ignore[arg-type]


def test_missing_key_raises() -> None:
    users = pl.DataFrame({"id": ["u1", "u2"], "city": ["A", "B"]})

    with pytest.raises(ValueError, match="key column 'user_id' is missing"):
        find_slices(users, [0.1, 0.2])


def test_repeated_key_raises() -> None:
    users = pl.DataFrame({"user_id": ["u1", "u1", "u2"], "city": ["A", "B", "A"]})

    with pytest.raises(ValueError, match="1 repeated values"):
        find_slices(users, [0.1, 0.2, 0.3])


def test_unsupported_column_type_raises() -> None:
    users = single_column("signup", [date(2024, 1 + day % 12, 1) for day in range(40)])

    with pytest.raises(ValueError, match="'signup' has type Date"):
        find_slices(users, [0.1, 0.9] * 20)


@pytest.mark.parametrize(
    ("argument", "value"),
    [("k", 0), ("max_level", 0), ("min_support", 0), ("alpha", 0.0), ("bins", 1)],
)
def test_invalid_argument_raises(argument: str, value: float) -> None:
    users = single_column("city", ["A", "B"] * 20)

    with pytest.raises(ValueError, match=f"{argument}={value} is invalid"):
        find_slices(users, [0.1, 0.9] * 20, **{argument: value})  # type: ignore[arg-type]
