"""Tests of the training cutoffs, their labels and the stacked feature history.

Orders with times come from hand-made order lists and a small synthetic world,
orders without times from the bundled UCI ratings. The ranker config tests
are here because the config's ``cutoffs`` mapping builds the settings.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import yaml

from features.paths import RANKER_CONFIG, UCI_DATA_DIR
from features.schema import ORDER_ID, RESTAURANT_ID, USER_ID
from features.synthetic import WorldConfig, generate_world
from features.transforms import FEATURE_TABLES, USER, StoreFrames
from features.uci import load_uci
from models.candidates import CandidateSettings
from models.cutoffs import (
    UNTIMED_EPOCH,
    CutoffSettings,
    LabelledSnapshot,
    describe_relevance,
    feature_history,
    has_order_times,
    relevant_orders,
    serving_cutoff,
    stack_cutoffs,
    training_snapshots,
)
from models.ranker import load_config

STORE_TABLES = ("users", "restaurants", "menu_items", "orders", "order_items")
# Cutoffs 5 days apart with a 4-day horizon: the label windows do not touch.
HAND_SETTINGS = CutoffSettings(cutoffs=3, cutoff_every_days=5, horizon_days=4)
NOW = datetime(2025, 5, 1, 12, 30, tzinfo=UTC)

# Order id, user, restaurant, naive UTC time. The last order is on 2024-03-20,
# so the serving cutoff is 2024-03-21 and, with HAND_SETTINGS, the training
# cutoffs are 2024-03-07, 2024-03-12 and 2024-03-17.
HAND_ORDERS = [
    ("o1", "u1", "r1", datetime(2024, 3, 6, 23, 59, 59)),
    ("o2", "u1", "r2", datetime(2024, 3, 7)),
    ("o3", "u2", "r1", datetime(2024, 3, 10, 23, 59, 59)),
    # Exactly at the end of the first label window, so in no window.
    ("o4", "u2", "r3", datetime(2024, 3, 11)),
    # A repeat of o2's pair, placed after the second cutoff.
    ("o5", "u1", "r2", datetime(2024, 3, 12, 8)),
    # Between the second label window (ending 03-16) and the third cutoff.
    ("o6", "u3", "r1", datetime(2024, 3, 16, 12)),
    ("o7", "u2", "r2", datetime(2024, 3, 20, 18, 30)),
]


def orders_only_store(rows: list[tuple[str, str, str, datetime | None]]) -> StoreFrames:
    """A store with only orders: enough for cutoffs, not for feature tables."""
    orders = pl.DataFrame(
        rows,
        schema={
            ORDER_ID: pl.String,
            USER_ID: pl.String,
            RESTAURANT_ID: pl.String,
            "ordered_at": pl.Datetime("us"),
        },
        orient="row",
    )
    empty = pl.DataFrame()
    return StoreFrames(users=empty, restaurants=empty, menu_items=empty, orders=orders)


def pairs(frame: pl.DataFrame) -> Counter[tuple[str, str]]:
    """The (user, restaurant) pairs of a frame, with repeats counted."""
    return Counter(frame.select(USER_ID, RESTAURANT_ID).iter_rows())


def order_ids(frame: pl.DataFrame) -> set[str]:
    return set(frame[ORDER_ID].to_list())


def as_naive_utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None)


@pytest.fixture(scope="module")
def timed_store() -> StoreFrames:
    world = generate_world(WorldConfig(users=200, restaurants=60, days=40, seed=5))
    return StoreFrames.from_store_tables(**{name: world[name] for name in STORE_TABLES})


@pytest.fixture(scope="module")
def uci_store() -> StoreFrames:
    tables = load_uci(UCI_DATA_DIR).tables
    return StoreFrames.from_store_tables(
        **{name: tables[name] for name in STORE_TABLES}
    )


@pytest.fixture(scope="module")
def uci_snapshots(uci_store: StoreFrames) -> list[LabelledSnapshot]:
    return training_snapshots(uci_store, CutoffSettings(label_folds=5, seed=7))


# ---------------------------------------------------------------------------
# has_order_times and serving_cutoff.
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("times", "expected"),
    [
        ([datetime(2024, 3, 1), datetime(2024, 3, 2)], True),
        ([None, None], False),
        ([datetime(2024, 3, 1), None], False),
        ([], False),
    ],
    ids=["all-timed", "none-timed", "one-untimed", "no-orders"],
)
def test_has_order_times(times: list[datetime | None], expected: bool) -> None:
    store = orders_only_store(
        [(f"o{i}", "u1", "r1", moment) for i, moment in enumerate(times)]
    )

    assert has_order_times(store) is expected


@pytest.mark.parametrize(
    ("last_order", "expected"),
    [
        (datetime(2024, 3, 5, 17, 30), datetime(2024, 3, 6, tzinfo=UTC)),
        (datetime(2024, 3, 5, 23, 59, 59, 999999), datetime(2024, 3, 6, tzinfo=UTC)),
        # An order at midnight must stay strictly before the serving cutoff.
        (datetime(2024, 3, 5), datetime(2024, 3, 6, tzinfo=UTC)),
        (datetime(2024, 12, 31, 8), datetime(2025, 1, 1, tzinfo=UTC)),
    ],
    ids=["afternoon", "last-microsecond", "midnight", "new-year"],
)
def test_serving_cutoff_midnight_after_last(
    last_order: datetime, expected: datetime
) -> None:
    store = orders_only_store(
        [
            ("o1", "u1", "r1", datetime(2024, 1, 2, 9)),
            ("o2", "u1", "r2", last_order),
        ]
    )

    cutoff = serving_cutoff(store, now=NOW)

    assert cutoff == expected
    assert cutoff.utcoffset() == timedelta(0)


def test_serving_cutoff_untimed_is_now(uci_store: StoreFrames) -> None:
    assert serving_cutoff(uci_store, now=NOW) == NOW


def test_serving_cutoff_untimed_default_now(uci_store: StoreFrames) -> None:
    before = datetime.now(UTC)

    cutoff = serving_cutoff(uci_store)

    assert before <= cutoff <= datetime.now(UTC)


# ---------------------------------------------------------------------------
# Training cutoffs of orders with times.
# ---------------------------------------------------------------------------


def test_timed_cutoffs_by_hand() -> None:
    snapshots = training_snapshots(orders_only_store(HAND_ORDERS), HAND_SETTINGS)

    assert [labelled.snapshot.cutoff for labelled in snapshots] == [
        datetime(2024, 3, 7, tzinfo=UTC),
        datetime(2024, 3, 12, tzinfo=UTC),
        datetime(2024, 3, 17, tzinfo=UTC),
    ]


def test_min_rating_without_labels_names_setting() -> None:
    store = orders_only_store(HAND_ORDERS)
    ratings = [None, 3.0, 2.0, None, None, 3.0, None]
    orders = store.orders.with_columns(pl.Series("rating", ratings))
    settings = replace(HAND_SETTINGS, min_rating=4.0)

    with pytest.raises(ValueError) as raised:
        training_snapshots(replace(store, orders=orders), settings)

    assert str(raised.value) == (
        "relevance.min_rating is 4, but no order has a rating of at least 4 (3 "
        "of 7 orders have a rating), so no order counts as a label; lower "
        "min_rating, or set it to null to count every order"
    )


def test_timed_labels_by_hand() -> None:
    snapshots = training_snapshots(orders_only_store(HAND_ORDERS), HAND_SETTINGS)
    first, second, third = (pairs(labelled.labels) for labelled in snapshots)

    # o2 at the first cutoff itself and o3 one second before its window ends.
    assert first == Counter({("u1", "r2"): 1, ("u2", "r1"): 1})
    assert second == Counter({("u1", "r2"): 1})
    assert third == Counter({("u2", "r2"): 1})


def test_timed_visible_orders_by_hand() -> None:
    snapshots = training_snapshots(orders_only_store(HAND_ORDERS), HAND_SETTINGS)
    first, second, third = (order_ids(s.snapshot.orders) for s in snapshots)

    # o2 is placed at the first cutoff, so that snapshot does not see it.
    assert first == {"o1"}
    assert second == {"o1", "o2", "o3", "o4"}
    assert third == {"o1", "o2", "o3", "o4", "o5", "o6"}


def test_timed_labels_columns() -> None:
    snapshots = training_snapshots(orders_only_store(HAND_ORDERS), HAND_SETTINGS)

    for labelled in snapshots:
        assert labelled.labels.columns == [USER_ID, RESTAURANT_ID]


def test_timed_cutoffs_count_spacing(timed_store: StoreFrames) -> None:
    settings = CutoffSettings(cutoffs=4, cutoff_every_days=5, horizon_days=6)
    end = serving_cutoff(timed_store)

    cutoffs = [s.snapshot.cutoff for s in training_snapshots(timed_store, settings)]

    assert len(cutoffs) == 4
    assert cutoffs[-1] == end - timedelta(days=6)
    for earlier, later in pairwise(cutoffs):
        assert later - earlier == timedelta(days=5)


def test_timed_labels_in_horizon(timed_store: StoreFrames) -> None:
    # Windows of 9 days every 4 days overlap, so an order can label two cutoffs.
    settings = CutoffSettings(cutoffs=3, cutoff_every_days=4, horizon_days=9)
    orders = list(timed_store.orders.iter_rows(named=True))

    for labelled in training_snapshots(timed_store, settings):
        start = as_naive_utc(labelled.snapshot.cutoff)
        stop = start + timedelta(days=9)
        expected = Counter(
            (order[USER_ID], order[RESTAURANT_ID])
            for order in orders
            if start <= order["ordered_at"] < stop
        )
        assert expected, f"no orders in the window from {start}"
        assert pairs(labelled.labels) == expected, f"cutoff {start}"


def test_timed_snapshot_sees_only_past(timed_store: StoreFrames) -> None:
    orders = list(timed_store.orders.iter_rows(named=True))

    for labelled in training_snapshots(timed_store, CutoffSettings()):
        cutoff = as_naive_utc(labelled.snapshot.cutoff)
        expected = {o[ORDER_ID] for o in orders if o["ordered_at"] < cutoff}
        assert order_ids(labelled.snapshot.orders) == expected, f"cutoff {cutoff}"


def test_timed_snapshot_stores_whole_store(timed_store: StoreFrames) -> None:
    for labelled in training_snapshots(timed_store, CutoffSettings()):
        assert labelled.snapshot.store is timed_store


def test_timed_repeats_allowed(timed_store: StoreFrames) -> None:
    snapshots = training_snapshots(timed_store, CutoffSettings())

    assert [labelled.repeats_allowed for labelled in snapshots] == [True] * 4


# ---------------------------------------------------------------------------
# Label folds of orders without times.
# ---------------------------------------------------------------------------


def test_untimed_cutoffs_fold_days(uci_snapshots: list[LabelledSnapshot]) -> None:
    assert [labelled.snapshot.cutoff for labelled in uci_snapshots] == [
        datetime(2000, 1, 1, tzinfo=UTC),
        datetime(2000, 1, 2, tzinfo=UTC),
        datetime(2000, 1, 3, tzinfo=UTC),
        datetime(2000, 1, 4, tzinfo=UTC),
        datetime(2000, 1, 5, tzinfo=UTC),
    ]
    assert uci_snapshots[0].snapshot.cutoff == UNTIMED_EPOCH


def test_untimed_every_order_one_label(
    uci_store: StoreFrames, uci_snapshots: list[LabelledSnapshot]
) -> None:
    all_labels: Counter[tuple[str, str]] = Counter()
    for labelled in uci_snapshots:
        all_labels += pairs(labelled.labels)

    # A UCI order id is "user:restaurant", so every pair occurs once.
    assert max(pairs(uci_store.orders).values()) == 1
    assert all_labels == pairs(uci_store.orders)


def test_untimed_labels_hidden_in_fold(
    uci_store: StoreFrames, uci_snapshots: list[LabelledSnapshot]
) -> None:
    everything = set(pairs(uci_store.orders))

    for fold, labelled in enumerate(uci_snapshots):
        labels = set(pairs(labelled.labels))
        visible = set(pairs(labelled.snapshot.orders))
        assert not labels & visible, f"fold {fold}"
        assert labels | visible == everything, f"fold {fold}"


def test_untimed_fold_sizes_equal(
    uci_store: StoreFrames, uci_snapshots: list[LabelledSnapshot]
) -> None:
    total = uci_store.orders.height
    sizes = [labelled.labels.height for labelled in uci_snapshots]

    assert sum(sizes) == total
    assert set(sizes) <= {total // 5, total // 5 + 1}


def test_untimed_repeats_not_allowed(uci_snapshots: list[LabelledSnapshot]) -> None:
    assert [labelled.repeats_allowed for labelled in uci_snapshots] == [False] * 5


def test_untimed_folds_ignore_row_order(
    uci_store: StoreFrames, uci_snapshots: list[LabelledSnapshot]
) -> None:
    reversed_store = replace(uci_store, orders=uci_store.orders.reverse())

    again = training_snapshots(reversed_store, CutoffSettings(label_folds=5, seed=7))

    for fold, (first, second) in enumerate(zip(uci_snapshots, again, strict=True)):
        assert pairs(first.labels) == pairs(second.labels), f"fold {fold}"


def test_untimed_folds_follow_seed(
    uci_store: StoreFrames, uci_snapshots: list[LabelledSnapshot]
) -> None:
    other = training_snapshots(uci_store, CutoffSettings(label_folds=5, seed=8))

    assert pairs(other[0].labels) != pairs(uci_snapshots[0].labels)


def test_untimed_mixed_orders_use_folds() -> None:
    # One order without a time is enough to fall back to label folds.
    store = orders_only_store(
        [
            ("o1", "u1", "r1", datetime(2024, 3, 1)),
            ("o2", "u1", "r2", None),
            ("o3", "u2", "r1", datetime(2024, 3, 2)),
            ("o4", "u2", "r3", None),
        ]
    )

    snapshots = training_snapshots(store, CutoffSettings(label_folds=2))

    assert [s.snapshot.cutoff for s in snapshots] == [
        UNTIMED_EPOCH,
        UNTIMED_EPOCH + timedelta(days=1),
    ]
    assert sum(s.labels.height for s in snapshots) == 4


# ---------------------------------------------------------------------------
# CutoffSettings.validate.
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["label_folds", "cutoffs", "cutoff_every_days", "horizon_days"]
)
@pytest.mark.parametrize("value", [0, -3, 2.5, "7"])
def test_validate_not_positive_integer(name: str, value: object) -> None:
    settings = CutoffSettings(**{name: value})

    with pytest.raises(ValueError, match=f"{name} must be a positive integer"):
        settings.validate()


def test_validate_one_label_fold() -> None:
    with pytest.raises(ValueError, match="label_folds must be at least 2, got 1"):
        CutoffSettings(label_folds=1).validate()


def test_validate_defaults_pass() -> None:
    CutoffSettings().validate()
    CutoffSettings(label_folds=2, cutoffs=1, cutoff_every_days=1).validate()


def test_training_snapshots_validates() -> None:
    store = orders_only_store(HAND_ORDERS)

    with pytest.raises(ValueError, match="horizon_days must be a positive integer"):
        training_snapshots(store, CutoffSettings(horizon_days=0))


# ---------------------------------------------------------------------------
# feature_history.
# ---------------------------------------------------------------------------


def entity_rows(store: StoreFrames, table: str) -> int:
    entity = FEATURE_TABLES[table].entity
    return store.users.height if entity == USER else store.restaurants.height


def test_history_timed_blocks(timed_store: StoreFrames) -> None:
    settings = CutoffSettings(cutoffs=2, cutoff_every_days=7, horizon_days=7)
    end = serving_cutoff(timed_store)
    expected = [end - timedelta(days=14), end - timedelta(days=7), end]

    history = feature_history(timed_store, settings)

    assert set(history) == set(FEATURE_TABLES)
    for name, frame in history.items():
        blocks = frame.group_by("event_timestamp").len().sort("event_timestamp")
        assert blocks["event_timestamp"].to_list() == expected, name
        rows = entity_rows(timed_store, name)
        assert blocks["len"].to_list() == [rows, rows, rows], name


def test_history_timed_counts_past(timed_store: StoreFrames) -> None:
    settings = CutoffSettings(cutoffs=2, cutoff_every_days=7, horizon_days=7)
    orders = list(timed_store.orders.iter_rows(named=True))

    activity = feature_history(timed_store, settings)["user_activity"]
    totals = activity.group_by("event_timestamp").agg(pl.col("user_order_count").sum())

    for stamp, total in totals.iter_rows():
        cutoff = as_naive_utc(stamp)
        expected = sum(1 for order in orders if order["ordered_at"] < cutoff)
        assert total == expected, f"cutoff {cutoff}"


def test_history_timed_restaurant_keys(timed_store: StoreFrames) -> None:
    settings = CutoffSettings(cutoffs=2)
    restaurants = sorted(timed_store.restaurants[RESTAURANT_ID].to_list())

    popularity = feature_history(timed_store, settings)["restaurant_popularity"]

    for (stamp,), block in popularity.group_by("event_timestamp"):
        assert sorted(block[RESTAURANT_ID].to_list()) == restaurants, stamp


def test_history_untimed_blocks(uci_store: StoreFrames) -> None:
    settings = CutoffSettings(label_folds=5, seed=7)
    expected = [UNTIMED_EPOCH + timedelta(days=fold) for fold in range(5)] + [NOW]

    history = feature_history(uci_store, settings, now=NOW)

    for name, frame in history.items():
        blocks = frame.group_by("event_timestamp").len().sort("event_timestamp")
        assert blocks["event_timestamp"].to_list() == expected, name
        rows = entity_rows(uci_store, name)
        assert blocks["len"].to_list() == [rows] * 6, name


def test_history_untimed_counts_visible(
    uci_store: StoreFrames, uci_snapshots: list[LabelledSnapshot]
) -> None:
    settings = CutoffSettings(label_folds=5, seed=7)
    total = uci_store.orders.height

    activity = feature_history(uci_store, settings, now=NOW)["user_activity"]
    sums = dict(
        activity.group_by("event_timestamp")
        .agg(pl.col("user_order_count").sum())
        .iter_rows()
    )

    # Each fold's block counts the other folds' orders, the serving block all.
    for fold, labelled in enumerate(uci_snapshots):
        stamp = UNTIMED_EPOCH + timedelta(days=fold)
        assert sums[stamp] == total - labelled.labels.height, f"fold {fold}"
    assert sums[NOW] == total


# ---------------------------------------------------------------------------
# load_config and its cutoffs mapping.
# ---------------------------------------------------------------------------


def write_config(folder: Path, **changes: Any) -> Path:
    """Write a valid ranker config with ``changes`` applied; None drops a key."""
    settings: dict[str, Any] = {
        "feature_service": "ranker_test",
        "seed": 11,
        "num_boost_round": 20,
        "params": {"objective": "lambdarank"},
        "cutoffs": {"count": 3, "every_days": 2, "horizon_days": 5, "label_folds": 4},
        "negatives_per_group": 30,
    }
    for key, value in changes.items():
        if value is None:
            settings.pop(key, None)
        else:
            settings[key] = value
    path = folder / "ranker.yaml"
    path.write_text(yaml.safe_dump(settings))
    return path


def test_shipped_config_loads() -> None:
    config = load_config(RANKER_CONFIG)

    assert config.feature_service == "ranker_v2"
    assert config.seed == 7
    assert config.cutoffs == CutoffSettings(
        label_folds=5, seed=7, cutoffs=4, cutoff_every_days=7, horizon_days=7
    )
    assert config.negatives_per_group == 100
    assert config.max_users_per_cutoff == 6000
    assert config.num_boost_round == 300
    assert config.early_stopping_rounds == 30
    assert config.cutoffs.min_rating is None
    assert config.params["objective"] == "lambdarank"
    assert config.params["seed"] == 7


def test_config_cutoffs_mapping(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path))

    assert config.feature_service == "ranker_test"
    assert config.cutoffs == CutoffSettings(
        label_folds=4, seed=11, cutoffs=3, cutoff_every_days=2, horizon_days=5
    )
    assert config.params["seed"] == 11


def test_config_without_cutoffs(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path, cutoffs=None))

    assert config.cutoffs == CutoffSettings(seed=11)


def test_config_missing_feature_service(tmp_path: Path) -> None:
    path = write_config(tmp_path, feature_service=None)

    with pytest.raises(ValueError, match="missing required setting 'feature_service'"):
        load_config(path)
    with pytest.raises(ValueError, match=re.escape(str(path))):
        load_config(path)


@pytest.mark.parametrize(
    ("value", "shown"),
    [("", "''"), (["ranker_v2"], "['ranker_v2']"), (2, "2")],
    ids=["empty", "list", "number"],
)
def test_config_feature_service_not_a_name(
    tmp_path: Path, value: object, shown: str
) -> None:
    path = write_config(tmp_path, feature_service=value)

    with pytest.raises(ValueError) as raised:
        load_config(path)

    assert str(raised.value) == (
        f"{path}: feature_service must name a feature service of "
        f"feature_repo/definitions.py, such as ranker_v2; got {shown}"
    )


def test_config_unknown_cutoffs_key(tmp_path: Path) -> None:
    path = write_config(tmp_path, cutoffs={"count": 3, "every_day": 2})

    with pytest.raises(ValueError, match=r"unknown 'cutoffs' settings \['every_day'\]"):
        load_config(path)
    with pytest.raises(ValueError, match=re.escape(str(path))):
        load_config(path)


@pytest.mark.parametrize(
    ("key", "value"),
    [("count", 0), ("count", -2), ("every_days", 0), ("horizon_days", -1)],
)
def test_config_non_positive_cutoffs(tmp_path: Path, key: str, value: int) -> None:
    path = write_config(tmp_path, cutoffs={key: value})

    message = f"cutoffs: {key} must be an integer of at least 1, got {value}"
    with pytest.raises(ValueError, match=message):
        load_config(path)
    with pytest.raises(ValueError, match=re.escape(str(path))):
        load_config(path)


def test_config_boolean_count_rejected(tmp_path: Path) -> None:
    path = write_config(tmp_path, cutoffs={"count": True})

    with pytest.raises(ValueError, match="count must be an integer"):
        load_config(path)


def test_config_unknown_top_level_setting(tmp_path: Path) -> None:
    # label_folds belongs under cutoffs; at the top level it would do nothing.
    path = write_config(tmp_path, label_folds=3)

    with pytest.raises(ValueError, match=r"unknown settings \['label_folds'\]"):
        load_config(path)


def test_config_misspelled_seed_named(tmp_path: Path) -> None:
    path = write_config(tmp_path, seed=None, seeed=11)

    with pytest.raises(ValueError, match=r"unknown settings \['seeed'\]"):
        load_config(path)


def test_config_misspelled_lightgbm_param(tmp_path: Path) -> None:
    params = {"objective": "lambdarank", "num_leavs": 15, "max_leaf": 7}
    path = write_config(tmp_path, params=params)

    with pytest.raises(ValueError) as raised:
        load_config(path)

    assert str(raised.value).startswith(
        f"{path}: params: unknown LightGBM parameters ['num_leavs']; "
    )


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("seed", "seven", "seed must be an integer of at least 0, got 'seven'"),
        ("seed", -1, "seed must be an integer of at least 0, got -1"),
        ("seed", 7.5, "seed must be an integer of at least 0, got 7.5"),
        ("seed", True, "seed must be an integer of at least 0, got True"),
        (
            "seed",
            2**31,
            "seed must be an integer from 0 to 2147483647, got 2147483648",
        ),
        (
            "num_boost_round",
            0,
            "num_boost_round must be an integer of at least 1, got 0",
        ),
        (
            "num_boost_round",
            "300",
            "num_boost_round must be an integer of at least 1, got '300'",
        ),
        (
            "params",
            [1, 2],
            "params must be a mapping of LightGBM parameters, got [1, 2]",
        ),
        (
            "params",
            "lambdarank",
            "params must be a mapping of LightGBM parameters, got 'lambdarank'",
        ),
    ],
    ids=[
        "seed-text",
        "seed-negative",
        "seed-float",
        "seed-boolean",
        "seed-above-32-bits",
        "rounds-zero",
        "rounds-text",
        "params-list",
        "params-text",
    ],
)
def test_config_setting_wrong_type(
    tmp_path: Path, key: str, value: object, message: str
) -> None:
    path = write_config(tmp_path, **{key: value})

    with pytest.raises(ValueError) as raised:
        load_config(path)

    assert str(raised.value) == f"{path}: {message}"


@pytest.mark.parametrize(
    ("params", "name", "value"),
    [
        ({"objective": "regression"}, "objective", "regression"),
        ({"objective": "binary"}, "objective", "binary"),
        ({"loss": "regression_l1"}, "loss", "regression_l1"),
    ],
    ids=["regression", "binary", "alias"],
)
def test_config_non_ranking_objective_rejected(
    tmp_path: Path, params: dict[str, str], name: str, value: str
) -> None:
    path = write_config(tmp_path, params=params)

    with pytest.raises(ValueError) as raised:
        load_config(path)

    assert str(raised.value) == (
        f"{path}: params: {name} must be a ranking objective, lambdarank or "
        f"rank_xendcg, got {value!r}; training groups the rows by user and "
        "cutoff and measures NDCG"
    )


WHOLE_32_BITS = "a whole number from -2147483648 to 2147483647"


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("learning_rate", "fast", "a finite number"),
        ("eta", True, "a finite number"),
        ("lambda_l2", float("nan"), "a finite number"),
        ("num_leaves", 15.5, WHOLE_32_BITS),
        ("min_child_samples", "20", WHOLE_32_BITS),
        ("max_bin", 99_999_999_999, WHOLE_32_BITS),
        ("num_leaves", 2**31, WHOLE_32_BITS),
        ("random_state", -(2**31) - 1, WHOLE_32_BITS),
        ("extra_seed", 10**11, WHOLE_32_BITS),
        ("data_seed", 2**32 + 7, WHOLE_32_BITS),
        ("min_data_in_bin", 2**32 + 3, WHOLE_32_BITS),
        ("subsample_for_bin", -(2**31) - 1, WHOLE_32_BITS),
    ],
    ids=[
        "string",
        "alias-bool",
        "nan",
        "float-for-int",
        "alias-string",
        "max-bin-above-32-bits",
        "leaves-above-32-bits",
        "seed-alias-below-32-bits",
        "extra-seed-above-32-bits",
        "data-seed-alias-above-32-bits",
        "min-data-in-bin-above-32-bits",
        "sample-count-alias-below-32-bits",
    ],
)
def test_config_numeric_param_wrong_type(
    tmp_path: Path, name: str, value: object, expected: str
) -> None:
    path = write_config(tmp_path, params={"objective": "lambdarank", name: value})

    with pytest.raises(ValueError) as raised:
        load_config(path)

    assert str(raised.value) == (
        f"{path}: params: {name} must be {expected}, got {value!r}"
    )


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("eval_at", [2**32 + 10]),
        ("eval_at", [0]),
        ("eval_at", [10, -1]),
        ("eval_at", ["x"]),
        ("eval_at", []),
        ("eval_at", [True]),
        ("ndcg_at", 2.5),
    ],
    ids=[
        "above-32-bits",
        "zero",
        "negative",
        "string",
        "empty",
        "bool",
        "alias-float",
    ],
)
def test_config_eval_at_invalid(tmp_path: Path, name: str, value: object) -> None:
    path = write_config(tmp_path, params={"objective": "lambdarank", name: value})

    with pytest.raises(ValueError) as raised:
        load_config(path)

    assert str(raised.value) == (
        f"{path}: params: {name} must be a whole number or a non-empty list of "
        f"whole numbers from 1 to 2147483647, got {value!r}"
    )


@pytest.mark.parametrize("value", [10, [5, 10], [2147483647]])
def test_config_eval_at_accepted(tmp_path: Path, value: object) -> None:
    path = write_config(tmp_path, params={"objective": "lambdarank", "eval_at": value})

    assert load_config(path).params["eval_at"] == value


def test_config_numeric_params_accepted(tmp_path: Path) -> None:
    params = {"objective": "lambdarank", "learning_rate": 1, "num_leaves": 7}
    path = write_config(tmp_path, params=params)

    assert load_config(path).params["learning_rate"] == 1


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "seed: [1, 2\nparams: {}\n",
            "line 2, column 7: expected ',' or ']', but got ':', while parsing "
            "a flow sequence",
        ),
        ("seed: 7: 8\n", "line 1, column 8: mapping values are not allowed here"),
        (
            'feature_service: "ranker_v2\n',
            "line 2, column 1: found unexpected end of stream, while scanning a "
            "quoted scalar",
        ),
    ],
    ids=["flow-sequence", "mapping-value", "open-quote"],
)
def test_config_yaml_error_one_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "ranker.yaml"
    path.write_text(text)

    with pytest.raises(ValueError) as raised:
        load_config(path)

    assert str(raised.value) == f"{path}: invalid YAML: {message}"


def test_config_rank_xendcg_accepted(tmp_path: Path) -> None:
    path = write_config(tmp_path, params={"objective": "rank_xendcg"})

    assert load_config(path).params["objective"] == "rank_xendcg"


def test_config_repeated_key_rejected(tmp_path: Path) -> None:
    path = write_config(tmp_path)
    path.write_text(path.read_text() + "seed: 12\n")

    with pytest.raises(ValueError) as raised:
        load_config(path)

    assert str(raised.value).startswith(f"{path}: invalid YAML: line ")
    assert "found the key 'seed' twice" in str(raised.value)
    assert "\n" not in str(raised.value)


def test_config_one_label_fold(tmp_path: Path) -> None:
    path = write_config(tmp_path, cutoffs={"label_folds": 1})

    with pytest.raises(
        ValueError, match="label_folds must be an integer of at least 2, got 1"
    ):
        load_config(path)
    with pytest.raises(ValueError, match=re.escape(str(path))):
        load_config(path)


def test_config_cutoffs_not_mapping(tmp_path: Path) -> None:
    path = write_config(tmp_path, cutoffs=[4, 7, 7])

    with pytest.raises(ValueError, match="'cutoffs' must be a mapping, got list"):
        load_config(path)


def test_cutoffs_before_first_order_rejected(timed_store: StoreFrames) -> None:
    # 40 days of orders; 6 cutoffs a week apart plus a week of labels reach
    # 5 * 7 + 7 = 42 days back from the serving cutoff.
    settings = CutoffSettings(cutoffs=6, cutoff_every_days=7, horizon_days=7)

    with pytest.raises(ValueError, match="too few for the training cutoffs"):
        training_snapshots(timed_store, settings)


def test_mixed_order_times_warn(caplog: pytest.LogCaptureFixture) -> None:
    store = orders_only_store(
        [
            ("o1", "u1", "r1", datetime(2024, 1, 1)),
            ("o2", "u1", "r2", None),
            ("o3", "u2", "r1", datetime(2024, 1, 2)),
        ]
    )

    snapshots = training_snapshots(store, CutoffSettings(label_folds=2))

    assert len(snapshots) == 2
    assert "1 of 3 orders have no time" in caplog.text


# ---------------------------------------------------------------------------
# Relevance: which orders are labels.
# ---------------------------------------------------------------------------


def rated_store(times: bool) -> StoreFrames:
    """Six orders rated 0, 1, 2 or not at all, with or without times."""
    rows = [
        ("o1", "u1", "r1", datetime(2024, 3, 1), 2.0),
        ("o2", "u1", "r2", datetime(2024, 3, 9), 0.0),
        ("o3", "u2", "r1", datetime(2024, 3, 9), 1.0),
        ("o4", "u2", "r3", datetime(2024, 3, 10), None),
        ("o5", "u3", "r2", datetime(2024, 3, 11), 2.0),
        ("o6", "u3", "r3", datetime(2024, 3, 12), 1.0),
    ]
    orders = pl.DataFrame(
        [(*row[:3], row[3] if times else None, row[4]) for row in rows],
        schema={
            ORDER_ID: pl.String,
            USER_ID: pl.String,
            RESTAURANT_ID: pl.String,
            "ordered_at": pl.Datetime("us"),
            "rating": pl.Float64,
        },
        orient="row",
    )
    empty = pl.DataFrame()
    return StoreFrames(users=empty, restaurants=empty, menu_items=empty, orders=orders)


@pytest.mark.parametrize(
    ("min_rating", "expected"),
    [
        (None, {"o1", "o2", "o3", "o4", "o5", "o6"}),
        (1.0, {"o1", "o3", "o5", "o6"}),
        (2.0, {"o1", "o5"}),
    ],
)
def test_relevant_orders(min_rating: float | None, expected: set[str]) -> None:
    orders = rated_store(times=True).orders

    assert order_ids(relevant_orders(orders, min_rating)) == expected


def test_describe_relevance() -> None:
    assert describe_relevance(None) == "any order"
    assert describe_relevance(1.0) == "orders rated at least 1"
    assert describe_relevance(3.5) == "orders rated at least 3.5"


def test_timed_labels_follow_min_rating() -> None:
    # Serving cutoff 2024-03-13; one cutoff at 2024-03-09 with a 4-day horizon
    # labels o2..o6, of which o3, o5 and o6 are rated at least 1.
    settings = CutoffSettings(cutoffs=1, horizon_days=4, min_rating=1.0)
    (labelled,) = training_snapshots(rated_store(times=True), settings)

    assert pairs(labelled.labels) == Counter(
        {("u2", "r1"): 1, ("u3", "r2"): 1, ("u3", "r3"): 1}
    )
    # The features still see every order before the cutoff, rated or not.
    assert order_ids(labelled.snapshot.orders) == {"o1"}


def test_untimed_labels_follow_min_rating() -> None:
    settings = CutoffSettings(label_folds=2, min_rating=2.0)
    snapshots = training_snapshots(rated_store(times=False), settings)
    labelled = Counter[tuple[str, str]]()
    for snapshot in snapshots:
        labelled += pairs(snapshot.labels)

    # Over the folds, exactly the orders rated 2 are labels, once each.
    assert labelled == Counter({("u1", "r1"): 1, ("u3", "r2"): 1})


def test_config_relevance(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path, relevance={"min_rating": 1}))

    assert config.cutoffs.min_rating == 1.0


@pytest.mark.parametrize(
    ("relevance", "message"),
    [
        ({"min_rating": "good"}, "min_rating must be a number or null, got 'good'"),
        ({"min_rating": True}, "min_rating must be a number or null, got True"),
        (
            {"min_rating": float("nan")},
            "min_rating must be a finite number or null, got nan",
        ),
        (
            {"min_rating": float("-inf")},
            "min_rating must be a finite number or null, got -inf",
        ),
        ({"min_score": 1}, "'relevance' must be a mapping with the one key"),
        ([1], "'relevance' must be a mapping with the one key"),
    ],
)
def test_config_bad_relevance(tmp_path: Path, relevance: object, message: str) -> None:
    path = write_config(tmp_path, relevance=relevance)

    with pytest.raises(ValueError, match=re.escape(message)):
        load_config(path)


@pytest.mark.parametrize("value", [0, -3, "soon", 2.5])
def test_config_bad_early_stopping(tmp_path: Path, value: object) -> None:
    path = write_config(tmp_path, early_stopping_rounds=value)

    with pytest.raises(ValueError, match="early_stopping_rounds must be a positive"):
        load_config(path)


def test_config_candidates(tmp_path: Path) -> None:
    shipped = load_config(RANKER_CONFIG)
    custom = load_config(write_config(tmp_path, candidates={"total": 40, "local": 5}))
    without = load_config(write_config(tmp_path, candidates=None))

    assert shipped.candidates == CandidateSettings(
        total=500, collaborative=150, content=150, local=200, popular=100
    )
    assert custom.candidates == CandidateSettings(total=40, local=5)
    assert without.candidates is None


@pytest.mark.parametrize(
    ("candidates", "message"),
    [
        ({"total": 0}, "candidates: total must be a positive integer, got 0"),
        ({"nearby": 3}, "'candidates' must be a mapping with keys among"),
        (["total"], "'candidates' must be a mapping with keys among"),
    ],
)
def test_config_bad_candidates(
    tmp_path: Path, candidates: object, message: str
) -> None:
    path = write_config(tmp_path, candidates=candidates)

    with pytest.raises(ValueError, match=re.escape(message)):
        load_config(path)


def test_stack_cutoffs_types_untyped_nulls() -> None:
    # pl.lit(None) gives a column of type Null at a cutoff without values.
    untyped = pl.DataFrame({"user_id": ["u1"], "share": [None]})
    typed = pl.DataFrame({"user_id": ["u2"], "share": [0.5]})

    stacked = stack_cutoffs("user_weekend", [untyped, typed])

    assert untyped.schema["share"] == pl.Null
    assert stacked.schema["share"] == pl.Float64
    assert stacked["share"].to_list() == [None, 0.5]


def test_stack_cutoffs_all_untyped_stays_null() -> None:
    untyped = pl.DataFrame({"user_id": ["u1"], "share": [None]})

    stacked = stack_cutoffs("user_weekend", [untyped, untyped])

    assert stacked.schema["share"] == pl.Null


def test_stack_cutoffs_clashing_types_named() -> None:
    number = pl.DataFrame({"user_id": ["u1"], "share": [0.5]})
    listed = pl.DataFrame({"user_id": ["u2"], "share": [[0.5]]})

    with pytest.raises(ValueError, match="one type at every cutoff") as raised:
        stack_cutoffs("user_weekend", [number, listed])

    assert str(raised.value).startswith(
        "feature table user_weekend: column share has the types Float64, "
        "List(Float64) at different cutoffs."
    )


@pytest.mark.parametrize(
    "params",
    [{"metric": "ndcg"}, {"objective": None}],
    ids=["missing", "null"],
)
def test_config_without_objective_rejected(
    tmp_path: Path, params: dict[str, object]
) -> None:
    path = write_config(tmp_path, params=params)

    with pytest.raises(ValueError) as raised:
        load_config(path)

    assert str(raised.value) == (
        f"{path}: params: objective is missing or null; set it to lambdarank or "
        "rank_xendcg, because LightGBM's default, regression, does not rank"
    )


def test_config_file_not_read_named(tmp_path: Path) -> None:
    missing = tmp_path / "missing.yaml"
    latin = tmp_path / "latin.yaml"
    latin.write_bytes(b"seed: 7\xff\n")

    cases = {
        missing: f"{missing}: file not found; expected a YAML file of ranker settings",
        tmp_path: f"{tmp_path}: is a folder; expected a YAML file of ranker settings",
        latin: f"{latin}: not UTF-8 text (invalid start byte at byte offset 7)",
    }
    for path, message in cases.items():
        with pytest.raises(ValueError) as raised:
            load_config(path)
        assert str(raised.value) == message
