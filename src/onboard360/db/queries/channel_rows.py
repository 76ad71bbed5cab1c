"""Reads of channels for the product API: a filtered list (paged by the caller), one."""

from __future__ import annotations

from typing import Any

from sqlalchemy import FromClause, Select, select, tuple_
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from onboard360.db import tables as t

_C = t.channels.c

# Keyset order of a channel list (by channel id; the hub breaks ties).
CHANNEL_ORDER = [_C.channel_id, _C.hub]


def channels_query(
    hubs: list[str],
    *,
    status: str | None = None,
    permission: str | None = None,
    listed: FromClause | None = None,
) -> Select[Any]:
    """The hubs' channels, filtered; ``listed``: only the channels it names (its ``hub``
    and ``channel_id`` columns: an attention list)."""
    query = select(t.channels).where(_C.hub.in_(hubs))
    if status is not None:
        query = query.where(_C.status == status)
    if permission is not None:
        query = query.where(_C.permission == permission)
    if listed is not None:
        named = select(listed.c.hub, listed.c.channel_id)
        query = query.where(tuple_(_C.hub, _C.channel_id).in_(named))
    return query


async def channel_in(conn: AsyncConnection, hubs: list[str], channel_id: str) -> Row[Any] | None:
    """The channel, if it is in one of ``hubs``."""
    query = select(t.channels).where(_C.channel_id == channel_id, _C.hub.in_(hubs))
    return (await conn.execute(query)).first()
