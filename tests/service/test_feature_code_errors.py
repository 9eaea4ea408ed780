"""A mistake in the feature code gives one line, and `--help` still works."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("features", "models", "service")

BAD_ENTITY = """

@feature_table("restaurant_evening", "restaurants")
def restaurant_evening(snapshot: Snapshot) -> pl.DataFrame:
    return snapshot.restaurants.select("restaurant_id")
"""
SYNTAX_ERROR = "\n\ndef restaurant_evening(snapshot:\n"


def _checkout_with(tmp_path: Path, appended: str) -> tuple[Path, int]:
    """Copy the packages with ``appended`` added to features/transforms.py;
    return the copy and the first line number of the added text."""
    copy = tmp_path / "checkout"
    for package in PACKAGES:
        shutil.copytree(
            ROOT / package, copy / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    transforms = copy / "features" / "transforms.py"
    text = transforms.read_text()
    transforms.write_text(text + appended)
    return copy, text.count("\n") + 1


def _recommender(copy: Path, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    # The copy comes first on the path, before the editable install.
    env = {**os.environ, "PYTHONPATH": str(copy)}
    command = [sys.executable, "-m", "service.cli", "--var-dir", str(tmp_path / "v")]
    return subprocess.run(
        [*command, *args],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if " ERROR " in line]


def test_bad_entity_one_line(tmp_path: Path) -> None:
    copy, first = _checkout_with(tmp_path, BAD_ENTITY)
    transforms = copy / "features" / "transforms.py"
    # Two blank lines, then the decorator.
    decorator = first + 2

    result = _recommender(copy, tmp_path, "data")

    errors = _error_lines(result.stderr)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert len(errors) == 1
    assert errors[0].endswith(
        "cannot load the feature code (features.transforms) at "
        f"{transforms}:{decorator}: ValueError: feature table "
        "'restaurant_evening': entity must be one of ['restaurant', 'user'], "
        "got 'restaurants'; fix it and run the command again"
    )


def test_syntax_error_one_line(tmp_path: Path) -> None:
    copy, first = _checkout_with(tmp_path, SYNTAX_ERROR)
    transforms = copy / "features" / "transforms.py"

    result = _recommender(copy, tmp_path, "compare", "a.json", "b.json")

    errors = _error_lines(result.stderr)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert len(errors) == 1
    assert f"at {transforms}:{first + 2}: SyntaxError: " in errors[0]


@pytest.mark.parametrize(
    "appended", [BAD_ENTITY, SYNTAX_ERROR], ids=["entity", "syntax"]
)
def test_help_with_broken_feature_code(tmp_path: Path, appended: str) -> None:
    copy, _ = _checkout_with(tmp_path, appended)

    result = _recommender(copy, tmp_path, "--help")

    assert result.returncode == 0, result.stderr
    assert "usage:" in result.stdout


def test_clean_with_broken_feature_code(tmp_path: Path) -> None:
    copy, _ = _checkout_with(tmp_path, SYNTAX_ERROR)
    var_dir = tmp_path / "v"
    (var_dir / "models").mkdir(parents=True)

    result = _recommender(copy, tmp_path, "clean")

    assert result.returncode == 0, result.stderr
    assert not var_dir.exists()
