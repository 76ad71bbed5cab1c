"""Clients: list, read one with its channels, its timeline (keys always redacted), and
claim one for a user of the product (services/claims.py)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from onboard360.config.hubs import HubConfig, ProductConfig
from onboard360.db.queries import clients as queries
from onboard360.domain import ClientId, is_valid_id
from onboard360.services.claims import claim
from onboard360.services.refusals import ClaimRefused
from onboard360.services.source import API
from onboard360.web.api.common import (
    CONFLICT,
    ERRORS,
    PRINTABLE,
    UNAVAILABLE,
    HubName,
    Text,
    hub_names,
    product_hub,
    product_hubs,
)
from onboard360.web.api.models import Client, ClientWithChannels, TimelineItem
from onboard360.web.dashboard.pages import redact
from onboard360.web.deps import ProductDep, ServiceDep
from onboard360.web.errors import ApiError, not_found
from onboard360.web.pagination import Cursor, Limit, Page, page
from onboard360.web.progress import channel_view
from onboard360.wiring.service import Service

if TYPE_CHECKING:
    from sqlalchemy.engine import Row
    from sqlalchemy.ext.asyncio import AsyncConnection

router = APIRouter(prefix="/api/v1", tags=["clients"], responses=ERRORS)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def client_view(row: Row[Any]) -> dict[str, Any]:
    return {
        "hub": row.hub,
        "client_id": row.client_id,
        "external_user_id": row.external_user_id,
        "created_at": _iso(row.created_at),
        "updated_at": _iso(row.updated_at),
    }


@router.get("/clients", response_model=Page[Client])
async def list_clients(
    *,
    product: ProductDep,
    service: ServiceDep,
    limit: Limit = 100,
    cursor: Cursor = None,
    hub: HubName = None,
    external_user_id: Text = None,
    claimed: Annotated[
        bool | None,
        Query(description="false: only clients bound to none of your users (claim them)"),
    ] = None,
) -> dict[str, Any]:
    """Clients of this product's hubs, ordered by hub and client id."""
    hubs = hub_names(service, product, hub)
    async with service.engine.connect() as conn:
        rows, next_cursor = await queries.clients_page(
            conn,
            hubs,
            external_user_id=external_user_id,
            claimed=claimed,
            limit=limit,
            cursor=cursor,
        )
    return page([client_view(row) for row in rows], next_cursor)


async def _client(
    conn: AsyncConnection,
    service: Service,
    product: ProductConfig,
    client_id: str,
    hub: str | None,
) -> Row[Any]:
    """One of this product's clients; ``hub`` tells apart one id known in two hubs."""
    if not is_valid_id(client_id):
        raise not_found("client")
    row = await queries.client_in_hubs(conn, client_id, hub_names(service, product, hub))
    if row is None:
        raise not_found("client")
    return row


@router.get("/clients/{client_id}", response_model=ClientWithChannels)
async def get_client(
    client_id: str, product: ProductDep, service: ServiceDep, hub: HubName = None
) -> dict[str, Any]:
    async with service.engine.connect() as conn:
        client = await _client(conn, service, product, client_id, hub)
        channels = await queries.client_channels(conn, client.hub, client.client_id)
        return {**client_view(client), "channels": [channel_view(row) for row in channels]}


@router.get("/clients/{client_id}/timeline", response_model=Page[TimelineItem])
async def client_timeline(
    *,
    client_id: str,
    product: ProductDep,
    service: ServiceDep,
    limit: Limit = 100,
    cursor: Cursor = None,
    hub: HubName = None,
) -> dict[str, Any]:
    """Everything that happened to the client and its channels, newest first — the
    dashboard's timeline; any detail field named like a secret is ``[redacted]``."""
    async with service.engine.connect() as conn:
        client = await _client(conn, service, product, client_id, hub)
        rows, next_cursor = await queries.timeline_page(
            conn, client.hub, client.client_id, limit, cursor
        )
    data = [
        {
            "id": row.ref,
            "at": row.at.isoformat(),
            "source": row.source,
            "kind": row.kind,
            "channel_id": row.channel_id,
            "detail": redact(row.detail),
            "note": row.note,
        }
        for row in rows
    ]
    return page(data, next_cursor)


class ClaimRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    external_user_id: str = Field(
        min_length=1, max_length=200, pattern=PRINTABLE, description="your own user or account id"
    )
    hub: str | None = Field(
        None,
        min_length=1,
        max_length=40,
        pattern=PRINTABLE,
        description="the hub's name; needed only when the client is not known here yet and "
        "you have more than one hub",
    )


@router.post(
    "/clients/{client_id}/claim",
    response_model=ClientWithChannels,
    responses={**CONFLICT, **UNAVAILABLE},
)
async def claim_client(
    client_id: str, body: ClaimRequest, product: ProductDep, service: ServiceDep
) -> dict[str, Any]:
    """Bind a client that is nobody's to one of your users, once 360dialog confirms the
    client exists under the hub: its channels become yours to key and you receive
    ``client.claimed``. Claiming it again for the same user changes nothing; a client
    bound to another user is refused (``already_claimed``: only an operator can re-assign
    it). ``503 hub_unavailable``: 360dialog could not be asked, try again later."""
    if not is_valid_id(client_id):
        raise not_found("client")
    async with service.engine.connect() as conn:
        hub = await _claim_hub(conn, service, product, client_id, body.hub)
    try:
        await claim(service, hub, ClientId(client_id), body.external_user_id, source=API)
    except ClaimRefused as exc:
        raise ApiError(exc.status, exc.code, str(exc)) from None
    return await get_client(client_id, product, service, hub.name)


async def _claim_hub(
    conn: AsyncConnection,
    service: Service,
    product: ProductConfig,
    client_id: str,
    hub: str | None,
) -> HubConfig:
    """The hub named, the one hub that knows the client, or the product's only hub."""
    if hub is not None:
        return product_hub(service, product, hub)
    known = await queries.hub_of_client(conn, client_id, hub_names(service, product, None))
    hubs = product_hubs(service, product)
    if known is not None:
        return product_hub(service, product, known)
    if len(hubs) == 1:
        return hubs[0]
    raise ApiError(422, "hub_required", "name the client's hub: you have more than one")
