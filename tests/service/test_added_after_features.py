"""Users and restaurants added to the store after the last `features` run.

The module's var folder contains the UCI data with menus for two Cuernavaca
restaurants and a vegetarian user with orders, features and a model. Then a
vegetarian user, a user without a profile, an order of the vegetarian and
three restaurants are imported without running `features` again, so the
online store lacks them.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from features.paths import FEATURE_REPO, RANKER_CONFIG, UCI_DATA_DIR, VarPaths
from features.store import LOCK_WAIT_SECONDS
from service.app import create_app
from service.cli import main
from service.pipeline import build_features, import_data, train
from service.settings import Settings
from service.strategies import Filters, Preferences

pytestmark = pytest.mark.slow

TOKEN = "reload-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
# The most ordered restaurant of Cuernavaca in the UCI data (10 ratings),
# given a menu of meat and fish only.
MEAT_ONLY = "132768"
# Rated by the imported vegetarian.
ORDERED = "135088"
# The UCI data has 130 restaurants, and the module adds three.
ALL_RESTAURANTS = 133
# Imported after features: a vegetarian menu, a meat-only bar, no fields.
NEW = "RNEW"
MEAT_ONLY_BAR = "RMEAT"
BARE = "RBARE"
# A vegetarian with orders in Cuernavaca, imported before features.
RANKED_VEGETARIAN = "UVEGRANK"

MENUS_BEFORE_FEATURES = """menu_item_id,restaurant_id,name,price,is_vegetarian
M1,132768,Coctel de camaron,120,false
M2,132768,Filete de pescado,150,false
M3,135021,Veggie Delite,60,true
M4,135021,Pollo teriyaki,70,false
"""
USERS_BEFORE_FEATURES = """user_id,city,latitude,longitude,diet,budget
UVEGRANK,Cuernavaca,18.92,-99.23,vegetarian,low
"""
ORDERS_BEFORE_FEATURES = """order_id,user_id,restaurant_id,rating
OVR1,UVEGRANK,135021,2
OVR2,UVEGRANK,135088,2
OVR3,UVEGRANK,132768,0
"""
USERS_AFTER = """user_id,city,latitude,longitude,diet,liked_cuisines,budget
UVEG,Cuernavaca,18.92,-99.23,vegetarian,cafeteria,low
UBARE,,,,,,
"""
ORDERS_AFTER = """order_id,user_id,restaurant_id,rating
OVEG1,UVEG,135088,2
"""
RESTAURANTS_AFTER = """restaurant_id,name,city,latitude,longitude,cuisines,price_level
RNEW,Casa Nueva,Cuernavaca,18.93,-99.22,fast_food|cafeteria,1
RMEAT,Cantina Nueva,Cuernavaca,18.91,-99.24,bar,3
RBARE,Sin Datos,,,,,
"""
MENUS_AFTER = """menu_item_id,restaurant_id,name,price,is_vegetarian
N1,RNEW,Ensalada de nopales,50,
N2,RNEW,Tacos de pollo,60,
N3,RNEW,Sopa de verduras,40,
B1,RMEAT,Costillas de cerdo,180,false
B2,RMEAT,Arrachera,200,false
"""
# The restaurant features that count orders: null for a restaurant without
# online features, 0 once `features` has run.
ORDER_COUNTS = (
    "restaurant_order_count",
    "restaurant_user_count",
    "restaurant_order_share",
)


def _import(var_dir: Path, folder: Path, files: dict[str, str]) -> None:
    folder.mkdir()
    for name, text in files.items():
        (folder / name).write_text(text)
    assert main(["--var-dir", str(var_dir), "import", str(folder)]) == 0


@pytest.fixture(scope="module")
def var_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("added_after_features")
    var = root / "var"
    paths = VarPaths(var)
    import_data(paths, UCI_DATA_DIR)
    _import(
        var,
        root / "before",
        {
            "menu_items.csv": MENUS_BEFORE_FEATURES,
            "users.csv": USERS_BEFORE_FEATURES,
            "orders.csv": ORDERS_BEFORE_FEATURES,
        },
    )
    build_features(paths, FEATURE_REPO, RANKER_CONFIG)
    train(paths, RANKER_CONFIG, FEATURE_REPO)
    _import(
        var,
        root / "after",
        {
            "users.csv": USERS_AFTER,
            "orders.csv": ORDERS_AFTER,
            "restaurants.csv": RESTAURANTS_AFTER,
            "menu_items.csv": MENUS_AFTER,
        },
    )
    return var


@pytest.fixture(scope="module")
def client(var_dir: Path) -> Iterator[TestClient]:
    settings = Settings(var_dir=var_dir, max_k=200, admin_token=TOKEN)
    with TestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def featured_client(
    var_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestClient]:
    """Serve a copy of the module's var folder after `features` ran again,
    with the same model."""
    copy = tmp_path_factory.mktemp("after_features") / "var"
    shutil.copytree(var_dir, copy)
    build_features(VarPaths(copy), FEATURE_REPO, RANKER_CONFIG)
    settings = Settings(var_dir=copy, max_k=200)
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def _ids(body: dict[str, object]) -> list[str]:
    items = body["recommendations"]
    assert isinstance(items, list)
    return [item["restaurant_id"] for item in items]


def _codes(body: dict[str, object]) -> list[str]:
    notes = body["notes"]
    assert isinstance(notes, list)
    return [note["code"] for note in notes]


def test_added_vegetarian_gets_content(client: TestClient) -> None:
    body = client.get("/v1/users/UVEG/recommendations", params={"k": 200}).json()
    listed = _ids(body)

    assert body["strategy"] == "content"
    assert body["degraded"] is False
    assert "profile_from_store" in _codes(body)
    assert len(listed) == ALL_RESTAURANTS - 1
    assert ORDERED not in listed
    # Meat-only restaurants come after every other one. RMEAT counts as one
    # by the menu the store has for it.
    assert set(listed[-2:]) == {MEAT_ONLY, MEAT_ONLY_BAR}


# The stored location, and San Luis Potosi, 300 km from it, given in the
# request in place of it. The city is the one at the location.
@pytest.mark.parametrize(
    ("location", "city"),
    [((18.92, -99.23), "Cuernavaca"), ((22.15, -100.98), "San Luis Potosi")],
)
def test_added_user_as_declared_preferences(
    client: TestClient, location: tuple[float, float], city: str
) -> None:
    latitude, longitude = location
    body = client.get(
        "/v1/users/UVEG/recommendations",
        params={"k": 200, "latitude": latitude, "longitude": longitude},
    ).json()
    recommender = client.app.state.recommender
    declared = Preferences(
        latitude=latitude,
        longitude=longitude,
        city=city,
        diet="vegetarian",
        liked_cuisines=("cafeteria",),
        budget="low",
    )
    expected = recommender.recommend_for_preferences(declared, 200, Filters())
    expected_items = [
        (item.restaurant_id, item.score)
        for item in expected.recommendations
        if item.restaurant_id != ORDERED
    ]

    listed = [
        (item["restaurant_id"], item["score"]) for item in body["recommendations"]
    ]
    assert body["strategy"] == "content"
    assert listed == expected_items


def test_added_user_without_profile(client: TestClient) -> None:
    body = client.get("/v1/users/UBARE/recommendations", params={"k": 3}).json()
    unknown = client.get("/v1/users/nobody/recommendations", params={"k": 3}).json()

    assert body["strategy"] == "popularity"
    assert _codes(body) == ["profile_from_store"]
    assert _ids(body) == _ids(unknown)
    assert unknown["notes"] == []


def test_added_user_served_while_store_locked(
    client: TestClient,
    var_dir: Path,
    store_locked: Callable[[Path], AbstractContextManager[None]],
) -> None:
    before = client.get("/v1/users/UVEG/recommendations", params={"k": 5}).json()
    with store_locked(var_dir / "store.duckdb"):
        started = time.monotonic()
        during = client.get("/v1/users/UVEG/recommendations", params={"k": 5}).json()
        elapsed = time.monotonic() - started

    assert during["strategy"] == "content"
    assert _ids(during) == _ids(before)
    assert elapsed < LOCK_WAIT_SECONDS


def test_user_added_after_load_needs_reload(var_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "var"
    shutil.copytree(var_dir, copy)
    settings = Settings(var_dir=copy, admin_token=TOKEN)
    with TestClient(create_app(settings)) as test_client:
        _import(
            copy,
            tmp_path / "later",
            {"users.csv": "user_id,city\nULATE,Cuernavaca\n"},
        )
        before = test_client.get("/v1/users/ULATE/recommendations").json()
        reloaded = test_client.post("/v1/admin/reload", headers=AUTH)
        after = test_client.get("/v1/users/ULATE/recommendations").json()

    assert before["strategy"] == "popularity"
    assert reloaded.status_code == 200
    assert after["strategy"] == "content"
    assert "profile_from_store" in _codes(after)


def test_added_restaurant_similar_scored(client: TestClient) -> None:
    body = client.get("/v1/restaurants/RNEW/similar", params={"k": 5}).json()
    scores = [item["score"] for item in body["recommendations"]]

    assert body["strategy"] == "content"
    assert _codes(body) == ["restaurant_from_store"]
    assert len(scores) == 5
    assert scores[0] > 0
    assert scores == sorted(scores, reverse=True)
    # Fast food and cafeteria, in Cuernavaca: 135021 (Subway) shares both
    # the cuisine and the city.
    assert body["recommendations"][0]["reasons"] == [
        "Also Fast food",
        "Also in Cuernavaca",
    ]


def test_added_restaurant_similar_as_after_features(
    client: TestClient, featured_client: TestClient
) -> None:
    before = client.get("/v1/restaurants/RNEW/similar", params={"k": 200}).json()
    after = featured_client.get(
        "/v1/restaurants/RNEW/similar", params={"k": 200}
    ).json()

    assert _codes(before) == ["fewer_than_k", "restaurant_from_store"]
    assert _codes(after) == ["fewer_than_k"]
    assert before["recommendations"] == after["recommendations"]


def test_restaurant_without_fields_similar(client: TestClient) -> None:
    body = client.get("/v1/restaurants/RBARE/similar", params={"k": 5}).json()

    assert body["recommendations"] == []
    assert _codes(body) == ["fewer_than_k", "nothing_to_compare"]


def test_added_restaurant_among_similar(client: TestClient) -> None:
    body = client.get("/v1/restaurants/135021/similar", params={"k": 200}).json()
    scores = {item["restaurant_id"]: item["score"] for item in body["recommendations"]}

    assert _codes(body) == ["fewer_than_k"]
    assert scores["RNEW"] > 0
    assert scores["RBARE"] == 0


def _user_list(
    client: TestClient, user: str, params: dict[str, object]
) -> dict[str, Any]:
    return client.get(
        f"/v1/users/{user}/recommendations", params={"k": 200, **params}
    ).json()


def _declared_list(client: TestClient, params: dict[str, object]) -> dict[str, Any]:
    # POST takes exclude_cuisines as a list and has no city filter.
    body: dict[str, object] = {
        "city": "Cuernavaca",
        "latitude": 18.92,
        "longitude": -99.23,
        "k": 200,
        **params,
    }
    if "exclude_cuisines" in body:
        body["exclude_cuisines"] = [body["exclude_cuisines"]]
    response = client.post("/v1/recommendations", json=body)
    assert response.status_code == 200, response.text
    return response.json()


# Each filter with the added restaurants it must keep and leave out, by what
# the store has for them: RMEAT is a bar with a meat-only menu, RNEW has
# vegetarian dishes, both are in Cuernavaca, and RBARE has no fields.
FILTER_CASES = [
    ({"exclude_cuisines": "bar"}, {NEW, BARE}, {MEAT_ONLY_BAR}),
    ({"exclude_cuisines": "BAR"}, {NEW, BARE}, {MEAT_ONLY_BAR}),
    # RNEW's fast_food, spelled as a person types it.
    ({"exclude_cuisines": "Fast Food"}, {MEAT_ONLY_BAR, BARE}, {NEW}),
    ({"city": "Cuernavaca"}, {NEW, MEAT_ONLY_BAR}, {BARE}),
    ({"diet": "vegetarian"}, {NEW}, {MEAT_ONLY_BAR, BARE}),
]


@pytest.mark.parametrize(("params", "kept", "left_out"), FILTER_CASES)
@pytest.mark.parametrize(
    ("user", "strategy"),
    [(RANKED_VEGETARIAN, "ranker"), ("UVEG", "content"), ("nobody", "popularity")],
)
def test_added_restaurants_filtered_by_store(
    client: TestClient,
    params: dict[str, object],
    kept: set[str],
    left_out: set[str],
    user: str,
    strategy: str,
) -> None:
    body = _user_list(client, user, params)
    listed = set(_ids(body))
    # A diet makes the list of an unknown user a content list.
    if "diet" in params and strategy == "popularity":
        strategy = "content"

    assert body["strategy"] == strategy
    assert kept <= listed
    assert not left_out & listed


@pytest.mark.parametrize(
    ("params", "kept", "left_out"),
    [case for case in FILTER_CASES if "city" not in case[0]],
)
def test_added_restaurants_filtered_for_declared(
    client: TestClient,
    params: dict[str, object],
    kept: set[str],
    left_out: set[str],
) -> None:
    listed = set(_ids(_declared_list(client, params)))

    assert kept <= listed
    assert not left_out & listed


def test_vegetarian_ranker_demotes_added_meat_only(client: TestClient) -> None:
    body = _user_list(client, RANKED_VEGETARIAN, {})
    listed = _ids(body)

    assert body["strategy"] == "ranker"
    # The diet guardrail: 132768, which the user rated, is left out, and the
    # meat-only bar comes after every restaurant whose menu is not meat-only.
    assert MEAT_ONLY not in listed
    assert listed[-1] == MEAT_ONLY_BAR


def test_declared_cuisine_with_space_matched(client: TestClient) -> None:
    body = _declared_list(client, {"liked_cuisines": ["Fast Food"]})
    reasons = {
        item["restaurant_id"]: item["reasons"] for item in body["recommendations"]
    }

    assert body["strategy"] == "content"
    assert "Fast food, a cuisine you like" in reasons[NEW]


def test_added_restaurants_scored_as_after_features(
    client: TestClient, featured_client: TestClient
) -> None:
    declared = {"liked_cuisines": ["fast_food"], "budget": "low"}
    before = _declared_list(client, declared)["recommendations"]
    after = _declared_list(featured_client, declared)["recommendations"]
    scores_before = {item["restaurant_id"]: item["score"] for item in before}
    scores_after = {item["restaurant_id"]: item["score"] for item in after}

    # A restaurant without orders has no popularity prior in either state,
    # so its content score rests on the fields both take from the store.
    for restaurant in (NEW, MEAT_ONLY_BAR, BARE):
        assert scores_before[restaurant] == scores_after[restaurant], restaurant
    assert scores_before[NEW] > scores_before[BARE]


def test_added_restaurant_placed_as_after_features(
    client: TestClient, featured_client: TestClient
) -> None:
    params = {"include_features": True}
    before = _user_list(client, RANKED_VEGETARIAN, params)
    after = _user_list(featured_client, RANKED_VEGETARIAN, params)

    assert before["strategy"] == "ranker"
    assert after["strategy"] == "ranker"
    for restaurant in (NEW, MEAT_ONLY_BAR):
        (features_before,) = [
            item["features"]
            for item in before["recommendations"]
            if item["restaurant_id"] == restaurant
        ]
        (features_after,) = [
            item["features"]
            for item in after["recommendations"]
            if item["restaurant_id"] == restaurant
        ]
        # The pair features that place it by content, and its profile and
        # menu, are those that `features` computes. Only order counts differ.
        for name, value in features_after.items():
            if name in ORDER_COUNTS:
                assert features_before[name] is None, name
                assert value == 0, name
            elif name.startswith("user_"):
                continue
            else:
                assert features_before[name] == value, (restaurant, name)
        assert features_before["same_city"] == 1
        assert features_before["distance_km"] is not None
        assert features_before["price_budget_gap"] is not None
