"""The recommendation API over the real model and the real Feast online store."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import socket
import sqlite3
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import httpx2
import pytest
import redis.exceptions
from fastapi import FastAPI
from fastapi.testclient import TestClient

from features import store
from features.feast_store import open_store
from features.online_read import OnlineStoreUnavailableError
from features.paths import FEATURE_REPO
from service.app import create_app
from service.cli import main
from service.feedback import feedback_folder
from service.recommender import Recommender, _passing_failure
from service.schemas import PreferencesRequest
from service.settings import Settings

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def client(pipeline_var_dir: Path) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(var_dir=pipeline_var_dir))) as test_client:
        yield test_client


def test_known_user_ranked(client: TestClient) -> None:
    response = client.get("/v1/users/U1077/recommendations", params={"k": 5})
    body = response.json()

    assert response.status_code == 200
    assert body["strategy"] == "ranker"
    assert body["user_id"] == "U1077"
    assert len(body["recommendations"]) == 5
    assert [item["rank"] for item in body["recommendations"]] == [1, 2, 3, 4, 5]
    scores = [item["score"] for item in body["recommendations"]]
    assert scores == sorted(scores, reverse=True)


def test_known_user_visited_excluded(client: TestClient) -> None:
    # U1077 rated 135085 and 132825 in rating_final.csv.
    response = client.get("/v1/users/U1077/recommendations", params={"k": 100})
    returned = {item["restaurant_id"] for item in response.json()["recommendations"]}

    assert "135085" not in returned
    assert "132825" not in returned


def test_unknown_user_gets_popularity(client: TestClient) -> None:
    response = client.get("/v1/users/nobody-here/recommendations")
    body = response.json()

    assert response.status_code == 200
    assert body["strategy"] == "popularity"
    assert len(body["recommendations"]) == 10
    # 135085 has the most ratings in rating_final.csv (36).
    assert body["recommendations"][0]["restaurant_id"] == "135085"
    assert body["recommendations"][0]["name"] == "Tortas Locas Hipocampo"


def test_features_only_on_request(client: TestClient) -> None:
    plain = client.get("/v1/users/U1077/recommendations", params={"k": 2}).json()
    detailed = client.get(
        "/v1/users/U1077/recommendations", params={"k": 2, "include_features": "true"}
    ).json()

    assert all("features" not in item for item in plain["recommendations"])
    for item in detailed["recommendations"]:
        assert "distance_km" in item["features"]
        assert "vegetarian_gap" in item["features"]
    # U1077 has 5 ratings in rating_final.csv. A user-level feature has the
    # same value for each restaurant.
    counts = {
        item["features"]["user_order_count"] for item in detailed["recommendations"]
    }
    assert counts == {5.0}


def test_ranker_reasons_per_restaurant(client: TestClient) -> None:
    body = client.get(
        "/v1/users/U1077/recommendations", params={"k": 5, "include_features": "true"}
    ).json()

    assert body["strategy"] == "ranker"
    for item in body["recommendations"]:
        reasons = item["reasons"]
        assert 1 <= len(reasons) <= 2, item
        assert len(set(reasons)) == len(reasons)
        for reason in reasons:
            assert_reason_true(reason, item["features"])


def assert_reason_true(reason: str, features: dict[str, float | None]) -> None:
    """Check a distance, cuisine-share or city reason against the model input
    it was written from."""
    distance = re.fullmatch(r"([\d.]+) km from you", reason)
    if distance is not None:
        assert features["distance_km"] is not None
        assert float(distance[1]) == pytest.approx(features["distance_km"], abs=0.05)
    share = re.fullmatch(r".+, like (\d+)% of your orders", reason)
    if share is not None:
        assert features["cuisine_affinity"] is not None
        assert int(share[1]) == round(100 * features["cuisine_affinity"])
    if reason == "in your city":
        assert features["same_city"] == 1


def test_popularity_reasons(client: TestClient) -> None:
    body = client.get("/v1/users/nobody-here/recommendations", params={"k": 3}).json()
    reasons = [item["reasons"] for item in body["recommendations"]]

    assert body["strategy"] == "popularity"
    # 135085, 132825 and 135032 have 36, 32 and 28 ratings in rating_final.csv,
    # and the UCI ratings have no times, so there is no 30-day count.
    assert reasons == [
        ["popular: 36 orders in total"],
        ["popular: 32 orders in total"],
        ["popular: 28 orders in total"],
    ]


def test_model_version_is_current(client: TestClient, pipeline_var_dir: Path) -> None:
    current = (pipeline_var_dir / "models" / "current").read_text().strip()
    body = client.get("/v1/users/U1077/recommendations").json()

    assert body["model_version"] == current


@pytest.mark.parametrize("k", ["0", "-3", "101", "ten", "2.5", "3.0"])
@pytest.mark.parametrize(
    "route", ["/v1/users/U1077/recommendations", "/v1/restaurants/135032/similar"]
)
def test_invalid_k_rejected(client: TestClient, route: str, k: str) -> None:
    response = client.get(route, params={"k": k})

    assert response.status_code == 422
    assert response.headers["content-type"] == "application/json"
    assert response.json()["detail"][0]["loc"] == ["query", "k"]


def test_served_over_real_http(
    pipeline_var_dir: Path,
    serve_in_thread: Callable[[Path], AbstractContextManager[int]],
) -> None:
    with serve_in_thread(pipeline_var_dir) as port:
        url = f"http://127.0.0.1:{port}/v1/users/U1077/recommendations?k=3"
        response = httpx2.get(url, timeout=10)

    assert response.status_code == 200
    assert response.json()["strategy"] == "ranker"
    assert len(response.json()["recommendations"]) == 3


def test_client_gone_mid_body_is_not_500(
    pipeline_var_dir: Path,
    caplog: pytest.LogCaptureFixture,
    serve_in_thread: Callable[[Path], AbstractContextManager[int]],
) -> None:
    head = (
        b"POST /v1/recommendations HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n"
    )
    with caplog.at_level("ERROR"), serve_in_thread(pipeline_var_dir) as port:
        metrics_url = f"http://127.0.0.1:{port}/metrics"
        before = _recommendation_posts(httpx2.get(metrics_url, timeout=10).text)
        with socket.create_connection(("127.0.0.1", port)) as client:
            client.sendall(head + b'{"k":')
            time.sleep(0.5)
        time.sleep(0.5)
        after = _recommendation_posts(httpx2.get(metrics_url, timeout=10).text)
    # The counters are the process's, so requests of other modules count
    # too, and only the change is compared.
    added = {
        status: count - before.get(status, 0.0)
        for status, count in after.items()
        if count != before.get(status, 0.0)
    }

    assert added == {"400": 1.0}
    assert [r.getMessage() for r in caplog.records if r.levelname == "ERROR"] == []


def _recommendation_posts(exposition: str) -> dict[str, float]:
    """Return the count of `POST /v1/recommendations` requests per status in
    a Prometheus exposition."""
    counts = {}
    for line in exposition.splitlines():
        if not line.startswith("recommender_http_requests_total{"):
            continue
        if 'method="POST"' not in line or 'route="/v1/recommendations"' not in line:
            continue
        status = re.search(r'status="(\d+)"', line)
        assert status is not None, line
        counts[status.group(1)] = float(line.rsplit(" ", 1)[1])
    return counts


def test_healthz_answers_head(client: TestClient) -> None:
    assert client.head("/healthz").status_code == 200
    assert client.get("/healthz").json() == {"status": "ok"}


def test_openapi_schema_without_warnings(client: TestClient) -> None:
    app = client.app
    assert isinstance(app, FastAPI)
    # FastAPI caches the schema, and an earlier test may have built it.
    app.openapi_schema = None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        schema = app.openapi()

    assert list(schema["paths"]["/healthz"]) == ["get"]
    assert "/v1/users/{user_id}/recommendations" in schema["paths"]


@pytest.mark.parametrize(
    ("page", "asset"),
    [("/docs", "swagger-ui-bundle.js"), ("/redoc", "redoc.standalone.js")],
)
def test_docs_pages_load_local_files(client: TestClient, page: str, asset: str) -> None:
    html = client.get(page)
    script = client.get(f"/static-offline-docs/{asset}")

    assert html.status_code == 200
    assert f'src="/static-offline-docs/{asset}"' in html.text
    assert "cdn." not in html.text
    assert script.status_code == 200
    assert "javascript" in script.headers["content-type"]
    assert len(script.content) > 100_000


def test_missing_docs_file_is_json_404(client: TestClient) -> None:
    response = client.get("/static-offline-docs/nothing.js")

    assert response.status_code == 404
    assert response.headers["content-type"] == "application/json"


@pytest.mark.parametrize(
    "user_id", ["U10%0077", "U%01", "a%7Fb", "a%C2%85b", "a%C2%9Bb"], ids=str
)
def test_control_characters_rejected(client: TestClient, user_id: str) -> None:
    response = client.get(f"/v1/users/{user_id}/recommendations")

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["path", "user_id"]


@pytest.mark.parametrize("user_id", ["%20", "%20U1077", "U1077%20", "U1077%C2%A0"])
def test_id_with_outer_whitespace_rejected(client: TestClient, user_id: str) -> None:
    response = client.get(f"/v1/users/{user_id}/recommendations")

    assert response.status_code == 422
    error = response.json()["detail"][0]
    assert error["loc"] == ["path", "user_id"]
    assert error["msg"].startswith("expected an id without '/', control characters")
    assert "whitespace at either end" in error["msg"]


def test_feedback_id_rule_in_words(client: TestClient) -> None:
    event = {"request_id": "req-1", "restaurant_id": "135052 ", "kind": "click"}

    response = client.post("/v1/feedback", json=[event])

    assert response.status_code == 422
    error = response.json()["detail"][0]
    assert error["loc"] == ["body", 0, "restaurant_id"]
    assert "whitespace at either end" in error["msg"]
    assert error["msg"].endswith("got '135052 '")


def test_id_with_inner_space_accepted(client: TestClient) -> None:
    response = client.get("/v1/users/U%201077/recommendations")

    assert response.status_code == 200
    assert response.json()["user_id"] == "U 1077"


@pytest.mark.parametrize(
    ("url", "where"),
    [
        ("/v1/users/%FF%FE/recommendations", "path"),
        ("/v1/users/%ED%A0%80/recommendations", "path"),
        ("/v1/users/U1077/recommendations?city=%FF", "query"),
        ("/v1/restaurants/%C0%AF/similar", "path"),
    ],
)
def test_invalid_utf8_rejected(client: TestClient, url: str, where: str) -> None:
    response = client.get(url)

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == [where]
    assert response.json()["detail"][0]["type"] == "utf8_invalid"


def test_trailing_slash_not_redirected(client: TestClient) -> None:
    response = client.get(
        "/v1/users/U1077/recommendations/",
        headers={"host": "elsewhere.example"},
        follow_redirects=False,
    )

    assert response.status_code == 404
    assert response.headers["content-type"] == "application/json"
    assert "location" not in response.headers


def test_utf8_user_id_accepted(client: TestClient) -> None:
    response = client.get("/v1/users/%C3%A9l%C3%A8ve/recommendations")

    assert response.status_code == 200
    assert response.json()["user_id"] == "\u00e9l\u00e8ve"


def _rated_by(var_dir: Path, user_id: str) -> set[str]:
    """Return the restaurants ``user_id`` rated, from the store's orders."""
    with store.connect(var_dir / "store.duckdb", read_only=True) as connection:
        rows = connection.execute(
            "SELECT restaurant_id FROM orders WHERE user_id = ?", [user_id]
        ).fetchall()
    return {row[0] for row in rows}


def _in_city_of(var_dir: Path, user_id: str) -> set[str]:
    """Return the restaurants in ``user_id``'s city, from the store."""
    with store.connect(var_dir / "store.duckdb", read_only=True) as connection:
        rows = connection.execute(
            "SELECT r.restaurant_id FROM restaurants r JOIN users u "
            "ON r.city = u.city WHERE u.user_id = ?",
            [user_id],
        ).fetchall()
    return {row[0] for row in rows}


def _drop_user_tables(var_dir: Path) -> None:
    online = sqlite3.connect(var_dir / "feast" / "online_store.db")
    for view in ("user_profile", "user_activity"):
        online.execute(f"DROP TABLE restaurant_recommender_{view}")
    online.commit()
    online.close()


def _var_copy(pipeline_var_dir: Path, tmp_path: Path) -> Path:
    """Return a copy of the pipeline's var folder that a test may damage."""
    var_dir = tmp_path / "var"
    shutil.copytree(pipeline_var_dir, var_dir)
    return var_dir


def test_lost_online_table_degrades(pipeline_var_dir: Path, tmp_path: Path) -> None:
    var_dir = _var_copy(pipeline_var_dir, tmp_path)
    app = create_app(Settings(var_dir=var_dir))
    rated = _rated_by(var_dir, "U1077")

    with TestClient(app) as test_client:
        # The online store loses the user tables after start-up.
        _drop_user_tables(var_dir)
        response = test_client.get("/v1/users/U1077/recommendations", params={"k": 3})
        everything = test_client.get(
            "/v1/users/U1077/recommendations", params={"k": 100}
        ).json()
    returned = {item["restaurant_id"] for item in everything["recommendations"]}

    assert response.status_code == 200
    assert response.json()["degraded"] is True
    assert response.json()["strategy"] == "popularity"
    assert len(response.json()["recommendations"]) == 3
    # 135085 and 132825, the two most rated restaurants (36 and 32 ratings),
    # are among those U1077 rated, so 135032 comes first.
    assert {"135085", "132825"} <= rated
    assert response.json()["recommendations"][0]["restaurant_id"] == "135032"
    assert response.json()["recommendations"][0]["reasons"] == [
        "popular: 28 orders in total"
    ]
    assert response.json()["notes"] == []
    assert everything["degraded"] is True
    # The list keeps to the user's city: every restaurant there they did not
    # rate, fewer than the 100 asked for.
    assert returned == _in_city_of(var_dir, "U1077") - rated


def test_lost_online_table_keeps_user_city(
    pipeline_var_dir: Path, tmp_path: Path
) -> None:
    var_dir = _var_copy(pipeline_var_dir, tmp_path)
    in_city = _in_city_of(var_dir, "U1004")

    with TestClient(create_app(Settings(var_dir=var_dir))) as test_client:
        _drop_user_tables(var_dir)
        body = test_client.get(
            "/v1/users/U1004/recommendations", params={"k": 5}
        ).json()
    returned = {item["restaurant_id"] for item in body["recommendations"]}

    assert body["degraded"] is True
    assert len(in_city) >= 5
    assert len(returned) == 5
    assert returned <= in_city


def test_degraded_unreadable_history_noted(
    pipeline_var_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    var_dir = _var_copy(pipeline_var_dir, tmp_path)
    app = create_app(Settings(var_dir=var_dir))

    with TestClient(app) as test_client:
        # Both the online store and the store lose what they know of users.
        _drop_user_tables(var_dir)
        (var_dir / "store.duckdb").rename(tmp_path / "moved.duckdb")
        with caplog.at_level("WARNING", logger="service.recommender"):
            response = test_client.get(
                "/v1/users/U1077/recommendations", params={"k": 3}
            )
    body = response.json()
    request_id = body["request_id"]
    messages = [
        r.getMessage() for r in caplog.records if r.name == "service.recommender"
    ]

    assert response.status_code == 200
    assert body["degraded"] is True
    assert body["recommendations"][0]["restaurant_id"] == "135085"
    assert body["notes"] == [
        {
            "code": "history_unavailable",
            "message": "the past orders of user U1077 could not be read, so the "
            "list may contain restaurants they ordered from",
        }
    ]
    assert messages[-1] == (
        "could not read the past orders of user U1077 from the store, request "
        f"{request_id}: store not found: {var_dir / 'store.duckdb'}; run "
        "`recommender data` first. The degraded list may contain restaurants "
        "they ordered from"
    )


def test_missing_model_leaves_out_rated(pipeline_var_dir: Path, tmp_path: Path) -> None:
    var_dir = _var_copy(pipeline_var_dir, tmp_path)
    (var_dir / "models" / "current").unlink()
    rated = _rated_by(var_dir, "U1077")

    with TestClient(create_app(Settings(var_dir=var_dir))) as test_client:
        body = test_client.get(
            "/v1/users/U1077/recommendations", params={"k": 100}
        ).json()
    returned = {item["restaurant_id"] for item in body["recommendations"]}

    assert body["degraded"] is True
    assert body["strategy"] == "popularity"
    assert len(rated) == 5
    assert returned
    assert not returned & rated


def test_current_naming_missing_version_logged(
    pipeline_var_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    var_dir = _var_copy(pipeline_var_dir, tmp_path)
    models = var_dir / "models"
    (models / "current").write_text("20990101T000000000000Z\n")

    with (
        caplog.at_level("WARNING", logger="service.recommender"),
        TestClient(create_app(Settings(var_dir=var_dir))) as test_client,
    ):
        ready = test_client.get("/readyz")
    messages = [r.getMessage() for r in caplog.records]

    assert ready.status_code == 503
    assert (
        f"{models / 'current'} names model version '20990101T000000000000Z', "
        f"which is not in {models}; promote a version with `recommender "
        "promote` or train again; every list falls back to popularity"
    ) in messages


def test_reload_without_online_table_is_409(
    pipeline_var_dir: Path, tmp_path: Path
) -> None:
    var_dir = _var_copy(pipeline_var_dir, tmp_path)
    settings = Settings(var_dir=var_dir, admin_token="reload-token")
    auth = {"Authorization": "Bearer reload-token"}

    with TestClient(create_app(settings)) as test_client:
        before = test_client.get("/readyz").json()["model_version"]
        online = sqlite3.connect(var_dir / "feast" / "online_store.db")
        online.execute("DROP TABLE restaurant_recommender_restaurant_profile")
        online.commit()
        online.close()
        reloaded = test_client.post("/v1/admin/reload", headers=auth)
        after = test_client.get("/readyz").json()["model_version"]

    assert reloaded.status_code == 409
    assert reloaded.json()["detail"].startswith(
        "cannot read the store or the online store: OperationalError: no such table"
    )
    assert after == before


def test_reload_locked_store_is_503(
    pipeline_var_dir: Path,
    tmp_path: Path,
    store_locked: Callable[[Path], AbstractContextManager[None]],
) -> None:
    var_dir = _var_copy(pipeline_var_dir, tmp_path)
    settings = Settings(var_dir=var_dir, admin_token="reload-token")
    auth = {"Authorization": "Bearer reload-token"}

    with TestClient(create_app(settings)) as test_client:
        with store_locked(var_dir / "store.duckdb"):
            busy = test_client.post("/v1/admin/reload", headers=auth)
        reloaded = test_client.post("/v1/admin/reload", headers=auth)

    assert busy.status_code == 503
    assert busy.headers["Retry-After"] == "10"
    assert busy.json() == {
        "detail": f"the store {var_dir / 'store.duckdb'} is busy: another "
        "process, such as `recommender import` or `recommender features`, holds "
        "its lock; the loaded model and features stay, so retry the reload later"
    }
    assert reloaded.status_code == 200


def test_reload_locked_online_store_is_503(
    pipeline_var_dir: Path, tmp_path: Path
) -> None:
    var_dir = _var_copy(pipeline_var_dir, tmp_path)
    settings = Settings(var_dir=var_dir, admin_token="reload-token")
    auth = {"Authorization": "Bearer reload-token"}

    with TestClient(create_app(settings)) as test_client:
        before = test_client.get("/readyz").json()["model_version"]
        # An exclusive transaction keeps readers out, as a long write of
        # another process would.
        online = sqlite3.connect(
            var_dir / "feast" / "online_store.db", isolation_level=None
        )
        online.execute("BEGIN EXCLUSIVE")
        try:
            busy = test_client.post("/v1/admin/reload", headers=auth)
        finally:
            online.execute("ROLLBACK")
            online.close()
        reloaded = test_client.post("/v1/admin/reload", headers=auth)

    detail = busy.json()["detail"]
    assert busy.status_code == 503
    assert busy.headers["Retry-After"] == "10"
    assert detail.startswith("cannot read the store or the online store: ")
    assert "database is locked" in detail
    assert detail.endswith(
        "the loaded model and features stay, so retry the reload later"
    )
    assert reloaded.status_code == 200
    assert reloaded.json()["model_version"] == before


def test_slow_reload_answers_503_and_goes_on(
    pipeline_var_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    var_dir = _var_copy(pipeline_var_dir, tmp_path)
    settings = Settings(
        var_dir=var_dir, admin_token="reload-token", reload_timeout_seconds=1
    )
    auth = {"Authorization": "Bearer reload-token"}

    with (
        caplog.at_level("INFO", logger="service.app"),
        TestClient(create_app(settings)) as test_client,
    ):
        online = sqlite3.connect(
            var_dir / "feast" / "online_store.db", isolation_level=None
        )
        online.execute("BEGIN EXCLUSIVE")
        try:
            # SQLite waits 5 s for the lock, longer than the 1 s allowed.
            slow = test_client.post("/v1/admin/reload", headers=auth)
            queued = test_client.post("/v1/admin/reload", headers=auth)
        finally:
            online.execute("ROLLBACK")
            online.close()
        deadline = time.monotonic() + 30
        reloaded = test_client.post("/v1/admin/reload", headers=auth)
        while reloaded.status_code == 503 and time.monotonic() < deadline:
            time.sleep(0.5)
            reloaded = test_client.post("/v1/admin/reload", headers=auth)

    assert slow.status_code == 503
    assert slow.headers["Retry-After"] == "10"
    assert slow.json()["detail"].startswith("the reload did not finish in 1 s")
    assert queued.status_code == 503
    assert queued.json()["detail"] == (
        "another reload is still running; the loaded model and features stay, "
        "so retry the reload later"
    )
    assert reloaded.status_code == 200
    # The lock is released within SQLite's 5 s wait, so the slow reload ends
    # well.
    assert "reload that timed out finished: model " in caplog.text


def test_locked_online_store_skipped_after_failure(
    pipeline_var_dir: Path, tmp_path: Path
) -> None:
    var_dir = _var_copy(pipeline_var_dir, tmp_path)
    reader = Recommender(Settings(var_dir=var_dir)).user_reader
    online = sqlite3.connect(
        var_dir / "feast" / "online_store.db", isolation_level=None
    )
    online.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(sqlite3.OperationalError, match="database is locked"):
            reader.read_row("U1077")
        # Within the retry window, the next read does not wait for the lock.
        with pytest.raises(OnlineStoreUnavailableError) as skipped:
            reader.read_row("U1077")
    finally:
        online.execute("ROLLBACK")
        online.close()
    reader.retry_after = 0.0
    row = reader.read_row("U1077")

    assert "(OperationalError: database is locked)" in str(skipped.value)
    assert row["user_id"] == "U1077"
    assert row["user_order_count"] is not None


@pytest.mark.parametrize(
    "error",
    [
        redis.exceptions.TimeoutError("Timeout reading from socket"),
        redis.exceptions.ConnectionError("Error 111 connecting to 127.0.0.1:6379."),
        TimeoutError("timed out"),
        sqlite3.OperationalError("database is locked"),
    ],
    ids=type,
)
def test_passing_failures_recognised(error: Exception) -> None:
    wrapped = RuntimeError("reading the online store failed")
    wrapped.__cause__ = error

    assert _passing_failure(error)
    assert _passing_failure(wrapped)


@pytest.mark.parametrize(
    "error",
    [
        sqlite3.OperationalError("no such table: restaurant_profile"),
        redis.exceptions.ResponseError("WRONGTYPE Operation against a key"),
        ValueError("invalid model file"),
    ],
    ids=str,
)
def test_lasting_failures_not_passing(error: Exception) -> None:
    assert not _passing_failure(error)


def test_reload_after_view_removed_is_409(
    pipeline_var_dir: Path, tmp_path: Path
) -> None:
    """The feature code is read once, at start, so a reload after a view left
    the registry is rejected with a request to restart. Once `features` puts
    the view back, a reload succeeds."""
    var_dir = _var_copy(pipeline_var_dir, tmp_path)
    settings = Settings(var_dir=var_dir, admin_token="reload-token")
    auth = {"Authorization": "Bearer reload-token"}

    with TestClient(create_app(settings)) as test_client:
        open_store(FEATURE_REPO, var_dir).delete_feature_view("user_activity")
        refused = test_client.post("/v1/admin/reload", headers=auth)
        assert main(["--var-dir", str(var_dir), "features"]) == 0
        accepted = test_client.post("/v1/admin/reload", headers=auth)
        listed = test_client.get("/v1/users/U1077/recommendations").json()

    assert refused.status_code == 409
    assert refused.json()["detail"] == (
        "the feature views of the registry changed since the service started "
        "(added: none; removed: user_activity); restart the service to load "
        "the new feature definitions"
    )
    assert accepted.status_code == 200, accepted.json()
    assert listed["strategy"] == "ranker"


def _wait_for_log(caplog: pytest.LogCaptureFixture, text: str) -> bool:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if any(text in record.getMessage() for record in caplog.records):
            return True
        time.sleep(0.2)
    return False


def test_reload_follower_survives_failed_reload(
    pipeline_var_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    var_dir = _var_copy(pipeline_var_dir, tmp_path)
    settings = Settings(var_dir=var_dir, admin_token="reload-token")
    signal = var_dir / "models" / ".reload"
    store_file = var_dir / "store.duckdb"

    with (
        caplog.at_level("INFO", logger="service.app"),
        TestClient(create_app(settings)) as test_client,
    ):
        # Another worker reloads while this one cannot read the store.
        store_file.rename(tmp_path / "away.duckdb")
        signal.write_text("1\n")
        failed = _wait_for_log(caplog, "reload after another worker's failed")
        (tmp_path / "away.duckdb").rename(store_file)
        time.sleep(0.05)
        signal.write_text("2\n")
        followed = _wait_for_log(caplog, "after another worker did")
        ready = test_client.get("/readyz")

    assert failed
    assert followed
    assert ready.status_code == 200


def test_reload_follower_retries_failed_reload(
    pipeline_var_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    var_dir = _var_copy(pipeline_var_dir, tmp_path)
    settings = Settings(var_dir=var_dir, admin_token="reload-token")
    promoted = "20990103T000000000000Z"
    store_file = var_dir / "store.duckdb"

    with (
        caplog.at_level("INFO", logger="service.app"),
        TestClient(create_app(settings)) as test_client,
    ):
        loaded = _copy_current_model(var_dir, promoted)
        # Another worker reloads while this one cannot read the store, which
        # comes back without a new signal.
        store_file.rename(tmp_path / "away.duckdb")
        (var_dir / "models" / ".reload").write_text("1\n")
        failed = _wait_for_log(caplog, "reload after another worker's failed")
        (tmp_path / "away.duckdb").rename(store_file)
        followed = _wait_for_log(caplog, f"reloaded model {promoted} after")
        ready = test_client.get("/readyz").json()

    assert loaded != promoted
    assert failed
    assert followed
    assert ready["model_version"] == promoted


def _start_and_ask(
    var_dir: Path, caplog: pytest.LogCaptureFixture
) -> tuple[httpx2.Response, httpx2.Response, list[str]]:
    """Start the app on ``var_dir`` and return its /readyz response, U1077's
    list and the error lines it logged."""
    with (
        caplog.at_level("ERROR"),
        TestClient(create_app(Settings(var_dir=var_dir))) as test_client,
    ):
        ready = test_client.get("/readyz")
        response = test_client.get("/v1/users/U1077/recommendations")
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    return ready, response, errors


def test_unservable_model_starts_without_it(
    pipeline_var_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    var_dir = _var_copy(pipeline_var_dir, tmp_path)
    models = var_dir / "models"
    version = (models / "current").read_text().strip()
    # A model that reads a feature the online store lacks, renamed in the
    # model file and its metadata alike, with the checksum to match.
    metadata_path = models / version / "metadata.json"
    metadata = json.loads(metadata_path.read_text())
    model_path = models / version / "model.txt"
    lines = model_path.read_text().splitlines(keepends=True)
    (row,) = [i for i, line in enumerate(lines) if line.startswith("feature_names=")]
    names = lines[row].removeprefix("feature_names=").split(" ")
    assert names[0] == metadata["features"][0]
    lines[row] = "feature_names=" + " ".join(["no_such_feature", *names[1:]])
    model_path.write_text("".join(lines))
    metadata["features"][0] = "no_such_feature"
    metadata["model_sha256"] = hashlib.sha256(model_path.read_bytes()).hexdigest()
    metadata_path.write_text(json.dumps(metadata))

    ready, response, errors = _start_and_ask(var_dir, caplog)

    assert ready.status_code == 503
    assert response.status_code == 200
    assert response.json()["strategy"] == "popularity"
    assert response.json()["degraded"] is True
    assert response.json()["model_version"] is None
    assert len(errors) == 1
    assert errors[0].startswith(
        f"model {version} cannot be served, starting without it:"
    )
    assert "no_such_feature" in errors[0]


def test_damaged_model_starts_without_it(
    pipeline_var_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    var_dir = _var_copy(pipeline_var_dir, tmp_path)
    models = var_dir / "models"
    version = (models / "current").read_text().strip()
    (models / version / "model.txt").write_text("garbage")

    ready, response, errors = _start_and_ask(var_dir, caplog)

    assert ready.status_code == 503
    assert response.status_code == 200
    assert response.json()["strategy"] == "popularity"
    assert response.json()["model_version"] is None
    assert errors == [
        f"cannot load the current model in {models}: "
        f"{models / version / 'model.txt'} does not match the checksum in its "
        "metadata; the file is damaged, retrain with `recommender train`; "
        "starting without a model"
    ]


def _empty_online_store(var_dir: Path) -> None:
    """Delete every row of the embedded online store, keeping its tables."""
    online = sqlite3.connect(var_dir / "feast" / "online_store.db")
    tables = online.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
    for (table,) in tables.fetchall():
        online.execute(f"DELETE FROM {table}")
    online.commit()
    online.close()


def test_empty_online_store_not_ready(
    pipeline_var_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    var_dir = _var_copy(pipeline_var_dir, tmp_path)
    _empty_online_store(var_dir)

    ready, response, errors = _start_and_ask(var_dir, caplog)

    assert ready.status_code == 503
    assert response.status_code == 200
    assert errors == [
        "the online store has features for none of the 130 restaurants of the "
        "store: run `recommender features` with this profile, or check the "
        "online store's address; /readyz returns 503"
    ]
    # Every null row of an empty store would pass for an unknown user. The
    # list is marked degraded, names its restaurants from the store and
    # leaves out what U1077 rated, as when the online store is unreachable.
    body = response.json()
    with store.connect(var_dir / "store.duckdb", read_only=True) as db:
        rated = {
            row[0]
            for row in db.execute(
                "SELECT restaurant_id FROM orders WHERE user_id = 'U1077'"
            ).fetchall()
        }
        names = dict(
            db.execute("SELECT restaurant_id, name FROM restaurants").fetchall()
        )
    listed = [item["restaurant_id"] for item in body["recommendations"]]
    assert body["degraded"] is True
    assert body["strategy"] == "popularity"
    assert rated
    assert listed
    assert not rated & set(listed)
    for item in body["recommendations"]:
        assert item["name"] == names[item["restaurant_id"]]
    # Popularity counted in the store, as the online store has none: the
    # most ordered restaurant of U1077's city that they have not rated.
    with store.connect(var_dir / "store.duckdb", read_only=True) as db:
        (expected_first,) = db.execute(
            "SELECT r.restaurant_id FROM restaurants r "
            "JOIN users u ON u.city = r.city AND u.user_id = 'U1077' "
            "LEFT JOIN orders o ON o.restaurant_id = r.restaurant_id "
            "WHERE r.restaurant_id NOT IN (SELECT restaurant_id FROM orders "
            "WHERE user_id = 'U1077') "
            "GROUP BY r.restaurant_id ORDER BY count(o.order_id) DESC, "
            "r.restaurant_id LIMIT 1"
        ).fetchall()[0]
    scores = [item["score"] for item in body["recommendations"]]
    assert listed[0] == expected_first
    assert scores[0] > 0
    assert scores == sorted(scores, reverse=True)


def test_empty_online_store_filters_by_store(
    pipeline_var_dir: Path, tmp_path: Path
) -> None:
    var_dir = _var_copy(pipeline_var_dir, tmp_path)
    _empty_online_store(var_dir)
    rated = _rated_by(var_dir, "U1077")
    home = _in_city_of(var_dir, "U1077")
    with store.connect(var_dir / "store.duckdb", read_only=True) as db:
        cuernavaca = {
            row[0]
            for row in db.execute(
                "SELECT restaurant_id FROM restaurants WHERE city = 'Cuernavaca'"
            ).fetchall()
        }
        bars = {
            row[0]
            for row in db.execute(
                "SELECT restaurant_id FROM restaurants "
                "WHERE list_contains(cuisines, 'bar')"
            ).fetchall()
        }
    settings = Settings(var_dir=var_dir, max_k=200)

    with TestClient(create_app(settings)) as test_client:
        lists = {
            name: test_client.get(
                "/v1/users/U1077/recommendations", params={"k": 200, **params}
            ).json()
            for name, params in [
                ("home", {}),
                ("city", {"city": "cuernavaca"}),
                ("no_bars", {"exclude_cuisines": "bar"}),
            ]
        }
    listed = {
        name: {item["restaurant_id"] for item in body["recommendations"]}
        for name, body in lists.items()
    }

    # Without restaurant features online, the lists are by popularity counted
    # in the store, and filtered by the cities and cuisines the store has.
    for body in lists.values():
        assert body["degraded"] is True
        assert body["strategy"] == "popularity"
    assert cuernavaca
    assert bars
    assert listed["home"] == home - rated
    assert listed["city"] == cuernavaca - rated
    assert listed["no_bars"]
    assert not listed["no_bars"] & bars


def test_reload_refuses_empty_online_store(
    pipeline_var_dir: Path, tmp_path: Path
) -> None:
    var_dir = _var_copy(pipeline_var_dir, tmp_path)
    settings = Settings(var_dir=var_dir, admin_token="reload-token")
    auth = {"Authorization": "Bearer reload-token"}

    with TestClient(create_app(settings)) as test_client:
        _empty_online_store(var_dir)
        reloaded = test_client.post("/v1/admin/reload", headers=auth)
        ready = test_client.get("/readyz")

    assert reloaded.status_code == 409
    assert reloaded.json()["detail"] == (
        "the online store has features for none of the 130 restaurants of the "
        "store; run `recommender features` with this profile or check the "
        "online store's address, then reload"
    )
    assert ready.status_code == 503
    assert ready.json()["detail"].startswith(
        "the online store no longer has the features of user "
    )


def _copy_current_model(var_dir: Path, version: str) -> str:
    """Copy the current model to a new ``version`` folder, make that current
    and return the version the service loaded before."""
    models = var_dir / "models"
    loaded = (models / "current").read_text().strip()
    shutil.copytree(models / loaded, models / version)
    metadata_file = models / version / "metadata.json"
    metadata = json.loads(metadata_file.read_text())
    metadata["version"] = version
    metadata_file.write_text(json.dumps(metadata))
    (models / "current").write_text(f"{version}\n")
    return loaded


def test_failed_reload_keeps_version_metric(
    pipeline_var_dir: Path, tmp_path: Path
) -> None:
    var_dir = _var_copy(pipeline_var_dir, tmp_path)
    settings = Settings(var_dir=var_dir, admin_token="reload-token")
    auth = {"Authorization": "Bearer reload-token"}
    promoted = "20990102T000000000000Z"

    with TestClient(create_app(settings)) as test_client:
        loaded = _copy_current_model(var_dir, promoted)
        _empty_online_store(var_dir)
        reloaded = test_client.post("/v1/admin/reload", headers=auth)
        served = test_client.get("/v1/users/U1077/recommendations").json()
        metrics = test_client.get("/metrics").text

    assert reloaded.status_code == 409
    assert served["model_version"] == loaded
    assert f'recommender_model_version{{version="{loaded}"}} 1.0' in metrics
    assert f'version="{promoted}"' not in metrics


def test_reload_reads_replaced_online_store(
    pipeline_var_dir: Path, tmp_path: Path
) -> None:
    var_dir = _var_copy(pipeline_var_dir, tmp_path)
    settings = Settings(var_dir=var_dir, admin_token="reload-token")
    auth = {"Authorization": "Bearer reload-token"}
    online_file = var_dir / "feast" / "online_store.db"

    with TestClient(create_app(settings)) as test_client:
        # A new file takes the old one's place, as when the file is deleted
        # and `recommender features` writes it again. Emptied, a reload that
        # reads it must reject it.
        shutil.copy(online_file, tmp_path / "online_store.db")
        online_file.unlink()
        (tmp_path / "online_store.db").rename(online_file)
        _empty_online_store(var_dir)
        reloaded = test_client.post("/v1/admin/reload", headers=auth)

    assert reloaded.status_code == 409
    assert reloaded.json()["detail"].startswith(
        "the online store has features for none of the 130 restaurants"
    )


def test_emptied_store_noticed_past_new_users(
    pipeline_var_dir: Path, tmp_path: Path
) -> None:
    var_dir = _var_copy(pipeline_var_dir, tmp_path)
    # Users imported after the last `features` run, with half of the orders
    # and ids that sort first, have no online features.
    with store.connect(var_dir / "store.duckdb") as db:
        db.execute(
            "INSERT INTO orders SELECT * REPLACE ('A' || user_id AS user_id, "
            "'A' || order_id AS order_id) FROM orders"
        )

    with TestClient(create_app(Settings(var_dir=var_dir))) as test_client:
        ready_before = test_client.get("/readyz")
        _empty_online_store(var_dir)
        ready_after = test_client.get("/readyz")

    assert ready_before.status_code == 200
    assert ready_after.status_code == 503


def test_online_store_emptied_while_serving(
    pipeline_var_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    var_dir = _var_copy(pipeline_var_dir, tmp_path)

    with TestClient(create_app(Settings(var_dir=var_dir))) as test_client:
        ready_before = test_client.get("/readyz")
        before = test_client.get("/v1/users/U1077/recommendations").json()
        _empty_online_store(var_dir)
        with caplog.at_level("WARNING", logger="service.app"):
            ready_after = test_client.get("/readyz")
            test_client.get("/readyz")
        after = test_client.get("/v1/users/U1077/recommendations").json()
    warned = [
        r.getMessage()
        for r in caplog.records
        if r.name == "service.app" and r.levelname == "WARNING"
    ]

    with store.connect(var_dir / "store.duckdb", read_only=True) as db:
        rated = {
            row[0]
            for row in db.execute(
                "SELECT restaurant_id FROM orders WHERE user_id = 'U1077'"
            ).fetchall()
        }
    assert ready_before.status_code == 200
    assert before["strategy"] == "ranker"
    assert before["degraded"] is False
    assert ready_after.status_code == 503
    assert re.fullmatch(
        r"the online store no longer has the features of user U\d+, which it "
        r"had when the service loaded them\. If `recommender features` ran "
        r"since, it deleted the users the data no longer has, so reload; else "
        r"run `recommender features` with this profile, then reload",
        ready_after.json()["detail"],
    )
    # Logged once, though the probe asked twice.
    assert warned == [f"/readyz returns 503: {ready_after.json()['detail']}"]
    # U1077's row is gone too, so it would pass for a user without orders.
    listed = {item["restaurant_id"] for item in after["recommendations"]}
    assert after["strategy"] == "popularity"
    assert after["degraded"] is True
    assert listed
    assert not rated & listed


def _fallbacks_counted(test_client: TestClient) -> float:
    """Return the fallbacks that /metrics counts for an unavailable online
    store."""
    text = test_client.get("/metrics").text
    found = re.search(
        r'^recommender_fallbacks_total\{reason="online_store_unavailable"\} (\S+)$',
        text,
        re.MULTILINE,
    )
    return float(found.group(1)) if found else 0.0


def test_emptied_store_warnings_rate_limited(
    pipeline_var_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    var_dir = _var_copy(pipeline_var_dir, tmp_path)
    app = create_app(Settings(var_dir=var_dir))
    now = [0.0]
    requests = 40

    with TestClient(app) as test_client:
        limiter = app.state.recommender.degraded_warnings
        limiter.clock = lambda: now[0]
        counted_before = _fallbacks_counted(test_client)
        _empty_online_store(var_dir)
        with caplog.at_level("WARNING", logger="service.recommender"):
            burst = [
                test_client.get("/v1/users/U1077/recommendations").json()
                for _ in range(requests)
            ]
            now[0] += limiter.interval
            after = test_client.get("/v1/users/U1077/recommendations").json()
        counted_after = _fallbacks_counted(test_client)
    records = [
        r
        for r in caplog.records
        if r.name == "service.recommender" and r.levelname == "WARNING"
    ]
    warned = [r.getMessage() for r in records]

    assert all(body["degraded"] is True for body in [*burst, after])
    assert len(warned) == 2
    # The first warning is logged in full. The next one, after the interval,
    # ends with the number suppressed in between.
    assert re.fullmatch(
        f"online read failed for user U1077, request {burst[0]['request_id']}: "
        r"the online store no longer has the features of user U\d+, which it "
        r"had when the service loaded them\..*",
        warned[0],
    )
    assert warned[1].startswith(
        f"online read failed for user U1077, request {after['request_id']}: "
    )
    assert warned[1].endswith(
        f" ({requests - 1} more like it suppressed since the last one logged)"
    )
    assert getattr(records[1], "fields", None) == {"suppressed": requests - 1}
    # The metric counts every fallback, logged or not.
    assert counted_after - counted_before == requests + 1


@pytest.mark.parametrize("damage", ["not-a-database", "folder-is-a-file"])
def test_damaged_feedback_log_keeps_lists(
    pipeline_var_dir: Path,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    damage: str,
) -> None:
    var_dir = _var_copy(pipeline_var_dir, tmp_path)
    folder = feedback_folder(var_dir)
    shutil.rmtree(folder, ignore_errors=True)
    if damage == "not-a-database":
        folder.mkdir()
        (folder / "events.sqlite3").write_bytes(bytes(range(256)) * 64)
    else:
        folder.write_text("not a folder")
    event = {
        "event_id": "0b6f4f6e-2c1d-4d8e-9a55-3e1f2b7c9d10",
        "request_id": "r-1",
        "user_id": "U1077",
        "restaurant_id": "135032",
        "kind": "click",
        "occurred_at": "2026-12-04T16:30:00+01:00",
        "position": 1,
    }

    with (
        caplog.at_level("ERROR"),
        TestClient(create_app(Settings(var_dir=var_dir))) as test_client,
    ):
        ready = test_client.get("/readyz")
        listed = test_client.get("/v1/users/U1077/recommendations")
        posted = test_client.post("/v1/feedback", json=[event])
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]

    assert ready.status_code == 200
    assert listed.json()["strategy"] == "ranker"
    assert posted.status_code == 503
    assert posted.json()["detail"].startswith("feedback store unavailable")
    assert len(errors) == 1
    assert errors[0].startswith(f"cannot open the feedback log in {folder}: ")


def test_user_without_profile_gets_popularity(
    pipeline_var_dir: Path, tmp_path: Path
) -> None:
    var_dir = _var_copy(pipeline_var_dir, tmp_path)
    folder = tmp_path / "new"
    folder.mkdir()
    (folder / "users.csv").write_text("user_id\nNEWBARE\n")
    assert main(["--var-dir", str(var_dir), "import", str(folder)]) == 0
    assert main(["--var-dir", str(var_dir), "features"]) == 0

    with TestClient(create_app(Settings(var_dir=var_dir))) as test_client:
        body = test_client.get(
            "/v1/users/NEWBARE/recommendations", params={"k": 3}
        ).json()

    assert body["strategy"] == "popularity"
    assert body["degraded"] is False
    assert len(body["recommendations"]) == 3


def test_vegetarian_diet_explains_empty_list(client: TestClient) -> None:
    # No restaurant of the UCI data has a menu, so none shows a vegetarian dish.
    example = PreferencesRequest.model_config["json_schema_extra"]["examples"][0]
    got = client.get("/v1/users/U1077/recommendations", params={"diet": "vegetarian"})
    posted = client.post("/v1/recommendations", json=example)
    no_menus = {
        "code": "no_vegetarian_menus",
        "message": "diet=vegetarian keeps restaurants whose menu shows a "
        "vegetarian dish, and none of the loaded restaurants' menus does",
    }

    assert got.status_code == 200
    assert got.json()["recommendations"] == []
    assert got.json()["notes"] == [
        {
            "code": "fewer_than_k",
            "message": "0 restaurants match this request, fewer than k=10",
        },
        no_menus,
    ]
    assert posted.status_code == 200
    assert example["diet"] == "vegetarian"
    assert posted.json()["recommendations"] == []
    assert posted.json()["notes"] == [
        {
            "code": "fewer_than_k",
            "message": f"0 restaurants match this request, fewer than k={example['k']}",
        },
        no_menus,
    ]


def test_liked_cuisine_capitalised(client: TestClient) -> None:
    # The UCI cuisines are stored in lower case, and the README's examples
    # capitalise them.
    capitalised = client.post(
        "/v1/recommendations", json={"k": 3, "liked_cuisines": ["Mexican"]}
    ).json()
    lower = client.post(
        "/v1/recommendations", json={"k": 3, "liked_cuisines": ["mexican"]}
    ).json()

    assert capitalised["recommendations"] == lower["recommendations"]
    for item in capitalised["recommendations"]:
        assert item["reasons"][0] == "Mexican, a cuisine you like"


def test_default_k_above_max_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="must not exceed RECOMMENDER_MAX_K"):
        Settings(var_dir=tmp_path, default_k=500, max_k=100)


def test_failing_online_reads_leave_event_loop(
    pipeline_var_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    var_dir = _var_copy(pipeline_var_dir, tmp_path)
    app = create_app(Settings(var_dir=var_dir))
    now = [0.0]

    with TestClient(app) as test_client:
        recommender = app.state.recommender
        limiter = recommender.degraded_warnings
        limiter.clock = lambda: now[0]
        healthy = test_client.get("/v1/users/U1077/recommendations").json()
        failing_before = recommender.online_failing
        _empty_online_store(var_dir)
        with caplog.at_level("WARNING", logger="service.recommender"):
            for _ in range(3):
                # Each warning is logged, so that each request's thread shows.
                now[0] += limiter.interval
                body = test_client.get("/v1/users/U1077/recommendations").json()
                assert body["degraded"] is True
        failing_after = recommender.online_failing
    threads = [
        r.threadName
        for r in caplog.records
        if r.getMessage().startswith("online read failed for user U1077")
    ]

    assert healthy["degraded"] is False
    assert failing_before is False
    assert failing_after is True
    assert len(threads) == 3
    # The first failure is found on the event loop, and the next requests run in
    # the loop's thread pool.
    assert threads[1] != threads[0]
    assert threads[2] != threads[0]


def test_shutdown_logs_suppressed_warnings(
    pipeline_var_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    var_dir = _var_copy(pipeline_var_dir, tmp_path)
    app = create_app(Settings(var_dir=var_dir))

    with (
        caplog.at_level("WARNING", logger="service.recommender"),
        TestClient(app) as test_client,
    ):
        app.state.recommender.degraded_warnings.clock = lambda: 0.0
        _empty_online_store(var_dir)
        bodies = [
            test_client.get("/v1/users/U1077/recommendations").json() for _ in range(5)
        ]
        during = len(caplog.records)
    warned = [
        r.getMessage()
        for r in caplog.records
        if r.name == "service.recommender" and r.levelname == "WARNING"
    ]

    assert all(body["degraded"] is True for body in bodies)
    assert during == 1
    assert len(warned) == 2
    # At shutdown, the last suppressed warning is logged with the number
    # suppressed before it.
    assert warned[1].startswith(
        f"online read failed for user U1077, request {bodies[-1]['request_id']}: "
    )
    assert warned[1].endswith(" (3 more like it suppressed since the last one logged)")
