"""What the dashboard's overview and search show, for the product: counts per hub, the
needs-attention lists, and search."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from onboard360.db.queries.overview import (
    attention_counts,
    attention_page,
    channel_states,
    stage_counts,
)
from onboard360.db.queries.search import MAX_QUERY, search_page
from onboard360.web.api.common import ERRORS, PRINTABLE, HubName, hub_names, product_hubs
from onboard360.web.api.models import AttentionItem, AttentionKind, Overview, SearchHit
from onboard360.web.deps import ProductDep, ServiceDep
from onboard360.web.pagination import Cursor, Limit, Page, page

router = APIRouter(prefix="/api/v1", tags=["overview"], responses=ERRORS)


@router.get("/overview", response_model=Overview)
async def overview(product: ProductDep, service: ServiceDep) -> dict[str, Any]:
    """Per hub: onboardings by stage, channels by state, and each needs-attention count."""
    stuck_after = service.settings.stuck_after_minutes
    hubs = []
    async with service.engine.connect() as conn:
        for hub in product_hubs(service, product):
            states = await channel_states(conn, hub.name)
            hubs.append(
                {
                    "hub": hub.name,
                    "onboardings": await stage_counts(conn, hub.name),
                    "channels": [
                        {
                            "status": s.status,
                            "permission": s.permission,
                            "key_status": s.key_status,
                            "count": s.n,
                        }
                        for s in states
                    ],
                    "attention": await attention_counts(conn, hub.name, service.settings),
                }
            )
    return {"stuck_after_minutes": stuck_after, "hubs": hubs}


@router.get("/attention", response_model=Page[AttentionItem])
async def attention(
    *,
    kind: Annotated[AttentionKind, Query(description="which needs-attention list")],
    product: ProductDep,
    service: ServiceDep,
    limit: Limit = 100,
    cursor: Cursor = None,
    hub: HubName = None,
) -> dict[str, Any]:
    """One needs-attention list, oldest first (``stuck`` uses ``stuck_after_minutes``)."""
    hubs = hub_names(service, product, hub)
    async with service.engine.connect() as conn:
        rows, next_cursor = await attention_page(
            conn, kind, hubs, service.settings, limit=limit, cursor=cursor
        )
    data = [
        {
            "kind": kind,
            "hub": row.hub,
            "channel_id": row.channel_id,
            "client_id": row.client_id,
            "phone_number": row.phone_number,
            "what": row.what,
            "since": row.since.isoformat(),
        }
        for row in rows
    ]
    return page(data, next_cursor)


@router.get("/search", response_model=Page[SearchHit])
async def search(
    q: Annotated[
        str,
        Query(
            min_length=1,
            max_length=MAX_QUERY,
            pattern=PRINTABLE,
            description="a client id, channel id, phone number (or its last 4+ digits), "
            "or your external_user_id",
        ),
    ],
    product: ProductDep,
    service: ServiceDep,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> dict[str, Any]:
    """Clients that match, then numbers no client owns yet, then onboardings of that user
    that never came back — the dashboard's search, over this product's hubs."""
    hubs = hub_names(service, product, None)
    async with service.engine.connect() as conn:
        rows, next_cursor = await search_page(conn, q.strip(), hubs, limit, cursor)
    data = [
        {
            "kind": row.kind,
            "hub": row.hub,
            "client_id": row.client_id,
            "channel_id": row.channel_id,
            "phone_number": row.phone_number,
            "external_user_id": row.external_user_id,
            "onboarding_id": str(row.onboarding_id) if row.onboarding_id else None,
            "created_at": row.created_at.isoformat() if row.created_at else None,
        }
        for row in rows
    ]
    return page(data, next_cursor)
