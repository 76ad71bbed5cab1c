"""Channels: list (with filters), read one, read its API key, rotate the key."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from pydantic import Field

from onboard360.config.hubs import ProductConfig
from onboard360.db.queries.channel_rows import CHANNEL_ORDER, channel_in, channels_query
from onboard360.db.queries.overview import attention_items
from onboard360.domain import is_valid_id
from onboard360.services import rotation
from onboard360.services.keys import read_api_key
from onboard360.services.source import API
from onboard360.web.api.common import (
    CONFLICT,
    ERRORS,
    NO_STORE,
    HubName,
    Text,
    hub_names,
    product_hubs,
)
from onboard360.web.api.models import ApiKey, AttentionKind, Channel, RotationAccepted
from onboard360.web.deps import ProductDep, ServiceDep
from onboard360.web.errors import not_found
from onboard360.web.pagination import Cursor, Keyset, Limit, Page, fetch_page, page
from onboard360.web.progress import channel_view
from onboard360.web.strict import RequestBody
from onboard360.wiring.service import Service

router = APIRouter(prefix="/api/v1", tags=["channels"], responses=ERRORS)

BY_CHANNEL_ID = Keyset("channels", CHANNEL_ORDER, [str, str])


class RotateKeyRequest(RequestBody):
    key_version: int = Field(
        ge=1,
        le=2**31 - 1,
        description="the key_version of the key to replace, as GET …/api-key answered it",
    )
    only_if_not_working: bool = Field(
        default=False,
        description="replace the key only because it is dead: a key health check found "
        "this key refused (channel.key_not_working) and no later check found it working; "
        "else 409 key_working and no key is generated",
    )


@router.get("/channels", response_model=Page[Channel])
async def list_channels(
    *,
    product: ProductDep,
    service: ServiceDep,
    limit: Limit = 100,
    cursor: Cursor = None,
    hub: HubName = None,
    status: Text = None,
    permission: Text = None,
    attention: Annotated[
        AttentionKind | None, Query(description="only channels on this needs-attention list")
    ] = None,
) -> dict[str, Any]:
    """Channels of this product's hubs, ordered by channel id."""
    hubs = hub_names(service, product, hub)
    listed = None if attention is None else attention_items(attention, hubs, service.settings)
    query = channels_query(hubs, status=status, permission=permission, listed=listed)
    async with service.engine.connect() as conn:
        rows, next_cursor = await fetch_page(conn, query, BY_CHANNEL_ID, limit, cursor)
    return page([channel_view(row) for row in rows], next_cursor)


def _hubs(product: ProductConfig, service: Service, channel_id: str) -> list[str]:
    """The product's hubs to look for the channel in (404 for an impossible id)."""
    if not is_valid_id(channel_id):
        raise not_found("channel")
    return [hub.name for hub in product_hubs(service, product)]


@router.get("/channels/{channel_id}", response_model=Channel)
async def get_channel(channel_id: str, product: ProductDep, service: ServiceDep) -> dict[str, Any]:
    hubs = _hubs(product, service, channel_id)
    async with service.engine.connect() as conn:
        row = await channel_in(conn, hubs, channel_id)
    if row is None:
        raise not_found("channel")
    return channel_view(row)


@router.get("/channels/{channel_id}/api-key", response_model=ApiKey, responses=CONFLICT)
async def get_api_key(
    channel_id: str, product: ProductDep, service: ServiceDep, response: Response
) -> dict[str, Any]:
    """The channel's current API key, for the product that owns the channel only."""
    hubs = _hubs(product, service, channel_id)
    response.headers.update(NO_STORE)
    row, key = await read_api_key(service, hubs, channel_id, product=product.name, source=API)
    return {
        "channel_id": row.channel_id,
        "hub": row.hub,
        "api_key": key.api_key,
        "key_version": key.version,
    }


@router.post(
    "/channels/{channel_id}/rotate-key",
    status_code=202,
    response_model=RotationAccepted,
    responses=CONFLICT,
)
async def rotate_key(
    channel_id: str, body: RotateKeyRequest, product: ProductDep, service: ServiceDep
) -> dict[str, Any]:
    """Generate a new key (revoking the current one at 360dialog) — an explicit intent.

    The request names the key it replaces, so a replayed request (a client retry after
    the rotation went through) is refused with 409 ``key_already_replaced`` instead of
    silently revoking the key that replaced it. With ``only_if_not_working`` it replaces
    only a key a health check found dead (else 409 ``key_working``): the answer to
    ``channel.key_not_working``.
    """
    hubs = _hubs(product, service, channel_id)
    intent = await rotation.rotate_key(
        service,
        hubs,
        channel_id,
        replaces=body.key_version,
        only_if_not_working=body.only_if_not_working,
        source=API,
    )
    # key_version: the version the new key will have once a worker has generated it.
    return {"channel_id": channel_id, "intent": intent, "key_version": intent}
