"""Prometheus metrics: the request middleware, the counters and multiprocess mode.

Every metric is global to the test process, so each test uses route templates of
its own, or compares the values of shared labels before and after.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI, HTTPException
from fastapi.responses import StreamingResponse
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from service.metrics import (
    LATENCY_BUCKETS,
    MULTIPROCESS_DIR_VARIABLE,
    UNMATCHED_ROUTE,
    MetricsMiddleware,
    count_fallback,
    count_strategy,
    observe_request,
    render_metrics,
    set_model_version,
)

REPOSITORY = Path(__file__).resolve().parents[2]

# Runs in a fresh interpreter with PROMETHEUS_MULTIPROC_DIR set: two spawned
# workers count requests, strategies, fallbacks and model versions, then the
# parent prints the merged exposition.
MULTIPROCESS_SCRIPT = textwrap.dedent(
    """
    import multiprocessing
    import sys

    from service import metrics


    def work(requests, versions):
        for _ in range(requests):
            metrics.observe_request("/items/{item_id}", "GET", 200, 0.004)
        metrics.count_strategy("ranker")
        metrics.count_fallback("online_store_unavailable")
        for version in versions:
            metrics.set_model_version(version)


    if __name__ == "__main__":
        context = multiprocessing.get_context("spawn")
        workers = [
            context.Process(target=work, args=(2, ["v0", "v1", "v2"])),
            context.Process(target=work, args=(3, ["v0", "v1"])),
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
            if worker.exitcode != 0:
                sys.exit(f"worker {worker.pid} exited with {worker.exitcode}")
        body, _ = metrics.render_metrics()
        sys.stdout.write(body.decode())
    """
)


def _samples(body: bytes, name: str) -> list[tuple[dict[str, str], float]]:
    """Return the labels and value of every sample called ``name``."""
    return [
        (sample.labels, sample.value)
        for family in text_string_to_metric_families(body.decode())
        for sample in family.samples
        if sample.name == name
    ]


def _value(name: str, **labels: str) -> float:
    """Return the current value of one sample, or 0.0 if it is not rendered yet."""
    body, _ = render_metrics()
    values = [value for found, value in _samples(body, name) if found == labels]
    assert len(values) <= 1, f"{name} {labels} rendered {len(values)} times"
    return values[0] if values else 0.0


def _requests(route: str, method: str, status: str) -> float:
    return _value(
        "recommender_http_requests_total", route=route, method=method, status=status
    )


@pytest.fixture
def client() -> Iterator[TestClient]:
    app = FastAPI()
    app.add_middleware(MetricsMiddleware)

    @app.get("/shops/{shop_id}/menu")
    def menu(shop_id: str) -> dict[str, str]:
        if shop_id == "missing":
            raise HTTPException(status_code=404, detail="shop not found")
        return {"shop_id": shop_id}

    @app.get("/failing/{case}")
    def failing(case: str) -> dict[str, str]:
        raise RuntimeError(f"failure for {case}")

    @app.get("/stream/{case}")
    def stream(case: str) -> StreamingResponse:
        def chunks() -> Iterator[bytes]:
            yield b"first chunk"
            raise RuntimeError(f"stream failure for {case}")

        return StreamingResponse(chunks())

    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def test_middleware_records_route_template(client: TestClient) -> None:
    for shop_id in ["a1", "b2", "c3"]:
        assert client.get(f"/shops/{shop_id}/menu").status_code == 200
    body, content_type = render_metrics()

    # 3 requests to 3 shop ids share one template.
    assert _requests("/shops/{shop_id}/menu", "GET", "200") == 3.0
    routes = {
        labels["route"]
        for labels, _ in _samples(body, "recommender_http_requests_total")
    }
    assert not any(route.startswith("/shops/a1") for route in routes)
    duration = _samples(body, "recommender_http_request_duration_seconds_count")
    assert ({"route": "/shops/{shop_id}/menu"}, 3.0) in duration
    assert content_type.startswith("text/plain")


def test_middleware_unmatched_path(client: TestClient) -> None:
    before = _requests(UNMATCHED_ROUTE, "GET", "404")

    assert client.get("/no/such/path/u42").status_code == 404
    assert client.get("/another/missing/path").status_code == 404

    # 2 unmatched requests: before + 2.
    assert _requests(UNMATCHED_ROUTE, "GET", "404") == before + 2.0
    body, _ = render_metrics()
    routes = {
        labels["route"]
        for labels, _ in _samples(body, "recommender_http_requests_total")
    }
    assert "/no/such/path/u42" not in routes


def test_middleware_404_from_matched_route(client: TestClient) -> None:
    assert client.get("/shops/missing/menu").status_code == 404

    # The route matched and its handler raised the 404.
    assert _requests("/shops/{shop_id}/menu", "GET", "404") == 1.0


def test_middleware_exception_as_500(client: TestClient) -> None:
    assert client.get("/failing/one").status_code == 500
    assert client.get("/failing/two").status_code == 500

    assert _requests("/failing/{case}", "GET", "500") == 2.0
    latency_count = _value(
        "recommender_http_request_duration_seconds_count", route="/failing/{case}"
    )
    assert latency_count == 2.0


def test_middleware_exception_after_start(client: TestClient) -> None:
    response = client.get("/stream/late")

    # The client received the 200 headers and the first chunk before the body
    # raised, but the request failed.
    assert response.status_code == 200
    assert response.content == b"first chunk"
    assert _requests("/stream/{case}", "GET", "500") == 1.0
    assert _requests("/stream/{case}", "GET", "200") == 0.0


def test_middleware_unknown_method(client: TestClient) -> None:
    before = _requests(UNMATCHED_ROUTE, "other", "404")

    client.request("BREW", "/no/such/pot")

    assert _requests(UNMATCHED_ROUTE, "other", "404") == before + 1.0
    assert _requests(UNMATCHED_ROUTE, "BREW", "404") == 0.0


def test_observe_request_buckets() -> None:
    route = "/buckets/{case}"
    for seconds in [0.004, 0.004, 0.03]:
        observe_request(route, "GET", 200, seconds)

    def bucket(upper_bound: str) -> float:
        return _value(
            "recommender_http_request_duration_seconds_bucket",
            route=route,
            le=upper_bound,
        )

    # 0.004 lies in (0.0025, 0.005] and 0.03 in (0.025, 0.05]. Each bucket counts
    # every observation up to its bound.
    assert bucket("0.0025") == 0.0
    assert bucket("0.005") == 2.0
    assert bucket("0.025") == 2.0
    assert bucket("0.05") == 3.0
    assert bucket("+Inf") == 3.0
    # 0.004 + 0.004 + 0.03 = 0.038
    assert _value(
        "recommender_http_request_duration_seconds_sum", route=route
    ) == pytest.approx(0.038)
    assert _requests(route, "GET", "200") == 3.0


def test_latency_buckets_rendered() -> None:
    observe_request("/bucket-bounds", "GET", 200, 0.001)
    body, _ = render_metrics()

    bounds = [
        float(labels["le"])
        for labels, _ in _samples(
            body, "recommender_http_request_duration_seconds_bucket"
        )
        if labels["route"] == "/bucket-bounds"
    ]

    assert bounds == [*LATENCY_BUCKETS, float("inf")]


def test_strategy_and_fallback_counters() -> None:
    ranker = _value("recommender_recommendations_total", strategy="ranker")
    popularity = _value("recommender_recommendations_total", strategy="popularity")
    unavailable = _value(
        "recommender_fallbacks_total", reason="online_store_unavailable"
    )

    count_strategy("ranker")
    count_strategy("ranker")
    count_strategy("popularity")
    count_fallback("online_store_unavailable")

    # 2 ranker lists, 1 popularity list, 1 fallback.
    assert _value("recommender_recommendations_total", strategy="ranker") == (
        ranker + 2.0
    )
    assert _value("recommender_recommendations_total", strategy="popularity") == (
        popularity + 1.0
    )
    assert _value("recommender_fallbacks_total", reason="online_store_unavailable") == (
        unavailable + 1.0
    )


def test_model_version_switch() -> None:
    set_model_version("20260101T000000Z")
    set_model_version("20260102T000000Z")
    set_model_version("20260102T000000Z")
    body, _ = render_metrics()

    # Only the last version reads 1. A process in multiprocess mode (Feast
    # turns it on when it is imported first) keeps earlier versions at 0.
    samples = _samples(body, "recommender_model_version")
    assert [labels for labels, value in samples if value == 1.0] == [
        {"version": "20260102T000000Z"}
    ]
    assert all(value in (0.0, 1.0) for _, value in samples)


def test_model_version_empty_rejected() -> None:
    with pytest.raises(ValueError, match="non-empty"):
        set_model_version("")


def test_multiprocess_sums_workers(tmp_path: Path) -> None:
    metrics_dir = tmp_path / "prometheus"
    metrics_dir.mkdir()
    script = tmp_path / "count_in_workers.py"
    script.write_text(MULTIPROCESS_SCRIPT)
    env = {
        **os.environ,
        MULTIPROCESS_DIR_VARIABLE: str(metrics_dir),
        "PYTHONPATH": str(REPOSITORY),
    }

    result = subprocess.run(
        [sys.executable, str(script)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    body = result.stdout.encode()
    route = {"route": "/items/{item_id}"}
    # Workers counted 2 and 3 requests: 2 + 3 = 5.
    assert _samples(body, "recommender_http_requests_total") == [
        ({**route, "method": "GET", "status": "200"}, 5.0)
    ]
    assert _samples(body, "recommender_http_request_duration_seconds_count") == [
        (route, 5.0)
    ]
    # 5 * 0.004 = 0.02
    [(_, latency_sum)] = _samples(body, "recommender_http_request_duration_seconds_sum")
    assert latency_sum == pytest.approx(0.02)
    # One ranker list and one fallback per worker: 1 + 1 = 2.
    assert _samples(body, "recommender_recommendations_total") == [
        ({"strategy": "ranker"}, 2.0)
    ]
    assert _samples(body, "recommender_fallbacks_total") == [
        ({"reason": "online_store_unavailable"}, 2.0)
    ]
    # Both workers left v0 (max of 0 and 0); the second still has v1 loaded
    # (max of 0 and 1); only the first loaded v2.
    versions = {
        labels["version"]: value
        for labels, value in _samples(body, "recommender_model_version")
    }
    assert versions == {"v0": 0.0, "v1": 1.0, "v2": 1.0}


def test_multiprocess_missing_folder(tmp_path: Path) -> None:
    missing = tmp_path / "not-created"
    env = {
        **os.environ,
        MULTIPROCESS_DIR_VARIABLE: str(missing),
        "PYTHONPATH": str(REPOSITORY),
    }

    result = subprocess.run(
        [sys.executable, "-c", "import service.metrics"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 1
    assert "ValueError" in result.stderr
    assert str(missing) in result.stderr
    assert "is not an existing folder" in result.stderr
