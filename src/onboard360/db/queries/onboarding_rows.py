"""Reads of onboarding attempts by what names them: their id, or their state's digest."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from onboard360.db import tables as t

_O = t.onboardings.c


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
