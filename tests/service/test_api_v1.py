"""The /v1 API over a small synthetic world, with the real model and the real
Feast online store.

The module builds one var folder: a world of 400 users, 60 restaurants and 40
days of orders (seed 1), its feature tables, and two trained model versions.
Expected values come from the store tables and the feature Parquet files of
that folder, never from the service's own code.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import yaml
from fastapi.testclient import TestClient
from httpx2 import Response

from features import store
from features.paths import RANKER_CONFIG
from features.synthetic.dishes import dish_catalog
from features.vegetarian import PREDICTION_COLUMN, classify_menu
from models.explain import cuisine_name
from models.registry import CURRENT_ALIAS, set_current
from service.app import create_app
from service.cli import main
from service.feedback import IngestResult, feedback_folder, ingest
from service.settings import Settings

pytestmark = pytest.mark.slow

ADMIN_TOKEN = "test-admin-token"
UNKNOWN_USER = "nobody-here"
NEW_RESTAURANT_REASON = "No orders yet"


@dataclass(frozen=True)
class World:
    """Store tables and latest feature rows of the synthetic world."""

    # user_id, city, liked_cuisines, segment, order_count
    users: pl.DataFrame
    # restaurant_id, city, cuisines, opened_at, order_count
    restaurants: pl.DataFrame
    menu_items: pl.DataFrame
    # Latest row per restaurant of restaurant_menu.parquet.
    menu_features: pl.DataFrame
    # Latest row per restaurant of restaurant_popularity.parquet.
    popularity: pl.DataFrame
    last_order_at: datetime


@pytest.fixture(scope="module")
def var_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return a var folder with the world, its features and two model versions."""

    root = tmp_path_factory.mktemp("v1")
    var = root / "var"
    config = root / "ranker.yaml"
    config.write_text(yaml.safe_dump(_quick_ranker_config()))
    world = ["data", "--source", "synthetic", "--users", "400"]
    world += ["--restaurants", "60", "--days", "40", "--world-seed", "1"]
    train = ["train", "--config", str(config)]
    for command in (world, ["features"], train, train):
        assert main(["--var-dir", str(var), *command]) == 0, command
    return var


def _quick_ranker_config() -> dict[str, Any]:
    """Return the shipped ranker settings with a short fixed training.

    The shipped settings search up to 300 rounds with early stopping on 4
    cutoffs. These tests check serving, not model quality, so 40 rounds on 2
    cutoffs are enough and take seconds.
    """
    config: dict[str, Any] = yaml.safe_load(RANKER_CONFIG.read_text())
    config["num_boost_round"] = 40
    config["early_stopping_rounds"] = None
    config["cutoffs"]["count"] = 2
    return config


@pytest.fixture(scope="module")
def versions(var_dir: Path) -> list[str]:
    """Return the two model versions, oldest first."""
    models = var_dir / "models"
    names = sorted(
        path.name
        for path in models.iterdir()
        if path.is_dir() and not path.name.startswith(".")
    )
    assert len(names) == 2
    assert (models / CURRENT_ALIAS).read_text().strip() == names[1]
    return names


@pytest.fixture(scope="module")
def world(var_dir: Path) -> World:
    with store.connect(var_dir / "store.duckdb", read_only=True) as connection:
        users = connection.sql(
            "SELECT u.user_id, u.city, u.liked_cuisines, s.segment, "
            "count(o.order_id) AS order_count "
            "FROM users u JOIN user_segments s USING (user_id) "
            "LEFT JOIN orders o USING (user_id) "
            "GROUP BY ALL ORDER BY u.user_id"
        ).pl()
        restaurants = connection.sql(
            "SELECT r.restaurant_id, r.city, r.cuisines, r.opened_at, "
            "count(o.order_id) AS order_count "
            "FROM restaurants r LEFT JOIN orders o USING (restaurant_id) "
            "GROUP BY ALL ORDER BY r.restaurant_id"
        ).pl()
        menu_items = connection.sql("SELECT * FROM menu_items").pl()
        last_order_at = connection.execute(
            "SELECT max(ordered_at) FROM orders"
        ).fetchall()[0][0]
    return World(
        users=users,
        restaurants=restaurants,
        menu_items=menu_items,
        menu_features=_latest(var_dir / "features" / "restaurant_menu.parquet"),
        popularity=_latest(var_dir / "features" / "restaurant_popularity.parquet"),
        last_order_at=last_order_at,
    )


def _latest(path: Path) -> pl.DataFrame:
    """Read a restaurant feature table and keep each restaurant's latest row."""
    table = pl.read_parquet(path)
    latest = pl.col("event_timestamp").max().over("restaurant_id")
    return table.filter(pl.col("event_timestamp") == latest)


@pytest.fixture(scope="module")
def client(var_dir: Path) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(var_dir=var_dir))) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def admin_var_dir(var_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return a copy of the var folder, whose ``current`` the reload tests move."""
    copy = tmp_path_factory.mktemp("admin") / "var"
    shutil.copytree(var_dir, copy)
    return copy


@pytest.fixture(scope="module")
def admin_client(admin_var_dir: Path) -> Iterator[TestClient]:
    settings = Settings(var_dir=admin_var_dir, admin_token=ADMIN_TOKEN)
    with TestClient(create_app(settings)) as test_client:
        yield test_client


# ---------------------------------------------------------------------------
# Users of the world.
# ---------------------------------------------------------------------------


def _with_orders(world: World, segment: str) -> list[str]:
    users = world.users.filter(
        (pl.col("segment") == segment) & (pl.col("order_count") > 0)
    )
    return users["user_id"].to_list()


def _without_orders(world: World) -> list[str]:
    return world.users.filter(pl.col("order_count") == 0)["user_id"].to_list()


def _user(world: World, user_id: str) -> dict[str, Any]:
    return world.users.filter(pl.col("user_id") == user_id).row(0, named=True)


def _restaurant(world: World, restaurant_id: str) -> dict[str, Any]:
    rows = world.restaurants.filter(pl.col("restaurant_id") == restaurant_id)
    return rows.row(0, named=True)


def _ids(body: dict[str, Any]) -> list[str]:
    return [item["restaurant_id"] for item in body["recommendations"]]


def _stand_in_reason(world: World, restaurant_id: str) -> list[str]:
    """The reason of a content-ranked restaurant that matches no taste: its
    orders in the last 30 days, else in total, else that it is new."""
    rows = world.popularity.filter(pl.col("restaurant_id") == restaurant_id)
    recent = rows["restaurant_orders_30d"][0] if rows.height else None
    total = rows["restaurant_order_count"][0] if rows.height else None
    if recent:
        count, window = recent, "in the last 30 days"
    elif total:
        count, window = total, "in total"
    else:
        return [NEW_RESTAURANT_REASON]
    orders = "1 order" if count == 1 else f"{count} orders"
    prefix = "popular: " if count >= 10 else ""
    return [f"{prefix}{orders} {window}"]


def _popularity_order(world: World, restaurant_ids: set[str]) -> list[str]:
    """Return ``restaurant_ids`` by latest order share, highest first; ties by
    id."""
    shares = world.popularity.filter(pl.col("restaurant_id").is_in(restaurant_ids))
    ordered = shares.sort(
        ["restaurant_order_share", "restaurant_id"], descending=[True, False]
    )
    return ordered["restaurant_id"].to_list()


def _in_city(world: World, city: str) -> set[str]:
    rows = world.restaurants.filter(pl.col("city") == city)
    return set(rows["restaurant_id"].to_list())


def _assert_envelope(response: Response, strategy: str, version: str | None) -> None:
    """Check the status, strategy, request id and model version of a list."""
    body = response.json()
    assert response.status_code == 200, body
    assert body["strategy"] == strategy
    assert body["request_id"] == response.headers["X-Request-ID"]
    # uuid4().hex: 32 hexadecimal digits.
    assert len(body["request_id"]) == 32
    assert body["model_version"] == version
    assert body["degraded"] is False


def _get_list(
    client: TestClient, user_id: str, **params: Any
) -> tuple[Response, dict[str, Any]]:
    response = client.get(f"/v1/users/{user_id}/recommendations", params=params)
    return response, response.json()


# ---------------------------------------------------------------------------
# 1. Diet filter.
# ---------------------------------------------------------------------------


def _diet_users(world: World) -> list[str]:
    """Return 30 users: the 10 without orders, and 10 vegetarian and 10
    regular ones with orders."""
    without = _without_orders(world)
    vegetarians = _with_orders(world, "vegetarian")[:10]
    regulars = _with_orders(world, "regular")[:10]
    assert len(without) == 10
    assert len(vegetarians) == 10
    return without + vegetarians + regulars


DIET_PREFERENCES = [
    {"k": 20, "diet": "vegetarian"},
    {"k": 20, "diet": "vegetarian", "city": "London", "liked_cuisines": ["bbq"]},
    {
        "k": 20,
        "diet": "vegetarian",
        "latitude": 19.43,
        "longitude": -99.13,
        "liked_cuisines": ["mexican", "steakhouse"],
        "budget": "low",
    },
]


def test_vegetarian_diet_returns_menus_with_options(
    client: TestClient, world: World
) -> None:
    flagged = world.menu_features.filter(
        pl.col("restaurant_has_vegetarian_options") == 1
    )
    with_options = set(flagged["restaurant_id"].to_list())
    # The store's menu items, vegetarian by their label or else by the
    # classifier the feature tables use.
    items = classify_menu(world.menu_items).filter(pl.col(PREDICTION_COLUMN))
    on_menu = set(items["restaurant_id"].to_list())

    # The test on the generated dishes below also catches a restaurant the
    # classifier flags wrongly.
    for user_id in _diet_users(world):
        response, body = _get_list(client, user_id, k=20, diet="vegetarian")
        returned = set(_ids(body))

        assert response.status_code == 200, body
        assert len(returned) == 20, user_id
        assert returned <= with_options, (user_id, returned - with_options)
        assert returned <= on_menu, (user_id, returned - on_menu)

    for preferences in DIET_PREFERENCES:
        response = client.post("/v1/recommendations", json=preferences)
        returned = set(_ids(response.json()))

        assert response.status_code == 200
        assert len(returned) == 20
        assert returned <= with_options, (preferences, returned - with_options)
        assert returned <= on_menu, (preferences, returned - on_menu)


def test_vegetarian_diet_matches_generated_dishes(
    client: TestClient, world: World
) -> None:
    # The generator's dish list is the truth about each menu item.
    truth = dish_catalog().select("name", "is_vegetarian").unique()
    assert truth["name"].is_unique().all()
    dishes = world.menu_items.select("restaurant_id", "name").join(truth, on="name")
    assert dishes.height == world.menu_items.height
    vegetarian = dishes.filter(pl.col("is_vegetarian"))
    with_dish = set(vegetarian["restaurant_id"].to_list())

    for user_id in _diet_users(world):
        _, body = _get_list(client, user_id, k=20, diet="vegetarian")
        returned = set(_ids(body))

        assert returned <= with_dish, (user_id, sorted(returned - with_dish))


# ---------------------------------------------------------------------------
# 2. Strategies, envelopes and reasons.
# ---------------------------------------------------------------------------


def test_user_with_orders_gets_ranker(
    client: TestClient, world: World, versions: list[str]
) -> None:
    user_id = _with_orders(world, "regular")[0]
    response, body = _get_list(client, user_id, k=5)

    _assert_envelope(response, "ranker", versions[1])
    assert body["user_id"] == user_id
    assert [item["rank"] for item in body["recommendations"]] == [1, 2, 3, 4, 5]
    scores = [item["score"] for item in body["recommendations"]]
    assert scores == sorted(scores, reverse=True)
    for item in body["recommendations"]:
        # explain() gives up to two reasons from the strongest feature
        # families; each restaurant of this list has at least one.
        assert 1 <= len(item["reasons"]) <= 2, item
        assert len(set(item["reasons"])) == len(item["reasons"]), item


def test_user_without_orders_gets_content(
    client: TestClient, world: World, versions: list[str]
) -> None:
    user_id = _without_orders(world)[0]
    liked = {cuisine.lower() for cuisine in _user(world, user_id)["liked_cuisines"]}
    response, body = _get_list(client, user_id, k=10)

    _assert_envelope(response, "content", versions[1])
    assert body["user_id"] == user_id
    assert len(body["recommendations"]) == 10
    for item in body["recommendations"]:
        cuisines = _restaurant(world, item["restaurant_id"])["cuisines"]
        matched = [cuisine for cuisine in cuisines if cuisine.lower() in liked]
        # Without orders the user has no vegetarian-order ratio, so the only
        # reasons are a liked cuisine (the restaurant's first one) or the
        # restaurant's orders.
        expected = (
            [f"{cuisine_name(matched[0])}, a cuisine you like"]
            if matched
            else _stand_in_reason(world, item["restaurant_id"])
        )
        assert item["reasons"] == expected, item


MADRID_CENTRE = {"latitude": 40.4168, "longitude": -3.7038}
# In the Atlantic, hundreds of kilometres from every city of the world.
OPEN_SEA = {"latitude": 35.0, "longitude": -30.0}


def test_location_sets_the_city(client: TestClient, world: World) -> None:
    londoners = world.users.filter(
        (pl.col("city") == "London")
        & (pl.col("segment") == "regular")
        & (pl.col("order_count") > 0)
    )
    user_id = londoners["user_id"][0]
    k = world.restaurants.height
    response, body = _get_list(
        client, user_id, k=k, include_features="true", **MADRID_CENTRE
    )

    assert response.status_code == 200, body
    assert body["strategy"] == "ranker"
    for item in body["recommendations"]:
        in_madrid = _restaurant(world, item["restaurant_id"])["city"] == "Madrid"
        assert item["features"]["same_city"] == (1 if in_madrid else 0), item
        if "in your city" in item["reasons"]:
            assert in_madrid, item


def test_location_far_from_cities_has_no_city(client: TestClient, world: World) -> None:
    user_id = _with_orders(world, "regular")[0]
    k = world.restaurants.height
    response, body = _get_list(
        client, user_id, k=k, include_features="true", **OPEN_SEA
    )

    assert response.status_code == 200, body
    for item in body["recommendations"]:
        assert item["features"]["same_city"] is None, item
        assert "in your city" not in item["reasons"], item


def test_unknown_user_gets_popularity(
    client: TestClient, world: World, versions: list[str]
) -> None:
    response, body = _get_list(client, UNKNOWN_USER, k=3)
    everyone = set(world.restaurants["restaurant_id"].to_list())
    expected_ids = _popularity_order(world, everyone)[:3]

    _assert_envelope(response, "popularity", versions[1])
    assert body["user_id"] == UNKNOWN_USER
    assert _ids(body) == expected_ids
    for item in body["recommendations"]:
        row = world.popularity.filter(
            pl.col("restaurant_id") == item["restaurant_id"]
        ).row(0, named=True)
        # At least 10 orders in the last 30 days makes the reason "popular:".
        assert row["restaurant_orders_30d"] >= 10
        assert item["reasons"] == [
            f"popular: {row['restaurant_orders_30d']} orders in the last 30 days"
        ]
        assert item["score"] == pytest.approx(row["restaurant_order_share"], abs=1e-6)


def test_preferences_get_content(
    client: TestClient, world: World, versions: list[str]
) -> None:
    body_sent = {
        "k": 8,
        "city": "Madrid",
        "latitude": 40.42,
        "longitude": -3.70,
        "diet": "vegetarian",
        "liked_cuisines": ["Italian", "japanese"],
        "budget": "medium",
    }
    response = client.post("/v1/recommendations", json=body_sent)
    body = response.json()

    _assert_envelope(response, "content", versions[1])
    assert body["user_id"] is None
    assert len(body["recommendations"]) == 8
    for item in body["recommendations"]:
        cuisines = _restaurant(world, item["restaurant_id"])["cuisines"]
        options = world.menu_features.filter(
            pl.col("restaurant_id") == item["restaurant_id"]
        )["restaurant_has_vegetarian_options"][0]
        matched = [c for c in cuisines if c.lower() in {"italian", "japanese"}]
        # A declared vegetarian counts as one whose orders are all vegetarian,
        # so a menu with options adds "Has vegetarian dishes" after the cuisine.
        expected = (
            [f"{cuisine_name(matched[0])}, a cuisine you like"] if matched else []
        )
        expected += ["Has vegetarian dishes"] if options == 1 else []
        stand_in = _stand_in_reason(world, item["restaurant_id"])
        assert item["reasons"] == (expected or stand_in), item


# ---------------------------------------------------------------------------
# 3. City and cuisine filters.
# ---------------------------------------------------------------------------

EXCLUDED = ["BBQ", "pizza"]


def _kept_in_london(world: World) -> set[str]:
    """Return London restaurants with neither a bbq nor a pizza tag."""
    kept = world.restaurants.filter(
        (pl.col("city") == "London")
        & ~pl.col("cuisines").list.eval(pl.element().is_in(["bbq", "pizza"])).list.any()
    )
    return set(kept["restaurant_id"].to_list())


@pytest.mark.parametrize("kind", ["ranker", "content", "popularity"])
def test_city_and_cuisine_filters(client: TestClient, world: World, kind: str) -> None:
    user_id = {
        "ranker": _with_orders(world, "regular")[0],
        "content": _without_orders(world)[0],
        "popularity": UNKNOWN_USER,
    }[kind]
    expected = _kept_in_london(world)
    # The filters must remove something, else the test could not fail.
    assert 0 < len(expected) < len(_in_city(world, "London"))

    # k is above the number of London restaurants, so the list has every kept
    # one, because models trained on timed orders keep restaurants the user
    # ordered from before (repeat_orders).
    response, body = _get_list(
        client, user_id, k=100, city="london", exclude_cuisines=EXCLUDED
    )

    assert response.status_code == 200, body
    assert body["strategy"] == kind
    assert set(_ids(body)) == expected
    for restaurant_id in _ids(body):
        row = _restaurant(world, restaurant_id)
        assert row["city"] == "London"
        assert not {"bbq", "pizza"} & set(row["cuisines"]), row


def test_preferences_exclude_cuisines(client: TestClient, world: World) -> None:
    response = client.post(
        "/v1/recommendations", json={"k": 100, "exclude_cuisines": EXCLUDED}
    )
    returned = _ids(response.json())
    tagged = world.restaurants.filter(
        pl.col("cuisines").list.eval(pl.element().is_in(["bbq", "pizza"])).list.any()
    )

    assert response.status_code == 200
    assert tagged.height > 0
    assert len(returned) == world.restaurants.height - tagged.height
    assert not set(returned) & set(tagged["restaurant_id"].to_list())


def _scores(body: dict[str, Any]) -> dict[str, float]:
    return {item["restaurant_id"]: item["score"] for item in body["recommendations"]}


def test_preferences_cuisines_ignore_case(client: TestClient, world: World) -> None:
    everyone = world.restaurants.height
    with_pizza = world.restaurants.filter(pl.col("cuisines").list.contains("pizza"))[
        "restaurant_id"
    ].to_list()
    plain = client.post("/v1/recommendations", json={"k": everyone}).json()
    lower = client.post(
        "/v1/recommendations", json={"k": everyone, "liked_cuisines": ["pizza"]}
    ).json()
    upper = client.post(
        "/v1/recommendations", json={"k": everyone, "liked_cuisines": ["PIZZA"]}
    ).json()

    # The world spells its cuisines in lower case.
    assert 0 < len(with_pizza) < everyone
    assert upper["recommendations"] == lower["recommendations"]
    assert len(upper["recommendations"]) == everyone
    unliked_scores = _scores(plain)
    for item in upper["recommendations"]:
        restaurant_id = item["restaurant_id"]
        liked = "Pizza, a cuisine you like" in item["reasons"]
        assert liked == (restaurant_id in with_pizza), item
        # The reason appears exactly where the liked cuisine raised the score.
        if liked:
            assert item["score"] > unliked_scores[restaurant_id], item
        else:
            assert item["score"] == unliked_scores[restaurant_id], item


def test_city_filter_ignores_surrounding_spaces(
    client: TestClient, world: World
) -> None:
    user_id = _with_orders(world, "regular")[0]

    _, plain = _get_list(client, user_id, k=100, city="London")
    response, padded = _get_list(client, user_id, k=100, city="  London ")

    assert response.status_code == 200, padded
    assert _ids(padded) == _ids(plain)
    assert 0 < len(_ids(plain)) <= len(_in_city(world, "London"))


@pytest.mark.parametrize("city", ["Lon\tdon", "Lon\x85don", " "])
def test_city_filter_rejects_control_characters(
    client: TestClient, world: World, city: str
) -> None:
    user_id = _with_orders(world, "regular")[0]

    response, body = _get_list(client, user_id, k=5, city=city)

    assert response.status_code == 422
    assert body["detail"][0]["loc"] == ["query", "city"]
    if city.strip():
        assert body["detail"][0]["msg"] == (
            "expected text without control characters such as tab or newline, "
            f"got {city!r}"
        )


@pytest.mark.parametrize("field", ["liked_cuisines", "exclude_cuisines"])
@pytest.mark.parametrize("cuisine", ["Ital\tian", "Ital\x85ian", " "])
def test_preferences_cuisine_rejects_control_characters(
    client: TestClient, field: str, cuisine: str
) -> None:
    body_sent = {"k": 5, field: ["mexican", cuisine]}

    response = client.post("/v1/recommendations", json=body_sent)

    assert response.status_code == 422
    error = response.json()["detail"][0]
    assert error["loc"] == ["body", field, 1]
    if cuisine.strip():
        assert error["msg"] == (
            "expected text without control characters such as tab or newline, "
            f"got {cuisine!r}"
        )


def test_excluded_cuisine_in_query_rejects_control_characters(
    client: TestClient, world: World
) -> None:
    user_id = _with_orders(world, "regular")[0]
    url = f"/v1/users/{user_id}/recommendations"

    response = client.get(url, params={"exclude_cuisines": ["bbq", "pi\tzza"]})

    assert response.status_code == 422
    error = response.json()["detail"][0]
    assert error["loc"] == ["query", "exclude_cuisines", 1]
    assert error["msg"].startswith("expected text without control characters")


def test_preferences_cuisine_ignores_surrounding_spaces(client: TestClient) -> None:
    plain = {"k": 10, "liked_cuisines": ["italian"], "exclude_cuisines": ["bbq"]}
    padded = {"k": 10, "liked_cuisines": [" italian "], "exclude_cuisines": ["bbq "]}

    first = client.post("/v1/recommendations", json=plain)
    second = client.post("/v1/recommendations", json=padded)

    assert second.status_code == 200, second.json()
    assert second.json()["recommendations"] == first.json()["recommendations"]


def test_preferences_city_ignores_case(client: TestClient, world: World) -> None:
    everyone = world.restaurants.height
    in_london = _in_city(world, "London")
    plain = client.post("/v1/recommendations", json={"k": everyone}).json()
    title = client.post(
        "/v1/recommendations", json={"k": everyone, "city": "London"}
    ).json()
    upper = client.post(
        "/v1/recommendations", json={"k": everyone, "city": "LONDON"}
    ).json()
    padded = client.post(
        "/v1/recommendations", json={"k": everyone, "city": " london\t"}
    ).json()

    assert 0 < len(in_london) < everyone
    assert upper["recommendations"] == title["recommendations"]
    assert padded["recommendations"] == title["recommendations"]
    unplaced_scores = _scores(plain)
    for restaurant_id, score in _scores(upper).items():
        # The declared city raises its restaurants and no other.
        if restaurant_id in in_london:
            assert score > unplaced_scores[restaurant_id], restaurant_id
        else:
            assert score == unplaced_scores[restaurant_id], restaurant_id


# ---------------------------------------------------------------------------
# 4. Restaurants without orders.
# ---------------------------------------------------------------------------


def test_new_restaurant_ranked_for_user(client: TestClient, world: World) -> None:
    opened = world.restaurants.filter(
        (pl.col("order_count") == 0) & (pl.col("opened_at") <= world.last_order_at)
    )
    assert opened.height >= 1
    new_ids = set(opened["restaurant_id"].to_list())
    city = opened["city"][0]
    user_id = world.users.filter(
        (pl.col("city") == city) & (pl.col("order_count") > 0)
    )["user_id"][0]

    _, body = _get_list(client, user_id, k=100)
    items = body["recommendations"]
    lowest = min(item["score"] for item in items)
    new_items = [item for item in items if item["restaurant_id"] in new_ids]

    assert body["strategy"] == "ranker"
    assert len(items) == world.restaurants.height
    assert new_items, new_ids
    for item in new_items:
        assert item["score"] > lowest, item
        assert item["reasons"][0] == NEW_RESTAURANT_REASON
        assert len(item["reasons"]) <= 2


# ---------------------------------------------------------------------------
# 5. Similar restaurants.
# ---------------------------------------------------------------------------


def test_similar_leaves_out_anchor(client: TestClient, world: World) -> None:
    anchor = world.restaurants.row(0, named=True)
    response = client.get(
        f"/v1/restaurants/{anchor['restaurant_id']}/similar", params={"k": 100}
    )
    body = response.json()
    items = body["recommendations"]

    assert response.status_code == 200
    assert body["strategy"] == "content"
    assert body["request_id"] == response.headers["X-Request-ID"]
    assert body["user_id"] is None
    # Every other restaurant, once.
    assert len(items) == world.restaurants.height - 1
    assert len(set(_ids(body))) == len(items)
    assert anchor["restaurant_id"] not in _ids(body)
    scores = [item["score"] for item in items]
    assert scores == sorted(scores, reverse=True)
    for item in items[:10]:
        other = _restaurant(world, item["restaurant_id"])
        shared = [c for c in other["cuisines"] if c in anchor["cuisines"]]
        expected = [f"Also {cuisine_name(shared[0])}"] if shared else []
        expected += (
            [f"Also in {other['city']}"] if other["city"] == anchor["city"] else []
        )
        assert item["reasons"] == expected, item


def test_similar_unknown_restaurant_404(client: TestClient) -> None:
    response = client.get("/v1/restaurants/no-such-place/similar")

    assert response.status_code == 404
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"detail": "restaurant 'no-such-place' not found"}


# ---------------------------------------------------------------------------
# 6. Fallbacks.
# ---------------------------------------------------------------------------


def _copy(var_dir: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "var"
    shutil.copytree(var_dir, copy)
    return copy


def test_missing_model_degrades(var_dir: Path, tmp_path: Path, world: World) -> None:
    copy = _copy(var_dir, tmp_path)
    (copy / "models" / CURRENT_ALIAS).unlink()
    user_id = _with_orders(world, "regular")[0]
    city = _user(world, user_id)["city"]
    local = _in_city(world, city)

    with TestClient(create_app(Settings(var_dir=copy))) as test_client:
        ready = test_client.get("/readyz")
        response, body = _get_list(test_client, user_id, k=len(local))
        content_response, content_body = _get_list(
            test_client, _without_orders(world)[0], k=3
        )

    assert ready.status_code == 503
    assert ready.headers["content-type"] == "application/json"
    assert ready.json() == {"detail": "model or features not loaded"}
    assert response.status_code == 200
    assert body["strategy"] == "popularity"
    assert body["degraded"] is True
    assert body["model_version"] is None
    # Every restaurant of the user's city, the most ordered first.
    assert _ids(body) == _popularity_order(world, local)
    # Content scores need no model, so a user without orders is served as
    # usual.
    _assert_envelope(content_response, "content", None)
    assert len(content_body["recommendations"]) == 3


def _drop_online_user_tables(var_dir: Path) -> int:
    """Drop the user tables of the SQLite online store; return their number."""
    online = sqlite3.connect(var_dir / "feast" / "online_store.db")
    tables = [
        name
        for (name,) in online.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'"
        )
        if "_user_" in name
    ]
    for name in tables:
        online.execute(f"DROP TABLE {name}")
    online.commit()
    online.close()
    return len(tables)


def _vegetarians_by_orders(var_dir: Path) -> list[str]:
    """Return the users who declared no vegetarian diet and whose latest
    feature rows have at least 90% vegetarian orders, under half of them at
    coffee or tea places."""

    def latest(name: str) -> pl.DataFrame:
        table = pl.read_parquet(var_dir / "features" / f"{name}.parquet")
        return table.filter(
            pl.col("event_timestamp") == pl.col("event_timestamp").max()
        )

    rows = latest("user_diet").join(latest("user_cuisine"), on="user_id", how="left")
    chosen = rows.filter(
        (pl.col("user_vegetarian_order_ratio") >= 0.9)
        & (pl.col("user_coffee_tea_share").fill_null(0.0) < 0.5)
        & (pl.col("user_declared_vegetarian").fill_null(0) == 0)
    )
    return sorted(chosen["user_id"].to_list())


def test_lost_online_store_keeps_vegetarians_from_meat(
    var_dir: Path, tmp_path: Path, world: World
) -> None:
    copy = _copy(var_dir, tmp_path)
    flags = world.menu_features.filter(pl.col("restaurant_has_vegetarian_options") == 0)
    meat_only = set(flags["restaurant_id"].to_list())
    users = _vegetarians_by_orders(copy)
    # Lists where popularity alone puts a meat-only restaurant first.
    reordered = 0

    with TestClient(create_app(Settings(var_dir=copy))) as test_client:
        dropped = _drop_online_user_tables(copy)
        for user_id in users:
            city = _user(world, user_id)["city"]
            local = _in_city(world, city)
            popular = _popularity_order(world, local)
            response, body = _get_list(test_client, user_id, k=len(local), city=city)
            listed = [restaurant in meat_only for restaurant in _ids(body)]

            assert response.status_code == 200, body
            assert body["degraded"] is True
            assert sorted(_ids(body)) == sorted(popular)
            # Meat-only restaurants come after every other one.
            assert listed == sorted(listed), (user_id, _ids(body))
            by_popularity = [restaurant in meat_only for restaurant in popular]
            reordered += by_popularity != sorted(by_popularity)

    assert dropped == 5
    assert len(users) >= 3
    assert reordered >= 1


def test_lost_online_store_degrades(
    var_dir: Path, tmp_path: Path, world: World, versions: list[str]
) -> None:
    copy = _copy(var_dir, tmp_path)
    user_id = _with_orders(world, "regular")[0]
    city = _user(world, user_id)["city"]
    local = _in_city(world, city)

    with TestClient(create_app(Settings(var_dir=copy))) as test_client:
        before = _get_list(test_client, user_id, k=3)[1]
        # The online store loses its user tables after start-up.
        dropped = _drop_online_user_tables(copy)
        response, body = _get_list(test_client, user_id, k=len(local), city=city)
        health = test_client.get("/healthz")

    assert before["strategy"] == "ranker"
    assert dropped == 5
    assert response.status_code == 200
    assert body["strategy"] == "popularity"
    assert body["degraded"] is True
    assert body["model_version"] == versions[1]
    assert _ids(body) == _popularity_order(world, local)
    assert health.status_code == 200


# ---------------------------------------------------------------------------
# 7. Hot reload.
# ---------------------------------------------------------------------------


def _wait_until(condition: Callable[[], bool], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting for requests"
        time.sleep(0.01)


def test_reload_under_concurrent_requests(
    admin_client: TestClient,
    admin_var_dir: Path,
    world: World,
    versions: list[str],
) -> None:
    users = _with_orders(world, "regular")[:4]
    # Versions set in turn; the service starts on versions[1].
    sequence = [versions[0], versions[1], versions[0], versions[1], versions[0]]
    auth = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    # (reloads done when the request started, status, model_version)
    results: list[tuple[int, int, str | None]] = []
    reloads_done = [0]
    lock = threading.Lock()
    stop = threading.Event()

    def send(user_id: str) -> None:
        while not stop.is_set():
            started = reloads_done[0]
            response, body = _get_list(admin_client, user_id, k=3)
            with lock:
                results.append(
                    (started, response.status_code, body.get("model_version"))
                )

    def wait_for_round(index: int) -> None:
        """Wait until as many requests as threads, started after reload
        ``index``, have finished."""

        def finished() -> bool:
            with lock:
                count = sum(1 for started, _, _ in results if started == index)
            return count >= len(users)

        _wait_until(finished, 60)

    threads = [threading.Thread(target=send, args=(user,)) for user in users]
    for thread in threads:
        thread.start()
    try:
        wait_for_round(0)
        for index, version in enumerate(sequence, start=1):
            set_current(admin_var_dir / "models", version)
            answer = admin_client.post("/v1/admin/reload", headers=auth)
            assert answer.status_code == 200
            assert answer.json() == {"model_version": version}
            reloads_done[0] = index
            wait_for_round(index)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=60)

    final = _get_list(admin_client, users[0], k=3)[1]

    assert {status for _, status, _ in results} == {200}
    assert {version for _, _, version in results} == set(versions)
    # The first requests started after a reload end before the next reload
    # starts, so they all see the version just set.
    for index, version in enumerate(sequence, start=1):
        after = [served for started, _, served in results if started == index]
        assert after[: len(users)] == [version] * len(users), index
    assert final["model_version"] == sequence[-1]
    assert admin_client.get("/readyz").json()["model_version"] == sequence[-1]


def _invalid_metadata_cases(models: Path, broken: Path) -> list[tuple[str, str]]:
    """Return (metadata.json text, expected 409 detail) pairs for a model
    folder ``broken`` under ``models``."""
    path = broken / "metadata.json"
    prefix = f"cannot load the current model in {models}: invalid model metadata {path}"
    valid = json.loads(path.read_text())
    wrong_types = json.dumps({**valid, "version": 5, "training": []})
    return [
        (
            "{}",
            f"{prefix}: ModelMetadata.__init__() missing 10 required positional "
            "arguments: 'version', 'created_at', 'feature_service', 'features', "
            "'params', 'num_boost_round', 'training', 'data_fingerprint', "
            "'git_commit', and 'git_dirty'",
        ),
        ("not json", f"{prefix}: Expecting value: line 1 column 1 (char 0)"),
        (
            wrong_types,
            f"invalid model metadata {path}: version: Input should be a valid "
            "string; training: Input should be a valid dictionary",
        ),
    ]


@pytest.mark.parametrize("case", [0, 1, 2], ids=["empty", "not-json", "wrong-types"])
def test_reload_rejects_invalid_metadata(
    admin_client: TestClient,
    admin_var_dir: Path,
    caplog: pytest.LogCaptureFixture,
    world: World,
    case: int,
) -> None:
    models = admin_var_dir / "models"
    before = (models / CURRENT_ALIAS).read_text().strip()
    loaded = admin_client.get("/readyz").json()["model_version"]
    broken = models / "broken"
    shutil.copytree(models / before, broken)
    metadata, detail = _invalid_metadata_cases(models, broken)[case]
    (broken / "metadata.json").write_text(metadata)
    # The alias is written by hand: promoting refuses a damaged version, but
    # files can be damaged after they were promoted.
    (models / CURRENT_ALIAS).write_text(broken.name + "\n")
    auth = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    try:
        with caplog.at_level("INFO"):
            response = admin_client.post("/v1/admin/reload", headers=auth)
    finally:
        set_current(models, before)
        shutil.rmtree(broken)
    problems = [record for record in caplog.records if record.levelname != "INFO"]
    served = _get_list(admin_client, _with_orders(world, "regular")[0], k=3)[1]

    assert response.status_code == 409
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"detail": detail}
    # Logged once, without a traceback.
    assert [(r.name, r.levelname) for r in problems] == [("service.app", "ERROR")]
    assert problems[0].getMessage() == (
        f"reload failed, model {loaded} stays loaded: {detail}"
    )
    assert problems[0].exc_info is None
    assert admin_client.get("/readyz").json()["model_version"] == loaded
    assert served["model_version"] == loaded


# ---------------------------------------------------------------------------
# 8. Admin access.
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong-token"}, {"Authorization": ADMIN_TOKEN}],
    ids=["missing", "wrong", "no-scheme"],
)
def test_reload_rejects_bad_token(
    admin_client: TestClient, headers: dict[str, str]
) -> None:
    response = admin_client.post("/v1/admin/reload", headers=headers)

    assert response.status_code == 401
    assert response.headers["content-type"] == "application/json"
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert response.json() == {"detail": "a valid bearer token is required"}


def test_reload_accepts_token(admin_client: TestClient, admin_var_dir: Path) -> None:
    current = (admin_var_dir / "models" / CURRENT_ALIAS).read_text().strip()
    response = admin_client.post(
        "/v1/admin/reload", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
    )

    assert response.status_code == 200
    assert response.json() == {"model_version": current}


def test_reload_absent_without_token(
    client: TestClient, admin_client: TestClient
) -> None:
    response = client.post(
        "/v1/admin/reload", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
    )

    assert response.status_code == 404
    assert response.json() == {"detail": "Not Found"}
    assert "/v1/admin/reload" not in client.get("/openapi.json").json()["paths"]
    assert "/v1/admin/reload" in admin_client.get("/openapi.json").json()["paths"]


# ---------------------------------------------------------------------------
# 9. Feedback.
# ---------------------------------------------------------------------------

EVENT_IDS = [
    "00000000-0000-4000-8000-000000000001",
    "00000000-0000-4000-8000-000000000002",
    "00000000-0000-4000-8000-000000000003",
]


def _stored_events(var_dir: Path, request_id: str) -> list[tuple[Any, ...]]:
    with store.connect(var_dir / "store.duckdb", read_only=True) as connection:
        return connection.execute(
            "SELECT event_id, user_id, restaurant_id, kind, position, occurred_at "
            "FROM feedback_events WHERE request_id = ? ORDER BY event_id",
            [request_id],
        ).fetchall()


def test_feedback_ingested_once(
    client: TestClient, var_dir: Path, world: World
) -> None:
    user_id = _with_orders(world, "regular")[0]
    served = _get_list(client, user_id, k=3)[1]
    request_id = served["request_id"]
    first = served["recommendations"][0]["restaurant_id"]
    events = [
        {
            "event_id": event_id,
            "request_id": request_id,
            "user_id": user_id,
            "restaurant_id": first,
            "kind": kind,
            "occurred_at": "2026-12-04T16:30:00+01:00",
            "position": 1,
        }
        for event_id, kind in zip(
            EVENT_IDS, ["impression", "click", "order"], strict=True
        )
    ]

    posted = client.post("/v1/feedback", json=events)
    first_ingest = ingest(feedback_folder(var_dir), var_dir / "store.duckdb")
    stored = _stored_events(var_dir, request_id)
    again = client.post("/v1/feedback", json=events[:1])
    second_ingest = ingest(feedback_folder(var_dir), var_dir / "store.duckdb")

    assert posted.status_code == 202
    assert posted.json() == {"accepted": 3, "event_ids": EVENT_IDS, "duplicates": []}
    assert first_ingest == IngestResult(read=3, inserted=3, already_present=0)
    # 16:30 at UTC+1 is 15:30 UTC; the store keeps UTC without an offset.
    occurred = datetime(2026, 12, 4, 15, 30)
    assert stored == [
        (EVENT_IDS[0], user_id, first, "impression", 1, occurred),
        (EVENT_IDS[1], user_id, first, "click", 1, occurred),
        (EVENT_IDS[2], user_id, first, "order", 1, occurred),
    ]
    assert again.status_code == 202
    assert again.json() == {
        "accepted": 1,
        "event_ids": EVENT_IDS[:1],
        "duplicates": EVENT_IDS[:1],
    }
    assert second_ingest == IngestResult(read=0, inserted=0, already_present=0)
    assert len(_stored_events(var_dir, request_id)) == 3


# ---------------------------------------------------------------------------
# 10. Invalid requests.
# ---------------------------------------------------------------------------

USER_ROUTE = "/v1/users/u0000001/recommendations"


@pytest.mark.parametrize(
    ("params", "location"),
    [
        ({"diet": "vegan"}, ["query", "diet"]),
        ({"k": 0}, ["query", "k"]),
        ({"k": 101}, ["query", "k"]),
        ({"latitude": 91, "longitude": 0}, ["query", "latitude"]),
        ({"k": "3_0"}, ["query", "k"]),
        ({"k": "+3"}, ["query", "k"]),
        ({"k": " 3"}, ["query", "k"]),
        ({"latitude": "4_0", "longitude": 0}, ["query", "latitude"]),
        ({"latitude": 40, "longitude": "nan"}, ["query", "longitude"]),
    ],
    ids=[
        "diet-vegan",
        "k-zero",
        "k-above-max",
        "latitude-out-of-range",
        "k-underscore",
        "k-plus-sign",
        "k-space",
        "latitude-underscore",
        "longitude-nan",
    ],
)
def test_invalid_query_names_field(
    client: TestClient, params: dict[str, Any], location: list[str]
) -> None:
    response = client.get(USER_ROUTE, params=params)

    assert response.status_code == 422
    assert response.headers["content-type"] == "application/json"
    assert [item["loc"] for item in response.json()["detail"]] == [location]


def test_query_number_message_without_prefix(client: TestClient) -> None:
    response = client.get(USER_ROUTE, params={"k": "3.0"})

    assert response.status_code == 422
    assert response.json()["detail"][0]["msg"] == (
        "expected a whole number such as 10, got '3.0'"
    )


@pytest.mark.parametrize(
    ("body", "location", "error_type"),
    [
        ({"diet": "vegan"}, ["body", "diet"], "enum"),
        ({"k": 0}, ["body", "k"], "greater_than_equal"),
        ({"k": 101}, ["body", "k"], "less_than_equal"),
        ({"k": 5, "colour": "red"}, ["body", "colour"], "extra_forbidden"),
        ({"k": True}, ["body", "k"], "int_type"),
        ({"k": "3"}, ["body", "k"], "int_type"),
        ({"k": 3.0}, ["body", "k"], "int_type"),
        ({"latitude": "22.1", "longitude": -100}, ["body", "latitude"], "float_type"),
        ({"latitude": False, "longitude": -100}, ["body", "latitude"], "float_type"),
        ({"city": 5}, ["body", "city"], "string_type"),
        ({"city": "Lon\ndon"}, ["body", "city"], "string_pattern_mismatch"),
        ({"city": "  "}, ["body", "city"], "string_too_short"),
        ({"liked_cuisines": [1]}, ["body", "liked_cuisines", 0], "string_type"),
    ],
    ids=[
        "diet-vegan",
        "k-zero",
        "k-above-max",
        "extra-field",
        "k-bool",
        "k-string",
        "k-float",
        "latitude-string",
        "latitude-bool",
        "city-number",
        "city-newline",
        "city-blank",
        "cuisine-number",
    ],
)
def test_invalid_preferences_name_field(
    client: TestClient, body: dict[str, Any], location: list[str], error_type: str
) -> None:
    response = client.post("/v1/recommendations", json=body)
    detail = response.json()["detail"]

    assert response.status_code == 422
    assert response.headers["content-type"] == "application/json"
    assert [item["loc"] for item in detail] == [location]
    assert detail[0]["type"] == error_type


def test_malformed_json_rejected(client: TestClient) -> None:
    response = client.post(
        "/v1/recommendations",
        content=b'{"k": 5, "diet": ',
        headers={"content-type": "application/json"},
    )
    detail = response.json()["detail"]

    assert response.status_code == 422
    assert response.headers["content-type"] == "application/json"
    assert len(detail) == 1
    assert detail[0]["type"] == "json_invalid"
    assert detail[0]["loc"][0] == "body"


def test_preferences_accept_integer_coordinates(client: TestClient) -> None:
    # A JSON integer is a number, as in the feedback events' strict types.
    response = client.post(
        "/v1/recommendations",
        json={"k": 2, "latitude": 51, "longitude": 0, "diet": "vegetarian"},
    )

    assert response.status_code == 200, response.json()
    assert len(response.json()["recommendations"]) == 2


@pytest.mark.parametrize(
    ("content", "message", "location"),
    [
        (
            b'{"k": 5, "diet": ',
            "body is not valid JSON: Expecting value at line 1 column 18",
            ["body", 17],
        ),
        (
            b'{"city": "\xff\xfe"}',
            "body is not valid JSON: invalid utf-8 at byte 10 (invalid start byte)",
            ["body", 10],
        ),
        (
            b"[" * 5_000 + b"]" * 5_000,
            "body is not valid JSON: arrays and objects nest deeper than the "
            "parser's limit",
            ["body"],
        ),
        (
            b'{"k": ' + b"9" * 4_301 + b"}",
            "body is not valid JSON: a number has more digits than the parser's limit",
            ["body"],
        ),
        (
            '{"k": 2}'.encode("utf-16"),
            "body is not valid JSON: invalid utf-8 at byte 0 (invalid start "
            "byte); JSON is sent as UTF-8",
            ["body", 0],
        ),
        (
            b'{"k": 2, "latitude": NaN, "longitude": 0}',
            "body is not valid JSON: NaN is not a JSON value; send a number or null",
            ["body"],
        ),
        (
            b'[{"position": -Infinity}]',
            "body is not valid JSON: -Infinity is not a JSON value; send a number "
            "or null",
            ["body"],
        ),
    ],
    ids=[
        "truncated",
        "invalid-utf8",
        "deep-nesting",
        "long-integer",
        "utf-16",
        "nan",
        "infinity",
    ],
)
@pytest.mark.parametrize("route", ["/v1/recommendations", "/v1/feedback"])
def test_invalid_json_names_problem(
    client: TestClient,
    route: str,
    content: bytes,
    message: str,
    location: list[Any],
) -> None:
    response = client.post(
        route, content=content, headers={"content-type": "application/json"}
    )

    assert response.status_code == 422
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {
        "detail": [{"loc": location, "msg": message, "type": "json_invalid"}]
    }


@pytest.mark.parametrize(
    ("content", "key"),
    [
        (b'{"k": 3, "k": 50}', "k"),
        (b'{"user_id": "U1077", "context": {"city": "a", "city": "b"}}', "city"),
    ],
    ids=["top-level", "nested"],
)
def test_repeated_json_key_rejected(
    client: TestClient, content: bytes, key: str
) -> None:
    response = client.post(
        "/v1/recommendations",
        content=content,
        headers={"content-type": "application/json"},
    )

    assert response.status_code == 422
    assert response.json() == {
        "detail": [
            {
                "loc": ["body", key],
                "msg": f"body is not valid JSON for this API: key '{key}' appears "
                "more than once in one object",
                "type": "json_invalid",
            }
        ]
    }


@pytest.mark.parametrize(
    ("content_type", "given"),
    [
        ("text/plain", "'text/plain'"),
        ("application/x-www-form-urlencoded", "'application/x-www-form-urlencoded'"),
        ("application/xml", "'application/xml'"),
        (None, "no content type"),
    ],
    ids=["text", "form", "xml", "none"],
)
@pytest.mark.parametrize("route", ["/v1/recommendations", "/v1/feedback"])
def test_non_json_body_rejected(
    client: TestClient, route: str, content_type: str | None, given: str
) -> None:
    headers = {} if content_type is None else {"content-type": content_type}
    response = client.post(route, content=b'{"k": 3}', headers=headers)

    assert response.status_code == 415
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {
        "detail": f"request body must be sent as application/json, got {given}"
    }


def test_json_with_byte_order_mark_accepted(client: TestClient) -> None:
    response = client.post(
        "/v1/recommendations",
        content=b'\xef\xbb\xbf{"k": 2}',
        headers={"content-type": "application/json"},
    )

    assert response.status_code == 200, response.json()
    assert len(response.json()["recommendations"]) == 2


def test_json_content_type_parameters_accepted(client: TestClient) -> None:
    response = client.post(
        "/v1/recommendations",
        content=b'{"k": 2}',
        headers={"content-type": "Application/JSON; charset=utf-8"},
    )

    assert response.status_code == 200, response.json()
    assert len(response.json()["recommendations"]) == 2


def test_unknown_query_parameter_rejected(client: TestClient) -> None:
    # A misspelt exclude_cuisines must not return an unfiltered list.
    response = client.get(USER_ROUTE, params={"k": 3, "exclude_cuisine": "pizza"})

    assert response.status_code == 422
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {
        "detail": [
            {
                "loc": ["query", "exclude_cuisine"],
                "msg": "unknown query parameter 'exclude_cuisine'; known parameters: "
                "k, city, latitude, longitude, diet, exclude_cuisines, "
                "include_features",
                "type": "extra_forbidden",
            }
        ]
    }


def test_query_parameter_on_body_route_rejected(client: TestClient) -> None:
    response = client.post("/v1/feedback?dry_run=1", json=[])

    assert response.status_code == 422
    assert response.json() == {
        "detail": [
            {
                "loc": ["query", "dry_run"],
                "msg": "unknown query parameter 'dry_run'; this route takes no "
                "query parameters",
                "type": "extra_forbidden",
            }
        ]
    }


@pytest.mark.parametrize(
    ("route", "query", "name"),
    [
        (USER_ROUTE, "k=1&k=2", "k"),
        (USER_ROUTE, "latitude=1&longitude=2&latitude=2", "latitude"),
        ("/v1/restaurants/r00001/similar", "k=1&k=1", "k"),
    ],
    ids=["k", "latitude", "similar-k"],
)
def test_repeated_query_parameter_rejected(
    client: TestClient, route: str, query: str, name: str
) -> None:
    response = client.get(f"{route}?{query}")

    assert response.status_code == 422
    assert response.json() == {
        "detail": [
            {
                "loc": ["query", name],
                "msg": f"query parameter {name!r} takes one value, got 2",
                "type": "multiple_values",
            }
        ]
    }


def _chunked(size: int) -> Iterator[bytes]:
    """Yield a JSON body of about ``size`` bytes in pieces, which httpx sends
    chunked, without a Content-Length."""
    yield b'{"liked_cuisines": ["'
    for _ in range(size // 1_000):
        yield b"x" * 1_000
    yield b'"]}'


@pytest.mark.parametrize("route", ["/v1/recommendations", "/v1/feedback"])
def test_chunked_body_over_limit_rejected(client: TestClient, route: str) -> None:
    response = client.post(
        route, content=_chunked(70_000), headers={"content-type": "application/json"}
    )

    assert response.request.headers["transfer-encoding"] == "chunked"
    assert "content-length" not in response.request.headers
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"detail": "request body larger than 65536 bytes"}


def test_body_over_limit_rejected(client: TestClient) -> None:
    # 70,000 bytes of cuisines is above the default limit of 65,536 bytes.
    body = b'{"liked_cuisines": ["' + b"x" * 70_000 + b'"]}'
    response = client.post(
        "/v1/recommendations",
        content=body,
        headers={"content-type": "application/json"},
    )

    assert response.status_code == 413
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"detail": "request body larger than 65536 bytes"}


def test_latitude_without_longitude_rejected(client: TestClient) -> None:
    expected = {"detail": "latitude and longitude must be given together"}
    query = client.get(USER_ROUTE, params={"latitude": 40.4})
    body = client.post("/v1/recommendations", json={"latitude": 40.4})

    assert query.status_code == 422
    assert query.json() == expected
    assert body.status_code == 422
    assert body.json() == expected


def test_request_log_line_per_request(
    client: TestClient, world: World, caplog: pytest.LogCaptureFixture
) -> None:
    user_id = _with_orders(world, "regular")[0]
    with caplog.at_level("INFO", logger="service.requests"):
        response = client.get(f"/v1/users/{user_id}/recommendations", params={"k": 3})
        rejected = client.get(f"/v1/users/{user_id}/recommendations", params={"k": 0})
    lines = [r.fields for r in caplog.records if r.name == "service.requests"]

    assert len(lines) == 2
    assert lines[0]["request_id"] == response.headers["X-Request-ID"]
    assert lines[0]["route"] == "/v1/users/{user_id}/recommendations"
    assert lines[0]["user_id"] == user_id
    assert lines[0]["strategy"] == "ranker"
    assert lines[0]["status"] == 200
    assert lines[0]["latency_ms"] > 0
    assert lines[1]["request_id"] == rejected.headers["X-Request-ID"]
    assert lines[1]["status"] == 422
    assert lines[1]["strategy"] is None


# ---------------------------------------------------------------------------
# 11. Short lists and the k setting.
# ---------------------------------------------------------------------------


def test_short_list_has_note(client: TestClient, world: World) -> None:
    in_london = _in_city(world, "London")
    short = client.get(
        f"/v1/users/{UNKNOWN_USER}/recommendations",
        params={"k": 100, "city": "london"},
    ).json()
    full = client.get(f"/v1/users/{UNKNOWN_USER}/recommendations").json()
    preferences = client.post(
        "/v1/recommendations", json={"k": 100, "exclude_cuisines": ["bbq"]}
    ).json()
    with_bbq = world.restaurants.filter(pl.col("cuisines").list.contains("bbq"))

    assert len(short["recommendations"]) == len(in_london)
    assert short["notes"] == [
        {
            "code": "fewer_than_k",
            "message": f"{len(in_london)} restaurants match this request, "
            "fewer than k=100",
        }
    ]
    assert len(full["recommendations"]) == 10
    assert full["notes"] == []
    without_bbq = world.restaurants.height - with_bbq.height
    assert len(preferences["recommendations"]) == without_bbq
    assert preferences["notes"] == [
        {
            "code": "fewer_than_k",
            "message": f"{without_bbq} restaurants match this request, "
            "fewer than k=100",
        }
    ]


def test_max_k_setting_applies_to_both_routes(var_dir: Path, world: World) -> None:
    everyone = world.restaurants.height
    settings = Settings(var_dir=var_dir, max_k=150, default_k=7)
    too_large = {
        "msg": "Input should be less than or equal to 150",
        "type": "less_than_equal",
    }

    with TestClient(create_app(settings)) as test_client:
        posted = test_client.post("/v1/recommendations", json={"k": 150})
        got = test_client.get(USER_ROUTE, params={"k": 150})
        posted_over = test_client.post("/v1/recommendations", json={"k": 151})
        got_over = test_client.get(USER_ROUTE, params={"k": 151})
        posted_default = test_client.post("/v1/recommendations", json={})
        schema = test_client.get("/openapi.json").json()

    assert posted.status_code == 200
    assert len(posted.json()["recommendations"]) == everyone
    assert got.status_code == 200
    assert len(got.json()["recommendations"]) == everyone
    assert posted_over.status_code == 422
    assert posted_over.json() == {"detail": [{"loc": ["body", "k"], **too_large}]}
    assert got_over.status_code == 422
    assert got_over.json() == {"detail": [{"loc": ["query", "k"], **too_large}]}
    assert len(posted_default.json()["recommendations"]) == 7
    k_schema = schema["components"]["schemas"]["PreferencesRequest"]["properties"]["k"]
    assert k_schema["maximum"] == 150
    assert k_schema["default"] == 7
