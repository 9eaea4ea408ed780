"""The admin route of the app, added only when an admin token is set."""

import asyncio
import hmac
import logging
from functools import partial
from typing import Annotated

from fastapi import Depends, FastAPI, Header, HTTPException, Request
from pydantic import SecretStr

from models.registry import ModelNotFoundError
from service.app_reload import RELOAD_BUSY_RETRY_SECONDS, ReloadSignal
from service.app_routes import _recommender, error_responses
from service.recommender import ModelLoadError, Recommender, StoreBusyError

logger = logging.getLogger("service.app")


def add_admin_routes(
    app: FastAPI, admin_token: SecretStr, timeout_seconds: float
) -> None:
    """Add POST /v1/admin/reload, which requires ``admin_token`` as a bearer
    token and returns 503 when the reload has not finished in
    ``timeout_seconds``."""
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
    async def reload(
        request: Request,
        recommender: Annotated[Recommender, Depends(_recommender)],
    ) -> dict[str, str | None]:
        # A thread cannot be stopped, so a reload that outlives the timeout
        # goes on, still holding the reload lock, and its outcome is logged.
        running = asyncio.ensure_future(asyncio.to_thread(recommender.reload))
        try:
            version = await asyncio.wait_for(asyncio.shield(running), timeout_seconds)
        except TimeoutError:
            running.add_done_callback(
                partial(_log_late_reload, request.app.state.reload_signal)
            )
            logger.warning(
                "reload still running after %g s, model %s stays loaded until it "
                "finishes",
                timeout_seconds,
                recommender.model_version,
            )
            raise HTTPException(
                status_code=503,
                detail=f"the reload did not finish in {timeout_seconds:g} s, "
                "as the store, the online store or the Feast registry is slow "
                "or not replying; it goes on, and the loaded model and features "
                "stay until it finishes, so retry the reload later",
                headers={"Retry-After": str(RELOAD_BUSY_RETRY_SECONDS)},
            ) from None
        except StoreBusyError as error:
            # A lock held by an import or a `features` run ends, so the
            # client may retry, unlike the lasting problems below.
            # The overlap with another reload has no underlying error.
            cause = "" if error.__cause__ is None else f" ({error.__cause__})"
            logger.warning(
                "reload failed, model %s stays loaded: %s%s",
                recommender.model_version,
                error,
                cause,
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
        request.app.state.reload_signal.send(version)
        return {"model_version": version}


def _log_late_reload(signal: ReloadSignal, running: asyncio.Future[str | None]) -> None:
    """Log the outcome of a reload that outlived its request. On success,
    signal the other workers, as the request would have."""
    error = running.exception()
    if error is not None:
        logger.error("reload that timed out failed: %s", error)
        return
    signal.send(running.result())
    logger.info("reload that timed out finished: model %s", running.result())
