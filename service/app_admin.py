"""The admin route of the app, added only when an admin token is set."""

import hmac
import logging
from typing import Annotated

from fastapi import Depends, FastAPI, Header, HTTPException, Request
from pydantic import SecretStr

from models.registry import ModelNotFoundError
from service.app_reload import RELOAD_BUSY_RETRY_SECONDS
from service.app_routes import _recommender, error_responses
from service.recommender import ModelLoadError, Recommender, StoreBusyError

logger = logging.getLogger("service.app")


def add_admin_routes(app: FastAPI, admin_token: SecretStr) -> None:
    """Add POST /v1/admin/reload, which requires ``admin_token`` as a bearer
    token."""
    token = admin_token.get_secret_value().encode()

    def check_token(
        authorization: Annotated[str | None, Header()] = None,
    ) -> None:
        scheme, _, given = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.encode(), token):
            raise HTTPException(
                status_code=401,
                detail="a valid bearer token is required",
                headers={"WWW-Authenticate": "Bearer"},
            )

    @app.post(
        "/v1/admin/reload",
        summary="Load the current model and restaurant features again",
        dependencies=[Depends(check_token)],
        responses=error_responses(401, 409, 422, 503),
    )
    def reload(
        request: Request,
        recommender: Annotated[Recommender, Depends(_recommender)],
    ) -> dict[str, str | None]:
        try:
            version = recommender.reload()
        except StoreBusyError as error:
            # A lock held by an import or a `features` run ends, so the
            # client may retry, unlike the lasting problems below.
            logger.warning(
                "reload failed, model %s stays loaded: %s (%s)",
                recommender.model_version,
                error,
                error.__cause__,
            )
            raise HTTPException(
                status_code=503,
                detail=str(error),
                headers={"Retry-After": str(RELOAD_BUSY_RETRY_SECONDS)},
            ) from None
        except (ModelNotFoundError, ModelLoadError) as error:
            # The detail is one line, and the log keeps the full error that
            # caused it, such as a registry's SQL statement.
            logger.error(
                "reload failed, model %s stays loaded: %s",
                recommender.model_version,
                error,
                exc_info=error.__cause__,
            )
            raise HTTPException(status_code=409, detail=str(error)) from None
        # The other workers of `serve --workers N` follow the signal.
        request.app.state.reload_signal.send()
        return {"model_version": version}
