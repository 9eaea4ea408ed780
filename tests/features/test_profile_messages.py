"""Messages about a Feast profile's stores, and the files behind the tables."""

from __future__ import annotations

import shutil
from pathlib import Path

import polars as pl
import pytest

from features.feast_store import (
    REDIS_ENV,
    REGISTRY_URL_ENV,
    describe_profile,
    write_feature_tables,
)
from features.manifest import _feature_code_digest, feature_code_files
from features.paths import EMBEDDED, FEATURE_REPO, PRODUCTION


def test_production_hides_passwords(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(
        REGISTRY_URL_ENV, "postgresql+psycopg://app:S3cretPW@127.0.0.1:5439/reg"
    )
    monkeypatch.setenv(REDIS_ENV, "127.0.0.1:6390,db=7,password=S3cret,ssl=false")

    described = describe_profile(tmp_path, PRODUCTION)

    assert "S3cret" not in described
    assert described == (
        "registry postgresql+psycopg://app:***@127.0.0.1:5439/reg, "
        "Redis 127.0.0.1:6390,db=7,password=***,ssl=false"
    )


def test_unparsed_registry_url_kept(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(REGISTRY_URL_ENV, "not a url")
    monkeypatch.setenv(REDIS_ENV, "127.0.0.1:6379")

    assert describe_profile(tmp_path, PRODUCTION) == (
        "registry not a url, Redis 127.0.0.1:6379"
    )


def test_embedded_names_files(tmp_path: Path) -> None:
    assert describe_profile(tmp_path, EMBEDDED) == (
        f"registry {tmp_path / 'feast' / 'registry.db'}, "
        f"online store {tmp_path / 'feast' / 'online_store.db'}"
    )


def test_feature_tables_leave_no_partial_files(tmp_path: Path) -> None:

    written = write_feature_tables({"user_profile": pl.DataFrame({"a": [1]})}, tmp_path)

    assert written == [tmp_path / "user_profile.parquet"]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["user_profile.parquet"]


@pytest.mark.parametrize("folder", ["a", "zzz"])
def test_code_digest_same_for_copied_repo(tmp_path: Path, folder: str) -> None:
    """The digest names files relative to the repository and the package, so
    a copy of the repository anywhere has the digest of the original."""
    copy = tmp_path / folder / "feature_repo"
    shutil.copytree(FEATURE_REPO, copy, ignore=shutil.ignore_patterns("__pycache__"))

    names = feature_code_files(copy)

    assert "repo/definitions.py" in names
    assert "features/transforms.py" in names
    assert _feature_code_digest(copy) == _feature_code_digest(FEATURE_REPO)
