"""Reads that name what an operator's action is about: a channel, a client, their state."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from onboard360.db import codec
from onboard360.db import tables as t
from onboard360.domain import ChannelState

_CH = t.channels.c


async def channel_row(conn: AsyncConnection, hub: str, channel_id: str) -> Row[Any] | None:
    """The channel's client and key columns, or None when the hub has no such channel."""
    query = select(_CH.client_id, _CH.key_status, _CH.key_intent).where(
        _CH.hub == hub, _CH.channel_id == channel_id
    )
    return (await conn.execute(query)).first()


async def client_exists(conn: AsyncConnection, hub: str, client_id: str) -> bool:
    found = await conn.scalar(
        select(t.clients.c.client_id).where(
            t.clients.c.hub == hub, t.clients.c.client_id == client_id
        )
    )
    return found is not None


async def channel_state(
    conn: AsyncConnection, hub: str, channel_id: str, *, lock: bool = False
) -> ChannelState:
    """The channel's state (it must exist), locked for update when asked."""
    query = select(_CH.state).where(_CH.hub == hub, _CH.channel_id == channel_id)
    row = (await conn.execute(query.with_for_update() if lock else query)).one()
    return codec.channel_from_json(row.state)
