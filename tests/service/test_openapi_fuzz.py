"""Schemathesis against the OpenAPI spec of the service on the UCI data.

Hypothesis draws requests from the spec, valid and invalid, for every route;
no response may be a 5xx, and every response must match the documented status
codes, content types and response schemas.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from service.app import create_app
from service.settings import Settings

pytestmark = pytest.mark.slow

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
EXAMPLES_PER_ROUTE = 40


def test_no_server_error_and_schema_conformance(pipeline_var_dir: Path) -> None:
    app = create_app(Settings(var_dir=pipeline_var_dir, admin_token="fuzz-token"))
    failures: dict[str, str] = {}
    routes = []
    # The context runs the start-up, which loads the model into app.state for
    # the requests schemathesis sends.
    with TestClient(app):
        schema = schemathesis.openapi.from_asgi("/openapi.json", app)
        for result in schema.get_all_operations():
            operation = result.ok()
            routes.append(operation.label)

            @given(case=operation.as_strategy())
            @settings(
                max_examples=EXAMPLES_PER_ROUTE,
                deadline=None,
                suppress_health_check=list(HealthCheck),
                database=None,
            )
            def check(case: Any) -> None:
                case.call_and_validate(checks=CHECKS)

            try:
                check()
            except Exception as error:
                failures[operation.label] = str(error)

    assert "GET /v1/users/{user_id}/recommendations" in routes
    assert "POST /v1/feedback" in routes
    assert failures == {}
