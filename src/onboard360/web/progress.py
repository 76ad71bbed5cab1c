"""What the opener page (and the product) sees of an onboarding while numbers go live."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from onboard360.db import tables as t


def channel_view(row: Row[Any]) -> dict[str, Any]:
    """A channel as people and products see it: never a key, only whether one exists."""
    return {
        "hub": row.hub,
        "channel_id": row.channel_id,
        "client_id": row.client_id,
        "phone_number": row.phone_number,
        "status": row.status,
        "permission": row.permission,
        "api_key_available": row.key_status == "stored",
        "live": row.key_status == "stored",
        "reason": None if row.key_status == "stored" else row.reason,
        "blocker": row.blocker,
        "updated_at": row.updated_at.isoformat() if row.updated_at else None,
    }


async def onboarding_view(conn: AsyncConnection, onboarding: Row[Any]) -> dict[str, Any]:
    ids = [*onboarding.channels, *onboarding.revoked]
    channels: list[dict[str, Any]] = []
    if ids:
        rows = await conn.execute(
            select(t.channels)
            .where(t.channels.c.hub == onboarding.hub, t.channels.c.channel_id.in_(ids))
            .order_by(t.channels.c.channel_id)
        )
        channels = [channel_view(row) for row in rows]
    shared = [c for c in channels if c["channel_id"] in onboarding.channels]
    if onboarding.redirected_at is None:
        stage = "waiting_for_popup"
    elif shared and all(c["live"] for c in shared):
        stage = "live"
    else:
        stage = "connecting"
    return {
        "id": str(onboarding.id),
        "hub": onboarding.hub,
        "external_user_id": onboarding.external_user_id,
        "stage": stage,
        "client_id": onboarding.client_id,
        "channels": channels,
        "revoked": list(onboarding.revoked),
        "created_at": onboarding.created_at.isoformat(),
        "expires_at": onboarding.expires_at.isoformat(),
        "redirected_at": onboarding.redirected_at.isoformat() if onboarding.redirected_at else None,
    }
