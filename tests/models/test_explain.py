"""Reasons from LightGBM feature contributions, on small hand-built models."""

from __future__ import annotations

import importlib.util
from typing import Any

import lightgbm as lgb
import numpy as np
import polars as pl
import pytest

from features.paths import FEATURE_REPO
from models.explain import (
    FAMILIES,
    GENERIC_FEATURES,
    MIN_CONTRIBUTION,
    TEMPLATED_FEATURES,
    USER_CONTEXT_FEATURES,
    cuisine_name,
    explain,
    popularity_reasons,
)
from models.ranker import LightGBMRanker

GROUPS = 40
GROUP_SIZE = 5


def fit(rows: pl.DataFrame, labels: np.ndarray) -> LightGBMRanker:
    """Train a small lambdarank model on groups of GROUP_SIZE consecutive rows."""
    features = tuple(rows.columns)
    dataset = lgb.Dataset(
        rows.cast(pl.Float64).to_numpy(),
        label=labels,
        group=[GROUP_SIZE] * (rows.height // GROUP_SIZE),
        feature_name=list(features),
    )
    params = {
        "objective": "lambdarank",
        "min_data_in_leaf": 5,
        "min_data_in_bin": 1,
        "learning_rate": 0.2,
        "num_leaves": 7,
        "num_threads": 1,
        "deterministic": True,
        "seed": 3,
        "verbosity": -1,
    }
    return LightGBMRanker(lgb.train(params, dataset, num_boost_round=30), features)


def shap_values(ranker: LightGBMRanker, rows: pl.DataFrame) -> dict[str, float]:
    """The SHAP value of each feature for the first row."""
    matrix = rows.select(ranker.features).cast(pl.Float64).to_numpy()
    values = ranker.booster.predict(matrix, pred_contrib=True)[0]
    return dict(zip(ranker.features, values[:-1].tolist(), strict=True))


@pytest.fixture(scope="module")
def past_orders_ranker() -> LightGBMRanker:
    """The chosen restaurant of each group is the one ordered from before."""
    rng = np.random.default_rng(0)
    size = GROUPS * GROUP_SIZE
    labels = np.zeros(size)
    labels[::GROUP_SIZE] = 1
    past_orders = np.where(labels == 1, rng.integers(1, 5, size), 0)
    rows = pl.DataFrame(
        {
            "past_orders_here": past_orders,
            "restaurant_mean_rating": rng.uniform(0, 2, size),
            "distance_km": rng.uniform(0.5, 8, size),
        }
    )
    return fit(rows, labels)


@pytest.fixture(scope="module")
def vegetarian_ranker() -> LightGBMRanker:
    """The chosen restaurant of each group has the largest vegetarian match."""
    rng = np.random.default_rng(1)
    size = GROUPS * GROUP_SIZE
    ratio = np.repeat(rng.uniform(0.1, 1, GROUPS), GROUP_SIZE)
    share = rng.uniform(0, 1, size)
    match = ratio * share
    chosen = match.reshape(GROUPS, GROUP_SIZE).argmax(axis=1)
    labels = np.zeros((GROUPS, GROUP_SIZE))
    labels[np.arange(GROUPS), chosen] = 1
    rows = pl.DataFrame(
        {
            "vegetarian_match": match,
            "user_vegetarian_order_ratio": ratio,
            "restaurant_vegetarian_item_share": share,
            "price_budget_gap": rng.integers(-2, 3, size),
        }
    )
    return fit(rows, labels.ravel())


def test_deciding_feature_dominates(past_orders_ranker: LightGBMRanker) -> None:
    row = pl.DataFrame(
        {"past_orders_here": [3], "restaurant_mean_rating": [1.2], "distance_km": [4.0]}
    )
    values = shap_values(past_orders_ranker, row)

    assert values["past_orders_here"] > 0
    assert values["past_orders_here"] > 3 * (
        abs(values["restaurant_mean_rating"]) + abs(values["distance_km"])
    )
    reasons = explain(past_orders_ranker, row)[0]
    assert reasons[0].text == "you ordered here 3 times"
    assert reasons[0].family == "past_orders"
    assert reasons[0].contribution == pytest.approx(values["past_orders_here"])


def test_no_past_orders_no_reason(past_orders_ranker: LightGBMRanker) -> None:
    row = pl.DataFrame(
        {"past_orders_here": [0], "restaurant_mean_rating": [1.2], "distance_km": [4.0]}
    )

    texts = [reason.text for reason in explain(past_orders_ranker, row)[0]]

    assert shap_values(past_orders_ranker, row)["past_orders_here"] < 0
    assert all("ordered here" not in text for text in texts)


def test_reasons_follow_contributions(past_orders_ranker: LightGBMRanker) -> None:
    rows = pl.DataFrame(
        {
            "past_orders_here": [1, 4],
            "restaurant_mean_rating": [0.4, 1.9],
            "distance_km": [2.0, 7.5],
        }
    )

    reasons = explain(past_orders_ranker, rows, top=1)

    assert len(reasons) == 2
    assert [r.text for r in reasons[0]] == ["you ordered here once"]
    assert [r.text for r in reasons[1]] == ["you ordered here 4 times"]


def test_floor_drops_small_pushes(past_orders_ranker: LightGBMRanker) -> None:
    row = pl.DataFrame(
        {"past_orders_here": [2], "restaurant_mean_rating": [1.0], "distance_km": [3.0]}
    )
    largest = shap_values(past_orders_ranker, row)["past_orders_here"]

    assert explain(past_orders_ranker, row, min_contribution=largest + 1e-9) == [[]]
    assert explain(past_orders_ranker, row.clear()) == []


def test_vegetarian_reason_with_numbers(vegetarian_ranker: LightGBMRanker) -> None:
    row = pl.DataFrame(
        {
            "vegetarian_match": [0.45],
            "user_vegetarian_order_ratio": [0.75],
            "restaurant_vegetarian_item_share": [0.6],
            "price_budget_gap": [1],
        }
    )

    reasons = explain(vegetarian_ranker, row)[0]

    assert reasons[0].family == "vegetarian"
    assert (
        reasons[0].text == "75% of your orders were vegetarian and 60% of this menu is"
    )


def test_vegetarian_reason_needs_vegetarian_user(
    vegetarian_ranker: LightGBMRanker,
) -> None:
    # A high match that the model likes, for a user with few vegetarian orders.
    row = pl.DataFrame(
        {
            "vegetarian_match": [0.38],
            "user_vegetarian_order_ratio": [0.4],
            "restaurant_vegetarian_item_share": [0.95],
            "price_budget_gap": [0],
        }
    )
    values = shap_values(vegetarian_ranker, row)
    vegetarian = (
        values["vegetarian_match"]
        + values["user_vegetarian_order_ratio"]
        + values["restaurant_vegetarian_item_share"]
    )

    texts = [reason.text for reason in explain(vegetarian_ranker, row)[0]]

    assert vegetarian > MIN_CONTRIBUTION
    assert vegetarian > values["price_budget_gap"]
    assert all("vegetarian" not in text for text in texts)


def test_unlisted_feature_named() -> None:
    rng = np.random.default_rng(2)
    size = GROUPS * GROUP_SIZE
    signal = rng.uniform(0, 1, size)
    labels = (signal.reshape(GROUPS, GROUP_SIZE).argmax(axis=1)[:, None]) == np.arange(
        GROUP_SIZE
    )
    rows = pl.DataFrame(
        {"new_signal": signal, "user_order_count": rng.integers(1, 9, size)}
    )
    ranker = fit(rows, labels.ravel().astype(float))

    reasons = explain(
        ranker, pl.DataFrame({"new_signal": [0.97], "user_order_count": [4]})
    )

    assert [r.text for r in reasons[0]] == ["its new_signal (0.97) raised the score"]
    assert reasons[0][0].family == "new_signal"


RENDER_CASES: list[tuple[str, dict[str, Any], str | None]] = [
    (
        "vegetarian",
        {"user_vegetarian_order_ratio": 0.8, "restaurant_vegetarian_item_share": 0.25},
        "80% of your orders were vegetarian and 25% of this menu is",
    ),
    (
        "vegetarian",
        {
            "user_vegetarian_order_ratio": 0.1,
            "user_declared_vegetarian": 1,
            "restaurant_vegetarian_item_share": 0.004,
        },
        "you eat vegetarian and under 1% of this menu is",
    ),
    (
        "vegetarian",
        {
            "user_declared_vegetarian": 1,
            "restaurant_vegetarian_item_share": None,
            "restaurant_has_vegetarian_options": 1,
        },
        "you eat vegetarian and this restaurant has vegetarian options",
    ),
    (
        "vegetarian",
        {"user_vegetarian_order_ratio": 0.9, "restaurant_vegetarian_item_share": 0.0},
        None,
    ),
    (
        "vegetarian",
        {"user_vegetarian_order_ratio": 0.49, "restaurant_vegetarian_item_share": 0.7},
        None,
    ),
    ("distance", {"distance_km": 2.14, "history_distance_km": 0.5}, "2.1 km from you"),
    ("distance", {"distance_km": 12.6}, "13 km from you"),
    ("distance", {"distance_km": 0.0}, "under 0.1 km from you"),
    ("distance", {"distance_km": 20.5, "history_distance_km": 1.0}, None),
    (
        "distance",
        {"distance_km": None, "history_distance_km": 0.84},
        "0.8 km from the centre of your past orders",
    ),
    ("distance", {"distance_km": float("nan")}, None),
    ("city", {"same_city": 1}, "in your city"),
    ("city", {"same_city": 0}, None),
    (
        "cuisine",
        {
            "cuisine_affinity": 0.4,
            "restaurant_cuisines": ["bar", "mexican"],
            "user_cuisine_names": ["mexican", "bar"],
            "user_cuisine_shares": [0.4, 0.2],
        },
        "Mexican, like 40% of your orders",
    ),
    (
        "cuisine",
        {
            "cuisine_affinity": 0.44,
            "restaurant_cuisines": ["bbq", "american"],
            "user_cuisine_names": ["bbq", "american"],
            "user_cuisine_shares": [0.44, 0.3],
        },
        "BBQ, like 44% of your orders",
    ),
    (
        "cuisine",
        {"cuisine_affinity": 0.25},
        "serves a cuisine of 25% of your orders",
    ),
    (
        "cuisine",
        {
            "cuisine_affinity": 0.0,
            "declared_cuisine_match": 1,
            "restaurant_cuisines": ["cafe-coffee_shop", "fast_food"],
            "user_liked_cuisines": ["fast_food"],
        },
        "Fast food, a cuisine you said you like",
    ),
    ("cuisine", {"cuisine_affinity": 0.0, "declared_cuisine_match": 0}, None),
    (
        "price",
        {"price_budget_gap": 0, "restaurant_price_level": 2, "user_budget_level": 2},
        "price level 2 of 3, your budget",
    ),
    (
        "price",
        {"price_budget_gap": -2, "restaurant_price_level": 1, "user_budget_level": 3},
        "price level 1 of 3, below your budget of 3",
    ),
    ("price", {"price_budget_gap": -1}, "within your budget"),
    ("price", {"price_budget_gap": 1}, None),
    ("past_orders", {"past_orders_here": 1}, "you ordered here once"),
    ("past_orders", {"past_orders_here": 0}, None),
    (
        "popularity",
        {"restaurant_orders_30d": 40, "restaurant_order_count": 300},
        "popular: 40 orders in the last 30 days",
    ),
    (
        "popularity",
        {"restaurant_orders_30d": None, "restaurant_order_count": 36},
        "popular: 36 orders in total",
    ),
    (
        "popularity",
        {"restaurant_orders_30d": 0, "restaurant_order_count": 1},
        "1 order in total",
    ),
    ("popularity", {"restaurant_orders_30d": 0, "restaurant_order_count": 0}, None),
    ("rating", {"restaurant_mean_rating": 1.666}, "rated 1.7 on average"),
    (
        "rating",
        {"restaurant_mean_rating": 1.26, "user_mean_rating": 1.26},
        "rated 1.3 on average",
    ),
    ("rating", {"restaurant_mean_rating": 0.5, "user_mean_rating": 1.4}, None),
    ("rating", {"restaurant_mean_rating": None}, None),
    ("taste", {"taste_affinity": 0.42}, "popular with people who order like you"),
    ("taste", {"taste_affinity": -0.1}, None),
    ("taste", {"taste_affinity": None}, None),
    (
        "neighbours",
        {"neighbour_affinity": 0.7},
        "often ordered by people who order where you do",
    ),
    ("neighbours", {"neighbour_affinity": 0.0}, None),
    ("neighbours", {"neighbour_affinity": None}, None),
    ("opening", {"restaurant_days_since_opening": 12.7}, "new: opened 12 days ago"),
    ("opening", {"restaurant_days_since_opening": 1.2}, "new: opened 1 day ago"),
    ("opening", {"restaurant_days_since_opening": 0.3}, "new: opened today"),
    ("opening", {"restaurant_days_since_opening": 31}, None),
    ("chain", {"restaurant_is_chain": 1}, "a chain restaurant"),
    ("chain", {"restaurant_is_chain": 0}, "an independent restaurant"),
]


@pytest.mark.parametrize(
    ("family", "row", "expected"),
    RENDER_CASES,
    ids=[f"{case[0]}-{case[2]}" for case in RENDER_CASES],
)
def test_template_text(family: str, row: dict[str, Any], expected: str | None) -> None:
    render = {f.name: f.render for f in FAMILIES}[family]

    assert render(row) == expected


def test_popularity_list_reasons() -> None:
    restaurants = pl.DataFrame(
        {
            "restaurant_id": ["a", "b", "c"],
            "restaurant_order_count": [36, 2, 0],
            "restaurant_orders_30d": [None, None, None],
        },
        schema_overrides={"restaurant_orders_30d": pl.Int64},
    )

    assert popularity_reasons(restaurants) == [
        ["popular: 36 orders in total"],
        ["2 orders in total"],
        [],
    ]


def service_features() -> dict[str, tuple[list[str], list[str]]]:
    """Return, for every feature service of the Feast definitions, its numeric
    features (a model's inputs) and all of its feature names."""
    from feast import FeatureService
    from feast.types import Bool, Float32, Float64, Int32, Int64

    spec = importlib.util.spec_from_file_location(
        "feature_definitions", FEATURE_REPO / "definitions.py"
    )
    assert spec is not None and spec.loader is not None
    definitions = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(definitions)
    numeric = {Bool, Float32, Float64, Int32, Int64}
    services = [v for v in vars(definitions).values() if isinstance(v, FeatureService)]
    features = {}
    for service in services:
        fields = [
            field
            for projection in service.feature_view_projections
            for field in projection.features
        ]
        features[service.name] = (
            [f.name for f in fields if f.dtype in numeric],
            [f.name for f in fields],
        )
    return features


def test_every_model_feature_classified() -> None:
    services = service_features()
    classified = TEMPLATED_FEATURES | GENERIC_FEATURES | USER_CONTEXT_FEATURES

    assert {"ranker_v1", "ranker_v2"} <= set(services)
    assert len(services["ranker_v2"][0]) > 40
    unclassified = {
        name: [f for f in model_inputs if f not in classified]
        for name, (model_inputs, _) in services.items()
    }
    assert unclassified == {name: [] for name in services}
    assert sorted(TEMPLATED_FEATURES & GENERIC_FEATURES) == []
    assert sorted(TEMPLATED_FEATURES & USER_CONTEXT_FEATURES) == []
    assert sorted(GENERIC_FEATURES & USER_CONTEXT_FEATURES) == []
    # No feature is in two families.
    assert sum(len(f.features) for f in FAMILIES) == len(TEMPLATED_FEATURES)
    # Every column a template reads is a feature of some service, so a renamed
    # feature cannot leave a template reading nothing.
    model_inputs = {f for inputs, _ in services.values() for f in inputs}
    all_features = {f for _, names in services.values() for f in names}
    reads = {column for family in FAMILIES for column in family.reads}
    assert sorted(reads - all_features) == []
    assert sorted(TEMPLATED_FEATURES - model_inputs) == []


@pytest.mark.parametrize(
    ("stored", "text"),
    [
        ("fast_food", "Fast food"),
        ("bbq", "BBQ"),
        ("korean_bbq", "Korean BBQ"),
        ("cafe-coffee_shop", "Cafe-coffee shop"),
    ],
)
def test_cuisine_name_text(stored: str, text: str) -> None:
    assert cuisine_name(stored) == text
