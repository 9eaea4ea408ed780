"""The service after `recommender data` replaced the data set and
`recommender features` ran again."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.cli import main
from service.settings import Settings

pytestmark = pytest.mark.slow


def test_user_of_replaced_data_not_ranked(
    pipeline_var_dir: Path, tmp_path: Path
) -> None:
    var_dir = tmp_path / "var"
    shutil.copytree(pipeline_var_dir, var_dir)
    world = ["--users", "100", "--restaurants", "60", "--days", "30"]
    data = ["--var-dir", str(var_dir), "data", "--source", "synthetic", *world]

    assert main(data) == 0
    assert main(["--var-dir", str(var_dir), "features"]) == 0
    with TestClient(create_app(Settings(var_dir=var_dir))) as client:
        # U1077 is a user of the UCI data, which the synthetic world replaced.
        response = client.get("/v1/users/U1077/recommendations", params={"k": 5})

    assert response.status_code == 200
    assert response.json()["strategy"] == "popularity"
