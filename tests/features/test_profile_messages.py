"""Messages about a Feast profile's stores, checks that they reply, and the
files behind the tables."""

from __future__ import annotations

import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest
from sqlalchemy.exc import OperationalError

from features import store_checks
from features.feast_store import (
    PROJECT_ENV,
    REDIS_ENV,
    REGISTRY_URL_ENV,
    describe_profile,
    error_line,
    write_feature_tables,
)
from features.manifest import _feature_code_digest, feature_code_files
from features.paths import EMBEDDED, FEATURE_REPO, PRODUCTION, RANKER_CONFIG, VarPaths
from features.store_checks import (
    check_production_stores,
    check_redis,
    check_registry_database,
)
from service.pipeline import build_features


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


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port of 127.0.0.1 that takes connections and never replies."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        yield server.getsockname()[1]


@pytest.fixture
def closed_port() -> int:
    """A port of 127.0.0.1 with nothing listening."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        return int(server.getsockname()[1])


def test_refused_registry_named(closed_port: int) -> None:
    url = f"postgresql+psycopg://app:S3cretPW@127.0.0.1:{closed_port}/reg"

    with pytest.raises(ValueError) as caught:
        check_registry_database(url)

    message = str(caught.value)
    assert "S3cretPW" not in message
    assert message.startswith(
        f"cannot reach the production registry "
        f"postgresql+psycopg://app:***@127.0.0.1:{closed_port}/reg: "
        "OperationalError: (psycopg.OperationalError) connection failed: "
    )
    assert message.endswith(
        f"; check {REGISTRY_URL_ENV}, the server and that the database exists"
    )


def test_refused_redis_named(closed_port: int) -> None:
    with pytest.raises(ValueError) as caught:
        check_redis(f"127.0.0.1:{closed_port},password=S3cret")

    assert str(caught.value) == (
        f"cannot reach the production online store at Redis "
        f"127.0.0.1:{closed_port},password=***: ConnectionError: Error 111 "
        f"connecting to 127.0.0.1:{closed_port}. Connection refused.; check "
        f"{REDIS_ENV} and the server"
    )


@pytest.mark.parametrize("options", ["", ",ssl=true"])
def test_silent_redis_times_out(
    silent_port: int, options: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Feast's own client would wait without end for the TLS handshake.
    monkeypatch.setattr(store_checks, "STORE_CHECK_SECONDS", 0.5)

    with pytest.raises(ValueError, match=r"TimeoutError: Timeout "):
        check_redis(f"127.0.0.1:{silent_port}{options}")


def test_unknown_redis_option_named(closed_port: int) -> None:
    with pytest.raises(
        ValueError,
        match=r"TypeError: .*unexpected keyword argument 'colour'",
    ):
        check_redis(f"127.0.0.1:{closed_port},colour=blue")


def test_error_line_of_sqlalchemy() -> None:
    error = OperationalError("SELECT 1", {}, Exception("connection refused\nhint"))

    # SQLAlchemy puts the driver's error first and a link last.
    assert (
        error_line(error) == "OperationalError: (builtins.Exception) connection refused"
    )


def test_error_line_of_other_errors() -> None:
    assert error_line(RuntimeError("reading view\n  missing file x")) == (
        "RuntimeError: missing file x"
    )
    assert error_line(KeyError()) == "KeyError"


def test_features_checks_stores_first(
    closed_port: int, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(
        REGISTRY_URL_ENV, f"postgresql+psycopg://app@127.0.0.1:{closed_port}/reg"
    )
    paths = VarPaths(tmp_path / "var")

    # The folder has no store yet: the registry is checked before it is read.
    with pytest.raises(ValueError, match=r"^cannot reach the production registry"):
        build_features(paths, FEATURE_REPO, RANKER_CONFIG, PRODUCTION)

    assert not paths.features.exists()


def test_unparsed_url_password_hidden(closed_port: int) -> None:
    url = f"postgresql+psycopg://app:p@ss:w/rd@127.0.0.1:notaport/reg{closed_port}"

    with pytest.raises(ValueError) as caught:
        check_registry_database(url)

    message = str(caught.value)
    assert "p@ss" not in message
    assert "w/rd" not in message
    assert message.startswith(
        "cannot reach the production registry "
        f"postgresql+psycopg://app:***@127.0.0.1:notaport/reg{closed_port}: "
    )


@pytest.mark.parametrize(
    ("redis_setting", "masked_setting"),
    [
        ("", "Redis "),
        (",127.0.0.1:6379", "Redis ,127.0.0.1:6379"),
        ("127.0.0.1:6379,password=s3cret: x", "Redis 127.0.0.1:6379,password=***"),
    ],
)
def test_broken_settings_in_one_line(
    redis_setting: str,
    masked_setting: str,
    closed_port: int,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setenv(
        REGISTRY_URL_ENV, f"postgresql+psycopg://app@127.0.0.1:{closed_port}/reg"
    )
    monkeypatch.setenv(REDIS_ENV, redis_setting)

    with pytest.raises(ValueError) as caught:
        check_production_stores(FEATURE_REPO, tmp_path)

    message = str(caught.value)
    assert "\n" not in message
    assert "s3cret" not in message
    assert message.startswith("cannot read the production profile's settings (")
    assert masked_setting in message
    assert message.endswith(
        f"; check {PROJECT_ENV}, {REGISTRY_URL_ENV} and {REDIS_ENV}"
    )


def test_redis_without_port_named() -> None:
    with pytest.raises(ValueError) as caught:
        check_redis("127.0.0.1,db=7")

    assert str(caught.value) == (
        "cannot reach the production online store at Redis 127.0.0.1,db=7: "
        f"ValueError: expected host:port before any option; check {REDIS_ENV} "
        "and the server"
    )


def test_redis_timeout_kept_against_setting(
    silent_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # socket_timeout=null would leave redis-py without a timeout.
    monkeypatch.setattr(store_checks, "STORE_CHECK_SECONDS", 0.5)

    with pytest.raises(ValueError, match=r"TimeoutError: Timeout "):
        check_redis(f"127.0.0.1:{silent_port},ssl=true,socket_timeout=null")


def test_registry_url_timeout_kept() -> None:
    url = "postgresql+psycopg://app@127.0.0.1:5432/reg?connect_timeout=abc"

    # The URL's value reaches the driver, which rejects it, as Feast's would.
    with pytest.raises(ValueError, match="bad value for connect_timeout: 'abc'"):
        check_registry_database(url)


def test_comment_sign_in_setting_named(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(REDIS_ENV, "127.0.0.1:6379,password=a #b")

    with pytest.raises(ValueError) as caught:
        check_production_stores(FEATURE_REPO, tmp_path)

    assert str(caught.value) == (
        f"{REDIS_ENV} holds '#' after a space or at its start, which Feast's "
        "YAML reads as a comment, dropping the rest of the value; use a value "
        "without it"
    )
