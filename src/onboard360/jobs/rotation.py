"""Key rotation: an explicit intent, asked for by the product (API) or an operator (CLI)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from onboard360.db import codec
from onboard360.db import tables as t
from onboard360.domain import ChannelId, KeyRotationRequested, is_valid_id, may_rotate_key
from onboard360.jobs.transition import apply_inputs
from onboard360.service import Service


class RotationRefused(Exception):
    """The channel's key cannot be rotated now; ``code`` says why."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


async def request_rotation(
    conn: AsyncConnection, service: Service, hubs: Sequence[str], channel_id: str
) -> int:
    """Ask for a new key for the channel (in the caller's transaction); the new intent.

    Each call is one more explicit intent: calling again after the new key is stored
    rotates again. A call while a rotation is still in flight is refused (409), so a
    double click does not make two keys.
    """
    if not is_valid_id(channel_id):
        raise RotationRefused("not_found", "no such channel")
    row = (
        await conn.execute(
            select(t.channels.c.hub, t.channels.c.state)
            .where(t.channels.c.channel_id == channel_id, t.channels.c.hub.in_(list(hubs)))
            .with_for_update()
        )
    ).first()
    if row is None:
        raise RotationRefused("not_found", "no such channel")
    state = codec.channel_from_json(row.state)
    verdict = may_rotate_key(state, state.key_intent)
    if not verdict.allowed:
        raise RotationRefused(f"cannot_rotate_{verdict.blocker}", verdict.message)
    hub = service.hub(row.hub)
    request = KeyRotationRequested(ChannelId(channel_id), state.key_intent)
    outcome = await apply_inputs(conn, hub, service.product_of(hub), [request], source="api")
    return outcome.channels[request.channel_id].key_intent
