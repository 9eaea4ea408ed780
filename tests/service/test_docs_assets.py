"""The script and style files of the /docs and /redoc pages.

Serving them needs no model, so these tests create the app without starting
it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.settings import Settings

ASSET = "/static-offline-docs/swagger-ui.css"


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> TestClient:
    var_dir: Path = tmp_path_factory.mktemp("var")
    return TestClient(create_app(Settings(var_dir=var_dir)))


def test_asset_served_whole(client: TestClient) -> None:
    response = client.get(ASSET)

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/css")
    assert "accept-ranges" not in response.headers


# Starlette responds to a malformed or unsatisfiable Range with a plain-text 400
# or 416. The assets are served whole instead, as RFC 9110 allows a server
# to ignore Range.
@pytest.mark.parametrize(
    "header",
    ["bytes=abc", "bytes=5-1", "items=0-1", "bytes=999999999-", "bytes=0-1"],
)
def test_asset_range_ignored(client: TestClient, header: str) -> None:
    whole = client.get(ASSET)

    response = client.get(ASSET, headers={"range": header})

    assert response.status_code == 200
    assert response.content == whole.content
    assert "content-range" not in response.headers
