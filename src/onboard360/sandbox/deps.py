"""What the sandbox's routers take from a request: its world, its dispatcher, its own URL."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from onboard360.sandbox.state import Sandbox
from onboard360.sandbox.webhooks import WebhookDispatcher


def sandbox_of(request: Request) -> Sandbox:
    world: Sandbox = request.app.state.sandbox
    return world


def base_url(request: Request) -> str:
    """The sandbox's own base URL as the caller reached it, without a trailing slash."""
    return str(request.base_url).rstrip("/")


# The dependencies are async: FastAPI runs a plain `def` dependency in a worker thread.
async def _sandbox(request: Request) -> Sandbox:
    return sandbox_of(request)


async def _dispatcher(request: Request) -> WebhookDispatcher:
    dispatcher: WebhookDispatcher = request.app.state.dispatcher
    return dispatcher


SandboxDep = Annotated[Sandbox, Depends(_sandbox)]
DispatcherDep = Annotated[WebhookDispatcher, Depends(_dispatcher)]
