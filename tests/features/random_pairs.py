"""Random users and restaurants with every case that changes a pair feature.

These are null coordinates, cities, lists and list elements, empty lists,
duplicate cuisines and visits, visits and neighbours outside the table,
neighbour lists whose lengths differ, and cities and cuisines that no
restaurant has.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from features.pairs import PAIR_INPUTS
from features.schema import RESTAURANT_ID, USER_ID

USER_SCHEMA: dict[str, pl.DataType] = {
    USER_ID: pl.String(),
    **{name: dtype for name, dtype in PAIR_INPUTS.items() if name.startswith("user_")},
}
RESTAURANT_SCHEMA: dict[str, pl.DataType] = {
    RESTAURANT_ID: pl.String(),
    **{
        name: dtype
        for name, dtype in PAIR_INPUTS.items()
        if name.startswith("restaurant_")
    },
}
CITIES = ["Alpha", "Beta", "Gamma"]
CUISINES = ["italian", "mexican", "cafe", "thai", "pizza", "sushi"]
FACTORS = 4
RESTAURANTS = 60
USERS = 300


def _maybe(rng: np.random.Generator, value: Any, null_share: float = 0.1) -> Any:
    return None if rng.random() < null_share else value


def _cuisine_list(rng: np.random.Generator, pool: list[str]) -> list[str | None]:
    listed: list[str | None] = [
        str(c) for c in rng.choice(pool, size=rng.integers(0, 4))
    ]
    if rng.random() < 0.05:
        listed.append(None)
    return listed


def _floats(rng: np.random.Generator, count: int) -> list[float]:
    return [float(x) for x in rng.normal(size=count)]


def random_restaurant(rng: np.random.Generator, index: int, ids: list[str]) -> dict:
    neighbours = [str(n) for n in rng.choice([*ids, "gone-1", "gone-2"], size=5)]
    similarities: list[float | None] = [float(x) for x in rng.random(5)]
    if rng.random() < 0.1:
        similarities[0] = None
    if rng.random() < 0.1:
        similarities = similarities[:3]
    return {
        RESTAURANT_ID: ids[index],
        "restaurant_latitude": _maybe(rng, float(rng.uniform(-60, 60))),
        "restaurant_longitude": _maybe(rng, float(rng.uniform(-180, 180))),
        "restaurant_city": _maybe(rng, str(rng.choice(CITIES))),
        "restaurant_price_level": _maybe(rng, int(rng.integers(1, 4))),
        "restaurant_cuisines": _maybe(rng, _cuisine_list(rng, CUISINES)),
        "restaurant_vegetarian_item_share": _maybe(rng, float(rng.random())),
        "restaurant_has_vegetarian_options": _maybe(rng, int(rng.integers(0, 2))),
        "restaurant_taste_factors": _maybe(rng, _floats(rng, FACTORS)),
        "restaurant_neighbour_ids": _maybe(rng, neighbours),
        "restaurant_neighbour_similarities": _maybe(rng, similarities),
    }


def random_user(rng: np.random.Generator, index: int, ids: list[str]) -> dict[str, Any]:
    visited = [str(v) for v in rng.choice([*ids, "gone-1"], size=rng.integers(0, 12))]
    if rng.random() < 0.1:
        visited.append(None)  # type: ignore[arg-type]
    names = [str(c) for c in rng.choice([*CUISINES, "ramen"], size=rng.integers(0, 5))]
    shares: list[float | None] = [float(x) for x in rng.random(len(names))]
    if names and rng.random() < 0.1:
        shares[0] = None
    has_history = rng.random() > 0.1
    return {
        USER_ID: f"u{index}",
        "user_latitude": _maybe(rng, float(rng.uniform(-60, 60)), 0.3),
        "user_longitude": _maybe(rng, float(rng.uniform(-180, 180)), 0.1),
        "user_city": _maybe(rng, str(rng.choice([*CITIES, "Delta"]))),
        "user_budget_level": _maybe(rng, int(rng.integers(1, 4))),
        "user_liked_cuisines": _maybe(rng, _cuisine_list(rng, [*CUISINES, "ramen"])),
        "user_visited_restaurant_ids": visited if has_history else None,
        "user_history_latitude": _maybe(rng, float(rng.uniform(-60, 60))),
        "user_history_longitude": _maybe(rng, float(rng.uniform(-180, 180))),
        "user_cuisine_names": names if has_history else None,
        "user_cuisine_shares": shares if has_history else None,
        "user_vegetarian_order_ratio": _maybe(rng, float(rng.random())),
        "user_taste_factors": _maybe(rng, _floats(rng, FACTORS)),
    }


def random_restaurants(seed: int) -> pl.DataFrame:
    """RESTAURANTS random restaurants, ids r000 upwards."""
    rng = np.random.default_rng(seed)
    ids = [f"r{index:03d}" for index in range(RESTAURANTS)]
    rows = [random_restaurant(rng, index, ids) for index in range(RESTAURANTS)]
    return pl.DataFrame(rows, schema=RESTAURANT_SCHEMA)


def random_users(seed: int, restaurants: pl.DataFrame) -> list[dict[str, Any]]:
    """USERS random users whose visits are among ``restaurants``."""
    rng = np.random.default_rng(seed)
    ids = restaurants[RESTAURANT_ID].to_list()
    return [random_user(rng, index, ids) for index in range(USERS)]
