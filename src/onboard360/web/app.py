"""The service's FastAPI app. Routers live one per resource beside this file."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from onboard360.config.settings import Settings
from onboard360.db.migrate import head_revision
from onboard360.db.paging import InvalidCursor
from onboard360.db.queries.health import schema_revision
from onboard360.hub import RetryPolicy
from onboard360.runtime.asgi import BodySizeLimit
from onboard360.services.refusals import Refused
from onboard360.web import metrics_route
from onboard360.web.errors import (
    http_error,
    internal_error,
    refused_response,
    validation_error,
)
from onboard360.web.observe import RequestObservability
from onboard360.web.pagination import cursor_refusal
from onboard360.web.partner_webhooks import WebhookFastPath
from onboard360.web.text_guard import RefuseNulText
from onboard360.wiring.service import open_service

MAX_BODY_BYTES = 64 * 1024


def create_app(
    settings: Settings, database_url: str, *, retry: RetryPolicy | None = None
) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with open_service(settings, database_url, retry=retry) as service:
            app.state.service = service
            yield

    app = FastAPI(
        title="onboard360",
        summary="360dialog Integrated Onboarding, partner side",
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.settings = settings

    @app.exception_handler(Refused)
    async def _refused(_request: Request, exc: Refused) -> JSONResponse:
        return refused_response(exc)

    @app.exception_handler(InvalidCursor)
    async def _invalid_cursor(_request: Request, exc: InvalidCursor) -> JSONResponse:
        return refused_response(cursor_refusal(exc))

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return validation_error(exc)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return http_error(request, exc)

    @app.exception_handler(Exception)
    async def _internal(_request: Request, exc: Exception) -> JSONResponse:
        # Logged by the server with its traceback; the caller gets the request id to quote.
        return internal_error()

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        """The process is up."""
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    async def readyz(request: Request) -> JSONResponse:
        """The database answers and carries the migrations this code expects."""
        try:
            version = await schema_revision(request.app.state.service.engine)
        except Exception as exc:  # any failure means "not ready"; say what kind
            return JSONResponse(
                {"status": "unavailable", "database": type(exc).__name__}, status_code=503
            )
        expected = head_revision()
        if version != expected:
            body = {"status": "migrations_pending", "database": version, "expected": expected}
            return JSONResponse(body, status_code=503)
        return JSONResponse({"status": "ready", "database": version})

    _include_routers(app)
    app.include_router(metrics_route.router)
    # Innermost: the partner webhook receiver, answered before FastAPI's routing.
    app.add_middleware(WebhookFastPath)
    # Text PostgreSQL cannot store (a NUL) in a URL or a form: a precise 4xx, here.
    app.add_middleware(RefuseNulText)
    app.add_middleware(BodySizeLimit, max_bytes=MAX_BODY_BYTES, error_body=_transport_error)
    # Outermost: every answer, refusals included, carries a request id and is counted.
    app.add_middleware(RequestObservability)
    return app


def _include_routers(app: FastAPI) -> None:
    from onboard360.web import routes  # noqa: PLC0415 - routers import this module's siblings

    for router in routes.ROUTERS:
        app.include_router(router)


def _transport_error(status: int, message: str) -> dict[str, Any]:
    """BodySizeLimit's refusals in the service's one error shape (type, code, message)."""
    code = "too_large" if status == 413 else "bad_content_length"
    return {"error": {"type": "invalid_request", "code": code, "message": message}}
