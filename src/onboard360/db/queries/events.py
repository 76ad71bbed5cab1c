"""The product_events stream as the product API lists it: newest first, filtered."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from onboard360.db import tables as t
from onboard360.db.paging import Keyset, fetch_page

_E = t.product_events.c
NEWEST_FIRST = Keyset("events", [_E.created_at, _E.id], [datetime, str], descending=True)


async def events_page(
    conn: AsyncConnection,
    product: str,
    *,
    event_type: str | None,
    delivered: bool | None,
    channel_id: str | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[Row[Any]], str | None]:
    """A page of the product's events, newest first, of one type, delivered (accepted by
    the product) or not, of one channel — each filter only when given; and the next cursor."""
    query = select(t.product_events).where(_E.product == product)
    if event_type is not None:
        query = query.where(_E.event_type == event_type)
    if delivered is not None:
        query = query.where(
            _E.delivered_at.is_not(None) if delivered else _E.delivered_at.is_(None)
        )
    if channel_id is not None:
        query = query.where(_E.channel_id == channel_id)
    return await fetch_page(conn, query, NEWEST_FIRST, limit, cursor)
