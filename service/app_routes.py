"""The routes of the app: probes, recommendations and feedback.

create_app adds them in this order. The probes come before the app switches
to CheckedRoute, so they accept any query. Routes log under ``service.app``.
"""

import asyncio
import inspect
import logging
from collections.abc import Callable
from functools import partial
from typing import Annotated, Any, TypeVar

from fastapi import Depends, FastAPI, HTTPException, Path, Query, Request
from fastapi.responses import JSONResponse, Response

from features.schema import ID_PATTERN, MAX_ID_LENGTH
from service.feedback import (
    MAX_APPEND_EVENTS,
    FeedbackEvent,
    FeedbackLog,
    FeedbackLogError,
)
from service.metrics import render_metrics
from service.recommender import Recommender, UnknownRestaurantError
from service.request_checks import DECIMAL_NUMBER, WHOLE_NUMBER
from service.schemas import (
    MAX_CITY_LENGTH,
    STRIP_WHITESPACE,
    TEXT_PATTERN,
    Cuisine,
    Diet,
    ErrorResponse,
    FeedbackAccepted,
    PreferencesRequest,
    Readiness,
    RecommendationList,
    preferences_request,
)
from service.settings import Settings
from service.strategies import Filters, Preferences

logger = logging.getLogger("service.app")

LOCATION_DESCRIPTION = (
    "Given with the other coordinate, replaces the user's home for distances, "
    "and the home city with the city whose restaurants' centre is nearest "
    "(none beyond 30 km)."
)


EndpointType = TypeVar("EndpointType", bound=Callable[..., Any])


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """Return the OpenAPI responses of ``statuses``, each an ErrorResponse body.

    Each route lists only what it returns: the routes that read a body list
    408 and 413, and the 404 of an unknown path belongs to no route.
    """
    return {status: {"model": ErrorResponse} for status in statuses}


def add_probe_routes(app: FastAPI) -> None:
    """Add the liveness, readiness and metrics routes."""

    # HeadAsGetMiddleware handles HEAD on this and every other GET route.
    @app.get("/healthz", summary="Process is alive")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get(
        "/readyz",
        summary="Model and features are loaded",
        response_model=Readiness,
        responses=error_responses(503),
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


def add_recommendation_routes(app: FastAPI, settings: Settings) -> None:
    """Add the /v1 recommendation routes, with ``k`` bounded by ``settings``."""

    # The recommendation routes are coroutines, so they run on the event loop.
    # Their work is CPU-bound and short (about 5 ms for 500 candidates). In
    # FastAPI's thread pool, that thread and the loop took turns holding the
    # GIL, and each turn could wait Python's 5 ms switch interval. On the loop,
    # p99 at 200 requests per second on 2 workers fell from 445 ms to 16 ms.
    @app.get(
        "/v1/users/{user_id}/recommendations",
        response_model=RecommendationList,
        summary="Top-k restaurants for a user",
        responses=error_responses(422),
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
            Query(
                min_length=1,
                max_length=MAX_CITY_LENGTH,
                pattern=TEXT_PATTERN,
                description="Only this city, matched ignoring case and "
                "surrounding whitespace.",
            ),
            STRIP_WHITESPACE,
        ] = None,
        latitude: Annotated[
            float | None,
            Query(ge=-90, le=90, description=LOCATION_DESCRIPTION),
            DECIMAL_NUMBER,
        ] = None,
        longitude: Annotated[
            float | None,
            Query(ge=-180, le=180, description=LOCATION_DESCRIPTION),
            DECIMAL_NUMBER,
        ] = None,
        diet: Annotated[
            Diet | None,
            Query(description="`vegetarian`: only restaurants with vegetarian dishes."),
        ] = None,
        exclude_cuisines: Annotated[
            list[Cuisine] | None,
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
        responses=error_responses(408, 413, 415, 422),
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
        responses=error_responses(404, 422),
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


def add_feedback_route(app: FastAPI) -> None:
    """Add POST /v1/feedback, which appends events to the feedback log."""

    @app.post(
        "/v1/feedback",
        status_code=202,
        response_model=FeedbackAccepted,
        summary="Record impressions, clicks and orders of served lists",
        responses=error_responses(408, 413, 415, 422, 503),
    )
    def feedback(
        request: Request,
        events: Annotated[list[FeedbackEvent], _events_body()],
    ) -> FeedbackAccepted:
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
        return FeedbackAccepted(
            accepted=len(result.event_ids),
            event_ids=result.event_ids,
            duplicates=result.duplicate_ids,
        )


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
