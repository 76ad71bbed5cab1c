"""Reads about deliveries to a product: its events and their delivery attempts."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, select, text
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from onboard360.db import tables as t

_E = t.product_events.c
_A = t.delivery_attempts.c

_UNDELIVERED = text(
    """
    SELECT e.id, e.event_type, e.hub, e.client_id, e.channel_id, e.created_at, e.attempts,
      e.last_status, e.last_error, e.failed_at
    FROM product_events e
    WHERE e.product = :product AND e.delivered_at IS NULL
    ORDER BY e.created_at, e.id LIMIT :limit
    """
)


async def product_event_exists(conn: AsyncConnection, product: str, event_id: str) -> bool:
    found = await conn.scalar(select(_E.id).where(_E.id == event_id, _E.product == product))
    return found is not None


async def product_event(
    conn: AsyncConnection, event_id: str, product: str | None = None, *, lock: bool = False
) -> Row[Any] | None:
    """The event (of ``product``, when given), or None; locked for update when asked."""
    query = select(t.product_events).where(_E.id == event_id)
    if product is not None:
        query = query.where(_E.product == product)
    return (await conn.execute(query.with_for_update() if lock else query)).first()


async def undelivered_events(conn: AsyncConnection, product: str, limit: int) -> list[Row[Any]]:
    """The product's events not delivered yet, oldest first."""
    return list(await conn.execute(_UNDELIVERED, {"product": product, "limit": limit}))


async def latest_attempts(conn: AsyncConnection, event_id: str, limit: int) -> list[Row[Any]]:
    """The event's delivery attempts, newest first."""
    query = (
        select(t.delivery_attempts)
        .where(_A.event_id == event_id)
        .order_by(_A.attempt.desc())
        .limit(limit)
    )
    return list(await conn.execute(query))


# Keyset order of one event's attempts (the API pages through them oldest first).
ATTEMPT_ORDER = [_A.attempt]


def attempts_of(event_id: str) -> Select[Any]:
    """Every delivery attempt of the event (paged by the caller on ATTEMPT_ORDER)."""
    return select(t.delivery_attempts).where(_A.event_id == event_id)
