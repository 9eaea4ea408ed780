"""docs/adding-a-feature-view.md, followed step by step in a copy of the project.

The code blocks of the page are pasted where the page says, in a temporary
copy of the project; the pipeline then runs in that copy as separate
processes (data, features, train, serve), and the new feature must be among
the trained model's features and in the served response.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import httpx2
import pytest

from features.paths import PROJECT_DIR

pytestmark = pytest.mark.slow

GUIDE = PROJECT_DIR / "docs" / "adding-a-feature-view.md"
NEW_FEATURE = "user_weekend_share"
WORLD = ["--users", "300", "--restaurants", "60", "--days", "45"]
IGNORED = shutil.ignore_patterns(
    ".git", ".venv", "var", "__pycache__", ".*_cache", "*.egg-info"
)
STEP_TIMEOUT_SECONDS = 300


def _code_blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", GUIDE.read_text(), re.DOTALL)


def _python(project: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    """Run Python with ``arguments`` in the copy and return the result."""
    return subprocess.run(
        [sys.executable, *arguments],
        cwd=project,
        env=_environment(),
        capture_output=True,
        text=True,
        timeout=STEP_TIMEOUT_SECONDS,
        check=False,
    )


def _run(project: Path, *arguments: str) -> None:
    completed = _python(project, "-m", "service.cli", *arguments)
    assert completed.returncode == 0, completed.stderr[-3000:]


def _environment() -> dict[str, str]:
    # The copy's packages come first because the command runs from the copy
    # (python -m puts the working directory at the front of sys.path).
    return {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("RECOMMENDER_")
    }


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the project with the guide's steps 1 to 3 applied."""
    copy = tmp_path_factory.mktemp("guide") / "project"
    shutil.copytree(PROJECT_DIR, copy, ignore=IGNORED)
    transform, view, service = _code_blocks("python")
    (config_line,) = _code_blocks("yaml")

    # Step 1: the transform, in features/transforms.py.
    with (copy / "features" / "transforms.py").open("a") as handle:
        handle.write("\n\n" + transform)
    # Steps 2 and 3: the view and the service, in feature_repo/definitions.py.
    with (copy / "feature_repo" / "definitions.py").open("a") as handle:
        handle.write("\n\n" + view + "\n\n" + service)
    # Step 3: the config names the new service.
    config = copy / "configs" / "ranker.yaml"
    text = config.read_text()
    assert "feature_service: ranker_v2\n" in text
    config.write_text(text.replace("feature_service: ranker_v2\n", config_line))
    return copy


@pytest.fixture(scope="module")
def var_dir(project: Path) -> Path:
    """Step 4: data, features and train, run in the copy."""
    var = project / "var"
    _run(project, "--var-dir", str(var), "data", "--source", "synthetic", *WORLD)
    _run(project, "--var-dir", str(var), "features")
    _run(project, "--var-dir", str(var), "train")
    return var


def test_guide_has_the_steps() -> None:
    assert len(_code_blocks("python")) == 3
    assert _code_blocks("yaml") == ["feature_service: ranker_v3\n"]


def test_value_check_prints_new_feature(project: Path, var_dir: Path) -> None:
    (script,) = re.findall(
        r"```sh\n\.venv/bin/python -c '(.*?)'\n```", GUIDE.read_text(), re.DOTALL
    )

    # Without RECOMMENDER_VAR_DIR, the snippet reads var/ of the working
    # directory.
    completed = _python(project, "-c", script)

    assert var_dir == project / "var"
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert NEW_FEATURE in completed.stdout
    assert "null_count" in completed.stdout


def test_new_table_written(var_dir: Path) -> None:
    assert (var_dir / "features" / "user_weekend.parquet").is_file()


def test_model_reads_new_feature(var_dir: Path) -> None:
    models = var_dir / "models"
    version = (models / "current").read_text().strip()
    metadata = json.loads((models / version / "metadata.json").read_text())

    assert metadata["feature_service"] == "ranker_v3"
    assert NEW_FEATURE in metadata["features"]
    assert "vegetarian_gap" in metadata["features"]


def test_served_response_has_new_feature(project: Path, var_dir: Path) -> None:
    connection = duckdb.connect(str(var_dir / "store.duckdb"), read_only=True)
    try:
        # The user with the most orders has a weekend share to show.
        user_id = connection.execute(
            "SELECT user_id FROM orders GROUP BY user_id "
            "ORDER BY count(*) DESC, user_id LIMIT 1"
        ).fetchall()[0][0]
    finally:
        connection.close()
    port = _free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "service.cli",
            "--var-dir",
            str(var_dir),
            "serve",
            "--port",
            str(port),
        ],
        cwd=project,
        env=_environment(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert server.poll() is None, server.stderr.read() if server.stderr else ""
            try:
                if httpx2.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx2.TransportError:
                time.sleep(0.5)
        response = httpx2.get(
            f"{base}/v1/users/{user_id}/recommendations",
            params={"k": 3, "include_features": "true"},
            timeout=30,
        )
    finally:
        server.terminate()
        server.wait(timeout=30)

    body = response.json()
    assert response.status_code == 200
    assert body["strategy"] == "ranker"
    shares = [item["features"][NEW_FEATURE] for item in body["recommendations"]]
    assert len(shares) == 3
    # A user-level feature: the same value for every restaurant, a share.
    assert shares[0] is not None
    assert 0.0 <= shares[0] <= 1.0
    assert shares == [shares[0]] * 3
