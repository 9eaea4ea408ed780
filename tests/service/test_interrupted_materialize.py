"""Feature views left MATERIALIZING by a stopped ``features`` run."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from feast.feature_view import FeatureViewState
from feast.infra.passthrough_provider import PassthroughProvider

from features.feast_store import (
    apply_repository,
    materialize,
    materializing_message,
    materializing_views,
    open_store,
    restore_interrupted_views,
)
from features.paths import FEATURE_REPO
from service.app import create_app
from service.cli import main
from service.recommender import ModelLoadError, Recommender
from service.settings import Settings

pytestmark = pytest.mark.slow

ADMIN_TOKEN = "interrupted-materialize-token"


@pytest.fixture
def var_dir(pipeline_var_dir: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "var"
    shutil.copytree(pipeline_var_dir, copy)
    return copy


def _states(var_dir: Path) -> dict[str, FeatureViewState]:
    store = open_store(FEATURE_REPO, var_dir)
    return {view.name: view.state for view in store.list_feature_views()}


def _leave_materializing(var_dir: Path) -> str:
    """Put the first view in the state a killed materialization leaves, and
    return its name."""
    store = open_store(FEATURE_REPO, var_dir)
    name = sorted(view.name for view in store.list_feature_views())[0]
    store.set_feature_view_state(name, FeatureViewState.MATERIALIZING)
    return name


def _interrupt_second_view(monkeypatch: pytest.MonkeyPatch, var_dir: Path) -> str:
    """Materialize with Ctrl-C while the second view is written; return that
    view's name."""
    original = PassthroughProvider.materialize_single_feature_view
    started: list[str] = []

    def interrupted(self: PassthroughProvider, **kwargs: Any) -> None:
        started.append(kwargs["feature_view"].name)
        if len(started) == 2:
            raise KeyboardInterrupt
        original(self, **kwargs)

    monkeypatch.setattr(
        PassthroughProvider, "materialize_single_feature_view", interrupted
    )
    with pytest.raises(KeyboardInterrupt):
        materialize(FEATURE_REPO, var_dir)
    monkeypatch.undo()
    assert len(started) == 2
    return started[1]


def test_interrupt_restores_served_views(
    var_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _interrupt_second_view(monkeypatch, var_dir)
    states = _states(var_dir)

    assert materializing_views(open_store(FEATURE_REPO, var_dir)) == []
    # Every view was materialized by the pipeline before, so each is served.
    assert set(states.values()) == {FeatureViewState.AVAILABLE_ONLINE}
    assert Recommender(Settings(var_dir=var_dir)).ready


def test_interrupt_first_materialization(
    var_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("registry.db", "online_store.db"):
        (var_dir / "feast" / name).unlink()
    apply_repository(FEATURE_REPO, var_dir)

    stopped = _interrupt_second_view(monkeypatch, var_dir)
    store = open_store(FEATURE_REPO, var_dir)
    # Feast 0.67 moves a view to MATERIALIZING only once it has a state, and
    # a newly applied view has none.
    unchanged = _states(var_dir)[stopped]
    for state in (
        FeatureViewState.CREATED,
        FeatureViewState.GENERATED,
        FeatureViewState.MATERIALIZING,
    ):
        store.set_feature_view_state(stopped, state)
    restored = restore_interrupted_views(store)

    assert unchanged == FeatureViewState.STATE_UNSPECIFIED
    assert restored == [stopped]
    # Never materialized, so back to GENERATED, as Feast sets after a failure.
    assert _states(var_dir)[stopped] == FeatureViewState.GENERATED


def test_serve_stuck_view_one_line(
    var_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    name = _leave_materializing(var_dir)

    code = main(["--var-dir", str(var_dir), "serve", "--port", "8799"])

    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert code == 1
    assert errors == [materializing_message([name])]
    assert "recommender features" in errors[0]


def test_reload_stuck_view_409(var_dir: Path) -> None:
    settings = Settings(var_dir=var_dir, admin_token=ADMIN_TOKEN)
    auth = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    with TestClient(create_app(settings)) as client:
        name = _leave_materializing(var_dir)
        stuck = client.post("/v1/admin/reload", headers=auth)
        served = client.get("/v1/users/U1077/recommendations", params={"k": 3})
        restore_interrupted_views(open_store(FEATURE_REPO, var_dir))
        restored = client.post("/v1/admin/reload", headers=auth)

    assert stuck.status_code == 409
    assert stuck.json() == {"detail": materializing_message([name])}
    # The state loaded before stays.
    assert served.status_code == 200
    assert served.json()["strategy"] == "ranker"
    assert restored.status_code == 200


def test_load_stuck_view_raises(var_dir: Path) -> None:
    name = _leave_materializing(var_dir)

    with pytest.raises(ModelLoadError) as raised:
        Recommender(Settings(var_dir=var_dir))

    assert str(raised.value) == materializing_message([name])
