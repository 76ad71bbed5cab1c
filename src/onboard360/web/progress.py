"""What the opener page (and the product) sees of an onboarding while numbers go live."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from onboard360.db.queries.onboardings import channels_by_pairs, client_owners
from onboard360.domain import statuses
from onboard360.domain.stage import shown
from onboard360.runtime import clock

if TYPE_CHECKING:
    from sqlalchemy.engine import Row
    from sqlalchemy.ext.asyncio import AsyncConnection


def channel_view(row: Row[Any]) -> dict[str, Any]:
    """A channel as people and products see it: never a key, only whether one exists."""
    # A key, and a status that can message: not live when 360dialog says otherwise.
    live = row.key_status == "stored" and statuses.is_live(row.status)
    return {
        "hub": row.hub,
        "channel_id": row.channel_id,
        "client_id": row.client_id,
        "phone_number": row.phone_number,
        "status": row.status,
        "permission": row.permission,
        "api_key_available": row.key_status == "stored",
        # Name it in POST …/rotate-key: a replayed rotation then changes nothing.
        "key_version": row.key_intent if row.key_status == "stored" else None,
        "live": live,
        "reason": None if live else row.reason,
        "blocker": row.blocker,
        "updated_at": row.updated_at.isoformat() if row.updated_at else None,
    }


async def onboarding_view(conn: AsyncConnection, onboarding: Row[Any]) -> dict[str, Any]:
    return (await onboarding_views(conn, [onboarding]))[0]


async def onboarding_views(
    conn: AsyncConnection, onboardings: Sequence[Row[Any]]
) -> list[dict[str, Any]]:
    """Onboardings and their own numbers (two queries for all); ``stage`` is the stored one
    (domain/stage.py), shown as expired past the expiry as every list counts it.

    A redirect's ids are claims: anyone can type another client's ids into one. So an
    onboarding shows its client, and the numbers its redirect listed, only while that
    client is bound to the onboarding's own user and each number belongs to that client
    (first learnt from 360dialog, never moved by a redirect: domain/lifecycle.py). A
    forged redirect naming someone else's client or number shows none of their data.
    """
    owners = await _owners(conn, onboardings)
    pairs = {
        (o.hub, c) for o in onboardings if _own_client(o, owners) for c in [*o.channels, *o.revoked]
    }
    known: dict[tuple[str, str], dict[str, Any]] = {}
    if pairs:
        rows = await channels_by_pairs(conn, pairs)
        known = {(row.hub, row.channel_id): channel_view(row) for row in rows}
    views = []
    for onboarding in onboardings:
        ids = {*onboarding.channels, *onboarding.revoked}
        channels = [
            v
            for (hub, c), v in known.items()
            if hub == onboarding.hub and c in ids and v["client_id"] == onboarding.client_id
        ]
        views.append(_view(onboarding, channels, verified=_own_client(onboarding, owners)))
    return views


async def _owners(
    conn: AsyncConnection, onboardings: Sequence[Row[Any]]
) -> dict[tuple[str, str], str | None]:
    """The product user each claimed client is bound to, by (hub, client id)."""
    pairs = {(o.hub, o.client_id) for o in onboardings if o.client_id}
    if not pairs:
        return {}
    return await client_owners(conn, pairs)


def _own_client(onboarding: Row[Any], owners: dict[tuple[str, str], str | None]) -> bool:
    owner = owners.get((onboarding.hub, onboarding.client_id or ""))
    return owner is not None and owner == onboarding.external_user_id


def _view(
    onboarding: Row[Any], channels: list[dict[str, Any]], *, verified: bool
) -> dict[str, Any]:
    own = {c["channel_id"] for c in channels}
    stage = shown(onboarding.stage, onboarding.expires_at, clock.now())
    return {
        "id": str(onboarding.id),
        "hub": onboarding.hub,
        "external_user_id": onboarding.external_user_id,
        "stage": stage,
        "client_id": onboarding.client_id if verified else None,
        "channels": channels,
        "revoked": [c for c in onboarding.revoked if c in own],
        "created_at": onboarding.created_at.isoformat(),
        "expires_at": onboarding.expires_at.isoformat(),
        "redirected_at": onboarding.redirected_at.isoformat() if onboarding.redirected_at else None,
        "verification": onboarding.verification,
        "journey_id": str(onboarding.journey_id or onboarding.id),
        "resumed_from": str(onboarding.resumed_from) if onboarding.resumed_from else None,
        "abandoned_at": onboarding.abandoned_at.isoformat() if onboarding.abandoned_at else None,
        "abandoned_step": onboarding.abandoned_step,
        "abandoned_reason": onboarding.abandoned_reason,
    }
