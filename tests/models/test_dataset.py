"""Tests of labelled training rows, their in-memory features and query groups.

A hand-made store of three users, four restaurants and seven orders gives
rows whose labels and features are worked out below. A small synthetic world
and the bundled UCI ratings check the same rules at scale.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime

import numpy as np
import polars as pl
import pytest

from features.pairs import PAIR_FEATURES
from features.paths import UCI_DATA_DIR
from features.schema import EVENT_TIMESTAMP, RESTAURANT_ID, USER_ID
from features.synthetic import WorldConfig, generate_world
from features.transforms import StoreFrames, compute_tables
from features.uci import load_uci
from models.candidates import CandidateSettings
from models.cutoffs import CutoffSettings, LabelledSnapshot, training_snapshots
from models.dataset import (
    GROUP,
    LABEL,
    CutoffRows,
    candidate_pairs,
    labelled_rows,
    open_restaurants,
    rows_in_memory,
    snapshot_candidates,
    training_set,
)

STORE_TABLES = ("users", "restaurants", "menu_items", "orders", "order_items")
KEYS = [GROUP, USER_ID, RESTAURANT_ID]

# The last hand-made order is on 2024-03-20, so the serving cutoff is
# 2024-03-21 and the two training cutoffs are 2024-03-07 and 2024-03-14.
HAND_SETTINGS = CutoffSettings(cutoffs=2, cutoff_every_days=7, horizon_days=7)
FIRST_CUTOFF = datetime(2024, 3, 7, tzinfo=UTC)
SECOND_CUTOFF = datetime(2024, 3, 14, tzinfo=UTC)
# r3 has no opening time, so it counts as open. r4 opens between the cutoffs.
HAND_OPENED = [
    datetime(2020, 5, 1),
    datetime(2021, 6, 1),
    None,
    datetime(2024, 3, 10),
]
HAND_ORDERS = [
    ("o1", "u1", "r1", datetime(2024, 3, 1, 10)),
    ("o2", "u1", "r2", datetime(2024, 3, 8, 12)),
    # The same pair again in the same label window: still one positive.
    ("o3", "u1", "r2", datetime(2024, 3, 9, 12)),
    # r4 is not open at the first cutoff, so this label has no candidate row.
    ("o4", "u2", "r4", datetime(2024, 3, 11, 12)),
    ("o5", "u2", "r3", datetime(2024, 3, 14)),
    # u1 ordered from r1 before (o1). For orders with times a repeat is a
    # positive.
    ("o6", "u1", "r1", datetime(2024, 3, 20, 10)),
    # u3 orders only before the first cutoff, so u3 never gets a group.
    ("o7", "u3", "r1", datetime(2024, 3, 6, 23, 59)),
]
# (group, user, restaurant, label), sorted as labelled_rows returns them.
# u2's only label at the first cutoff is r4, which opens after it: that group
# would hold no positive, so it is left out.
HAND_ROWS = [
    (0, "u1", "r1", 0),
    (0, "u1", "r2", 1),
    (0, "u1", "r3", 0),
    (1, "u1", "r1", 1),
    (1, "u1", "r2", 0),
    (1, "u1", "r3", 0),
    (1, "u1", "r4", 0),
    (1, "u2", "r1", 0),
    (1, "u2", "r2", 0),
    (1, "u2", "r3", 1),
    (1, "u2", "r4", 0),
]


@pytest.fixture(scope="module")
def world() -> dict[str, pl.DataFrame]:
    return generate_world(WorldConfig(users=200, restaurants=60, days=40, seed=5))


@pytest.fixture(scope="module")
def hand_store(world: dict[str, pl.DataFrame]) -> StoreFrames:
    """The hand-made orders, on users and restaurants taken from the world."""
    users = world["users"].head(3).with_columns(pl.Series(USER_ID, ["u1", "u2", "u3"]))
    restaurants = (
        world["restaurants"]
        .head(4)
        .with_columns(
            pl.Series(RESTAURANT_ID, ["r1", "r2", "r3", "r4"]),
            pl.Series("opened_at", HAND_OPENED, dtype=pl.Datetime("us")),
        )
    )
    orders = pl.DataFrame(
        [(*order, 20.0, None) for order in HAND_ORDERS],
        schema=world["orders"].schema,
        orient="row",
    )
    return StoreFrames.from_store_tables(
        users=users,
        restaurants=restaurants,
        menu_items=world["menu_items"].clear(),
        orders=orders,
        order_items=world["order_items"].clear(),
    )


@pytest.fixture(scope="module")
def hand_snapshots(hand_store: StoreFrames) -> list[LabelledSnapshot]:
    return training_snapshots(hand_store, HAND_SETTINGS)


@pytest.fixture(scope="module")
def hand_rows(hand_snapshots: list[LabelledSnapshot]) -> pl.DataFrame:
    return labelled_rows(hand_snapshots, None, seed=7)


@pytest.fixture(scope="module")
def timed_store(world: dict[str, pl.DataFrame]) -> StoreFrames:
    return StoreFrames.from_store_tables(**{name: world[name] for name in STORE_TABLES})


@pytest.fixture(scope="module")
def timed_snapshots(timed_store: StoreFrames) -> list[LabelledSnapshot]:
    return training_snapshots(timed_store, CutoffSettings(cutoffs=3))


@pytest.fixture(scope="module")
def timed_rows(timed_snapshots: list[LabelledSnapshot]) -> pl.DataFrame:
    return labelled_rows(timed_snapshots, None, seed=7)


@pytest.fixture(scope="module")
def uci_store() -> StoreFrames:
    tables = load_uci(UCI_DATA_DIR).tables
    return StoreFrames.from_store_tables(
        **{name: tables[name] for name in STORE_TABLES}
    )


@pytest.fixture(scope="module")
def uci_snapshots(uci_store: StoreFrames) -> list[LabelledSnapshot]:
    return training_snapshots(uci_store, CutoffSettings(label_folds=5, seed=7))


@pytest.fixture(scope="module")
def uci_rows(uci_snapshots: list[LabelledSnapshot]) -> pl.DataFrame:
    return labelled_rows(uci_snapshots, None, seed=7)


def pair_set(frame: pl.DataFrame) -> set[tuple[str, str]]:
    return set(frame.select(USER_ID, RESTAURANT_ID).iter_rows())


def group_counts(rows: pl.DataFrame) -> pl.DataFrame:
    """Positives and negatives per (group, user)."""
    return (
        rows.group_by(GROUP, USER_ID)
        .agg(
            (pl.col(LABEL) == 1).sum().alias("positives"),
            (pl.col(LABEL) == 0).sum().alias("negatives"),
        )
        .sort(GROUP, USER_ID)
    )


# ---------------------------------------------------------------------------
# open_restaurants and candidate_pairs.
# ---------------------------------------------------------------------------


def test_open_restaurants_at_cutoff(hand_snapshots: list[LabelledSnapshot]) -> None:
    first, second = hand_snapshots

    assert open_restaurants(first) == ["r1", "r2", "r3"]
    assert open_restaurants(second) == ["r1", "r2", "r3", "r4"]


def test_candidate_pairs_excludes_given() -> None:
    exclude = pl.DataFrame(
        {USER_ID: ["a", "b", "c"], RESTAURANT_ID: ["x", "z", "x"], "rating": 1.0}
    )

    pairs = candidate_pairs(["a", "b"], ["x", "y", "z"], exclude)

    assert pair_set(pairs) == {("a", "y"), ("a", "z"), ("b", "x"), ("b", "y")}
    assert pairs.height == 4
    assert pairs.columns == [USER_ID, RESTAURANT_ID]


def test_candidate_pairs_nothing_excluded() -> None:
    pairs = candidate_pairs(["a", "b"], ["x", "y", "z"], None)

    assert pairs.height == 6
    assert len(pair_set(pairs)) == 6


def test_candidate_pairs_no_users() -> None:
    assert candidate_pairs([], ["x", "y"], None).height == 0


# ---------------------------------------------------------------------------
# labelled_rows on the hand-made store.
# ---------------------------------------------------------------------------


def test_labelled_rows_by_hand(hand_rows: pl.DataFrame) -> None:
    assert hand_rows.select(*KEYS, LABEL).rows() == HAND_ROWS


def test_labelled_rows_cutoff_timestamps(hand_rows: pl.DataFrame) -> None:
    stamps = hand_rows.group_by(GROUP).agg(pl.col(EVENT_TIMESTAMP).unique()).sort(GROUP)

    assert stamps[EVENT_TIMESTAMP].to_list() == [[FIRST_CUTOFF], [SECOND_CUTOFF]]
    assert hand_rows.schema[EVENT_TIMESTAMP] == pl.Datetime("us", "UTC")


def test_labelled_rows_late_opening(hand_rows: pl.DataFrame) -> None:
    # u2 ordered from r4 after the first cutoff, but r4 opened after it.
    first_group = hand_rows.filter(pl.col(GROUP) == 0)

    assert "r4" not in first_group[RESTAURANT_ID].to_list()


def test_labelled_rows_repeat_one_positive(hand_rows: pl.DataFrame) -> None:
    # o2 and o3 are both (u1, r2) in the first window.
    rows = hand_rows.filter(
        (pl.col(GROUP) == 0)
        & (pl.col(USER_ID) == "u1")
        & (pl.col(RESTAURANT_ID) == "r2")
    )

    assert rows[LABEL].to_list() == [1]


def test_labelled_rows_columns(hand_rows: pl.DataFrame) -> None:
    assert sorted(hand_rows.columns) == sorted(
        [USER_ID, RESTAURANT_ID, LABEL, EVENT_TIMESTAMP, GROUP]
    )


def test_labelled_rows_skips_unlabelled(
    hand_snapshots: list[LabelledSnapshot],
) -> None:
    first, second = hand_snapshots
    empty = replace(first, labels=first.labels.clear())

    rows = labelled_rows([empty, second], None, seed=7)

    # The group number stays the snapshot's position in the list.
    assert rows.select(*KEYS, LABEL).rows() == HAND_ROWS[3:]


def test_labelled_rows_no_labels(hand_snapshots: list[LabelledSnapshot]) -> None:
    empty = [replace(s, labels=s.labels.clear()) for s in hand_snapshots]

    with pytest.raises(ValueError, match="no snapshot has labels"):
        labelled_rows(empty, None, seed=7)
    with pytest.raises(ValueError, match="no snapshot has labels"):
        labelled_rows([], None, seed=7)


# ---------------------------------------------------------------------------
# labelled_rows on orders with times.
# ---------------------------------------------------------------------------


def test_timed_positives_are_labels(
    timed_rows: pl.DataFrame, timed_snapshots: list[LabelledSnapshot]
) -> None:
    for index, labelled in enumerate(timed_snapshots):
        group = timed_rows.filter(pl.col(GROUP) == index)
        positives = group.filter(pl.col(LABEL) == 1)
        open_now = set(open_restaurants(labelled))
        expected = {pair for pair in pair_set(labelled.labels) if pair[1] in open_now}

        assert pair_set(positives) == expected, f"group {index}"
        assert positives.height == len(expected), f"group {index}"


def test_timed_groups_are_labelled_users(
    timed_rows: pl.DataFrame, timed_snapshots: list[LabelledSnapshot]
) -> None:
    for index, labelled in enumerate(timed_snapshots):
        group = timed_rows.filter(pl.col(GROUP) == index)
        users = set(labelled.labels[USER_ID].to_list())

        assert set(group[USER_ID].to_list()) == users, f"group {index}"


def test_timed_candidates_open(
    timed_rows: pl.DataFrame,
    timed_store: StoreFrames,
    timed_snapshots: list[LabelledSnapshot],
) -> None:
    opened = dict(timed_store.restaurants.select(RESTAURANT_ID, "opened_at").rows())

    for index, labelled in enumerate(timed_snapshots):
        cutoff = labelled.snapshot.cutoff_naive
        expected = sorted(
            restaurant
            for restaurant, moment in opened.items()
            if moment is None or moment < cutoff
        )
        group = timed_rows.filter(pl.col(GROUP) == index)
        # Repeats are allowed, so every user's candidates are every open one.
        for (user,), candidates in group.group_by(USER_ID):
            assert candidates[RESTAURANT_ID].to_list() == expected, (index, user)


def test_timed_world_has_late_opening(
    timed_store: StoreFrames, timed_snapshots: list[LabelledSnapshot]
) -> None:
    # Without a restaurant opened after the first cutoff, the check above
    # would not tell open restaurants from all of them.
    first = timed_snapshots[0].snapshot.cutoff_naive
    late = timed_store.restaurants.filter(pl.col("opened_at") >= first)

    assert late.height >= 1


# ---------------------------------------------------------------------------
# labelled_rows on orders without times.
# ---------------------------------------------------------------------------


def test_untimed_candidates_skip_visible(
    uci_rows: pl.DataFrame,
    uci_store: StoreFrames,
    uci_snapshots: list[LabelledSnapshot],
) -> None:
    restaurants = uci_store.restaurants.height

    for index, labelled in enumerate(uci_snapshots):
        group = uci_rows.filter(pl.col(GROUP) == index)
        visible = pair_set(labelled.snapshot.orders)
        seen = Counter(user for user, _ in visible)
        sizes = dict(group.group_by(USER_ID).len().iter_rows())

        assert not pair_set(group) & visible, f"group {index}"
        for user, size in sizes.items():
            assert size == restaurants - seen[user], (index, user)


def test_untimed_positives_are_fold(
    uci_rows: pl.DataFrame, uci_snapshots: list[LabelledSnapshot]
) -> None:
    for index, labelled in enumerate(uci_snapshots):
        group = uci_rows.filter(pl.col(GROUP) == index)
        positives = group.filter(pl.col(LABEL) == 1)

        assert pair_set(positives) == pair_set(labelled.labels), f"group {index}"
        assert positives.height == labelled.labels.height, f"group {index}"
        assert not pair_set(positives) & pair_set(labelled.snapshot.orders)


def test_untimed_every_group_positive(uci_rows: pl.DataFrame) -> None:
    counts = group_counts(uci_rows)

    assert counts["positives"].min() >= 1


def test_untimed_every_rating_positive_once(
    uci_rows: pl.DataFrame, uci_store: StoreFrames
) -> None:
    positives = uci_rows.filter(pl.col(LABEL) == 1)

    assert positives.height == uci_store.orders.height
    assert pair_set(positives) == pair_set(uci_store.orders)


# ---------------------------------------------------------------------------
# Negative sampling.
# ---------------------------------------------------------------------------


def test_sampling_by_hand(hand_snapshots: list[LabelledSnapshot]) -> None:
    rows = labelled_rows(hand_snapshots, 1, seed=7)
    counts = group_counts(rows)

    # (group, user, positives, negatives). Every group of HAND_ROWS has at
    # least one negative to keep.
    assert counts.rows() == [
        (0, "u1", 1, 1),
        (1, "u1", 1, 1),
        (1, "u2", 1, 1),
    ]


def test_sampling_keeps_positives(timed_snapshots: list[LabelledSnapshot]) -> None:
    full = labelled_rows(timed_snapshots, None, seed=7)

    sampled = labelled_rows(timed_snapshots, 5, seed=7)

    full_positives = full.filter(pl.col(LABEL) == 1).select(KEYS)
    sampled_positives = sampled.filter(pl.col(LABEL) == 1).select(KEYS)
    assert sampled_positives.equals(full_positives)


def test_sampling_bounds_negatives(timed_snapshots: list[LabelledSnapshot]) -> None:
    full = group_counts(labelled_rows(timed_snapshots, None, seed=7))

    sampled = group_counts(labelled_rows(timed_snapshots, 5, seed=7))

    assert sampled.select(GROUP, USER_ID).equals(full.select(GROUP, USER_ID))
    expected = [min(5, negatives) for negatives in full["negatives"].to_list()]
    assert sampled["negatives"].to_list() == expected


def test_sampling_subset_of_candidates(
    timed_rows: pl.DataFrame, timed_snapshots: list[LabelledSnapshot]
) -> None:
    sampled = labelled_rows(timed_snapshots, 5, seed=7)

    keys = set(sampled.select(*KEYS, LABEL).iter_rows())
    assert keys <= set(timed_rows.select(*KEYS, LABEL).iter_rows())
    assert len(keys) == sampled.height


def test_sampling_same_seed_same_rows(
    timed_snapshots: list[LabelledSnapshot],
) -> None:
    first = labelled_rows(timed_snapshots, 5, seed=7)
    second = labelled_rows(timed_snapshots, 5, seed=7)

    assert first.equals(second)


def test_sampling_other_seed_other_rows(
    timed_snapshots: list[LabelledSnapshot],
) -> None:
    first = labelled_rows(timed_snapshots, 5, seed=7)
    second = labelled_rows(timed_snapshots, 5, seed=8)

    assert first.height == second.height
    assert not first.select(KEYS).equals(second.select(KEYS))


# ---------------------------------------------------------------------------
# rows_in_memory.
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def hand_tables(
    hand_snapshots: list[LabelledSnapshot],
) -> dict[datetime, dict[str, pl.DataFrame]]:
    return {s.snapshot.cutoff: compute_tables(s.snapshot) for s in hand_snapshots}


def feature_at(
    featured: pl.DataFrame, column: str, group: int, user: str, restaurant: str
) -> object:
    row = featured.filter(
        (pl.col(GROUP) == group)
        & (pl.col(USER_ID) == user)
        & (pl.col(RESTAURANT_ID) == restaurant)
    )
    assert row.height == 1
    return row[column].item()


def test_in_memory_user_count_per_cutoff(
    hand_rows: pl.DataFrame, hand_tables: dict[datetime, dict[str, pl.DataFrame]]
) -> None:
    featured = rows_in_memory(hand_rows, hand_tables)

    # u1 has o1 before the first cutoff and o1, o2, o3 before the second.
    assert feature_at(featured, "user_order_count", 0, "u1", "r1") == 1
    assert feature_at(featured, "user_order_count", 1, "u1", "r1") == 3
    # u2 has o4 before the second cutoff (its first-cutoff group is left out).
    assert feature_at(featured, "user_order_count", 1, "u2", "r1") == 1


def test_in_memory_restaurant_per_cutoff(
    hand_rows: pl.DataFrame, hand_tables: dict[datetime, dict[str, pl.DataFrame]]
) -> None:
    featured = rows_in_memory(hand_rows, hand_tables)

    # r1 has o1 and o7 before both cutoffs. r2 has o2 and o3, both between them.
    assert feature_at(featured, "restaurant_order_count", 0, "u1", "r1") == 2
    assert feature_at(featured, "restaurant_order_count", 1, "u1", "r1") == 2
    assert feature_at(featured, "restaurant_order_count", 0, "u1", "r2") == 0
    assert feature_at(featured, "restaurant_order_count", 1, "u1", "r2") == 2


def test_in_memory_pair_per_cutoff(
    hand_rows: pl.DataFrame, hand_tables: dict[datetime, dict[str, pl.DataFrame]]
) -> None:
    featured = rows_in_memory(hand_rows, hand_tables)

    assert feature_at(featured, "past_orders_here", 0, "u1", "r2") == 0
    assert feature_at(featured, "past_orders_here", 1, "u1", "r2") == 2
    assert feature_at(featured, "past_orders_here", 1, "u1", "r1") == 1
    assert feature_at(featured, "past_orders_here", 1, "u2", "r4") == 1


def test_in_memory_columns(
    hand_rows: pl.DataFrame, hand_tables: dict[datetime, dict[str, pl.DataFrame]]
) -> None:
    featured = rows_in_memory(hand_rows, hand_tables)

    assert featured.columns[: len(hand_rows.columns)] == hand_rows.columns
    for name in PAIR_FEATURES:
        assert name in featured.columns, name
    assert "user_order_count" in featured.columns
    assert "restaurant_order_count" in featured.columns
    assert featured.height == hand_rows.height


def test_in_memory_keeps_row_order(
    timed_rows: pl.DataFrame, timed_snapshots: list[LabelledSnapshot]
) -> None:
    tables = {s.snapshot.cutoff: compute_tables(s.snapshot) for s in timed_snapshots}
    shuffled = timed_rows.sample(fraction=1.0, shuffle=True, seed=3)
    columns = [*KEYS, LABEL, EVENT_TIMESTAMP]

    featured = rows_in_memory(shuffled, tables)

    # The shuffle must have moved rows, or the check below proves nothing.
    assert not shuffled.select(columns).equals(timed_rows.select(columns))
    assert featured.select(columns).equals(shuffled.select(columns))


def test_in_memory_matches_user_history(
    timed_rows: pl.DataFrame,
    timed_store: StoreFrames,
    timed_snapshots: list[LabelledSnapshot],
) -> None:
    tables = {s.snapshot.cutoff: compute_tables(s.snapshot) for s in timed_snapshots}
    orders = list(timed_store.orders.iter_rows(named=True))
    featured = rows_in_memory(timed_rows, tables)
    per_user = featured.select(GROUP, EVENT_TIMESTAMP, USER_ID, "user_order_count")

    for _, stamp, user, count in per_user.unique().iter_rows():
        cutoff = stamp.astimezone(UTC).replace(tzinfo=None)
        expected = sum(
            1 for o in orders if o[USER_ID] == user and o["ordered_at"] < cutoff
        )
        assert count == expected, (stamp, user)


def test_cutoff_rows_match_in_memory(
    timed_rows: pl.DataFrame, timed_snapshots: list[LabelledSnapshot]
) -> None:
    labelled = timed_snapshots[-1]
    tables = compute_tables(labelled.snapshot)
    part = timed_rows.filter(pl.col(EVENT_TIMESTAMP) == labelled.snapshot.cutoff)
    # A user and a restaurant without feature rows get nulls, as in a join.
    unknown = part.head(2).with_columns(
        pl.Series(USER_ID, ["u-unknown", part[USER_ID][0]]),
        pl.Series(RESTAURANT_ID, [part[RESTAURANT_ID][0], "r-unknown"]),
    )
    part = pl.concat([part, unknown])

    fast = CutoffRows(labelled.snapshot.cutoff, tables).rows(part)
    joined = rows_in_memory(part, {labelled.snapshot.cutoff: tables})

    assert fast.height == joined.height > 1_000
    compared = 0
    for name, dtype in fast.schema.items():
        want = joined[name]
        if not dtype.is_numeric():
            assert fast[name].equals(want), name
            continue
        got = fast[name].cast(pl.Float64).to_numpy()
        expected = want.cast(pl.Float64).to_numpy()
        np.testing.assert_array_equal(np.isnan(got), np.isnan(expected), name)
        np.testing.assert_allclose(got, expected, rtol=1e-12, err_msg=name)
        compared += 1
    assert set(PAIR_FEATURES) <= set(fast.columns)
    assert compared > 40
    assert fast[-2:, "user_order_count"].is_null().to_list() == [True, False]
    assert fast[-2:, "distance_km"].is_null().to_list() == [True, True]


def test_in_memory_missing_cutoff(
    hand_rows: pl.DataFrame, hand_tables: dict[datetime, dict[str, pl.DataFrame]]
) -> None:
    only_first = {FIRST_CUTOFF: hand_tables[FIRST_CUTOFF]}

    with pytest.raises(ValueError, match="some rows have a cutoff without feature"):
        rows_in_memory(hand_rows, only_first)


# ---------------------------------------------------------------------------
# training_set.
# ---------------------------------------------------------------------------


def test_training_set_by_hand(hand_rows: pl.DataFrame) -> None:
    shuffled = hand_rows.sample(fraction=1.0, shuffle=True, seed=5)

    training = training_set(shuffled)

    assert training.rows.select(*KEYS, LABEL).rows() == HAND_ROWS
    # (0, u1), (1, u1), (1, u2): 3 open restaurants, then 4 and 4.
    assert training.group_sizes.tolist() == [3, 4, 4]


def test_training_set_sorted(timed_rows: pl.DataFrame) -> None:
    shuffled = timed_rows.sample(fraction=1.0, shuffle=True, seed=5)

    training = training_set(shuffled)

    keys = training.rows.select(KEYS).rows()
    assert keys == sorted(keys)
    assert training.rows.height == timed_rows.height


def test_training_set_group_sizes(timed_rows: pl.DataFrame) -> None:
    training = training_set(timed_rows.sample(fraction=1.0, shuffle=True, seed=5))
    keys = training.rows.select(GROUP, USER_ID).rows()
    runs: list[int] = []
    for index, key in enumerate(keys):
        if index > 0 and key == keys[index - 1]:
            runs[-1] += 1
        else:
            runs.append(1)

    assert int(training.group_sizes.sum()) == training.rows.height
    assert training.group_sizes.tolist() == runs
    # Each (group, user) forms exactly one run of rows.
    assert len(runs) == len(set(keys))


def test_training_set_keeps_features(
    hand_rows: pl.DataFrame, hand_tables: dict[datetime, dict[str, pl.DataFrame]]
) -> None:
    featured = rows_in_memory(hand_rows, hand_tables)

    training = training_set(featured)

    assert training.rows.columns == featured.columns
    counts = training.rows.filter(pl.col(RESTAURANT_ID) == "r1")["user_order_count"]
    # Sorted rows: (0, u1), (1, u1), (1, u2).
    assert counts.to_list() == [1, 3, 1]


def test_in_memory_no_tables_rejected(hand_rows: pl.DataFrame) -> None:
    with pytest.raises(ValueError, match="some rows have a cutoff without feature"):
        rows_in_memory(hand_rows, {})


# One candidate per user: the user's history, most ordered first.
ONE_CANDIDATE = CandidateSettings(
    total=1, collaborative=1, content=1, local=1, popular=1
)


def test_labelled_rows_add_missed_positives(
    hand_snapshots: list[LabelledSnapshot],
) -> None:
    rows = labelled_rows(hand_snapshots, None, seed=7, candidates=ONE_CANDIDATE)

    # At the first cutoff u1's candidate is r1 (ordered before); the label r2
    # is added. At the second, r1 and r2 have two orders each and r1 wins by
    # id; u2's candidate is r4 and the label r3 is added.
    assert rows.select([*KEYS, LABEL]).rows() == [
        (0, "u1", "r1", 0),
        (0, "u1", "r2", 1),
        (1, "u1", "r1", 1),
        (1, "u2", "r3", 1),
        (1, "u2", "r4", 0),
    ]


def test_labelled_rows_missed_positives_stay_missed(
    hand_snapshots: list[LabelledSnapshot],
) -> None:
    rows = labelled_rows(
        hand_snapshots,
        None,
        seed=7,
        candidates=ONE_CANDIDATE,
        add_missed_positives=False,
    )

    # Only u1 at the second cutoff has its positive among the candidates.
    assert rows.select([*KEYS, LABEL]).rows() == [(1, "u1", "r1", 1)]


def test_snapshot_candidates_all_open(hand_snapshots: list[LabelledSnapshot]) -> None:
    pairs = snapshot_candidates(hand_snapshots[1], None)

    assert pair_set(pairs) == {
        (user, restaurant)
        for user in ("u1", "u2")
        for restaurant in ("r1", "r2", "r3", "r4")
    }


def test_labelled_rows_sample_users(timed_snapshots: list[LabelledSnapshot]) -> None:
    full = labelled_rows(timed_snapshots, None, seed=7)
    sampled = labelled_rows(timed_snapshots, None, seed=7, max_users_per_cutoff=5)
    again = labelled_rows(timed_snapshots, None, seed=7, max_users_per_cutoff=5)

    users = sampled.group_by(GROUP).agg(pl.col(USER_ID).n_unique())[USER_ID]
    assert users.max() == 5
    assert sampled.equals(again)
    # The sampled groups are whole groups of the full set.
    assert sampled.join(full, on=[*KEYS, LABEL], how="anti").height == 0
    full_groups = full.group_by(GROUP, USER_ID).len()
    sampled_groups = sampled.group_by(GROUP, USER_ID).len()
    assert sampled_groups.join(full_groups, on=[GROUP, USER_ID, "len"]).height == (
        sampled_groups.height
    )
