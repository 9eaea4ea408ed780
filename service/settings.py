"""Service settings, read from ``RECOMMENDER_*`` environment variables."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import (
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from features.paths import FEATURE_REPO, default_var_dir

ENV_PREFIX = "RECOMMENDER_"
# Settings whose value an error message leaves out.
SECRET_SETTINGS = ("admin_token",)


class Settings(BaseSettings):
    """Service settings: locations of the model and features, request limits."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX)

    var_dir: Path = Field(
        default_factory=default_var_dir,
        description="Folder of generated files: store, features, models.",
    )
    feature_repo: Path = Field(
        default=FEATURE_REPO, description="Feast repository with feature_store.yaml."
    )
    feast_profile: Literal["embedded", "production"] = Field(
        default="embedded",
        description=(
            "Feast configuration: embedded (SQLite online store and file registry "
            "under var_dir) or production (Redis and a PostgreSQL registry)."
        ),
    )
    # max_k comes first, since the check of default_k reads it.
    max_k: int = Field(default=100, ge=1, description="Largest k a request may ask.")
    default_k: int = Field(default=10, ge=1, description="List length when k is unset.")
    admin_token: SecretStr | None = Field(
        default=None,
        description=(
            "Bearer token of the admin endpoints (model reload); without one "
            "they do not exist."
        ),
    )
    max_body_bytes: int = Field(
        default=65_536, ge=1024, description="Largest request body accepted."
    )
    reload_timeout_seconds: float = Field(
        default=60.0,
        gt=0,
        le=3600,
        allow_inf_nan=False,
        description="Seconds POST /v1/admin/reload waits for the reload before "
        "it answers 503; the reload goes on.",
    )
    body_timeout_seconds: float = Field(
        default=30.0,
        gt=0,
        le=3600,
        allow_inf_nan=False,
        description="Seconds a request body may take to arrive, from the first "
        "read; a slower body gets 408.",
    )

    @field_validator("admin_token")
    @classmethod
    def _check_token(cls, token: SecretStr | None) -> SecretStr | None:
        if token is None:
            return None
        value = token.get_secret_value()
        # A blank token would let in "Authorization: Bearer" with no token.
        if not value.strip():
            msg = (
                "set but blank; set a token, or unset the variable to serve "
                "without POST /v1/admin/reload"
            )
            raise ValueError(msg)
        # HTTP servers strip the whitespace around a header value, so no
        # Authorization header could carry such a token, as from a secret file
        # that ends with a newline.
        if value != value.strip():
            msg = (
                "has whitespace at either end, which no Authorization header "
                "can carry; remove it, for example the final newline of a file"
            )
            raise ValueError(msg)
        return token

    @field_validator("default_k")
    @classmethod
    def _default_within_max(cls, default_k: int, info: ValidationInfo) -> int:
        # A field check, not a model one, so that it is reported along with
        # the other invalid settings; max_k is missing when it is invalid.
        max_k = info.data.get("max_k")
        if max_k is not None and default_k > max_k:
            msg = f"must not exceed {ENV_PREFIX}MAX_K ({max_k})"
            raise ValueError(msg)
        return default_k


def load_settings(**values: Any) -> Settings:
    """Read the settings from the environment, ``values`` taking precedence.

    Raises:
        ValueError: one line naming each invalid variable, its value (unless
            it is secret) and what was expected, in place of pydantic's
            multi-line report.
    """
    try:
        return Settings(**values)
    except ValidationError as error:
        raise ValueError(describe_settings_error(error)) from None


def describe_settings_error(error: ValidationError) -> str:
    """Return one line with each invalid setting as its environment variable."""
    parts = []
    for item in error.errors():
        message = item["msg"].removeprefix("Value error, ")
        if not item["loc"]:
            parts.append(message)
            continue
        field = str(item["loc"][0])
        name = ENV_PREFIX + field.upper()
        value = "" if field in SECRET_SETTINGS else f"={item['input']!r}"
        parts.append(f"{name}{value}: {message}")
    return "invalid service settings: " + "; ".join(parts)
