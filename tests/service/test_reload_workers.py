"""POST /v1/admin/reload to one of two uvicorn workers reloads both.

The module trains two model versions on a small synthetic world, serves it
with ``recommender serve --workers 2`` as a subprocess, makes the older
version current and sends a reload request to one worker. Every worker must
then respond with the older version.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx2
import pytest
import yaml

from features.paths import RANKER_CONFIG
from service.cli import main

pytestmark = pytest.mark.slow

TOKEN = "reload-test-token"
# Consecutive responses that must all name the promoted version.
IN_A_ROW = 30


def _quick_config() -> dict[str, Any]:
    config: dict[str, Any] = yaml.safe_load(RANKER_CONFIG.read_text())
    config["num_boost_round"] = 20
    config["early_stopping_rounds"] = None
    config["cutoffs"]["count"] = 2
    return config


@pytest.fixture(scope="module")
def var_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("reload_workers")
    var = root / "var"
    config = root / "ranker.yaml"
    config.write_text(yaml.safe_dump(_quick_config()))
    world = ["data", "--source", "synthetic", "--users", "200"]
    world += ["--restaurants", "60", "--days", "40", "--world-seed", "2"]
    train = ["train", "--config", str(config)]
    for command in (world, ["features"], train, train):
        assert main(["--var-dir", str(var), *command]) == 0, command
    return var


@pytest.fixture
def url(
    var_dir: Path, start_workers: Callable[..., tuple[str, subprocess.Popen[bytes]]]
) -> str:
    address, _ = start_workers(var_dir, {"RECOMMENDER_ADMIN_TOKEN": TOKEN})
    return address


def _version(address: str) -> str:
    # A new connection per request spreads the requests over both workers.
    version: str = httpx2.get(f"{address}/readyz", timeout=10).json()["model_version"]
    return version


def test_reload_reaches_every_worker(var_dir: Path, url: str) -> None:
    models = var_dir / "models"
    versions = sorted(
        path.name
        for path in models.iterdir()
        if path.is_dir() and not path.name.startswith(".")
    )
    older, newer = versions
    before = {_version(url) for _ in range(IN_A_ROW)}
    assert main(["--var-dir", str(var_dir), "promote", older]) == 0

    reloaded = httpx2.post(
        f"{url}/v1/admin/reload",
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=60,
    )
    deadline = time.monotonic() + 30
    answers: list[str] = []
    while time.monotonic() < deadline:
        answers = [_version(url) for _ in range(IN_A_ROW)]
        if set(answers) == {older}:
            break
        time.sleep(0.5)

    assert before == {newer}
    assert reloaded.status_code == 200
    assert reloaded.json() == {"model_version": older}
    assert set(answers) == {older}
