"""Service settings read from RECOMMENDER_* variables."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from service.settings import Settings


@pytest.mark.parametrize("token", ["", " ", "\t"], ids=["empty", "space", "tab"])
def test_blank_admin_token_rejected(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, token: str
) -> None:
    # A blank token would let "Authorization: Bearer" with no token reload.
    monkeypatch.setenv("RECOMMENDER_ADMIN_TOKEN", token)

    with pytest.raises(ValidationError) as caught:
        Settings(var_dir=tmp_path)

    assert caught.value.errors()[0]["loc"] == ("admin_token",)
    assert "RECOMMENDER_ADMIN_TOKEN" in str(caught.value)


def test_admin_token_kept(tmp_path: Path) -> None:
    settings = Settings(var_dir=tmp_path, admin_token="a token")

    assert settings.admin_token is not None
    assert settings.admin_token.get_secret_value() == "a token"


def test_unset_admin_token_is_none(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("RECOMMENDER_ADMIN_TOKEN", raising=False)

    assert Settings(var_dir=tmp_path).admin_token is None
