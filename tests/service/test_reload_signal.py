"""The reload signal file when it cannot be written, as in a read-only models
folder: the worker that reloaded still returns 200."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from models.registry import CURRENT_ALIAS
from service.app import create_app
from service.app_reload import ReloadSignal
from service.settings import Settings

AUTH = {"Authorization": "Bearer reload-token"}


def test_unwritable_signal_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    signal = ReloadSignal(tmp_path)
    # A folder in place of the file makes every write of it fail.
    signal.path.mkdir(parents=True)

    with caplog.at_level(logging.ERROR, logger="service.app"):
        signal.send()

    assert f"cannot write the reload signal {signal.path}" in caplog.text


@pytest.mark.slow
def test_reload_unwritable_signal_200(
    pipeline_var_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    var_dir = tmp_path / "var"
    shutil.copytree(pipeline_var_dir, var_dir)
    models = var_dir / "models"
    (models / ".reload").unlink(missing_ok=True)
    (models / ".reload").mkdir()
    current = (models / CURRENT_ALIAS).read_text().strip()
    settings = Settings(var_dir=var_dir, admin_token="reload-token")

    with (
        TestClient(create_app(settings)) as test_client,
        caplog.at_level(logging.ERROR, logger="service.app"),
    ):
        response = test_client.post("/v1/admin/reload", headers=AUTH)

    assert response.status_code == 200
    assert response.json() == {"model_version": current}
    assert f"cannot write the reload signal {models / '.reload'}" in caplog.text
