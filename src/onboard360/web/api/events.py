"""The product_events stream: what onboard360 sent (or is sending) to the product, with
its delivery status. Replays and delivery attempts live in deliveries.py."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from onboard360.db.queries.events import events_page
from onboard360.jobs.replay import delivery_state
from onboard360.web.api.common import ERRORS, PRINTABLE, Text
from onboard360.web.api.models import Event
from onboard360.web.dashboard.pages import redact
from onboard360.web.deps import ProductDep, ServiceDep
from onboard360.web.pagination import Cursor, Limit, Page, page
from onboard360.web.strict import QueryBool

router = APIRouter(prefix="/api/v1", tags=["events"], responses=ERRORS)


@router.get("/events", response_model=Page[Event])
async def list_events(
    *,
    product: ProductDep,
    service: ServiceDep,
    limit: Limit = 100,
    cursor: Cursor = None,
    type: Annotated[
        str | None,
        Query(
            min_length=1, max_length=100, pattern=PRINTABLE, description="e.g. channel.activated"
        ),
    ] = None,
    delivered: Annotated[
        QueryBool | None, Query(description="true: accepted by the product; false: not yet")
    ] = None,
    channel_id: Text = None,
) -> dict[str, Any]:
    """Events to this product, newest first."""
    async with service.engine.connect() as conn:
        rows, next_cursor = await events_page(
            conn,
            product.name,
            event_type=type,
            delivered=delivered,
            channel_id=channel_id,
            limit=limit,
            cursor=cursor,
        )
    return page([event_view(row) for row in rows], next_cursor)


def event_view(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "type": row.event_type,
        "hub": row.hub,
        "client_id": row.client_id,
        "channel_id": row.channel_id,
        "data": redact(row.payload.get("data", row.payload)),
        "created_at": row.created_at.isoformat(),
        "delivered": row.delivered_at is not None,
        "state": delivery_state(row),
        "delivered_at": row.delivered_at.isoformat() if row.delivered_at else None,
        "attempts": row.attempts,
        "last_status": row.last_status,
        "last_error": row.last_error,
    }
