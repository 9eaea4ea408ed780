"""Service settings read from RECOMMENDER_* variables."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from service.settings import Settings, load_settings


@pytest.mark.parametrize("token", ["", " ", "\t"], ids=["empty", "space", "tab"])
def test_blank_admin_token_rejected(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, token: str
) -> None:
    # A blank token would let "Authorization: Bearer" with no token reload.
    monkeypatch.setenv("RECOMMENDER_ADMIN_TOKEN", token)

    with pytest.raises(ValidationError) as caught:
        Settings(var_dir=tmp_path)
    with pytest.raises(ValueError, match="blank") as described:
        load_settings(var_dir=tmp_path)

    assert caught.value.errors()[0]["loc"] == ("admin_token",)
    assert str(described.value) == (
        "invalid service settings: RECOMMENDER_ADMIN_TOKEN: set but blank; set a "
        "token, or unset the variable to serve without POST /v1/admin/reload"
    )


@pytest.mark.parametrize(
    "token", ["token\n", " token", "token\t"], ids=["newline", "space", "tab"]
)
def test_admin_token_padding_rejected(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, token: str
) -> None:
    # Servers strip a header value, so this token could never authenticate.
    monkeypatch.setenv("RECOMMENDER_ADMIN_TOKEN", token)

    with pytest.raises(ValueError, match="whitespace") as described:
        load_settings(var_dir=tmp_path)

    assert str(described.value) == (
        "invalid service settings: RECOMMENDER_ADMIN_TOKEN: has whitespace at "
        "either end, which no Authorization header can carry; remove it, for "
        "example the final newline of a file"
    )


def test_admin_token_kept(tmp_path: Path) -> None:
    settings = Settings(var_dir=tmp_path, admin_token="a token")

    assert settings.admin_token is not None
    assert settings.admin_token.get_secret_value() == "a token"


def test_unset_admin_token_is_none(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("RECOMMENDER_ADMIN_TOKEN", raising=False)

    assert Settings(var_dir=tmp_path).admin_token is None


def test_invalid_settings_one_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("RECOMMENDER_MAX_K", "abc")
    monkeypatch.setenv("RECOMMENDER_DEFAULT_K", "0")

    with pytest.raises(ValueError) as caught:
        load_settings(var_dir=tmp_path)

    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("invalid service settings: ")
    assert "RECOMMENDER_DEFAULT_K='0': Input should be greater than" in message
    assert "RECOMMENDER_MAX_K='abc': Input should be a valid integer" in message
    assert "errors.pydantic.dev" not in message


def test_default_k_above_max_k_named(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("RECOMMENDER_DEFAULT_K", "200")
    monkeypatch.delenv("RECOMMENDER_MAX_K", raising=False)

    with pytest.raises(ValueError) as caught:
        load_settings(var_dir=tmp_path)

    assert str(caught.value) == (
        "invalid service settings: RECOMMENDER_DEFAULT_K='200': must not exceed "
        "RECOMMENDER_MAX_K (100)"
    )


def test_default_k_check_with_other_errors(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("RECOMMENDER_MAX_K", "5")
    monkeypatch.setenv("RECOMMENDER_DEFAULT_K", "20")
    monkeypatch.setenv("RECOMMENDER_BODY_TIMEOUT_SECONDS", "0")

    with pytest.raises(ValueError) as caught:
        load_settings(var_dir=tmp_path)

    message = str(caught.value)
    assert (
        "RECOMMENDER_DEFAULT_K='20': must not exceed RECOMMENDER_MAX_K (5)" in message
    )
    assert "RECOMMENDER_BODY_TIMEOUT_SECONDS='0': Input should be greater" in message


def test_secret_value_left_out(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("RECOMMENDER_ADMIN_TOKEN", "   ")

    with pytest.raises(ValueError) as caught:
        load_settings(var_dir=tmp_path)

    assert "'   '" not in str(caught.value)


@pytest.mark.parametrize("value", ["nan", "inf"])
def test_body_timeout_must_be_finite(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, value: str
) -> None:
    monkeypatch.setenv("RECOMMENDER_BODY_TIMEOUT_SECONDS", value)

    with pytest.raises(ValueError) as caught:
        load_settings(var_dir=tmp_path)

    assert str(caught.value) == (
        f"invalid service settings: RECOMMENDER_BODY_TIMEOUT_SECONDS={value!r}: "
        "Input should be a finite number"
    )
