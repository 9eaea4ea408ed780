"""The LightFM peer of the quality benchmark, on hand-made stores.

The stores are small enough that the preferred restaurant is plain from the
orders alone, or from the cuisines alone for restaurants without orders.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from peers import LightFMPeer, restaurant_attributes

from features.transforms import StoreFrames

SEEDS = [0, 1, 2]


def make_frames(
    orders: list[tuple[str, str]],
    restaurants: pl.DataFrame,
    ratings: list[float] | None = None,
    menu_items: pl.DataFrame | None = None,
) -> StoreFrames:
    """A store with the given (user, restaurant) orders, without order times.

    Every order is rated 2 unless ``ratings`` gives the ratings.
    """
    user_ids = sorted({user_id for user_id, _ in orders})
    users = pl.DataFrame(
        {"user_id": user_ids, "city": ["Alpha"] * len(user_ids)},
    ).with_columns(
        pl.lit(None, pl.Datetime("us")).alias("signup_time"),
        pl.lit(None, pl.Float64).alias("latitude"),
        pl.lit(None, pl.Float64).alias("longitude"),
        pl.lit(None, pl.String).alias("diet"),
        pl.lit(None, pl.List(pl.String)).alias("liked_cuisines"),
        pl.lit(None, pl.String).alias("budget"),
        pl.lit(None, pl.String).alias("age_band"),
    )
    order_frame = pl.DataFrame(
        {
            "order_id": [f"o{i}" for i in range(len(orders))],
            "user_id": [user_id for user_id, _ in orders],
            "restaurant_id": [restaurant_id for _, restaurant_id in orders],
            "ordered_at": [None] * len(orders),
            "total": [None] * len(orders),
            "rating": ratings if ratings is not None else [2.0] * len(orders),
        },
        schema={
            "order_id": pl.String,
            "user_id": pl.String,
            "restaurant_id": pl.String,
            "ordered_at": pl.Datetime("us"),
            "total": pl.Float64,
            "rating": pl.Float64,
        },
    )
    return StoreFrames.from_store_tables(
        users=users,
        restaurants=restaurants,
        menu_items=menu_items
        if menu_items is not None
        else menu_items_frame([], [], []),
        orders=order_frame,
        order_items=empty_order_items(),
    )


def empty_order_items() -> pl.DataFrame:
    return pl.DataFrame(
        schema={"order_id": pl.String, "menu_item_id": pl.String, "quantity": pl.Int32}
    )


def catalogue(cuisines: dict[str, list[str]]) -> pl.DataFrame:
    """Restaurants with the given cuisines, all in Alpha at price level 2."""
    return restaurants_frame(
        list(cuisines),
        list(cuisines.values()),
        price_levels=[2] * len(cuisines),
        cities=["Alpha"] * len(cuisines),
        chains=[False] * len(cuisines),
    )


def restaurants_frame(
    restaurant_ids: list[str],
    cuisines: list[list[str]],
    price_levels: list[int | None],
    cities: list[str | None],
    chains: list[bool | None],
) -> pl.DataFrame:
    count = len(restaurant_ids)
    return pl.DataFrame(
        {
            "restaurant_id": restaurant_ids,
            "name": [f"Restaurant {rid}" for rid in restaurant_ids],
            "city": cities,
            "latitude": [22.0] * count,
            "longitude": [-101.0] * count,
            "cuisines": cuisines,
            "price_level": price_levels,
            "is_chain": chains,
            "opened_at": [None] * count,
        },
        schema={
            "restaurant_id": pl.String,
            "name": pl.String,
            "city": pl.String,
            "latitude": pl.Float64,
            "longitude": pl.Float64,
            "cuisines": pl.List(pl.String),
            "price_level": pl.Int8,
            "is_chain": pl.Boolean,
            "opened_at": pl.Datetime("us"),
        },
    )


def menu_items_frame(
    restaurant_ids: list[str], prices: list[float], vegetarian: list[bool]
) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "menu_item_id": [f"m{i}" for i in range(len(restaurant_ids))],
            "restaurant_id": restaurant_ids,
            "name": [f"Dish {i}" for i in range(len(restaurant_ids))],
            "description": [None] * len(restaurant_ids),
            "price": prices,
            "is_vegetarian": vegetarian,
        },
        schema={
            "menu_item_id": pl.String,
            "restaurant_id": pl.String,
            "name": pl.String,
            "description": pl.String,
            "price": pl.Float64,
            "is_vegetarian": pl.Boolean,
        },
    )


def candidates(user_id: str, restaurant_ids: list[str]) -> pl.DataFrame:
    return pl.DataFrame(
        {"user_id": [user_id] * len(restaurant_ids), "restaurant_id": restaurant_ids}
    )


def co_ordered_store() -> StoreFrames:
    """Build a store where five users order r1 and r2 together. Seven others
    order r3, the most ordered restaurant, with r5, and one orders r4. The
    user q ordered r2."""
    orders = [(f"a{i}", rid) for i in range(5) for rid in ("r1", "r2")]
    orders += [(f"b{i}", rid) for i in range(7) for rid in ("r3", "r5")]
    orders += [("c0", "r4"), ("q", "r2")]
    cuisines = {rid: ["mexican"] for rid in ("r1", "r2", "r3", "r4", "r5")}
    return make_frames(orders, catalogue(cuisines))


def cuisine_store() -> StoreFrames:
    """Build a store where four users order the three Mexican places and four
    others the three Japanese ones. n_mex (Mexican) and n_jap (Japanese) have
    no orders."""
    orders = [(f"m{i}", rid) for i in range(4) for rid in ("r1", "r2", "r3")]
    orders += [(f"j{i}", rid) for i in range(4) for rid in ("r4", "r5", "r6")]
    cuisines = {
        **{rid: ["mexican"] for rid in ("r1", "r2", "r3", "n_mex")},
        **{rid: ["japanese"] for rid in ("r4", "r5", "r6", "n_jap")},
    }
    return make_frames(orders, catalogue(cuisines))


@pytest.mark.parametrize("seed", SEEDS, ids=lambda seed: f"seed{seed}")
def test_pure_ranks_co_ordered_first(seed: int) -> None:
    peer = LightFMPeer("lightfm", hybrid=False, seed=seed)
    peer.fit(co_ordered_store())

    scores = peer.score(candidates("q", ["r1", "r3", "r4"]))

    assert scores.shape == (3,)
    assert scores.dtype == np.float64
    assert int(np.argmax(scores)) == 0


@pytest.mark.parametrize("seed", SEEDS, ids=lambda seed: f"seed{seed}")
def test_hybrid_ranks_shared_cuisine_first(seed: int) -> None:
    peer = LightFMPeer("lightfm_hybrid", hybrid=True, seed=seed)
    peer.fit(cuisine_store())

    mexican_fan = peer.score(candidates("m0", ["n_mex", "n_jap"]))
    japanese_fan = peer.score(candidates("j0", ["n_mex", "n_jap"]))

    assert mexican_fan[0] > mexican_fan[1]
    assert japanese_fan[1] > japanese_fan[0]


def test_pure_scores_new_restaurants_alike() -> None:
    # Without orders a restaurant has no identity feature, so the pure model
    # gives each of them the user's bias.
    peer = LightFMPeer("lightfm", hybrid=False)
    peer.fit(cuisine_store())

    scores = peer.score(candidates("m0", ["n_mex", "n_jap", "absent"]))

    assert scores[0] == scores[1]
    assert scores[0] == scores[2]


def test_unknown_user_and_restaurant_score_zero() -> None:
    peer = LightFMPeer("lightfm", hybrid=False)
    peer.fit(co_ordered_store())

    scores = peer.score(candidates("nobody", ["absent"]))

    assert scores.tolist() == [0.0]


def test_unknown_user_ranks_by_restaurant() -> None:
    # An unknown user's scores are the restaurants' biases, which differ
    # between restaurants but not with the user's id.
    peer = LightFMPeer("lightfm", hybrid=False)
    peer.fit(co_ordered_store())

    first = peer.score(candidates("nobody", ["r1", "r3", "r4"]))
    second = peer.score(candidates("someone else", ["r1", "r3", "r4"]))

    assert np.array_equal(first, second)
    assert len(set(first.tolist())) == 3


@pytest.mark.parametrize("hybrid", [False, True], ids=["pure", "hybrid"])
def test_same_seed_same_scores(hybrid: bool) -> None:
    rows = candidates("m0", ["r1", "r4", "n_mex", "n_jap"])
    runs = []
    for _ in range(2):
        peer = LightFMPeer("lightfm", hybrid=hybrid, seed=3)
        peer.fit(cuisine_store())
        runs.append(peer.score(rows))

    assert np.array_equal(runs[0], runs[1])


def test_min_rating_drops_low_ratings() -> None:
    # Rated 0, the five r1 orders are no interactions. So r1 is unknown and
    # scores like the absent restaurant.
    orders = [(f"a{i}", rid) for i in range(5) for rid in ("r1", "r2")]
    ratings = [0.0 if rid == "r1" else 2.0 for _, rid in orders]
    peer = LightFMPeer("lightfm", hybrid=False, min_rating=1.0)
    peer.fit(make_frames(orders, catalogue({"r1": [], "r2": []}), ratings))

    scores = peer.score(candidates("a0", ["r1", "absent"]))

    assert scores[0] == scores[1]


def test_min_rating_above_all_raises() -> None:
    peer = LightFMPeer("lightfm", hybrid=False, min_rating=3.0)

    with pytest.raises(ValueError, match="no relevant training orders"):
        peer.fit(co_ordered_store())


def test_score_before_fit_raises() -> None:
    peer = LightFMPeer("lightfm", hybrid=False)

    with pytest.raises(RuntimeError, match="call fit before score"):
        peer.score(candidates("q", ["r1"]))


@pytest.mark.parametrize(
    ("components", "epochs"), [(0, 30), (16, 0)], ids=["components", "epochs"]
)
def test_invalid_size_raises(components: int, epochs: int) -> None:
    with pytest.raises(ValueError, match="must be at least 1"):
        LightFMPeer("lightfm", hybrid=False, components=components, epochs=epochs)


def test_restaurant_attributes_hand_computed() -> None:
    restaurants = restaurants_frame(
        ["r1", "r2", "r3", "r4"],
        [["mexican", "vegetarian"], ["pizza"], [], []],
        price_levels=[1, None, 3, None],
        cities=["Alpha", None, "Beta", None],
        chains=[False, True, False, None],
    )
    # r2 has one vegetarian item of four, and r3 two items, none vegetarian.
    menu = menu_items_frame(
        ["r2", "r2", "r2", "r2", "r3", "r3"],
        [8.0, 9.0, 10.0, 4.0, 12.0, 3.0],
        [False, False, False, True, False, False],
    )
    frames = make_frames([("u", "r1")], restaurants, menu_items=menu)

    attributes = restaurant_attributes(frames)

    assert attributes["r1"] == {
        "cuisine:mexican": 1.0,
        "cuisine:vegetarian": 1.0,
        "price_level:1": 1.0,
        "city:Alpha": 1.0,
        "vegetarian_options:yes": 1.0,
    }
    assert attributes["r2"] == {
        "cuisine:pizza": 1.0,
        "chain": 1.0,
        "vegetarian_options:yes": 1.0,
        "vegetarian_item_share": 0.25,
    }
    assert attributes["r3"] == {
        "price_level:3": 1.0,
        "city:Beta": 1.0,
        "vegetarian_options:no": 1.0,
    }
    assert attributes["r4"] == {}
