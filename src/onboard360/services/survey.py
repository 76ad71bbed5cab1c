"""The dry run of adopting a hub: its channels as 360dialog lists them, and what would
happen to each (services/adoption.py acts on them). Reads only; changes nothing.

Pages through the Partner API's clients and channels (``DEFAULT_PAGE_SIZE`` per call, as
the sync does) and reads the local states of each page in one query.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from onboard360.config.hubs import HubConfig
from onboard360.db import codec
from onboard360.db import tables as t
from onboard360.domain import ChannelSnapshot, ChannelState, KeyStatus, SnapshotError, statuses
from onboard360.hub import ChannelInfo, ClientInfo, PartnerAPI
from onboard360.jobs.reconcile import DEFAULT_PAGE_SIZE
from onboard360.wiring.service import Service


@dataclass(frozen=True)
class ChannelPlan:
    """One channel of the hub and what adoption would do with it."""

    client_id: str
    client_name: str | None
    channel_id: str
    phone_number: str | None
    status: str
    live: bool
    entitlement: str | None
    api_key_stored: bool
    outcome: str  # entitled | terminated | left
    choices: tuple[str, ...]  # import, take_over: for a channel left as it is

    @property
    def says(self) -> str:
        if self.outcome == "entitled":
            return f"already onboard360's to key ({self.entitlement})"
        if self.outcome == "terminated":
            return "terminated: nothing to adopt"
        dies = "its current key dies" if self.live else "not running yet"
        return f"left unkeyed; can be imported, or taken over ({dies})"


@dataclass
class Survey:
    hub: str
    clients: int = 0
    channels: list[ChannelPlan] = field(default_factory=list)

    def count(self, outcome: str, *, live: bool | None = None) -> int:
        return sum(
            1 for c in self.channels if c.outcome == outcome and (live is None or c.live is live)
        )

    def counts(self) -> dict[str, int]:
        return {
            "clients": self.clients,
            "channels": len(self.channels),
            "live": sum(1 for c in self.channels if c.live),
            "entitled": self.count("entitled"),
            "left": self.count("left"),
            "left_live": self.count("left", live=True),
            "terminated": self.count("terminated"),
        }


async def survey(service: Service, hub: HubConfig) -> Survey:
    """The hub's clients and channels from the Partner API, each with its outcome."""
    api = service.partner_api(hub)
    names = {c.id: c.name async for c in _iter_clients(api)}
    found = Survey(hub.name, clients=len(names))
    page: list[ChannelInfo] = []
    async for channel in api.iter_channels(page_size=DEFAULT_PAGE_SIZE):
        page.append(channel)
        if len(page) == DEFAULT_PAGE_SIZE:
            found.channels.extend(await _plan_page(service, hub, page, names))
            page = []
    found.channels.extend(await _plan_page(service, hub, page, names))
    return found


async def _iter_clients(api: PartnerAPI) -> AsyncIterator[ClientInfo]:
    offset = 0
    while True:
        page = await api.clients_page(limit=DEFAULT_PAGE_SIZE, offset=offset)
        for client in page.items:
            yield client
        offset += len(page.items)
        if not page.items or offset >= page.total:
            return


async def _plan_page(
    service: Service, hub: HubConfig, page: list[ChannelInfo], names: dict[str, str | None]
) -> list[ChannelPlan]:
    if not page:
        return []
    async with service.engine.connect() as conn:
        states = await local_states(conn, hub, [c.id for c in page])
    return [_plan(c, states.get(c.id), names.get(c.client_id)) for c in page]


async def local_states(
    conn: AsyncConnection, hub: HubConfig, ids: Sequence[str]
) -> dict[str, ChannelState]:
    rows = await conn.execute(
        select(t.channels.c.channel_id, t.channels.c.state).where(
            t.channels.c.hub == hub.name, t.channels.c.channel_id.in_(list(ids))
        )
    )
    return {row.channel_id: codec.channel_from_json(row.state) for row in rows}


def _plan(channel: ChannelInfo, state: ChannelState | None, name: str | None) -> ChannelPlan:
    status = _status(channel)
    entitlement = state.entitlement if state else None
    if entitlement is not None:
        outcome, choices = "entitled", ()
    elif statuses.is_terminal(status):
        outcome, choices = "terminated", ()
    else:
        outcome, choices = "left", ("import", "take_over")
    return ChannelPlan(
        client_id=channel.client_id,
        client_name=name,
        channel_id=channel.id,
        phone_number=channel.phone_number,
        status=status,
        live=status == statuses.RUNNING,
        entitlement=entitlement.value if entitlement else None,
        api_key_stored=state is not None and state.key is KeyStatus.STORED,
        outcome=outcome,
        choices=choices,
    )


def _status(channel: ChannelInfo) -> str:
    try:
        return ChannelSnapshot.from_api(channel.raw).status or channel.status
    except SnapshotError:
        return channel.status
