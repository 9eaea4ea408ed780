"""FastAPI application: versioned recommendation, feedback and admin routes.

Every bad request gets a 4xx JSON response naming the field and the
reason; an unexpected error is a JSON 500 and a logged traceback. Each
request gets an id, returned in the ``X-Request-ID`` header and in
recommendation bodies, and one JSON log line (``service.requests``) with the
id, the user id, the strategy, the status and the latency.
"""

import asyncio
import gc
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi_offline import FastAPIOffline
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Mount

from service.app_admin import add_admin_routes
from service.app_errors import _http_error, _invalid_request
from service.app_middleware import (
    BodyLimitMiddleware,
    HeadAsGetMiddleware,
    InternalErrorMiddleware,
    RequestContextMiddleware,
    WithoutRangesMiddleware,
)
from service.app_reload import ReloadSignal, _follow_reloads
from service.app_routes import (
    add_feedback_route,
    add_probe_routes,
    add_recommendation_routes,
)
from service.feedback import (
    FeedbackLog,
    FeedbackLogError,
    feedback_folder,
)
from service.logs import JSON_LOGS_ENV, use_json_logs
from service.metrics import MetricsMiddleware
from service.recommender import Recommender
from service.request_checks import CheckedRoute
from service.settings import Settings

logger = logging.getLogger(__name__)

# Path of the script and style files of the /docs and /redoc pages.
DOCS_ASSETS_PATH = "/static-offline-docs"


def _open_feedback_log(settings: Settings) -> FeedbackLog | None:
    """Open the feedback log, or return None when it cannot be opened: lists
    do not need it, so the service starts and feedback gets 503."""
    folder = feedback_folder(settings.var_dir)
    try:
        return FeedbackLog(folder)
    except (FeedbackLogError, OSError) as error:
        logger.error(
            "cannot open the feedback log in %s: %s; starting without it, so "
            "POST /v1/feedback answers 503",
            folder,
            error,
        )
        return None


def create_app(
    settings: Settings | None = None, recommender: Recommender | None = None
) -> FastAPI:
    """Build the app.

    The model and features load when the app starts, unless a loaded
    ``recommender`` is passed, which lets a caller report a load failure
    before the server starts.
    """
    settings = settings or Settings()
    if os.environ.get(JSON_LOGS_ENV) == "1":
        use_json_logs()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Loading takes seconds. A thread keeps the event loop free to reply to
        # the health checks of a multi-worker supervisor meanwhile.
        app.state.recommender = recommender or await asyncio.to_thread(
            Recommender, settings
        )
        app.state.feedback = _open_feedback_log(settings)
        # What start-up loaded (libraries, the Feast registry, the model) lives
        # as long as the process. Frozen, it is left out of the collector's
        # full passes, which took about 120 ms over the 300,000 objects of the
        # load benchmark's service and hold the GIL while they run. Frozen
        # objects are still freed when their reference count drops to 0, as
        # after a reload.
        gc.collect()
        gc.freeze()
        signal = ReloadSignal(settings.var_dir)
        app.state.reload_signal = signal
        follower = None
        if settings.admin_token is not None:
            follower = asyncio.create_task(
                _follow_reloads(app.state.recommender, signal)
            )
        try:
            yield
        finally:
            if follower is not None:
                follower.cancel()
            if app.state.feedback is not None:
                app.state.feedback.close()
            app.state.recommender.degraded_warnings.flush()

    app = FastAPIOffline(
        title="Restaurant recommender",
        version="1.0.0",
        description=(
            "Ranked restaurant recommendations for known users, new and anonymous "
            "callers, and similar restaurants, with the strategy and reasons of "
            "each list; feedback events; health and metrics."
        ),
        lifespan=lifespan,
        # Starlette's redirect to the path with or without a trailing slash
        # builds its Location from the Host header; a 404 names no host.
        redirect_slashes=False,
        static_url=DOCS_ASSETS_PATH,
    )
    for route in app.routes:
        if isinstance(route, Mount) and route.path == DOCS_ASSETS_PATH:
            route.app = WithoutRangesMiddleware(route.app)
    app.state.settings = settings
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    # The middleware added last runs first. The metrics wrap the body limits,
    # so they count a 413 sent before the request reaches the app.
    app.add_middleware(InternalErrorMiddleware)
    app.add_middleware(HeadAsGetMiddleware, routes=app.router.routes)
    app.add_middleware(
        BodyLimitMiddleware,
        max_bytes=settings.max_body_bytes,
        timeout_seconds=settings.body_timeout_seconds,
    )
    app.add_middleware(MetricsMiddleware)
    app.add_middleware(RequestContextMiddleware)

    add_probe_routes(app)

    # The /v1 routes added from here on reject undeclared or repeated query
    # parameters and bodies that are not JSON. The health, readiness and
    # metrics routes above accept any query.
    app.router.route_class = CheckedRoute

    add_recommendation_routes(app, settings)
    add_feedback_route(app)
    if settings.admin_token is not None:
        add_admin_routes(app, settings.admin_token, settings.reload_timeout_seconds)
    return app
