"""The OpenAPI schema that clients generate code from.

Building the schema needs no model, so these tests create the app without
starting it.
"""

from __future__ import annotations

import warnings
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from service.app import create_app
from service.settings import Settings

ERROR_BODY = {"$ref": "#/components/schemas/ErrorResponse"}

EXPECTED_STATUSES = {
    ("get", "/healthz"): ["200"],
    ("get", "/readyz"): ["200", "503"],
    ("get", "/v1/users/{user_id}/recommendations"): ["200", "422"],
    ("post", "/v1/recommendations"): ["200", "408", "413", "415", "422"],
    ("get", "/v1/restaurants/{restaurant_id}/similar"): ["200", "404", "422"],
    ("post", "/v1/feedback"): ["202", "408", "413", "415", "422", "503"],
    ("post", "/v1/admin/reload"): ["200", "401", "409", "422", "503"],
}


@pytest.fixture(scope="module")
def schema(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    var_dir: Path = tmp_path_factory.mktemp("var")
    app = create_app(Settings(var_dir=var_dir, admin_token=SecretStr("token")))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return app.openapi()


def _operations(schema: dict[str, Any]) -> dict[tuple[str, str], Any]:
    return {
        (method, path): operation
        for path, methods in schema["paths"].items()
        for method, operation in methods.items()
    }


def test_operations_listed(schema: dict[str, Any]) -> None:
    assert sorted(_operations(schema)) == sorted(EXPECTED_STATUSES)


@pytest.mark.parametrize(("method", "path"), list(EXPECTED_STATUSES))
def test_statuses_per_operation(schema: dict[str, Any], method: str, path: str) -> None:
    responses = _operations(schema)[(method, path)]["responses"]

    assert sorted(responses) == EXPECTED_STATUSES[(method, path)]
    for status, response in responses.items():
        if status.startswith(("4", "5")):
            body = response["content"]["application/json"]["schema"]
            assert body == ERROR_BODY, (status, body)


def test_operation_ids_unique(schema: dict[str, Any]) -> None:
    counts = Counter(
        operation["operationId"] for operation in _operations(schema).values()
    )

    assert [name for name, count in counts.items() if count > 1] == []


def test_feedback_response_fields(schema: dict[str, Any]) -> None:
    accepted = _operations(schema)[("post", "/v1/feedback")]["responses"]["202"]
    body = accepted["content"]["application/json"]["schema"]
    fields = schema["components"]["schemas"]["FeedbackAccepted"]

    assert body == {"$ref": "#/components/schemas/FeedbackAccepted"}
    assert sorted(fields["properties"]) == ["accepted", "duplicates", "event_ids"]
    assert sorted(fields["required"]) == ["accepted", "duplicates", "event_ids"]


def test_readiness_response_fields(schema: dict[str, Any]) -> None:
    ready = _operations(schema)[("get", "/readyz")]["responses"]["200"]
    fields = schema["components"]["schemas"]["Readiness"]

    assert ready["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Readiness"
    }
    assert sorted(fields["properties"]) == ["model_version", "status"]


def test_event_id_is_uuid(schema: dict[str, Any]) -> None:
    event = schema["components"]["schemas"]["FeedbackEvent"]

    assert event["properties"]["event_id"]["format"] == "uuid"


def test_no_default_validation_schema(schema: dict[str, Any]) -> None:
    # Every 422 uses ErrorResponse, so FastAPI's default body is unused.
    assert "HTTPValidationError" not in schema["components"]["schemas"]
