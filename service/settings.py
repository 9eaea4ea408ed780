"""Service settings, read from ``RECOMMENDER_*`` environment variables."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Self

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from features.paths import FEATURE_REPO, default_var_dir


class Settings(BaseSettings):
    """Service settings: locations of the model and features, request limits."""

    model_config = SettingsConfigDict(env_prefix="RECOMMENDER_")

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
    default_k: int = Field(default=10, ge=1, description="List length when k is unset.")
    max_k: int = Field(default=100, ge=1, description="Largest k a request may ask.")
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

    @field_validator("admin_token")
    @classmethod
    def _token_not_blank(cls, token: SecretStr | None) -> SecretStr | None:
        # A blank token would let in "Authorization: Bearer" with no token.
        if token is not None and not token.get_secret_value().strip():
            msg = (
                "RECOMMENDER_ADMIN_TOKEN is set but blank; set a token, or unset "
                "the variable to serve without POST /v1/admin/reload"
            )
            raise ValueError(msg)
        return token

    @model_validator(mode="after")
    def _default_within_max(self) -> Self:
        if self.default_k > self.max_k:
            msg = f"default_k ({self.default_k}) must not exceed max_k ({self.max_k})"
            raise ValueError(msg)
        return self
