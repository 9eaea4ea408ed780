"""FastAPI application: recommendation routes over a Recommender."""

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import Depends, FastAPI, Path, Query, Request
from fastapi.responses import JSONResponse

from service.recommender import Recommender
from service.schemas import RecommendationList
from service.settings import Settings

logger = logging.getLogger(__name__)

# Printable characters only: a user id with control characters is a client bug.
USER_ID_PATTERN = r"^[^\x00-\x1f\x7f]+$"


def create_app(
    settings: Settings | None = None, recommender: Recommender | None = None
) -> FastAPI:
    """Build the app.

    The model and features load when the app starts, unless a loaded
    ``recommender`` is passed, which lets a caller report a load failure
    before the server starts.
    """
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.recommender = recommender or Recommender(settings)
        yield

    app = FastAPI(
        title="Restaurant recommender",
        version="0.1.0",
        description="Ranked restaurant recommendations for a user.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.add_exception_handler(Exception, _internal_error)

    @app.api_route("/healthz", methods=["GET", "HEAD"], summary="Process is alive")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get(
        "/users/{user_id}/recommendations",
        response_model=RecommendationList,
        # Leaves out each restaurant's "features" unless they were requested.
        response_model_exclude_none=True,
        summary="Top-k restaurants for a user",
    )
    def recommendations(
        recommender: Annotated[Recommender, Depends(_recommender)],
        user_id: Annotated[
            str, Path(min_length=1, max_length=128, pattern=USER_ID_PATTERN)
        ],
        k: Annotated[
            int,
            Query(ge=1, le=settings.max_k, description="Number of restaurants."),
        ] = settings.default_k,
        include_features: Annotated[
            bool,
            Query(description="Add each restaurant's model input values."),
        ] = False,
    ) -> RecommendationList:
        return recommender.recommend(user_id, k, include_features=include_features)

    return app


def _recommender(request: Request) -> Recommender:
    recommender: Recommender = request.app.state.recommender
    return recommender


async def _internal_error(request: Request, error: Exception) -> JSONResponse:
    """Return a JSON 500 for an unexpected error and log its traceback."""
    logger.error(
        "unhandled error on %s %s", request.method, request.url.path, exc_info=error
    )
    return JSONResponse(status_code=500, content={"detail": "internal server error"})
