"""The Feast profiles' variables, hiding their passwords, and opening the store."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

from features.paths import EMBEDDED, PRODUCTION, VAR_DIR_ENV, feast_yaml

if TYPE_CHECKING:
    from feast import FeatureStore


# Variables that profiles/production.yaml expands, with their values when unset.
# They are the Feast project name (letters, digits, underscores), the SQLAlchemy
# URL of the registry database, and the Redis connection string in Feast's
# "host:port,option=value" format.
PROJECT_ENV = "RECOMMENDER_FEAST_PROJECT"
REGISTRY_URL_ENV = "RECOMMENDER_REGISTRY_URL"
REDIS_ENV = "RECOMMENDER_REDIS_CONNECTION_STRING"
PRODUCTION_DEFAULTS = {
    PROJECT_ENV: "restaurant_recommender",
    REGISTRY_URL_ENV: (
        "postgresql+psycopg://postgres@127.0.0.1:5432/restaurant_recommender"
    ),
    REDIS_ENV: "127.0.0.1:6379",
}


def prepare_profile(repo_path: Path, var_dir: Path, profile: str) -> Path:
    """Set the environment variables that the profile's configuration file
    expands, and return that file.

    ``RECOMMENDER_VAR_DIR`` is always set to ``var_dir``. For the production
    profile, each variable of :data:`PRODUCTION_DEFAULTS` keeps its value if it
    is set and gets the default otherwise.
    """
    config_file = feast_yaml(repo_path.resolve(), profile)
    os.environ[VAR_DIR_ENV] = str(var_dir.resolve())
    (var_dir / "feast").mkdir(parents=True, exist_ok=True)
    if profile == PRODUCTION:
        for name, default in PRODUCTION_DEFAULTS.items():
            os.environ.setdefault(name, default)
    return config_file


def describe_profile(var_dir: Path, profile: str) -> str:
    """Return where the profile's registry and online store are, for messages."""
    if profile == PRODUCTION:
        registry = os.environ.get(
            REGISTRY_URL_ENV, PRODUCTION_DEFAULTS[REGISTRY_URL_ENV]
        )
        redis = os.environ.get(REDIS_ENV, PRODUCTION_DEFAULTS[REDIS_ENV])
        masked_registry = hide_url_password(registry)
        return f"registry {masked_registry}, Redis {hide_redis_password(redis)}"
    feast_dir = var_dir / "feast"
    return (
        f"registry {feast_dir / 'registry.db'}, "
        f"online store {feast_dir / 'online_store.db'}"
    )


# The password of a URL: between "scheme://user:" and the last "@".
URL_PASSWORD = re.compile(r"(://[^:/@]*:)(.*)@")


def hide_url_password(url: str) -> str:
    """Return a SQLAlchemy URL with its password shown as ``***``."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        # Not a URL SQLAlchemy parses (a port that is not a number...), so
        # the password is found by its place in the text.
        return URL_PASSWORD.sub(r"\1***@", url)


def hide_secrets(text: str) -> str:
    """Return ``text`` with the passwords of the production profile's
    variables shown as ``***``, for messages that quote a setting."""
    secrets = []
    registry = os.environ.get(REGISTRY_URL_ENV, "")
    found = URL_PASSWORD.search(registry)
    if found and found.group(2):
        secrets.append(found.group(2))
    for part in os.environ.get(REDIS_ENV, "").split(","):
        name, equals, value = part.partition("=")
        if equals and name.strip().lower() == "password" and value.strip():
            secrets.append(value.strip())
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def hide_redis_password(connection_string: str) -> str:
    """Return a connection string in Feast's ``host:port,option=value``
    format with the value of its ``password`` option shown as ``***``."""
    parts = connection_string.split(",")
    for index, part in enumerate(parts):
        name, equals, _ = part.partition("=")
        if equals and name.strip().lower() == "password":
            parts[index] = f"{name}=***"
    return ",".join(parts)


def open_store(repo_path: Path, var_dir: Path, profile: str = EMBEDDED) -> FeatureStore:
    """Open the Feast repository in ``profile``, with its generated files under
    ``var_dir``."""
    from feast import FeatureStore

    config_file = prepare_profile(repo_path, var_dir, profile)
    return FeatureStore(repo_path=str(repo_path.resolve()), fs_yaml_file=config_file)
