"""Reads of onboarding attempts by what names them: their id, or their state's digest."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import select, text
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from onboard360.db import tables as t
from onboard360.db.paging import Keyset, fetch_page
from onboard360.db.queries.overview import stage_filter

_O = t.onboardings.c
_ALIASED = t.onboardings.alias("o")  # stage_filter speaks of the onboarding as "o"
NEWEST_FIRST = Keyset(
    "onboardings", [_ALIASED.c.created_at, _ALIASED.c.id], [datetime, UUID], descending=True
)


async def onboardings_page(
    conn: AsyncConnection,
    product: str,
    hubs: list[str],
    *,
    external_user_id: str | None,
    stage: str | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[Row[Any]], str | None]:
    """A product's onboardings in ``hubs``, newest first, optionally of one user or stage."""
    o = _ALIASED.c
    # One hub by equality: its (hub, stage, created_at) index then yields the newest first.
    in_hubs = o.hub == hubs[0] if len(hubs) == 1 else o.hub.in_(hubs)
    query = select(_ALIASED).where(o.product == product, in_hubs)
    if external_user_id is not None:
        query = query.where(o.external_user_id == external_user_id)
    if stage is not None:
        query = query.where(text(stage_filter(stage)))
    return await fetch_page(conn, query, NEWEST_FIRST, limit, cursor)


async def product_onboarding(
    conn: AsyncConnection, product: str, onboarding_id: UUID
) -> Row[Any] | None:
    query = select(t.onboardings).where(_O.id == onboarding_id, _O.product == product)
    return (await conn.execute(query)).first()


async def product_onboarding_by_state(
    conn: AsyncConnection, product: str, state_sha256: bytes
) -> Row[Any] | None:
    query = select(t.onboardings).where(_O.state_sha256 == state_sha256, _O.product == product)
    return (await conn.execute(query)).first()


async def hub_onboarding_by_state(
    conn: AsyncConnection, hub: str, state_sha256: bytes, *, lock: bool = False
) -> Row[Any] | None:
    query = select(t.onboardings).where(_O.hub == hub, _O.state_sha256 == state_sha256)
    return (await conn.execute(query.with_for_update() if lock else query)).first()


async def user_has_client(conn: AsyncConnection, hub: str, external_user_id: str) -> bool:
    """Whether the user onboarded a client on this hub before (a returning client)."""
    found = await conn.scalar(
        select(t.clients.c.client_id)
        .where(t.clients.c.hub == hub, t.clients.c.external_user_id == external_user_id)
        .limit(1)
    )
    return found is not None
