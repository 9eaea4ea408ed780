"""Tests of the baselines on small hand-made stores with hand-computed scores.

The collaborative tests share one order matrix, users a to d by restaurants
r1 to r4 (d ordered twice from r4):

    a: r1 r2       b: r1 r2 r3       c: r2 r4       d: r4 r4

A last test fits every default baseline on one split of the bundled UCI
ratings, as the evaluation does, and checks that each beats popularity.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import replace

import implicit.utils
import numpy as np
import polars as pl
import pytest
import scipy.sparse as sp

from features.paths import UCI_DATA_DIR
from features.schema import RESTAURANT_ID, USER_ID
from features.synthetic import WorldConfig, generate_world
from features.transforms import StoreFrames, compute_tables, snapshot_at
from features.uci import load_uci
from models import _sparse_rows, collaborative
from models.baselines import (
    Baseline,
    CityPopularityBaseline,
    ContentBaseline,
    ContentWeights,
    default_baselines,
)
from models.collaborative import (
    AlsBaseline,
    InteractionMatrix,
    ItemKnnBaseline,
    UserKnnBaseline,
)
from models.cutoffs import LabelledSnapshot, serving_cutoff
from models.dataset import labelled_rows, rows_in_memory
from models.metrics import mean_ignoring_nan, ndcg_at_k
from models.ranker import top_k
from models.splits import random_splits

STORE_TABLES = ("users", "restaurants", "menu_items", "orders", "order_items")
MATRIX_ORDERS = [
    ("a", "r1"),
    ("a", "r2"),
    ("b", "r1"),
    ("b", "r2"),
    ("b", "r3"),
    ("c", "r2"),
    ("c", "r4"),
    ("d", "r4"),
    ("d", "r4"),
]


def frames_of(
    orders: list[tuple[str, str]], cities: dict[str, str | None] | None = None
) -> StoreFrames:
    """A store with the given (user, restaurant) orders and user cities."""
    cities = cities or {}
    users = pl.DataFrame(
        {USER_ID: list(cities), "city": list(cities.values())},
        schema={USER_ID: pl.String, "city": pl.String},
    )
    restaurant_ids = sorted({restaurant for _, restaurant in orders})
    return StoreFrames(
        users=users,
        restaurants=pl.DataFrame({RESTAURANT_ID: restaurant_ids}),
        menu_items=pl.DataFrame(),
        orders=pl.DataFrame(
            {
                "order_id": [f"o{index}" for index in range(len(orders))],
                USER_ID: [user for user, _ in orders],
                RESTAURANT_ID: [restaurant for _, restaurant in orders],
            }
        ),
    )


def pairs(user_id: str, restaurant_ids: list[str]) -> pl.DataFrame:
    return pl.DataFrame(
        {USER_ID: [user_id] * len(restaurant_ids), RESTAURANT_ID: restaurant_ids}
    )


def scores_by_restaurant(baseline: Baseline, rows: pl.DataFrame) -> dict[str, float]:
    scores = baseline.score(rows)
    return dict(zip(rows[RESTAURANT_ID].to_list(), scores.tolist(), strict=True))


# ---------------------------------------------------------------------------
# Popularity per city.
# ---------------------------------------------------------------------------

# Users of city A ordered r1 twice and r2 once. Users of city B ordered r3
# twice and r2 once. u4 has no city. Global counts: r1 2, r2 2, r3 2, r4 1,
# out of 7 orders.
CITY_ORDERS = [
    ("u1", "r1"),
    ("u1", "r2"),
    ("u2", "r1"),
    ("u3", "r3"),
    ("u3", "r3"),
    ("u3", "r2"),
    ("u4", "r4"),
]
CITIES: dict[str, str | None] = {
    "u1": "A",
    "u2": "A",
    "u3": "B",
    "u4": None,
    "u5": "C",
}
ALL_RESTAURANTS = ["r1", "r2", "r3", "r4", "r5"]


@pytest.fixture(scope="module")
def city_popularity() -> CityPopularityBaseline:
    baseline = CityPopularityBaseline()
    baseline.fit(frames_of(CITY_ORDERS, CITIES))
    return baseline


def test_city_popularity_counts_own_city(
    city_popularity: CityPopularityBaseline,
) -> None:
    scores = scores_by_restaurant(city_popularity, pairs("u1", ALL_RESTAURANTS))

    # City count plus global count / (7 + 1).
    assert scores["r1"] == pytest.approx(2 + 2 / 8)
    assert scores["r2"] == pytest.approx(1 + 2 / 8)
    assert scores["r3"] == pytest.approx(2 / 8)
    assert scores["r4"] == pytest.approx(1 / 8)
    assert scores["r5"] == 0.0


def test_city_popularity_ties_use_global(
    city_popularity: CityPopularityBaseline,
) -> None:
    rows = pairs("u3", ALL_RESTAURANTS)
    ranked = top_k(rows, city_popularity.score(rows), 5)

    # r1 and r4 have no order from city B; r1 has more orders overall.
    assert ranked["u3"] == ["r3", "r2", "r1", "r4", "r5"]


@pytest.mark.parametrize(
    "user_id",
    [
        pytest.param("u4", id="missing-city"),
        pytest.param("u5", id="city-without-orders"),
        pytest.param("u9", id="unknown-user"),
    ],
)
def test_city_popularity_falls_back_to_global(
    city_popularity: CityPopularityBaseline, user_id: str
) -> None:
    scores = city_popularity.score(pairs(user_id, ALL_RESTAURANTS))

    assert scores.tolist() == [2.0, 2.0, 2.0, 1.0, 0.0]


def test_city_popularity_keeps_row_order(
    city_popularity: CityPopularityBaseline,
) -> None:
    rows = pl.DataFrame(
        {USER_ID: ["u4", "u1", "u3", "u1"], RESTAURANT_ID: ["r4", "r1", "r3", "r5"]}
    )

    scores = city_popularity.score(rows)

    assert scores.tolist() == pytest.approx([1.0, 2.25, 2.25, 0.0])


# ---------------------------------------------------------------------------
# Content.
# ---------------------------------------------------------------------------

CONTENT_ROWS = pl.DataFrame(
    {
        USER_ID: ["u1", "u1", "u1", "u1"],
        RESTAURANT_ID: ["r1", "r2", "r9", "r9"],
        "declared_cuisine_match": [2, None, 0, 0],
        "cuisine_affinity": [0.5, None, 0.0, 0.0],
        "vegetarian_match": [0.4, None, 0.0, 0.0],
        "vegetarian_gap": [0.0, None, 1.0, 1.0],
        "price_budget_gap": [-2, None, 1, 1],
        "distance_km": [2.0, None, 0.0, None],
        "same_city": [1, None, 0, 0],
        "past_orders_here": [0, 3, 0, 0],
    }
)
# r1 has 4 training orders, the largest count, r2 has 2 and r9 none.
CONTENT_ORDERS = [("x", "r1")] * 4 + [("x", "r2")] * 2


def test_content_default_weights() -> None:
    baseline = ContentBaseline()
    baseline.fit(frames_of(CONTENT_ORDERS))

    scores = baseline.score(CONTENT_ROWS)

    # 0.25 * 2 + 0.25 * 0.5 + (0.4 - 0) - 0.25 * 2 + 8 / (1 + 2 / 2) + 1
    # + log1p(0) + 0.25 * 4 / 4
    assert scores[0] == pytest.approx(5.775)
    # Every content feature missing: log1p(3) + 0.25 * 2 / 4.
    assert scores[1] == pytest.approx(math.log(4) + 0.125)
    # 0 km away, no vegetarian options for a vegetarian, one price level off.
    assert scores[2] == pytest.approx(8.0 - 1.0 - 0.25)
    # An unknown distance adds nothing, where 0 km added 8.
    assert scores[3] == pytest.approx(-1.25)


def test_content_custom_weights() -> None:
    weights = ContentWeights(
        declared_cuisine=1.0,
        cuisine_affinity=2.0,
        vegetarian=0.0,
        price=1.0,
        proximity=0.0,
        same_city=0.0,
        past_orders=0.0,
        popularity=0.0,
    )
    baseline = ContentBaseline(weights)
    baseline.fit(frames_of(CONTENT_ORDERS))

    scores = baseline.score(CONTENT_ROWS)

    assert scores.tolist() == pytest.approx([2 + 1 - 2, 0.0, -1.0, -1.0])


def test_content_rejects_bad_scale() -> None:
    with pytest.raises(ValueError, match="proximity_scale_km must be a positive"):
        ContentBaseline(ContentWeights(proximity_scale_km=0.0))


# ---------------------------------------------------------------------------
# Interaction matrix and nearest neighbours.
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def matrix_frames() -> StoreFrames:
    return frames_of(MATRIX_ORDERS)


def test_interaction_matrix_counts_orders(matrix_frames: StoreFrames) -> None:
    matrix = InteractionMatrix.from_orders(matrix_frames.orders)

    assert matrix.user_ids.to_list() == ["a", "b", "c", "d"]
    assert matrix.restaurant_ids.to_list() == ["r1", "r2", "r3", "r4"]
    expected = [
        [1, 1, 0, 0],
        [1, 1, 1, 0],
        [0, 1, 0, 1],
        [0, 0, 0, 2],
    ]
    assert matrix.counts.toarray().tolist() == expected


def test_user_knn_one_neighbour(matrix_frames: StoreFrames) -> None:
    baseline = UserKnnBaseline(neighbours=1)
    baseline.fit(matrix_frames)

    scores = baseline.score(pairs("a", ["r1", "r2", "r3", "r4"]))

    # a's nearest user is b, cosine 2 / sqrt(2 * 3); a's own orders at r1
    # and r2 add 1 each.
    similarity = 2 / math.sqrt(6)
    assert scores.tolist() == pytest.approx(
        [similarity + 1, similarity + 1, similarity, 0.0]
    )


def test_user_knn_two_neighbours(matrix_frames: StoreFrames) -> None:
    baseline = UserKnnBaseline(neighbours=2)
    baseline.fit(matrix_frames)

    scores = baseline.score(pairs("a", ["r1", "r2", "r3", "r4"]))

    # b at 2 / sqrt(6), then c at 1 / (sqrt(2) * sqrt(2)) = 0.5.
    b, c = 2 / math.sqrt(6), 0.5
    assert scores.tolist() == pytest.approx([b + 1, b + c + 1, b, c])


def test_user_knn_weights_order_counts(matrix_frames: StoreFrames) -> None:
    baseline = UserKnnBaseline(neighbours=3)
    baseline.fit(matrix_frames)

    scores = baseline.score(pairs("c", ["r1", "r2", "r3", "r4"]))

    # c = (0, 1, 0, 1) / sqrt(2): a at 1/2, b at 1/sqrt(6), d at 1/sqrt(2);
    # d's two orders at r4 count twice; c's own orders at r2 and r4 add 1.
    a, b, d = 0.5, 1 / math.sqrt(6), 1 / math.sqrt(2)
    assert scores.tolist() == pytest.approx([a + b, a + b + 1, b, 2 * d + 1])


def test_user_knn_tie_keeps_smaller_id() -> None:
    baseline = UserKnnBaseline(neighbours=1)
    baseline.fit(
        frames_of(
            [("u1", "r1"), ("u2", "r1"), ("u2", "r2"), ("u3", "r1"), ("u3", "r3")]
        )
    )

    scores = baseline.score(pairs("u1", ["r2", "r3"]))

    # u2 and u3 are both at cosine 1 / sqrt(2) from u1.
    assert scores.tolist() == pytest.approx([1 / math.sqrt(2), 0.0])


def test_item_knn_one_neighbour(matrix_frames: StoreFrames) -> None:
    baseline = ItemKnnBaseline(neighbours=1)
    baseline.fit(matrix_frames)

    scores = baseline.score(pairs("c", ["r1", "r2", "r3", "r4"]))

    # Nearest restaurants: r1 -> r2, r2 -> r1, r3 -> r1, r4 -> r2; c's own
    # orders at r2 and r4 add 1.
    assert scores.tolist() == pytest.approx(
        [2 / math.sqrt(6), 1.0, 0.0, 1 / math.sqrt(15) + 1]
    )


def test_item_knn_all_neighbours(matrix_frames: StoreFrames) -> None:
    baseline = ItemKnnBaseline(neighbours=3)
    baseline.fit(matrix_frames)

    c_scores = baseline.score(pairs("c", ["r1", "r2", "r3", "r4"]))
    d_scores = baseline.score(pairs("d", ["r1", "r2", "r3", "r4"]))

    # Cosines: r1-r2 2/sqrt(6), r1-r3 1/sqrt(2), r2-r3 1/sqrt(3),
    # r2-r4 1/sqrt(15), r1-r4 and r3-r4 0. A restaurant is not its own
    # neighbour; the user's own orders there add to its score instead.
    r1_r2, r2_r3, r2_r4 = 2 / math.sqrt(6), 1 / math.sqrt(3), 1 / math.sqrt(15)
    assert c_scores.tolist() == pytest.approx([r1_r2, r2_r4 + 1, r2_r3, r2_r4 + 1])
    assert d_scores.tolist() == pytest.approx([0.0, 2 * r2_r4, 0.0, 2.0])


@pytest.mark.parametrize(
    "baseline",
    [
        pytest.param(UserKnnBaseline(), id="user_knn"),
        pytest.param(ItemKnnBaseline(), id="item_knn"),
        pytest.param(AlsBaseline(), id="als"),
    ],
)
def test_collaborative_unknown_scores_zero(
    baseline: UserKnnBaseline | ItemKnnBaseline | AlsBaseline,
    matrix_frames: StoreFrames,
) -> None:
    baseline.fit(matrix_frames)
    rows = pl.DataFrame(
        {USER_ID: ["new", "a", "new"], RESTAURANT_ID: ["r1", "r9", "r9"]}
    )

    assert baseline.score(rows).tolist() == [0.0, 0.0, 0.0]


@pytest.mark.parametrize(
    "baseline",
    [
        pytest.param(UserKnnBaseline(neighbours=2), id="user_knn"),
        pytest.param(ItemKnnBaseline(neighbours=2), id="item_knn"),
        pytest.param(AlsBaseline(), id="als"),
    ],
)
def test_collaborative_blocks_agree(
    baseline: UserKnnBaseline | ItemKnnBaseline | AlsBaseline,
    matrix_frames: StoreFrames,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    baseline.fit(matrix_frames)
    rows = pl.DataFrame(
        {
            USER_ID: ["d", "a", "c", "a", "b", "d"],
            RESTAURANT_ID: ["r2", "r4", "r1", "r3", "r4", "r9"],
        }
    )
    whole = baseline.score(rows)

    # One user per block instead of all four in one.
    monkeypatch.setattr(collaborative, "_BLOCK_CELLS", 1)
    one_by_one = baseline.score(rows)

    assert one_by_one.tolist() == pytest.approx(whole.tolist())


@pytest.mark.parametrize(
    "build, message",
    [
        pytest.param(lambda: UserKnnBaseline(0), "neighbours", id="user_knn"),
        pytest.param(lambda: ItemKnnBaseline(-1), "neighbours", id="item_knn"),
        pytest.param(lambda: AlsBaseline(factors=0), "factors", id="factors"),
        pytest.param(lambda: AlsBaseline(iterations=0), "iterations", id="iterations"),
        pytest.param(
            lambda: AlsBaseline(regularization=-0.1), "regularization", id="reg"
        ),
        pytest.param(lambda: AlsBaseline(alpha=0.0), "alpha", id="alpha"),
    ],
)
def test_collaborative_rejects_bad_arguments(
    build: Callable[[], object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        build()


def test_score_before_fit_rejected() -> None:
    with pytest.raises(RuntimeError, match="not fitted"):
        UserKnnBaseline().score(pairs("a", ["r1"]))


# ---------------------------------------------------------------------------
# ALS.
# ---------------------------------------------------------------------------

# Two groups with no restaurant in common: a, b and c order from r1 and r2,
# while x, y and z order from r3 and r4. c and z each miss one of their group's.
BLOCK_ORDERS = [
    ("a", "r1"),
    ("a", "r2"),
    ("b", "r1"),
    ("b", "r2"),
    ("c", "r1"),
    ("x", "r3"),
    ("x", "r4"),
    ("y", "r3"),
    ("y", "r4"),
    ("z", "r3"),
]


def test_als_ranks_own_group_first() -> None:
    baseline = AlsBaseline()
    baseline.fit(frames_of(BLOCK_ORDERS))

    c_scores = scores_by_restaurant(baseline, pairs("c", ["r2", "r3", "r4"]))
    z_scores = scores_by_restaurant(baseline, pairs("z", ["r1", "r2", "r4"]))

    assert c_scores["r2"] > max(c_scores["r3"], c_scores["r4"])
    assert z_scores["r4"] > max(z_scores["r1"], z_scores["r2"])


def test_als_same_seed_same_scores() -> None:
    frames = frames_of(BLOCK_ORDERS)
    rows = pairs("c", ["r1", "r2", "r3", "r4"])
    first, second, other_seed = (
        AlsBaseline(),
        AlsBaseline(),
        AlsBaseline(random_state=1),
    )
    for baseline in (first, second, other_seed):
        baseline.fit(frames)

    assert first.score(rows).tolist() == second.score(rows).tolist()
    assert first.score(rows).tolist() != other_seed.score(rows).tolist()


def test_als_fit_emits_no_blas_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    # implicit checks the BLAS threads only once per process, so reset its
    # flag to check again.
    monkeypatch.setattr(implicit.utils, "_checked_blas_config", False)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        AlsBaseline().fit(frames_of(BLOCK_ORDERS))

    assert [str(warning.message) for warning in caught] == []


# ---------------------------------------------------------------------------
# Registration and the UCI ratings.
# ---------------------------------------------------------------------------


def test_default_baseline_names() -> None:
    names = [factory().name for factory in default_baselines()]

    assert names == [
        "popularity",
        "popularity_city",
        "content",
        "user_knn",
        "item_knn",
        "als",
    ]


def test_baselines_beat_popularity_on_uci() -> None:
    tables = load_uci(UCI_DATA_DIR).tables
    frames = StoreFrames.from_store_tables(
        **{name: tables[name] for name in STORE_TABLES}
    )
    split = random_splits(frames.orders, n_splits=1, test_fraction=0.2, seed=0)[0]
    train = replace(frames, orders=split.train)
    snapshot = snapshot_at(train, serving_cutoff(train))
    test = LabelledSnapshot(
        snapshot=snapshot,
        labels=split.test.select(USER_ID, RESTAURANT_ID),
        repeats_allowed=False,
    )
    rows = rows_in_memory(
        labelled_rows([test], None, seed=0), {snapshot.cutoff: compute_tables(snapshot)}
    )
    relevant = {
        user_id: set(group[RESTAURANT_ID].to_list())
        for (user_id,), group in split.test.group_by(USER_ID)
    }

    ndcg = {}
    for factory in default_baselines():
        baseline = factory()
        baseline.fit(train)
        ranked = top_k(rows, baseline.score(rows), 10)
        ndcg[baseline.name] = mean_ignoring_nan(
            [
                ndcg_at_k(ranked.get(user, []), items, 10)
                for user, items in relevant.items()
            ]
        )

    # Split seed 0 gives popularity 0.165 and every other baseline 0.23 or more.
    assert ndcg["popularity"] == pytest.approx(0.165, abs=0.01)
    for name, value in ndcg.items():
        if name != "popularity":
            assert value > ndcg["popularity"] + 0.05, name


def test_largest_per_row_as_dense() -> None:
    rng = np.random.default_rng(9)
    # Values from a few levels, so that many ties sit at the edge, and empty
    # rows and rows with fewer values than kept.
    dense = rng.integers(0, 4, size=(60, 40)).astype(np.float64) / 4
    dense[rng.random(dense.shape) < 0.5] = 0.0
    dense[7] = 0.0
    dense[8, 3:] = 0.0

    for count in (1, 3, 5, 50):
        kept = _sparse_rows.largest_per_row(sp.csr_matrix(dense), count)
        expected = _sparse_rows.keep_largest(dense, count)
        np.testing.assert_array_equal(kept.toarray(), expected, err_msg=str(count))


@pytest.mark.parametrize("neighbours", [1, 5])
def test_user_knn_sparse_neighbours_match_dense(neighbours: int) -> None:
    world = generate_world(WorldConfig(users=400, restaurants=60, days=30, seed=6))
    tables = ("users", "restaurants", "menu_items", "orders", "order_items")
    frames = StoreFrames.from_store_tables(**{name: world[name] for name in tables})
    baseline = UserKnnBaseline(neighbours=neighbours)
    baseline.fit(frames)
    normalized = baseline._normalized
    matrix = baseline._matrix
    assert matrix is not None
    users = np.arange(matrix.user_ids.len())

    similarity = (normalized @ normalized.T).toarray()
    similarity[users, users] = 0.0
    weights = _sparse_rows.keep_largest(similarity, neighbours)
    expected = weights @ matrix.counts.toarray() + matrix.counts.toarray()

    np.testing.assert_allclose(baseline._user_block(users), expected, rtol=1e-12)
    # Every row's neighbours came from its largest values alone; the test
    # below reaches the rows read whole.
    width = 15 * neighbours + 1
    largest = _sparse_rows.without_self(
        collaborative.sp_matmul_topn(normalized, normalized.T.tocsr(), top_n=width),
        users,
    )
    assert _sparse_rows.edge_inside(largest, width, neighbours).all()


def test_user_knn_ties_beyond_largest_values() -> None:
    # a ordered from r1 and r2; n00 to n29 each from r1 and a restaurant of
    # their own. All 30 are at cosine 1/2 from a, more ties than the 16 values
    # read for one neighbour, so a's whole row is read: n00, the smallest id,
    # is the neighbour.
    orders = [("a", "r1"), ("a", "r2")]
    for index in range(30):
        orders += [(f"n{index:02d}", "r1"), (f"n{index:02d}", f"x{index:02d}")]
    baseline = UserKnnBaseline(neighbours=1)
    baseline.fit(frames_of(orders))
    matrix = baseline._matrix
    assert matrix is not None
    users = np.arange(matrix.user_ids.len())
    largest = _sparse_rows.without_self(
        collaborative.sp_matmul_topn(
            baseline._normalized, baseline._normalized.T.tocsr(), top_n=16
        ),
        users,
    )
    assert not _sparse_rows.edge_inside(largest, 16, 1)[0]

    scores = baseline.score(pairs("a", ["r1", "r2", "x00", "x01"]))

    assert scores.tolist() == pytest.approx([1.5, 1.0, 0.5, 0.0])
