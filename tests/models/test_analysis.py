"""Error analysis of hand-made lists: every number is worked out by hand.

Four test users, five restaurants, k = 2. Relevant: u1 {r1}, u2 {r2, r3},
u3 {r4}, u4 {r5}. The current ranker's lists give NDCG@2 of u1 1, u2
1 / (1 + 1/log2(3)) = 0.61315, u3 0, u4 1: overall 0.65329.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from features.schema import RESTAURANT_ID, USER_ID
from features.transforms import StoreFrames
from models.analysis import RankedLists, analyse, console_summary, segment_metrics
from models.audits import audit_exit_code, load_audits
from models.metrics import (
    average_precision_at_k,
    catalogue_coverage,
    hit_at_k,
    mean_ignoring_nan,
    ndcg_at_k,
    novelty,
    popularity_bias,
    popularity_percentiles,
    precision_at_k,
    recall_at_k,
    reciprocal_rank,
)
from models.segments import RESTAURANT, USER, Segment

CUTOFF = datetime(2024, 3, 1, tzinfo=UTC)
LOG3 = math.log2(3)
U2_NDCG = 1.0 / (1.0 + 1.0 / LOG3)
OVERALL = (1.0 + U2_NDCG + 0.0 + 1.0) / 4

LISTS = {
    "lightgbm_ranker": {
        "u1": ["r1", "r2"],
        "u2": ["r2", "r1"],
        "u3": ["r1", "r2"],
        "u4": ["r5", "r1"],
    },
    "ranker_v1": {
        "u1": ["r2", "r1"],
        "u2": ["r1", "r2"],
        "u3": ["r4", "r1"],
        "u4": ["r1", "r2"],
    },
    "popularity": {user: ["r1", "r2"] for user in ("u1", "u2", "u3", "u4")},
    "item_knn": {
        "u1": ["r1", "r3"],
        "u2": ["r3", "r2"],
        "u3": ["r4", "r5"],
        "u4": ["r1", "r5"],
    },
}
RELEVANT = {"u1": {"r1"}, "u2": {"r2", "r3"}, "u3": {"r4"}, "u4": {"r5"}}
# Orders before the cutoff per restaurant: 20 in all.
ORDERS_BEFORE = {"r1": 10, "r2": 5, "r3": 3, "r4": 1, "r5": 1}


def _train() -> StoreFrames:
    """u1 ordered r1 three times and u3 r4 three times (both favourites that
    they order again); u2 ordered r3 twice (not a favourite); u4 r2 once."""
    pairs = [("u1", "r1")] * 3 + [("u3", "r4")] * 3 + [("u2", "r3")] * 2
    pairs += [("u4", "r2")]
    orders = pl.DataFrame(
        {
            "order_id": [f"o{index}" for index in range(len(pairs))],
            USER_ID: [user for user, _ in pairs],
            RESTAURANT_ID: [restaurant for _, restaurant in pairs],
            "ordered_at": [datetime(2024, 2, 1)] * len(pairs),
        }
    )
    empty = pl.DataFrame()
    return StoreFrames(users=empty, restaurants=empty, menu_items=empty, orders=orders)


def _ranked() -> RankedLists:
    # Every user has the five restaurants as candidates, all relevant ones too.
    candidates = pl.DataFrame(
        {
            USER_ID: list(RELEVANT),
            "candidates": [5, 5, 5, 5],
            "relevant_candidates": [len(items) for items in RELEVANT.values()],
        }
    )
    return RankedLists(
        k=2,
        lists=LISTS,
        relevant=RELEVANT,
        candidates=candidates,
        train=_train(),
        cutoff=CUTOFF,
        current="lightgbm_ranker",
        previous="ranker_v1",
        baselines=("popularity", "item_knn"),
    )


def _segments() -> dict[str, Segment]:
    def segment(name: str, entity: str, members: set[str]) -> Segment:
        return Segment(
            name=name,
            entity=entity,
            description=f"{name} for the test",
            members=frozenset(members),
        )

    return {
        "first_and_third": segment("first_and_third", USER, {"u1", "u3"}),
        "vegetarians": segment("vegetarians", USER, {"u2", "u4"}),
        "cold_start": segment("cold_start", USER, {"u3"}),
        "empty": segment("empty", USER, set()),
        "small_independents": segment("small_independents", RESTAURANT, {"r4", "r5"}),
    }


def _users() -> pl.DataFrame:
    return pl.DataFrame(
        {
            USER_ID: ["u1", "u2", "u3", "u4"],
            "city": ["A", "A", "B", "B"],
            "orders_before": [3, 2, 3, 1],
        }
    )


def _restaurants() -> pl.DataFrame:
    return pl.DataFrame(
        {
            RESTAURANT_ID: list(ORDERS_BEFORE),
            "orders_before": list(ORDERS_BEFORE.values()),
            "is_meat_only": [True, False, False, False, False],
        }
    )


AUDITS = """
audits:
  - name: vegetarian_meat_only
    failure_mode: Vegetarians are shown meat-only places.
    metric: meat_only_share@2
    segment: vegetarians
    threshold: 0.02
    direction: max
    owner: ranking
  - name: favourite_kept
    failure_mode: The favourite drops out of the list.
    metric: favourite_recall@2
    segment: has_favourite
    threshold: 0.5
    direction: min
    owner: ranking
  - name: cold_start_vs_popularity
    failure_mode: New users get less than popularity.
    metric: ndcg_minus_popularity
    segment: cold_start
    threshold: 0.0
    direction: min
    owner: ranking
  - name: vegetarians_vs_popularity
    failure_mode: Vegetarians get less than popularity.
    metric: ndcg_minus_popularity
    segment: vegetarians
    threshold: 0.0
    direction: min
    owner: ranking
  - name: small_exposure
    failure_mode: Small places are never shown.
    metric: exposure_ratio
    segment: small_independents
    threshold: 0.5
    direction: min
    owner: ranking
  - name: misses
    failure_mode: Most ordered places are not shown.
    metric: false_negative_rate
    segment: all
    threshold: 0.3
    direction: max
    owner: ranking
"""


@pytest.fixture
def result(tmp_path: Path, caplog: pytest.LogCaptureFixture):
    path = tmp_path / "audits.yaml"
    path.write_text(AUDITS)
    return analyse(_ranked(), _segments(), _users(), _restaurants(), load_audits(path))


def test_overall_metrics_of_the_current_model(result) -> None:
    overall = result.section["overall"]["lightgbm_ranker"]
    assert overall["ndcg@2"] == pytest.approx(OVERALL)
    low, high = overall["ndcg@2_ci"]
    assert low <= OVERALL <= high
    # Hits in the top 2: u1, u2 and u4 of four users.
    assert overall["hit_rate@2"] == pytest.approx(0.75)
    # Recall: 1, 1/2, 0, 1.
    assert overall["recall@2"] == pytest.approx(2.5 / 4)
    # Precision: 1/2, 1/2, 0, 1/2.
    assert overall["precision@2"] == pytest.approx(1.5 / 4)
    # MRR@2: 1, 1, 0, 1.
    assert overall["mrr@2"] == pytest.approx(0.75)
    # r1, r2 and r5 are shown: 3 of 5 restaurants.
    assert overall["coverage"] == pytest.approx(0.6)
    assert result.section["best_baseline"] == "item_knn"


def test_classification_counts_every_candidate_of_a_test_user(result) -> None:
    view = result.section["classification"]["lightgbm_ranker"]
    # 20 candidates; 8 shown; 5 ordered; shown and ordered: u1 r1, u2 r2, u4 r5.
    assert (view["tp"], view["fp"], view["fn"], view["tn"]) == (3, 5, 2, 10)
    assert view["false_positive_rate"] == pytest.approx(5 / 15)
    assert view["false_negative_rate"] == pytest.approx(2 / 5)
    assert view["precision"] == pytest.approx(3 / 8)


def test_segment_rows_use_the_better_reference_and_sort_by_gain(result) -> None:
    rows = {row["name"]: row for row in result.section["segments"]}
    first = rows["first_and_third"]
    # Ranker 1 and 0: 0.5. item_knn: 1 and 1 beats the overall 0.65329.
    assert first["metrics"]["lightgbm_ranker"]["ndcg@2"] == pytest.approx(0.5)
    assert first["best_baseline"] == "item_knn"
    assert first["reference"] == {"kind": "baseline", "name": "item_knn", "value": 1.0}
    assert first["room"] == pytest.approx(0.5)
    assert first["potential_gain"] == pytest.approx(0.25)
    # u3 is the only error, and it is in this segment.
    assert first["share_of_errors"] == pytest.approx(1.0)
    assert first["error_rate"] == pytest.approx(0.5)
    assert first["small"] is True

    vegetarians = rows["vegetarians"]
    # item_knn: u2 gets both relevant (1.0), u4 r5 at rank 2 (1/log2(3)).
    knn = (1.0 + 1.0 / LOG3) / 2
    ranker = (U2_NDCG + 1.0) / 2
    assert vegetarians["reference"]["value"] == pytest.approx(knn)
    assert vegetarians["room"] == pytest.approx(knn - ranker)
    assert vegetarians["potential_gain"] == pytest.approx((knn - ranker) * 0.5)

    # One class: cold_start's only user, u3, is an error.
    cold = rows["cold_start"]
    assert cold["error_rate"] == pytest.approx(1.0)
    assert cold["metrics"]["lightgbm_ranker"]["ci"] == [0.0, 0.0]

    empty = rows["empty"]
    assert empty["users"] == 0
    assert math.isnan(empty["metrics"]["lightgbm_ranker"]["ndcg@2"])
    assert empty["warning"] == "no users of this segment in the test window"

    # cold_start (u3: ranker 0, item_knn 1) also gains 1.0 * 1/4 = 0.25; ties
    # go by name.
    names = [row["name"] for row in result.section["segments"]]
    assert names[:3] == ["cold_start", "first_and_third", "vegetarians"]
    assert names[-1] == "empty"


def test_audits_read_the_measured_values(result) -> None:
    audits = {audit.name: audit for audit in result.audits}
    # Vegetarians' slots: r2 r1 (u2) and r5 r1 (u4): r1 is meat-only, 2 of 4.
    assert audits["vegetarian_meat_only"].value == pytest.approx(0.5)
    assert audits["vegetarian_meat_only"].status == "failed"
    # Favourites ordered again: (u1, r1) kept, (u3, r4) lost.
    assert audits["favourite_kept"].value == pytest.approx(0.5)
    assert audits["favourite_kept"].status == "passed"
    # u3: ranker 0, popularity 0.
    assert audits["cold_start_vs_popularity"].value == pytest.approx(0.0)
    # u2: ranker U2_NDCG, popularity 1 - U2_NDCG; u4: ranker 1, popularity 0.
    # The mean difference is (U2_NDCG + 1) / 2 - (1 - U2_NDCG) / 2 = U2_NDCG.
    assert audits["vegetarians_vs_popularity"].value == pytest.approx(U2_NDCG)
    # r4 and r5 have 2 of 20 orders and 1 of 8 slots: 0.125 / 0.1.
    assert audits["small_exposure"].value == pytest.approx(1.25)
    assert audits["misses"].value == pytest.approx(0.4)
    assert audits["misses"].status == "failed"
    assert audit_exit_code(result.audits) == 1
    assert (
        "meat_only_share@2 on vegetarians is 0.5"
        in audits["vegetarian_meat_only"].message
    )


def test_exposure_and_favourites_per_model(result) -> None:
    (small,) = result.section["exposure"]
    assert small["share_of_orders"] == pytest.approx(0.1)
    assert small["share_of_exposure"]["lightgbm_ranker"] == pytest.approx(1 / 8)
    # item_knn shows r3, r2, r4, r5, r1, r5 and r1 twice: r4 once, r5 twice.
    assert small["share_of_exposure"]["item_knn"] == pytest.approx(3 / 8)
    favourite = result.section["favourite"]
    assert favourite["pairs"] == 2
    assert favourite["recall"]["ranker_v1"] == pytest.approx(1.0)


def test_comparison_with_the_previous_model(result) -> None:
    comparison = result.section["comparison"]
    rows = {row["segment"]: row for row in comparison["rows"]}
    # ranker_v1: u1 r1 at rank 2, u2 r2 at rank 2, u3 r4 at rank 1, u4 none.
    previous = (1 / LOG3 + (1 / LOG3) / (1 + 1 / LOG3) + 1.0 + 0.0) / 4
    assert rows["all"]["previous"] == pytest.approx(previous)
    assert rows["all"]["difference"] == pytest.approx(OVERALL - previous)
    assert rows["vegetarians"]["meat_only_share@2"] == {
        "current": pytest.approx(0.5),
        "previous": pytest.approx(0.5),
    }


def test_segment_metrics_and_console_summary(result) -> None:
    tracked = segment_metrics(result.section)
    assert tracked["first_and_third"]["lightgbm_ranker"]["ndcg@2"] == pytest.approx(0.5)
    text = console_summary({"analysis": result.section})
    assert "first_and_third *" in text
    assert "audit vegetarian_meat_only failed" in text


def test_console_summary_names_share_of_errors(result) -> None:
    header = console_summary({"analysis": result.section}).splitlines()[1]

    # The column is the segment's share of all errors, not its error rate.
    assert "share of errors" in header


def _window() -> tuple[
    StoreFrames, pl.DataFrame, dict[datetime, dict[str, pl.DataFrame]]
]:
    """A small world's labelled rows on 2024-01-24 and its feature tables."""
    from features.schema import MENU_ITEMS, ORDER_ITEMS, ORDERS, RESTAURANTS, USERS
    from features.synthetic import WorldConfig, generate_world
    from features.transforms import compute_tables, snapshot_at
    from models.cutoffs import LabelledSnapshot
    from models.dataset import labelled_rows

    world = generate_world(WorldConfig(users=300, restaurants=60, days=30, seed=3))
    frames = StoreFrames.from_store_tables(
        users=world[USERS.name],
        restaurants=world[RESTAURANTS.name],
        menu_items=world[MENU_ITEMS.name],
        orders=world[ORDERS.name],
        order_items=world[ORDER_ITEMS.name],
    )
    cutoff = datetime(2024, 1, 24, tzinfo=UTC)
    snapshot = snapshot_at(frames, cutoff)
    later = frames.orders.filter(pl.col("ordered_at") >= cutoff.replace(tzinfo=None))
    test = LabelledSnapshot(
        snapshot=snapshot,
        labels=later.select(USER_ID, RESTAURANT_ID),
        repeats_allowed=True,
    )
    rows = labelled_rows([test], None, 0, None, add_missed_positives=False)
    return frames, rows, {snapshot.cutoff: compute_tables(snapshot)}


def test_ranking_in_chunks_matches_one_pass() -> None:
    from models.baselines import ContentBaseline, PopularityBaseline
    from models.evaluate import rank_rows

    frames, rows, tables = _window()
    scorers = [PopularityBaseline(), ContentBaseline()]
    for scorer in scorers:
        scorer.fit(frames)

    whole, counts = rank_rows(rows, tables, scorers, 5)
    # About 60 candidates per user: chunks of at most 100 rows hold one user.
    chunked, chunk_counts = rank_rows(rows, tables, scorers, 5, chunk_rows=100)

    assert chunked == whole
    assert chunk_counts.equals(counts)
    assert counts["candidates"].sum() == rows.height
    assert counts["relevant_candidates"].sum() == rows["label"].sum()
    assert set(whole["popularity"]) == set(counts[USER_ID])


def test_top_k_of_sorted_rows_as_top_k() -> None:
    from models.evaluate import top_k_of_sorted
    from models.ranker import top_k

    rng = np.random.default_rng(8)
    sizes = rng.integers(1, 40, size=300)
    users = np.repeat([f"u{i:04d}" for i in range(len(sizes))], sizes)
    restaurants = np.concatenate(
        [np.sort(rng.choice(200, size=n, replace=False)) for n in sizes]
    )
    rows = pl.DataFrame(
        {USER_ID: users, RESTAURANT_ID: [f"r{r:03d}" for r in restaurants]}
    )
    # Few distinct scores, so that many ties go to the smaller restaurant id,
    # and some NaN, which rank first.
    scores = rng.integers(0, 4, size=rows.height).astype(np.float64)
    scores[rng.random(rows.height) < 0.05] = np.nan

    fast = top_k_of_sorted(rows, scores, 5)

    assert fast == top_k(rows, scores, 5)
    assert len(fast) == 300
    assert top_k_of_sorted(rows.clear(), scores[:0], 5) == {}


def _random_ranked(seed: int) -> tuple[RankedLists, pl.DataFrame]:
    """Build random lists of 3 models over 40 restaurants for 300 test users,
    k = 5, and the restaurant frame.

    The test users come in shuffled order. A model has no list for about one
    user in ten, lists run from empty to longer than k, and some relevant
    restaurants (r40 to r43) are in no list and not in the frame.
    """
    rng = np.random.default_rng(seed)
    restaurants = [f"r{index:02d}" for index in range(40)]
    users = [f"u{index:03d}" for index in range(300)]
    relevant = {
        users[index]: {
            f"r{item:02d}" for item in rng.integers(0, 44, size=rng.integers(1, 8))
        }
        for index in rng.permutation(len(users))
    }
    lists = {
        model: {
            user: [
                restaurants[item]
                for item in rng.choice(40, size=rng.integers(0, 8), replace=False)
            ]
            for user in users
            if rng.random() < 0.9
        }
        for model in ("lightgbm_ranker", "ranker_v1", "popularity")
    }
    order_users = rng.integers(0, len(users), size=2000)
    # Orders at the first restaurants only, so some restaurants have none.
    order_restaurants = rng.integers(0, 30, size=2000)
    orders = pl.DataFrame(
        {
            "order_id": [f"o{index}" for index in range(2000)],
            USER_ID: [users[index] for index in order_users],
            RESTAURANT_ID: [restaurants[index] for index in order_restaurants],
            "ordered_at": [datetime(2024, 2, 1)] * 2000,
        }
    )
    candidates = pl.DataFrame(
        {
            USER_ID: users,
            "candidates": [40] * len(users),
            "relevant_candidates": [
                len(relevant[user] & set(restaurants)) for user in users
            ],
        }
    )
    empty = pl.DataFrame()
    ranked = RankedLists(
        k=5,
        lists=lists,
        relevant=relevant,
        candidates=candidates,
        train=StoreFrames(
            users=empty, restaurants=empty, menu_items=empty, orders=orders
        ),
        cutoff=CUTOFF,
        current="lightgbm_ranker",
        previous="ranker_v1",
        baselines=("popularity",),
    )
    frame = pl.DataFrame(
        {
            RESTAURANT_ID: restaurants,
            "orders_before": np.bincount(order_restaurants, minlength=40),
            "is_meat_only": [index % 3 == 0 for index in range(40)],
        }
    )
    return ranked, frame


PER_USER_METRICS = {
    "ndcg": ndcg_at_k,
    "recall": recall_at_k,
    "precision": precision_at_k,
    "map": average_precision_at_k,
    "mrr": reciprocal_rank,
    "hit_rate": hit_at_k,
}


def test_analysis_matches_per_list_definitions() -> None:
    # Every value must equal, bit for bit, the per-list functions of
    # models.metrics applied user by user.
    ranked, restaurants = _random_ranked(seed=4)
    k = ranked.k
    users = sorted(ranked.relevant)
    half = frozenset(users[::2])
    first_ten = frozenset(restaurants[RESTAURANT_ID][:10])
    segments = {
        "half": Segment("half", USER, "every other user", half),
        "first_ten": Segment("first_ten", RESTAURANT, "ten restaurants", first_ten),
    }
    attributes = pl.DataFrame({USER_ID: users, "city": ["A", "B", "C"] * 100})

    section = analyse(ranked, segments, attributes, restaurants, []).section

    orders = ranked.train.orders
    user_count = orders[USER_ID].n_unique()
    buyers = orders.group_by(RESTAURANT_ID).agg(pl.col(USER_ID).n_unique())
    shares = {item: count / user_count for item, count in buyers.iter_rows()}
    popularity = dict(restaurants.select(RESTAURANT_ID, "orders_before").iter_rows())
    percentiles = popularity_percentiles(popularity)
    meat_only = set(restaurants.filter(pl.col("is_meat_only"))[RESTAURANT_ID])
    rows = {row["name"]: row for row in section["segments"]}
    comparison = {row["segment"]: row for row in section["comparison"]["rows"]}
    for model, by_user in ranked.lists.items():
        overall = section["overall"][model]
        for name, metric in PER_USER_METRICS.items():
            values = [
                metric(by_user.get(user, []), ranked.relevant[user], k)
                for user in users
            ]
            assert overall[f"{name}@{k}"] == mean_ignoring_nan(values), (model, name)
            if name == "ndcg":
                in_half = [
                    value
                    for user, value in zip(users, values, strict=True)
                    if user in half
                ]
                assert rows["half"]["means"][model] == mean_ignoring_nan(in_half)

        lists = [by_user.get(user, []) for user in ranked.relevant]
        assert overall["coverage"] == catalogue_coverage(lists, 40, k)
        assert overall["popularity_bias"] == popularity_bias(lists, percentiles, k)
        assert overall["novelty"] == novelty(lists, shares, k, users=user_count)

        top = [items[:k] for items in lists]
        relevant = list(ranked.relevant.values())
        tp = sum(
            item in items_relevant
            for items, items_relevant in zip(top, relevant, strict=True)
            for item in items
        )
        view = section["classification"][model]
        assert view["tp"] == tp
        assert view["fp"] == sum(map(len, top)) - tp
        assert view["fn"] == sum(map(len, relevant)) - tp

        slots = [item for items in lists for item in items]
        exposure = sum(item in first_ten for item in slots) / len(slots)
        assert section["exposure"][0]["share_of_exposure"][model] == exposure
        if model in (ranked.current, ranked.previous):
            role = "current" if model == ranked.current else "previous"
            share = sum(item in meat_only for item in slots) / len(slots)
            assert comparison["all"]["meat_only_share@5"][role] == share


def test_ranking_rankers_in_chunks() -> None:
    from dataclasses import replace

    from features.paths import RANKER_CONFIG
    from models.dataset import rows_in_memory, training_set
    from models.evaluate import NamedScorer, rank_rows
    from models.ranker import load_config, top_k, train_ranker

    _, rows, tables = _window()
    featured = rows_in_memory(rows, tables)
    config = replace(
        load_config(RANKER_CONFIG), num_boost_round=20, early_stopping_rounds=None
    )
    features = ["distance_km", "cuisine_affinity", "past_orders_here", "same_city"]
    training = training_set(featured)
    current = train_ranker(training, config, features)
    # The previous ranker reads fewer features, in another order.
    previous = NamedScorer("ranker_v1", train_ranker(training, config, features[2::-1]))

    lists, _ = rank_rows(rows, tables, [current, previous], 5)

    for scorer in (current, previous):
        expected = top_k(featured, scorer.score(featured), 5)
        assert lists[scorer.name] == expected, scorer.name
    assert lists[current.name] != lists[previous.name]


def test_rankers_and_baselines_in_chunks() -> None:
    """Chunks of one user each: the next chunk's features are built while
    the baselines score, after the rankers."""
    from dataclasses import replace

    from features.paths import RANKER_CONFIG
    from models.baselines import ContentBaseline, PopularityBaseline
    from models.dataset import rows_in_memory, training_set
    from models.evaluate import rank_rows
    from models.ranker import load_config, train_ranker

    frames, rows, tables = _window()
    config = replace(
        load_config(RANKER_CONFIG), num_boost_round=10, early_stopping_rounds=None
    )
    training = training_set(rows_in_memory(rows, tables))
    ranker = train_ranker(training, config, ["distance_km", "past_orders_here"])
    baselines = [PopularityBaseline(), ContentBaseline()]
    for baseline in baselines:
        baseline.fit(frames)
    scorers = [baselines[0], ranker, baselines[1]]

    whole, _ = rank_rows(rows, tables, scorers, 5)
    chunked, _ = rank_rows(rows, tables, scorers, 5, chunk_rows=100)

    assert chunked == whole
    assert set(chunked) == {"popularity", "lightgbm_ranker", "content"}
