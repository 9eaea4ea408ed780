"""Response bodies of the recommendation API."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, create_model

from features.schema import CONTROL_CHARACTERS

# A city or cuisine in a request loses its surrounding whitespace, as an
# imported one does, and may not contain control characters, whose presence is
# a client bug.
MAX_CITY_LENGTH = 128
MAX_CUISINE_LENGTH = 128
TEXT_PATTERN = rf"^[^{CONTROL_CHARACTERS}]+$"
TEXT_RULE = "expected text without control characters such as tab or newline"
STRIP_WHITESPACE = StringConstraints(strip_whitespace=True)
City = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True,
        min_length=1,
        max_length=MAX_CITY_LENGTH,
        pattern=TEXT_PATTERN,
    ),
]
Cuisine = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True,
        min_length=1,
        max_length=MAX_CUISINE_LENGTH,
        pattern=TEXT_PATTERN,
    ),
]

K_DESCRIPTION = (
    "Number of restaurants: a JSON integer from 1 to the service's "
    '`RECOMMENDER_MAX_K` (100 unless set). `3.0`, `"3"` and `true` are rejected.'
)


class Strategy(StrEnum):
    """Strategy that produced a recommendation list."""

    RANKER = "ranker"
    CONTENT = "content"
    POPULARITY = "popularity"


class Diet(StrEnum):
    """Diet filter: ``vegetarian`` keeps restaurants whose menu shows a
    vegetarian option."""

    VEGETARIAN = "vegetarian"


class Budget(StrEnum):
    """Declared budget."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class PreferencesRequest(BaseModel):
    """Declared preferences of a new or anonymous caller.

    Types are strict, as in feedback events. A number must be a JSON number,
    and ``k`` a JSON integer. The service serves the subclass that
    :func:`preferences_request` bounds ``k`` in.
    """

    model_config = ConfigDict(
        strict=True,
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "k": 5,
                    "latitude": 22.15,
                    "longitude": -100.98,
                    "city": "San Luis Potosi",
                    "diet": "vegetarian",
                    "liked_cuisines": ["Mexican", "Cafeteria"],
                    "budget": "medium",
                    "exclude_cuisines": ["Bar"],
                }
            ]
        },
    )

    k: int = Field(default=10, ge=1, description=K_DESCRIPTION)
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)
    city: City | None = Field(
        default=None,
        description="The caller's city, matched ignoring case and surrounding "
        "whitespace. It raises the score of restaurants there and does not filter.",
    )
    # FastAPI validates a parsed JSON body in Python mode, where a strict enum
    # accepts only enum members, so the enums take their string values.
    diet: Diet | None = Field(default=None, strict=False)
    liked_cuisines: list[Cuisine] = Field(
        default_factory=list,
        max_length=20,
        description="Cuisines the caller likes, matched ignoring case, with "
        "spaces, hyphens and underscores alike (`Fast Food` is `fast_food`).",
    )
    budget: Budget | None = Field(default=None, strict=False)
    exclude_cuisines: list[Cuisine] = Field(
        default_factory=list,
        max_length=20,
        description="Cuisines to leave out, matched as `liked_cuisines`.",
    )


def preferences_request(default_k: int, max_k: int) -> type[PreferencesRequest]:
    """Return :class:`PreferencesRequest` with ``k`` bounded by the settings, so
    that the validation error and the OpenAPI schema give the service's limit."""
    return create_model(
        "PreferencesRequest",
        __base__=PreferencesRequest,
        __doc__=PreferencesRequest.__doc__,
        k=(int, Field(default=default_k, ge=1, le=max_k, description=K_DESCRIPTION)),
    )


class NoteCode(StrEnum):
    """Kind of note on a recommendation list."""

    FEWER_THAN_K = "fewer_than_k"
    NO_VEGETARIAN_MENUS = "no_vegetarian_menus"
    HISTORY_UNAVAILABLE = "history_unavailable"
    PROFILE_FROM_STORE = "profile_from_store"
    RESTAURANT_FROM_STORE = "restaurant_from_store"
    NOTHING_TO_COMPARE = "nothing_to_compare"


class ListNote(BaseModel):
    """A reason a list is shorter than ``k``, a source a degraded list could
    not read, or data that a list took from the store because the online
    store lacks it."""

    code: NoteCode = Field(
        description=(
            "`fewer_than_k`: fewer restaurants than `k` match the request. "
            "`no_vegetarian_menus`: `diet=vegetarian` was asked, and no loaded "
            "restaurant's menu shows a vegetarian dish, so the filter keeps none "
            "(the UCI data has no menus). "
            "`history_unavailable`: a degraded list could not read the user's "
            "past orders, so it may contain restaurants they ordered from. "
            "`profile_from_store`: the user was added to the store after the "
            "last `recommender features` run, so the list is ranked from the "
            "profile the store has for them, as for a new caller's declared "
            "preferences, or by popularity when the store has no profile. "
            "`restaurant_from_store`: the restaurant asked about has no online "
            "features, so it is compared by the fields the store has for it. "
            "`nothing_to_compare`: the restaurant asked about has no cuisines, "
            "city, price level, location or menu, so no restaurant is listed."
        )
    )
    message: str = Field(description="The note as a sentence, with the numbers.")


class ErrorResponse(BaseModel):
    """Body of every 4xx and 5xx response."""

    detail: str | list[dict[str, object]] = Field(
        description="What was wrong: a sentence, or one entry per invalid field "
        "with its location (`loc`) and the reason (`msg`)."
    )


class Readiness(BaseModel):
    """Body of the 200 response of /readyz."""

    status: Literal["ready"]
    model_version: str | None = Field(
        description="Version of the loaded model, or null when lists are not "
        "ranked by a model."
    )


class FeedbackAccepted(BaseModel):
    """Body of the 202 response to a feedback request."""

    accepted: int = Field(description="Events in the request, all of them kept.")
    event_ids: list[str] = Field(
        description="The event ids in request order, generated ones included."
    )
    duplicates: list[str] = Field(
        description="Event ids stored already, by an earlier request or earlier "
        "in this list, and so not stored again."
    )


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
        exclude_if=lambda value: value is None,
        description=(
            "The model's input values for this restaurant and user, by feature "
            "name (null when unknown); only with `include_features=true` and the "
            "ranker strategy."
        ),
    )


class RecommendationList(BaseModel):
    request_id: str = Field(
        description="Id of this response; feedback events refer to it."
    )
    user_id: str | None = Field(
        default=None, description="The user, or null for an anonymous caller."
    )
    strategy: Strategy = Field(
        description=(
            "`ranker` for a user with orders; `content` for a user without "
            "orders, an anonymous caller's preferences or similar restaurants; "
            "`popularity` when nothing is known about the caller, or when "
            "degraded."
        )
    )
    model_version: str | None = Field(
        description="Version of the loaded model; null when none is loaded."
    )
    degraded: bool = Field(
        default=False,
        description=(
            "True when the online store or the model was unavailable and the "
            "list fell back to popularity in the area."
        ),
    )
    recommendations: list[RecommendedRestaurant]
    notes: list[ListNote] = Field(
        default_factory=list,
        description=(
            "Why the list is shorter than `k` or empty, what a degraded list "
            "could not take into account, and what the list read from the store "
            "because the online store lacks it; empty for a full list from the "
            "online features."
        ),
    )

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "request_id": "5f0c6a3e9b2d4e51a7c8d9e0f1a2b3c4",
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
                    "notes": [],
                }
            ]
        }
    }
