"""Rotate a channel's key: an explicit intent, asked for by the product (API), an operator
(dashboard) or someone at the terminal (CLI); the timeline names which."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from onboard360.db import codec
from onboard360.db import tables as t
from onboard360.domain import (
    ChannelId,
    ChannelState,
    KeyBlocker,
    KeyRotationRequested,
    KeyStatus,
    is_valid_id,
    may_replace_dead_key,
    may_rotate_key,
)
from onboard360.jobs.transition import apply_inputs
from onboard360.services.refusals import RotationRefused
from onboard360.services.source import Source
from onboard360.wiring.service import Service


async def request_rotation(
    conn: AsyncConnection,
    service: Service,
    hubs: Sequence[str],
    channel_id: str,
    *,
    replaces: int | None = None,
    only_if_not_working: bool = False,
    source: Source,
) -> int:
    """Ask for a new key for the channel (in the caller's transaction); the new intent.

    ``replaces`` names the version of the key the caller wants replaced (what it read
    from ``GET …/api-key``). A request naming a key that was already replaced is a
    replay — a retried HTTP call, a resent form — and is refused (409) with nothing
    done, so only a new, explicit request for the *current* key makes another one. An
    operator's CLI call (``replaces=None``) always means the current key. A call while a
    rotation is still in flight is refused too, so a double click does not make two keys.

    ``only_if_not_working``: replace the key only because it is dead — a key health check
    found that very key refused and no later check found it working (``key_not_working``);
    else refused with 409 ``key_working`` and nothing done, since a new key revokes a key
    that may still be in use.
    """
    if not is_valid_id(channel_id):
        raise RotationRefused("no such channel", code="not_found")
    row = (
        await conn.execute(
            select(t.channels.c.hub, t.channels.c.state)
            .where(t.channels.c.channel_id == channel_id, t.channels.c.hub.in_(list(hubs)))
            .with_for_update()
        )
    ).first()
    if row is None:
        raise RotationRefused("no such channel", code="not_found")
    state = codec.channel_from_json(row.state)
    intent = state.key_intent if replaces is None else replaces
    rule = may_replace_dead_key if only_if_not_working else may_rotate_key
    verdict = rule(state, intent)
    if not verdict.allowed:
        raise _refusal(state, replaces, verdict.blocker, verdict.message)
    hub = service.hub(row.hub)
    request = KeyRotationRequested(ChannelId(channel_id), intent)
    outcome = await apply_inputs(conn, hub, service.product_of(hub), [request], source=str(source))
    return outcome.channels[request.channel_id].key_intent


async def rotate_key(
    service: Service,
    hubs: Sequence[str],
    channel_id: str,
    *,
    replaces: int | None = None,
    only_if_not_working: bool = False,
    source: Source,
) -> int:
    """request_rotation in a transaction of its own: the API's and the CLI's command."""
    async with service.engine.begin() as conn:
        return await request_rotation(
            conn,
            service,
            hubs,
            channel_id,
            replaces=replaces,
            only_if_not_working=only_if_not_working,
            source=source,
        )


def _refusal(
    state: ChannelState, replaces: int | None, blocker: KeyBlocker | None, message: str
) -> RotationRefused:
    if blocker is KeyBlocker.HAS_KEY:  # only_if_not_working, and the key works
        return RotationRefused(message, code="key_working")
    if blocker is not KeyBlocker.NO_KEY:
        return RotationRefused(message, code=f"cannot_rotate_{blocker}")
    if state.key is KeyStatus.PROVISIONING:
        return RotationRefused(
            f"key version {state.key_intent} is being generated for this channel; "
            "nothing more was asked for",
            code="rotation_in_progress",
        )
    if replaces is not None and 0 < replaces < state.key_intent:
        return RotationRefused(
            f"key version {replaces} was already replaced (the channel is at version "
            f"{state.key_intent}); nothing was done. To rotate again, send the current "
            "key_version from GET /api/v1/channels/{id}/api-key",
            code="key_already_replaced",
        )
    if replaces is not None and state.key is KeyStatus.STORED:
        return RotationRefused(
            f"the channel has no key version {replaces}; its current key is version "
            f"{state.key_intent}",
            code="unknown_key_version",
        )
    return RotationRefused(message, code=f"cannot_rotate_{blocker}")
