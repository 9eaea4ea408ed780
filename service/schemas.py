"""Response bodies of the recommendation API."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, Field


class Strategy(StrEnum):
    """Strategy that produced a recommendation list."""

    RANKER = "ranker"
    POPULARITY = "popularity"


class RecommendedRestaurant(BaseModel):
    restaurant_id: str
    name: str
    score: float = Field(description="Higher is better; comparable within a list.")
    rank: int = Field(ge=1, description="1 is the first recommendation.")
    reasons: list[str] = Field(
        default_factory=list,
        description=(
            "Up to two short sentences on what raised this restaurant, strongest "
            "first: from the model's feature contributions for the ranker "
            "strategy, from past orders for popularity. Empty when nothing "
            "supports a reason."
        ),
    )
    features: dict[str, float | None] | None = Field(
        default=None,
        description=(
            "The model's input values for this restaurant and user, by feature "
            "name (null when unknown); only with `include_features=true` and the "
            "ranker strategy."
        ),
    )


class RecommendationList(BaseModel):
    user_id: str
    strategy: Strategy = Field(
        description=(
            "`ranker` for a user the feature store knows; `popularity` for an "
            "unknown user, ranked by past orders."
        )
    )
    model_version: str
    degraded: bool = Field(
        default=False,
        description=(
            "True when the user's features could not be read and the list fell "
            "back to popularity."
        ),
    )
    recommendations: list[RecommendedRestaurant]

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "user_id": "U1077",
                    "strategy": "ranker",
                    "model_version": "20261204T153000123456Z",
                    "degraded": False,
                    "recommendations": [
                        {
                            "restaurant_id": "135052",
                            "name": "La Cantina Restaurante",
                            "score": 1.73,
                            "rank": 1,
                            "reasons": [
                                "Mexican, like 40% of your orders",
                                "1.3 km from you",
                            ],
                        }
                    ],
                }
            ]
        }
    }
