"""The sandbox's FastAPI app: popup pages, Partner API, Messaging API and control API."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from onboard360.hub import platform as p
from onboard360.runtime.asgi import BodySizeLimit
from onboard360.sandbox import control, messaging, partner_api, popup
from onboard360.sandbox.entities import SandboxError
from onboard360.sandbox.faults import refusal_response
from onboard360.sandbox.models import HubSpec, describe_errors
from onboard360.sandbox.state import Sandbox
from onboard360.sandbox.webhooks import DeliverySettings, WebhookDispatcher

MAX_BODY_BYTES = 64 * 1024


def create_app(
    hubs: Iterable[HubSpec] = (),
    sandbox: Sandbox | None = None,
    webhook_settings: DeliverySettings | None = None,
) -> FastAPI:
    """Build the sandbox app. ``hubs`` are created at once; more come via the control API.

    ``webhook_settings`` tunes webhook retries and fault randomness (tests use ~0 delays).
    """
    world = sandbox or Sandbox()
    dispatcher = WebhookDispatcher(world, webhook_settings)
    world.dispatcher = dispatcher
    for spec in hubs:
        world.create_hub(spec)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await dispatcher.start()
        try:
            yield
        finally:
            await dispatcher.stop()

    app = FastAPI(
        title="onboard360 sandbox — an offline 360dialog",
        lifespan=lifespan,
        docs_url="/sandbox/docs",
        openapi_url="/sandbox/openapi.json",
        redoc_url=None,
    )
    app.state.sandbox = world
    app.state.dispatcher = dispatcher
    app.include_router(popup.router)
    app.include_router(partner_api.router, prefix="/api/v2")
    app.include_router(messaging.router, prefix="/v1")
    app.include_router(control.router, prefix="/sandbox")

    # Every refusal in the Partner API's error shape (platform.error_body).
    @app.exception_handler(SandboxError)
    async def _sandbox_error(_request: Request, exc: SandboxError) -> JSONResponse:
        return refusal_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        # Say where and what, never echo the input back.
        return JSONResponse(p.error_body(422, describe_errors(exc.errors())), status_code=422)

    @app.exception_handler(HTTPException)
    async def _http_error(_request: Request, exc: HTTPException) -> JSONResponse:
        # No such route (404) or method (405): FastAPI's own answer has another shape.
        return JSONResponse(
            p.error_body(exc.status_code, str(exc.detail)),
            status_code=exc.status_code,
            headers=exc.headers,
        )

    app.add_middleware(BodySizeLimit, max_bytes=MAX_BODY_BYTES, error_body=p.error_body)
    return app
