"""Checks that the production profile's registry database and Redis reply,
made before a command reads them, with each failure as one line."""

from __future__ import annotations

import os
from pathlib import Path

from features.feast_store import (
    PRODUCTION_DEFAULTS,
    PROJECT_ENV,
    REDIS_ENV,
    REGISTRY_URL_ENV,
    describe_profile,
    error_line,
    hide_redis_password,
    hide_secrets,
    hide_url_password,
    open_store,
)
from features.paths import PRODUCTION

# Seconds the production registry and Redis get to reply to the check that
# `features`, `train`, `evaluate` and `serve` make before they read them.
STORE_CHECK_SECONDS = 5.0


def check_production_stores(
    repo_path: Path, var_dir: Path, online_store: bool = True
) -> None:
    """Raise ValueError naming the store when the production profile's
    settings do not load, or its registry database or (with
    ``online_store``) its Redis does not reply within
    :data:`STORE_CHECK_SECONDS`.

    Feast would fail later with a traceback, or wait without end on a Redis
    that does not use the configured protocol (``ssl=true`` on a plain
    server). Only a plain Redis and an SQL registry are checked.
    """
    for name, default in PRODUCTION_DEFAULTS.items():
        value = os.environ.get(name, default)
        if " #" in value or value.startswith("#"):
            # Feast substitutes the variables into the YAML text unquoted.
            msg = hide_secrets(
                f"{name} holds '#' after a space or at its start, which Feast's "
                "YAML reads as a comment, dropping the rest of the value; use "
                "a value without it"
            )
            raise ValueError(msg)
    try:
        config = open_store(repo_path, var_dir, PRODUCTION).config
    except Exception as error:
        # Feast parses the YAML after substituting the variables, so a value
        # can break the YAML, Feast's pydantic models or its own checks.
        msg = hide_secrets(
            f"cannot read the production profile's settings "
            f"({describe_profile(var_dir, PRODUCTION)}): {error_line(error)}; "
            f"check {PROJECT_ENV}, {REGISTRY_URL_ENV} and {REDIS_ENV}"
        )
        raise ValueError(msg) from None
    registry = config.registry
    if getattr(registry, "registry_type", None) == "sql":
        check_registry_database(str(registry.path))
    online = config.online_store
    if (
        online_store
        and getattr(online, "type", None) == "redis"
        and str(getattr(online, "redis_type", "redis")).endswith("redis")
    ):
        check_redis(str(online.connection_string))


def check_registry_database(url: str) -> None:
    """Raise ValueError naming ``url`` (password hidden) when the database
    does not take a connection and a query within STORE_CHECK_SECONDS."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    try:
        parsed = make_url(url)
        # A connect_timeout in the URL stays, so that Feast gets what the
        # check tried.
        arguments = (
            {"connect_timeout": int(STORE_CHECK_SECONDS)}
            if parsed.get_backend_name() == "postgresql"
            and "connect_timeout" not in parsed.query
            else {}
        )
        engine = create_engine(parsed, connect_args=arguments)
        try:
            with engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        finally:
            engine.dispose()
    except Exception as error:
        # SQLAlchemy raises its own errors, and the driver's for a bad URL.
        msg = hide_secrets(
            f"cannot reach the production registry {hide_url_password(url)}: "
            f"{error_line(error)}; check {REGISTRY_URL_ENV}, the server and "
            "that the database exists"
        )
        raise ValueError(msg) from error


def check_redis(connection_string: str) -> None:
    """Raise ValueError naming the Redis of ``connection_string`` (Feast's
    format, password hidden) when it does not reply to PING within
    STORE_CHECK_SECONDS."""
    import redis
    from feast.infra.online_stores.redis import RedisOnlineStore
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    masked = hide_redis_password(connection_string)
    try:
        nodes, options = RedisOnlineStore._parse_connection_string(connection_string)
        if not nodes or not nodes[0].get("host") or not nodes[0].get("port"):
            msg = "expected host:port before any option"
            raise ValueError(msg)
        # The check's own timeouts, whatever the string sets: it must end.
        options["socket_timeout"] = STORE_CHECK_SECONDS
        options["socket_connect_timeout"] = STORE_CHECK_SECONDS
        client = redis.Redis(
            host=nodes[0]["host"],
            port=int(nodes[0]["port"]),
            retry=Retry(NoBackoff(), retries=0),
            **options,
        )
        try:
            client.ping()
        finally:
            client.close()
    except Exception as error:
        # redis-py raises its own errors, and TypeError or ValueError for an
        # option it does not take.
        msg = hide_secrets(
            f"cannot reach the production online store at Redis {masked}: "
            f"{error_line(error)}; check {REDIS_ENV} and the server"
        )
        raise ValueError(msg) from error
