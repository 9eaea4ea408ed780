"""The reload signal file: the version it carries to the other workers, and a
file that cannot be written, as in a read-only models folder."""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from models.registry import CURRENT_ALIAS, METADATA_FILE
from service.app import create_app
from service.app_reload import RELOAD_POLL_SECONDS, ReloadSignal, _follow_reloads
from service.recommender import Recommender
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


def test_signal_in_unusable_folder_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    signal = ReloadSignal(tmp_path)
    # A file in place of the models folder fails the write of the partial
    # file and its removal alike, as a read-only file system does (EROFS).
    signal.path.parent.write_text("")

    with caplog.at_level(logging.ERROR, logger="service.app"):
        signal.send("20260101T000000000000Z")

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


def test_signal_carries_version(tmp_path: Path) -> None:
    ReloadSignal(tmp_path).send("20260101T000000000000Z")

    assert ReloadSignal(tmp_path).version() == "20260101T000000000000Z"

    ReloadSignal(tmp_path).send()

    assert ReloadSignal(tmp_path).version() is None


def test_signal_without_file_has_no_version(tmp_path: Path) -> None:
    assert ReloadSignal(tmp_path).version() is None


@pytest.mark.slow
def test_follower_loads_signalled_version(
    pipeline_var_dir: Path, tmp_path: Path
) -> None:
    var_dir = tmp_path / "var"
    shutil.copytree(pipeline_var_dir, var_dir)
    models = var_dir / "models"
    loaded = (models / CURRENT_ALIAS).read_text().strip()
    # A second version with the same model file, as another training makes.
    signalled = "29990101T000000000000Z"
    shutil.copytree(models / loaded, models / signalled)
    metadata = json.loads((models / signalled / METADATA_FILE).read_text())
    metadata["version"] = signalled
    (models / signalled / METADATA_FILE).write_text(json.dumps(metadata))
    recommender = Recommender(Settings(var_dir=var_dir))
    follower_signal = ReloadSignal(var_dir)

    async def follow_a_reload() -> None:
        task = asyncio.create_task(_follow_reloads(recommender, follower_signal))
        # Another worker loaded the signalled version, then `current` moved
        # back before this worker looked, as a promotion would move it.
        ReloadSignal(var_dir).send(signalled)
        (models / CURRENT_ALIAS).write_text(f"{loaded}\n")
        await asyncio.sleep(RELOAD_POLL_SECONDS * 2.5)
        task.cancel()

    assert recommender.model_version == loaded
    asyncio.run(follow_a_reload())

    assert recommender.model_version == signalled
