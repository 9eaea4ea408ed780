"""FastAPI application: versioned recommendation, feedback and admin routes.

Every bad request gets a 4xx JSON response naming the field and the
reason; an unexpected error is a JSON 500 and a logged traceback. Each
request gets an id, returned in the ``X-Request-ID`` header and in
recommendation bodies, and one JSON log line (``service.requests``) with the
id, the user id, the strategy, the status and the latency.
"""

import asyncio
import gc
import hmac
import inspect
import logging
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from functools import partial
from typing import Annotated, Any, TypeVar

from fastapi import Depends, FastAPI, Header, HTTPException, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi_offline import FastAPIOffline
from starlette.exceptions import HTTPException as StarletteHTTPException

from features.schema import ID_PATTERN, MAX_ID_LENGTH
from models.registry import ModelNotFoundError
from service.app_errors import _http_error, _internal_error, _invalid_request
from service.app_middleware import BodyLimitMiddleware, RequestContextMiddleware
from service.app_reload import RELOAD_BUSY_RETRY_SECONDS, ReloadSignal, _follow_reloads
from service.feedback import (
    MAX_APPEND_EVENTS,
    FeedbackEvent,
    FeedbackLog,
    FeedbackLogError,
    feedback_folder,
)
from service.logs import JSON_LOGS_ENV, use_json_logs
from service.metrics import MetricsMiddleware, render_metrics
from service.recommender import (
    ModelLoadError,
    Recommender,
    StoreBusyError,
    UnknownRestaurantError,
)
from service.request_checks import DECIMAL_NUMBER, WHOLE_NUMBER, CheckedRoute
from service.schemas import (
    Diet,
    ErrorResponse,
    PreferencesRequest,
    RecommendationList,
    preferences_request,
)
from service.settings import Settings
from service.strategies import Filters, Preferences

logger = logging.getLogger(__name__)

ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse} for status in (404, 413, 422)
}
JSON_BODY_ERRORS: dict[int | str, dict[str, Any]] = {415: {"model": ErrorResponse}}

EndpointType = TypeVar("EndpointType", bound=Callable[..., Any])


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
        responses=ERRORS,
        # Starlette's redirect to the path with or without a trailing slash
        # builds its Location from the Host header; a 404 names no host.
        redirect_slashes=False,
    )
    app.state.settings = settings
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _internal_error)
    app.add_middleware(MetricsMiddleware)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestContextMiddleware)

    @app.api_route("/healthz", methods=["GET", "HEAD"], summary="Process is alive")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get(
        "/readyz",
        summary="Model and features are loaded",
        responses={503: {"model": ErrorResponse}},
    )
    def readyz(request: Request) -> JSONResponse:
        current: Recommender | None = getattr(request.app.state, "recommender", None)
        if current is None or not current.ready:
            return JSONResponse(
                status_code=503, content={"detail": "model or features not loaded"}
            )
        problem = current.online_problem()
        if problem != getattr(request.app.state, "online_problem", None):
            # Once per change, as probes call every few seconds.
            request.app.state.online_problem = problem
            if problem is not None:
                logger.warning("/readyz returns 503: %s", problem)
            else:
                logger.info("/readyz returns 200 again: the online store is back")
        if problem is not None:
            return JSONResponse(status_code=503, content={"detail": problem})
        return JSONResponse({"status": "ready", "model_version": current.model_version})

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        body, content_type = render_metrics()
        return Response(content=body, media_type=content_type)

    # The /v1 routes added from here on reject undeclared or repeated query
    # parameters and bodies that are not JSON. The health, readiness and
    # metrics routes above accept any query.
    app.router.route_class = CheckedRoute

    # The recommendation routes are coroutines, so they run on the event loop.
    # Their work is CPU-bound and short (about 5 ms for 500 candidates). In
    # FastAPI's thread pool, that thread and the loop took turns holding the
    # GIL, and each turn could wait Python's 5 ms switch interval. On the loop,
    # p99 at 200 requests per second on 2 workers fell from 445 ms to 16 ms.
    @app.get(
        "/v1/users/{user_id}/recommendations",
        response_model=RecommendationList,
        summary="Top-k restaurants for a user",
    )
    async def user_recommendations(
        request: Request,
        recommender: Annotated[Recommender, Depends(_recommender)],
        user_id: Annotated[
            str, Path(min_length=1, max_length=MAX_ID_LENGTH, pattern=ID_PATTERN)
        ],
        k: Annotated[
            int,
            Query(ge=1, le=settings.max_k, description="Number of restaurants."),
            WHOLE_NUMBER,
        ] = settings.default_k,
        city: Annotated[
            str | None,
            Query(min_length=1, max_length=128, description="Only this city."),
        ] = None,
        latitude: Annotated[float | None, Query(ge=-90, le=90), DECIMAL_NUMBER] = None,
        longitude: Annotated[
            float | None, Query(ge=-180, le=180), DECIMAL_NUMBER
        ] = None,
        diet: Annotated[
            Diet | None,
            Query(description="`vegetarian`: only restaurants with vegetarian dishes."),
        ] = None,
        exclude_cuisines: Annotated[
            list[str] | None,
            Query(
                max_length=20,
                description="Cuisines to leave out, matched ignoring case, with "
                "spaces, hyphens and underscores alike (`Fast Food` is `fast_food`).",
            ),
        ] = None,
        include_features: Annotated[
            bool, Query(description="Add each restaurant's model input values.")
        ] = False,
    ) -> RecommendationList:
        if (latitude is None) != (longitude is None):
            raise HTTPException(
                status_code=422,
                detail="latitude and longitude must be given together",
            )
        request.state.user_id = user_id
        location = (
            None if latitude is None or longitude is None else (latitude, longitude)
        )
        recommend = partial(
            recommender.recommend,
            user_id,
            k,
            Filters(
                city=city,
                diet=None if diet is None else diet.value,
                exclude_cuisines=tuple(exclude_cuisines or ()),
            ),
            location=location,
            include_features=include_features,
            request_id=request.state.request_id,
        )
        # The fallback for a failing online store reads the DuckDB store, too
        # slow for the event loop, so it runs in a thread while reads fail.
        if recommender.online_failing:
            answer = await asyncio.to_thread(recommend)
        else:
            answer = recommend()
        request.state.strategy = answer.strategy.value
        return answer

    async def preference_recommendations(
        request: Request,
        recommender: Annotated[Recommender, Depends(_recommender)],
        body: PreferencesRequest,
    ) -> RecommendationList:
        if (body.latitude is None) != (body.longitude is None):
            raise HTTPException(
                status_code=422,
                detail="latitude and longitude must be given together",
            )
        diet = None if body.diet is None else body.diet.value
        preferences = Preferences(
            latitude=body.latitude,
            longitude=body.longitude,
            city=body.city,
            diet=diet,
            liked_cuisines=tuple(body.liked_cuisines),
            budget=None if body.budget is None else body.budget.value,
        )
        filters = Filters(diet=diet, exclude_cuisines=tuple(body.exclude_cuisines))
        answer = recommender.recommend_for_preferences(
            preferences, body.k, filters, request.state.request_id
        )
        request.state.strategy = answer.strategy.value
        return answer

    # FastAPI takes the body model from the signature. The model that bounds k
    # by the settings is built at run time, so it replaces the annotation here.
    app.post(
        "/v1/recommendations",
        response_model=RecommendationList,
        summary="Top-k restaurants for declared preferences (new or anonymous)",
        responses=JSON_BODY_ERRORS,
    )(
        _with_annotation(
            preference_recommendations,
            "body",
            preferences_request(settings.default_k, settings.max_k),
        )
    )

    @app.get(
        "/v1/restaurants/{restaurant_id}/similar",
        response_model=RecommendationList,
        summary="Restaurants most alike to one, by content",
    )
    async def similar_restaurants(
        request: Request,
        recommender: Annotated[Recommender, Depends(_recommender)],
        restaurant_id: Annotated[
            str, Path(min_length=1, max_length=MAX_ID_LENGTH, pattern=ID_PATTERN)
        ],
        k: Annotated[
            int, Query(ge=1, le=settings.max_k), WHOLE_NUMBER
        ] = settings.default_k,
    ) -> RecommendationList:
        try:
            answer = recommender.similar(restaurant_id, k, request.state.request_id)
        except UnknownRestaurantError:
            raise HTTPException(
                status_code=404, detail=f"restaurant {restaurant_id!r} not found"
            ) from None
        request.state.strategy = answer.strategy.value
        return answer

    @app.post(
        "/v1/feedback",
        status_code=202,
        summary="Record impressions, clicks and orders of served lists",
        responses={503: {"model": ErrorResponse}, **JSON_BODY_ERRORS},
    )
    def feedback(
        request: Request,
        events: Annotated[list[FeedbackEvent], _events_body()],
    ) -> dict[str, Any]:
        log: FeedbackLog | None = request.app.state.feedback
        if log is None:
            raise HTTPException(
                status_code=503,
                detail="feedback store unavailable: the service could not open "
                "its feedback log at start-up; see its log",
            )
        try:
            result = log.append(events)
        except FeedbackLogError as error:
            logger.error(
                "feedback not stored, request %s: %s", request.state.request_id, error
            )
            raise HTTPException(
                status_code=503, detail="feedback store unavailable; retry"
            ) from error
        return {
            "accepted": len(result.event_ids),
            "event_ids": result.event_ids,
            "duplicates": result.duplicate_ids,
        }

    if settings.admin_token is not None:
        token = settings.admin_token.get_secret_value().encode()

        def check_token(
            authorization: Annotated[str | None, Header()] = None,
        ) -> None:
            scheme, _, given = (authorization or "").partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(
                given.encode(), token
            ):
                raise HTTPException(
                    status_code=401,
                    detail="a valid bearer token is required",
                    headers={"WWW-Authenticate": "Bearer"},
                )

        @app.post(
            "/v1/admin/reload",
            summary="Load the current model and restaurant features again",
            dependencies=[Depends(check_token)],
            responses={status: {"model": ErrorResponse} for status in (401, 409, 503)},
        )
        def reload(
            request: Request,
            recommender: Annotated[Recommender, Depends(_recommender)],
        ) -> dict[str, str | None]:
            try:
                version = recommender.reload()
            except StoreBusyError as error:
                # A lock held by an import or a `features` run ends, so the
                # client may retry, unlike the lasting problems below.
                logger.warning(
                    "reload failed, model %s stays loaded: %s (%s)",
                    recommender.model_version,
                    error,
                    error.__cause__,
                )
                raise HTTPException(
                    status_code=503,
                    detail=str(error),
                    headers={"Retry-After": str(RELOAD_BUSY_RETRY_SECONDS)},
                ) from None
            except (ModelNotFoundError, ModelLoadError) as error:
                # The detail is one line, and the log keeps the full error that
                # caused it, such as a registry's SQL statement.
                logger.error(
                    "reload failed, model %s stays loaded: %s",
                    recommender.model_version,
                    error,
                    exc_info=error.__cause__,
                )
                raise HTTPException(status_code=409, detail=str(error)) from None
            # The other workers of `serve --workers N` follow the signal.
            request.app.state.reload_signal.send()
            return {"model_version": version}

    return app


def _with_annotation(
    endpoint: EndpointType, parameter: str, annotation: Any
) -> EndpointType:
    """Return ``endpoint`` with the type of one parameter replaced in the
    signature that FastAPI reads (``__signature__``)."""
    signature = inspect.signature(endpoint)
    parameters = [
        item.replace(annotation=annotation) if item.name == parameter else item
        for item in signature.parameters.values()
    ]
    endpoint.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=parameters
    )
    return endpoint


def _events_body() -> Any:
    from fastapi import Body

    return Body(min_length=1, max_length=MAX_APPEND_EVENTS)


async def _recommender(request: Request) -> Recommender:
    recommender: Recommender = request.app.state.recommender
    return recommender
