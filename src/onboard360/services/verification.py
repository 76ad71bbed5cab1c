"""Ask 360dialog what it knows of a client: the facts a redirect or a claim is checked against.

Two sources, both 360dialog's own word: the Partner API (the client under the hub, its
``created_at``, and the channels listed with ``filters={"client_id": …}``) and the channel
rows signed webhooks and syncs already placed under that client. Nothing the browser
sent is a fact. When the Partner API cannot answer (outage, 5xx or 429 after the
retries, bad credentials) the caller gets ``Unverifiable`` and must not apply anything.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from onboard360.config.hubs import HubConfig
from onboard360.db import tables as t
from onboard360.domain import ChannelId, ChannelSnapshot, ClientId, SnapshotError, channel_id
from onboard360.domain.binding import ClientFacts
from onboard360.hub import HubError
from onboard360.hub.models import ChannelInfo, ClientInfo
from onboard360.wiring.service import Service

# A client with more channels than this is listed no further: a redirect names at most
# MAX_IDS (100) of them, and what is not listed is only ignored, never trusted.
MAX_CHANNELS_READ = 1000
# The timeline line a redirect with no attempt of ours leaves (services/redirects.py).
DIRECT_LINK_KIND = "direct_link_redirect"


class Unverifiable(Exception):
    """360dialog could not be asked now; try again later (never apply unverified)."""


@dataclass(frozen=True)
class Learnt:
    """The facts, and 360dialog's channel objects under the client (to record them)."""

    facts: ClientFacts
    snapshots: dict[ChannelId, ChannelSnapshot] = field(default_factory=dict)


async def learn(
    service: Service, hub: HubConfig, client: ClientId, db: AsyncEngine | AsyncConnection
) -> Learnt:
    """What 360dialog says about ``client`` under ``hub``; Unverifiable if it cannot say."""
    api = service.partner_api(hub, quick=True)
    try:
        found = await api.clients_page(filters={"id": client}, limit=1)
        listed: list[ChannelInfo] = []
        async for channel in api.iter_channels(filters={"client_id": client}):
            listed.append(channel)
            if len(listed) >= MAX_CHANNELS_READ:
                break
    except HubError as exc:
        raise Unverifiable(str(exc)) from None
    info = next((c for c in found.items if c.id == client), None)
    snapshots = _snapshots(client, listed)
    known, returned = await _recorded(db, hub, client)
    created = info.created_at if info is not None else _embedded_created_at(listed)
    facts = ClientFacts(
        client_id=client,
        exists=info is not None or bool(snapshots),
        created_at=created,
        channels=frozenset(snapshots) | known,
        returned_without_attempt=returned,
    )
    return Learnt(facts, snapshots)


def _snapshots(client: ClientId, listed: list[ChannelInfo]) -> dict[ChannelId, ChannelSnapshot]:
    """360dialog's channels of ``client`` (an entry naming another client is dropped)."""
    found: dict[ChannelId, ChannelSnapshot] = {}
    for channel in listed:
        try:
            snapshot = ChannelSnapshot.from_api(channel.raw)
        except SnapshotError:
            continue
        if snapshot.client_id == client:
            found[snapshot.channel_id] = snapshot
    return found


def _embedded_created_at(listed: list[ChannelInfo]) -> datetime | None:
    """The client's ``created_at`` as embedded in its channels' ``client`` object."""
    for channel in listed:
        embedded = channel.raw.get("client")
        if isinstance(embedded, dict) and embedded.get("created_at"):
            try:
                return ClientInfo.model_validate({**embedded, "id": channel.client_id}).created_at
            except ValueError:
                continue
    return None


async def _recorded(
    db: AsyncEngine | AsyncConnection, hub: HubConfig, client: ClientId
) -> tuple[frozenset[ChannelId], bool]:
    """The channels signed webhooks (or syncs) already placed under ``client``, and whether
    a redirect for it already came back with no attempt of ours (a direct link)."""
    if isinstance(db, AsyncEngine):
        async with db.connect() as conn:
            return await _recorded(conn, hub, client)
    ids = await db.scalars(
        select(t.channels.c.channel_id).where(
            t.channels.c.hub == hub.name, t.channels.c.client_id == client
        )
    )
    channels = frozenset(channel_id(i) for i in ids)
    direct = await db.scalar(
        select(t.timeline.c.id)
        .where(
            t.timeline.c.hub == hub.name,
            t.timeline.c.client_id == client,
            t.timeline.c.kind == DIRECT_LINK_KIND,
        )
        .limit(1)
    )
    return channels, direct is not None
