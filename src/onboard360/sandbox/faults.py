"""API faults a hub is switched to (models.Faults), decided per request once the hub is known.

A fault decision needs the hub, so it runs right after authentication (auth.py): on the
Partner API and the Messaging API alike. Randomness comes from ``Sandbox.rng`` so a seeded
sandbox gives the same mix of answers every run.

Refusals that carry headers (``Retry-After``, ``WWW-Authenticate``) are rendered by
``ApiRoute``, the route class of both API routers: the app's own SandboxError handler
knows no headers.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable

from fastapi import Request, Response
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

from onboard360.hub import platform as p
from onboard360.sandbox.entities import Hub, SandboxError
from onboard360.sandbox.models import Faults


class HubOutage(SandboxError):
    """The hub is unavailable (sandbox outage switched on); try again later."""

    status = 503


class RateLimited(SandboxError):
    """Too many requests; wait for Retry-After seconds and try again."""

    status = 429

    def __init__(self, retry_after_seconds: int) -> None:
        super().__init__()
        self.headers = {"Retry-After": str(retry_after_seconds)}


class ServerFault(SandboxError):
    """The API failed on its side (injected fault); retry later."""

    def __init__(self, status: int) -> None:
        super().__init__()
        self.status = status


def fault_for(faults: Faults, rng: random.Random) -> SandboxError | None:
    """The injected failure for one request, or None to answer normally.

    Draws only for the rates that are switched on, in a fixed order (429, then 5xx), so
    a seeded ``rng`` repeats the same sequence of answers.
    """
    if faults.outage:
        return HubOutage()
    if faults.api_429_rate and rng.random() < faults.api_429_rate:
        return RateLimited(faults.api_retry_after_seconds)
    if faults.api_5xx_rate and rng.random() < faults.api_5xx_rate:
        return ServerFault(rng.choice(p.API_5XX_STATUSES))
    return None


async def apply_faults(
    hub: Hub,
    rng: random.Random,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> None:
    """Slow the answer down and raise the injected failure, if the hub is switched to one."""
    # Read at request time: faults may be changed while the sandbox runs.
    faults = hub.faults
    if faults.api_latency_seconds:
        await sleep(faults.api_latency_seconds)
    fault = fault_for(faults, rng)
    if fault is not None:
        raise fault


def refusal_response(exc: SandboxError) -> JSONResponse:
    headers: dict[str, str] | None = getattr(exc, "headers", None)
    return JSONResponse(p.error_body(exc.status, str(exc)), status_code=exc.status, headers=headers)


class ApiRoute(APIRoute):
    """Renders sandbox refusals raised in a handler or a dependency, with their headers."""

    def get_route_handler(self) -> Callable[[Request], Awaitable[Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except SandboxError as exc:
                return refusal_response(exc)

        return route
