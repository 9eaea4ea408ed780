"""FastAPI application: recommendation routes over a Recommender."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import Depends, FastAPI, Path, Query, Request

from service.recommender import Recommender
from service.schemas import RecommendationList
from service.settings import Settings


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; the model and features load when it starts."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.recommender = Recommender(settings)
        yield

    app = FastAPI(
        title="Restaurant recommender",
        version="0.1.0",
        description="Ranked restaurant recommendations for a user.",
        lifespan=lifespan,
    )
    app.state.settings = settings

    @app.get("/healthz", summary="Process is alive")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get(
        "/users/{user_id}/recommendations",
        response_model=RecommendationList,
        summary="Top-k restaurants for a user",
    )
    def recommendations(
        recommender: Annotated[Recommender, Depends(_recommender)],
        user_id: Annotated[str, Path(min_length=1, max_length=128)],
        k: Annotated[
            int,
            Query(ge=1, le=settings.max_k, description="Number of restaurants."),
        ] = settings.default_k,
    ) -> RecommendationList:
        return recommender.recommend(user_id, k)

    return app


def _recommender(request: Request) -> Recommender:
    recommender: Recommender = request.app.state.recommender
    return recommender
