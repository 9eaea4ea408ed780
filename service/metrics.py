"""Prometheus metrics of the service: requests, latency, strategies, fallbacks and
the loaded model version.

The metrics live in prometheus_client's default registry. Under several worker
processes (``uvicorn --workers N``) each process counts only its own requests, so
prometheus_client's multiprocess mode writes every value to memory-mapped files
that ``render_metrics`` merges:

- The launcher creates an empty folder and sets ``PROMETHEUS_MULTIPROC_DIR`` to it
  before the workers start. prometheus_client (0.24) chooses its mode once, when it
  is first imported, so setting the variable later has no effect.
- The folder must be empty at start, because files left by an earlier run would be
  added to the new counts.

Without the variable, the values stay in the process and ``render_metrics``
renders the default registry.
"""

from __future__ import annotations

import os
import threading
import time

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MULTIPROCESS_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"

# prometheus_client enters multiprocess mode when the variable is present, even if
# it is empty, so this module decides the same way.
_multiprocess_dir = os.environ.get(MULTIPROCESS_DIR_VARIABLE)
MULTIPROCESS = _multiprocess_dir is not None
if _multiprocess_dir is not None and not os.path.isdir(_multiprocess_dir):
    msg = (
        f"{MULTIPROCESS_DIR_VARIABLE}={_multiprocess_dir!r} is not an existing "
        "folder. Create an empty folder and set the variable to it before the "
        "workers start, or unset the variable to keep metrics in one process."
    )
    raise ValueError(msg)

# Route label of a request that matched no route, so raw paths never become
# label values.
UNMATCHED_ROUTE = "unmatched"

# Most buckets lie between 1 and 50 ms, the expected latency of a request.
LATENCY_BUCKETS = (
    0.001,
    0.0025,
    0.005,
    0.0075,
    0.01,
    0.015,
    0.02,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
)

# Method label values; any other method is recorded as "other", so a client
# cannot add label values.
_HTTP_METHODS = frozenset(
    ["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"]
)

REQUESTS = Counter(
    "recommender_http_requests",
    "HTTP requests by route template, method and status code.",
    ["route", "method", "status"],
)
LATENCY = Histogram(
    "recommender_http_request_duration_seconds",
    "Time from the start of a request to the end of its response, by route template.",
    ["route"],
    buckets=LATENCY_BUCKETS,
)
STRATEGY = Counter(
    "recommender_recommendations",
    "Recommendation lists by the strategy that ranked them.",
    ["strategy"],
)
FALLBACKS = Counter(
    "recommender_fallbacks",
    "Recommendation lists that fell back to a simpler strategy, by reason.",
    ["reason"],
)
# "max" merges the workers into one sample per version, as in a single process:
# 1 while at least one worker has that version loaded. The "live" modes drop a
# dead worker's samples only when something calls
# multiprocess.mark_process_dead(pid), and the worker supervisor of uvicorn 0.55
# has no hook for that. "liveall" would also add a pid label to every sample.
# NOTE: a worker that exits keeps its last values in its file, so a version it
# had loaded stays at 1 until the folder is emptied at the next start.
MODEL_VERSION = Gauge(
    "recommender_model_version",
    "1 for the model version the service has loaded.",
    ["version"],
    multiprocess_mode="max",
)

_version_lock = threading.Lock()
_current_version: str | None = None


def render_metrics() -> tuple[bytes, str]:
    """Render every metric in the Prometheus text format.

    Returns:
        The response body and its content type. In multiprocess mode the body
        merges the files of all workers, including workers that have exited.
    """
    if MULTIPROCESS:
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def observe_request(route: str, method: str, status: int, seconds: float) -> None:
    """Count one HTTP request and record its latency in seconds.

    ``route`` must be a route template such as ``/v1/users/{user_id}/recommendations``
    or ``UNMATCHED_ROUTE``, never a raw path, because every distinct value adds a
    time series.
    """
    REQUESTS.labels(route, method, str(status)).inc()
    LATENCY.labels(route).observe(seconds)


def count_strategy(strategy: str) -> None:
    """Count one recommendation list ranked by ``strategy``, such as ``ranker``."""
    STRATEGY.labels(strategy).inc()


def count_fallback(reason: str) -> None:
    """Count one fallback, such as ``online_store_unavailable``."""
    FALLBACKS.labels(reason).inc()


def set_model_version(version: str) -> None:
    """Set the model version gauge to 1 for ``version`` and drop the previous one.

    Raises:
        ValueError: if ``version`` is empty.
    """
    global _current_version

    if not version:
        msg = "model version must be a non-empty string, got ''"
        raise ValueError(msg)

    with _version_lock:
        previous = _current_version
        if previous is not None and previous != version:
            if MULTIPROCESS:
                # prometheus_client cannot delete a value from the files of
                # multiprocess mode, so the previous version stays at 0.
                MODEL_VERSION.labels(previous).set(0)
            else:
                MODEL_VERSION.remove(previous)
        MODEL_VERSION.labels(version).set(1)
        _current_version = version


class MetricsMiddleware:
    """ASGI middleware that records the count and latency of every HTTP request.

    A request is labelled with the template of the route it matched, or with
    ``UNMATCHED_ROUTE``. A request whose application raises is recorded with
    status 500, even if a response had already started.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on and record it once the response ends."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        start = time.perf_counter()
        status = 500

        async def send_and_keep_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_keep_status)
        except Exception:
            status = 500
            raise
        finally:
            observe_request(
                _route_template(scope),
                _method_label(scope["method"]),
                status,
                time.perf_counter() - start,
            )


def _route_template(scope: Scope) -> str:
    # The router stores the matched route in the scope, which the middleware
    # shares with the application.
    # NOTE: a route inside a mounted sub-application records its template
    # without the mount prefix. Routes added with include_router are not mounted.
    route = scope.get("route")
    path = getattr(route, "path", None)
    if not isinstance(path, str) or not path:
        return UNMATCHED_ROUTE
    return path


def _method_label(method: str) -> str:
    if method in _HTTP_METHODS:
        return method
    return "other"
