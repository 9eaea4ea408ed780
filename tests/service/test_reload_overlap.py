"""POST /v1/admin/reload while another reload of the same worker runs."""

from __future__ import annotations

import asyncio
import logging
import shutil
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.app_reload import RELOAD_POLL_SECONDS, ReloadSignal, _follow_reloads
from service.recommender import Recommender
from service.settings import Settings

pytestmark = pytest.mark.slow

AUTH = {"Authorization": "Bearer reload-token"}


def test_overlapping_reload_is_503(
    pipeline_var_dir: Path,
    tmp_path: Path,
    store_locked: Callable[[Path], AbstractContextManager[None]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    var_dir = tmp_path / "var"
    shutil.copytree(pipeline_var_dir, var_dir)
    settings = Settings(var_dir=var_dir, admin_token="reload-token")

    # The reload that starts first waits 5 s for the store's lock, so the
    # other one overlaps it.
    with (
        TestClient(create_app(settings)) as test_client,
        store_locked(var_dir / "store.duckdb"),
        caplog.at_level(logging.WARNING, logger="service.app"),
        ThreadPoolExecutor(2) as pool,
    ):
        responses = list(
            pool.map(
                lambda _: test_client.post("/v1/admin/reload", headers=AUTH),
                range(2),
            )
        )

    details = sorted(response.json()["detail"] for response in responses)
    assert [response.status_code for response in responses] == [503, 503]
    assert details[0].startswith("another reload is still running")
    assert details[1].startswith(f"the store {var_dir / 'store.duckdb'} is busy")
    warnings = [
        record.getMessage()
        for record in caplog.records
        if "another reload is still running" in record.getMessage()
    ]
    assert len(warnings) == 1
    assert warnings[0].endswith("so retry the reload later")


def test_follower_busy_reload_is_warning(
    pipeline_var_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    var_dir = tmp_path / "var"
    shutil.copytree(pipeline_var_dir, var_dir)
    recommender = Recommender(Settings(var_dir=var_dir))
    follower_signal = ReloadSignal(var_dir)

    async def follow_a_reload() -> None:
        task = asyncio.create_task(_follow_reloads(recommender, follower_signal))
        ReloadSignal(var_dir).send()
        await asyncio.sleep(RELOAD_POLL_SECONDS * 2.5)
        task.cancel()

    # The worker's own reload holds the lock, so the follower finds it busy.
    with caplog.at_level(logging.WARNING, logger="service.app"):
        assert recommender._reload_lock.acquire(blocking=False)
        try:
            asyncio.run(follow_a_reload())
        finally:
            recommender._reload_lock.release()

    failed = [r for r in caplog.records if "another worker's failed" in r.message]
    assert failed
    assert {record.levelname for record in failed} == {"WARNING"}
    assert "another reload is still running" in failed[0].message
