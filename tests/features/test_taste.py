"""Tests of the taste factors against a matrix whose decomposition is known."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest

from features.schema import RESTAURANT_ID, USER_ID
from features.taste import co_ordered, taste_factors

# Two blocks: a and b ordered from r1 and r2, c and d from r3. The matrix of
# log(1 + orders) has rank 2, so two factors rebuild it exactly.
ORDERS = pl.DataFrame(
    {
        "user_id": ["a", "a", "b", "b", "c", "d", "d"],
        "restaurant_id": ["r1", "r2", "r1", "r2", "r3", "r3", "r3"],
    }
)


def products(users: pl.DataFrame, restaurants: pl.DataFrame) -> np.ndarray:
    left = np.array(users["user_taste_factors"].to_list())
    right = np.array(restaurants["restaurant_taste_factors"].to_list())
    return left @ right.T


def test_factors_rebuild_the_matrix() -> None:
    users, restaurants = taste_factors(ORDERS, rank=2)

    assert users["user_id"].to_list() == ["a", "b", "c", "d"]
    assert restaurants["restaurant_id"].to_list() == ["r1", "r2", "r3"]
    log2, log3 = math.log(2), math.log(3)
    # d ordered twice from r3: log(3). The SVD of the c/d block [log 2, log 3]
    # is exact at rank 1, so each cell comes back.
    expected = [
        [log2, log2, 0.0],
        [log2, log2, 0.0],
        [0.0, 0.0, log2],
        [0.0, 0.0, log3],
    ]
    assert products(users, restaurants) == pytest.approx(np.array(expected), abs=1e-9)


def test_rank_one_keeps_the_strongest_block() -> None:
    users, restaurants = taste_factors(ORDERS, rank=1)

    # The a/b block has singular value 2 log 2 = 1.386, the c/d block
    # sqrt(log(2)^2 + log(3)^2) = 1.299, so rank 1 keeps the a/b block.
    assert products(users, restaurants) == pytest.approx(
        np.array([[math.log(2)] * 2 + [0.0]] * 2 + [[0.0] * 3] * 2), abs=1e-9
    )


def test_same_orders_same_factors() -> None:
    first = taste_factors(ORDERS.sample(fraction=1.0, shuffle=True, seed=1), rank=2)
    second = taste_factors(ORDERS, rank=2)

    assert first[0].equals(second[0])
    assert first[1].equals(second[1])


def test_rank_capped_by_matrix_size() -> None:
    users, _ = taste_factors(ORDERS, rank=16)

    # Three restaurants allow at most two factors.
    assert users["user_taste_factors"].list.len().to_list() == [2, 2, 2, 2]


def test_too_few_orders_give_no_factors() -> None:
    users, restaurants = taste_factors(ORDERS.head(1))

    assert users.height == 0
    assert restaurants.height == 0
    assert users.schema["user_taste_factors"] == pl.List(pl.Float64)


def test_co_ordered_cosine_by_hand() -> None:
    orders = pl.DataFrame(
        {
            "user_id": ["a", "a", "a", "b", "b", "c", "c", "c"],
            "restaurant_id": ["r1", "r2", "r3", "r1", "r2", "r1", "r3", "r3"],
        }
    )

    result = co_ordered(orders)

    # Users: r1 {a, b, c}, r2 {a, b}, r3 {a, c}; repeats count once.
    # r1-r2 and r1-r3: 2 / sqrt(3 * 2); r2-r3: 1 / sqrt(2 * 2).
    both = 2 / math.sqrt(6)
    assert result.select("restaurant_id", "neighbour_id").rows() == [
        ("r1", "r2"),
        ("r1", "r3"),
        ("r2", "r1"),
        ("r2", "r3"),
        ("r3", "r1"),
        ("r3", "r2"),
    ]
    assert result["similarity"].to_list() == pytest.approx(
        [both, both, both, 0.5, both, 0.5]
    )
    assert co_ordered(orders, neighbours=1)["neighbour_id"].to_list() == [
        "r2",
        "r1",
        "r1",
    ]


def test_co_ordered_samples_smallest_hashes() -> None:
    """Over ``max_users``, only the users whose id hashes smallest count."""
    users = [f"u{i}" for i in range(40)]
    orders = pl.DataFrame(
        {
            USER_ID: [u for u in users for _ in range(2)],
            RESTAURANT_ID: [r for i in range(40) for r in (f"r{i % 3}", f"r{i % 5}")],
        }
    )
    smallest = sorted(users, key=lambda u: pl.Series([u]).hash(seed=0)[0])[:10]
    expected = co_ordered(orders.filter(pl.col(USER_ID).is_in(smallest)), max_users=100)

    sampled = co_ordered(orders, max_users=10)

    assert sampled.equals(expected)
    assert not sampled.equals(co_ordered(orders, max_users=100))
