"""The product's REST API (``/api/v1``, bearer tokens): onboardings, clients, channels, keys.

A product sees only the hubs configured with ``product = <its name>``; anything else is
answered as if it did not exist.
"""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from onboard360.db import tables as t
from onboard360.domain import (
    RedirectError,
    is_valid_id,
    parse_redirect,
)
from onboard360.hubs_config import HubConfig, ProductConfig
from onboard360.jobs.keys import stored_key
from onboard360.jobs.rotation import RotationRefused, request_rotation
from onboard360.jobs.transition import record
from onboard360.web import onboardings
from onboard360.web.deps import ProductDep, ServiceDep
from onboard360.web.errors import ApiError, not_found
from onboard360.web.onboardings import OnboardingRefused, Prefill
from onboard360.web.progress import channel_view, onboarding_view

router = APIRouter(prefix="/api/v1", tags=["product API"])
NO_STORE = {"Cache-Control": "no-store"}


class OnboardingRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    hub: str = Field(max_length=40, description="the hub's name in onboard360's settings")
    external_user_id: str = Field(
        min_length=1, max_length=200, description="your own user or account id"
    )
    number: str | None = Field(None, max_length=20, pattern=r"^\+?[0-9 ]{6,19}$")
    email: str | None = Field(None, max_length=254, pattern=r"^[^@\s]+@[^@\s]+$")
    name: str | None = Field(None, max_length=200)


class OnboardingCreated(BaseModel):
    id: UUID
    hub: str
    connect_url: str = Field(description="our hosted page with the Connect button")
    popup_url: str = Field(description="open this in a popup to go straight to 360dialog")
    state: str = Field(
        description="the attempt's state: pass it to the official React button's "
        "queryParameters if you host that button yourself"
    )
    returning_client: bool = Field(
        description="this user already has a client on the hub: the popup opens on login"
    )
    expires_at: str


class RedirectForward(BaseModel):
    model_config = ConfigDict(extra="forbid")

    query: str = Field(
        max_length=8192,
        description="location.search as the official button's page received it",
    )


class RotateKeyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key_version: int = Field(
        ge=1,
        le=2**31 - 1,
        description="the key_version of the key to replace, as GET …/api-key answered it",
    )


def _hubs(service: ServiceDep, product: ProductConfig) -> list[HubConfig]:
    return [hub for hub in service.settings.hubs if hub.product == product.name]


def _hub(service: ServiceDep, product: ProductConfig, name: str) -> HubConfig:
    hub = service.settings.hub(name)
    if hub is None or hub.product != product.name:
        raise not_found("hub")
    return hub


@router.post("/onboardings", status_code=201, response_model=OnboardingCreated)
async def create_onboarding(
    body: OnboardingRequest, product: ProductDep, service: ServiceDep
) -> dict[str, Any]:
    hub = _hub(service, product, body.hub)
    async with service.engine.begin() as conn:
        # A user who onboarded before comes back to share more numbers or grant
        # permission: send them to the popup's login rather than a new signup.
        returning = await conn.scalar(
            select(t.clients.c.client_id)
            .where(
                t.clients.c.hub == hub.name,
                t.clients.c.external_user_id == body.external_user_id,
            )
            .limit(1)
        )
        prefill = Prefill(
            number=body.number, email=body.email, name=body.name, login=returning is not None
        )
        row, state = await onboardings.create(conn, service, hub, body.external_user_id, prefill)
    return {
        "id": row.id,
        "hub": hub.name,
        "connect_url": onboardings.connect_url(service, hub, state),
        "popup_url": onboardings.opener_url(service, hub, state),
        "state": state,
        "returning_client": returning is not None,
        "expires_at": row.expires_at.isoformat(),
    }


@router.get("/onboardings/{onboarding_id}")
async def get_onboarding(
    onboarding_id: UUID, product: ProductDep, service: ServiceDep
) -> dict[str, Any]:
    async with service.engine.connect() as conn:
        row = (
            await conn.execute(
                select(t.onboardings).where(
                    t.onboardings.c.id == onboarding_id,
                    t.onboardings.c.product == product.name,
                )
            )
        ).first()
        if row is None:
            raise not_found("onboarding")
        return await onboarding_view(conn, row)


@router.post("/redirects")
async def forward_redirect(
    body: RedirectForward, product: ProductDep, service: ServiceDep
) -> dict[str, Any]:
    """For pages using the official React button: forward what its callback received."""
    try:
        redirect = parse_redirect(body.query)
    except RedirectError as exc:
        raise ApiError(400, "invalid_redirect", str(exc)) from None
    refusals: list[OnboardingRefused] = []
    for hub in _hubs(service, product):
        try:
            async with service.engine.begin() as conn:
                row = await onboardings.complete(conn, service, hub, redirect, body.query)
                return await onboarding_view(conn, row)
        except OnboardingRefused as exc:
            refusals.append(exc)
    # A state is unknown (400) to every hub but its own: the owning hub's refusal (expired,
    # already completed) is the one that explains what happened.
    known = [exc for exc in refusals if exc.status != 400]
    reason = (known or refusals or [OnboardingRefused(400, "unknown onboarding state")])[0]
    raise ApiError(reason.status, "invalid_state", str(reason))


@router.get("/channels")
async def list_channels(
    product: ProductDep,
    service: ServiceDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    after: Annotated[str | None, Query(max_length=64)] = None,
) -> dict[str, Any]:
    """Channels of this product's hubs, ordered by channel id; page with ``after``."""
    hubs = [hub.name for hub in _hubs(service, product)]
    query = select(t.channels).where(t.channels.c.hub.in_(hubs))
    if after:
        query = query.where(t.channels.c.channel_id > after)
    query = query.order_by(t.channels.c.channel_id).limit(limit + 1)
    async with service.engine.connect() as conn:
        rows = list(await conn.execute(query))
    page = [channel_view(row) for row in rows[:limit]]
    more = len(rows) > limit
    return {"data": page, "has_more": more, "next": page[-1]["channel_id"] if more else None}


def _channel(service: ServiceDep, product: ProductConfig, channel_id: str) -> Any:
    """The query for one of this product's channels (404 for an impossible id)."""
    if not is_valid_id(channel_id):
        raise not_found("channel")
    hubs = [hub.name for hub in _hubs(service, product)]
    return select(t.channels).where(
        t.channels.c.channel_id == channel_id, t.channels.c.hub.in_(hubs)
    )


@router.get("/channels/{channel_id}")
async def get_channel(channel_id: str, product: ProductDep, service: ServiceDep) -> dict[str, Any]:
    query = _channel(service, product, channel_id)
    async with service.engine.connect() as conn:
        row = (await conn.execute(query)).first()
    if row is None:
        raise not_found("channel")
    return channel_view(row)


@router.get("/channels/{channel_id}/api-key")
async def get_api_key(
    channel_id: str, product: ProductDep, service: ServiceDep, response: Response
) -> dict[str, Any]:
    """The channel's current API key, for the product that owns the channel only."""
    query = _channel(service, product, channel_id)
    response.headers.update(NO_STORE)
    async with service.engine.begin() as conn:
        row = (await conn.execute(query)).first()
        if row is None:
            raise not_found("channel")
        hub = service.hub(row.hub)
        key = await stored_key(conn, service, hub, row.channel_id)
        if key is None:
            raise ApiError(409, "no_api_key", row.reason or "the channel has no API key yet")
        await record(
            conn, hub, "api", "api_key_read", {"product": product.name}, channel_id=row.channel_id
        )
    return {
        "channel_id": row.channel_id,
        "hub": row.hub,
        "api_key": key.api_key,
        "key_version": key.version,
    }


@router.post("/channels/{channel_id}/rotate-key", status_code=202)
async def rotate_key(
    channel_id: str, body: RotateKeyRequest, product: ProductDep, service: ServiceDep
) -> dict[str, Any]:
    """Generate a new key (revoking the current one at 360dialog) — an explicit intent.

    The request names the key it replaces, so a replayed request (a client retry after
    the rotation went through) is refused with 409 ``key_already_replaced`` instead of
    silently revoking the key that replaced it.
    """
    hubs = [hub.name for hub in _hubs(service, product)]
    try:
        async with service.engine.begin() as conn:
            intent = await request_rotation(
                conn, service, hubs, channel_id, replaces=body.key_version
            )
    except RotationRefused as exc:
        status = 404 if exc.code == "not_found" else 409
        raise ApiError(status, exc.code, str(exc)) from None
    # key_version: the version the new key will have once a worker has generated it.
    return {"channel_id": channel_id, "intent": intent, "key_version": intent}
