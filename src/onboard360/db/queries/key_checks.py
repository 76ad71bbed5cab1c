"""The key health check's rows: how many live keyed channels a hub has, which are due, and
what each check found (jobs/key_health.py; the columns and index of migration 0012); and
how long 360dialog asked the hub's checks to wait (rate_limit_holds, migration 0017)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, func, or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from onboard360.db import tables as t

_C = t.channels.c
# A channel whose stored key is checked: keyed and running (the partial index's condition).
_LIVE = and_(_C.key_status == "stored", _C.status == "running")


@dataclass(frozen=True)
class DueChannel:
    channel_id: str
    key_intent: int


async def live_keyed_count(conn: AsyncConnection, hub: str) -> int:
    """How many of the hub's channels have a stored key and are running."""
    query = select(func.count()).select_from(t.channels).where(_C.hub == hub, _LIVE)
    return int(await conn.scalar(query) or 0)


async def due_channels(
    conn: AsyncConnection, hub: str, checked_before: datetime, limit: int
) -> list[DueChannel]:
    """The hub's live keyed channels not checked since ``checked_before``, never-checked
    first, then those checked longest ago: at most ``limit``."""
    query = (
        select(_C.channel_id, _C.key_intent)
        .where(
            _C.hub == hub,
            _LIVE,
            or_(_C.key_checked_at.is_(None), _C.key_checked_at < checked_before),
        )
        .order_by(_C.key_checked_at.asc().nulls_first(), _C.channel_id)
        .limit(limit)
    )
    return [DueChannel(row.channel_id, row.key_intent) for row in await conn.execute(query)]


async def note_check(
    conn: AsyncConnection, hub: str, channel_id: str, outcome: str, at: datetime
) -> None:
    """What one check found. Only a verdict (``working``, ``not_working``) moves
    ``key_checked_at``: a check without one leaves the channel first in line for the next
    run. ``updated_at`` is left alone: it dates the channel's own changes."""
    values: dict[str, object] = {"key_check_outcome": outcome}
    if outcome in {"working", "not_working"}:
        values["key_checked_at"] = at
    if outcome == "working":
        values["key_good_at"] = at
    await conn.execute(
        t.channels.update().where(_C.hub == hub, _C.channel_id == channel_id).values(**values)
    )


_H = t.rate_limit_holds.c


async def hold_until(conn: AsyncConnection, hub: str, api: str) -> datetime | None:
    """Before when 360dialog last asked the hub's ``api`` calls to wait (None: never)."""
    query = select(_H.not_before).where(_H.hub == hub, _H.api == api)
    found: datetime | None = await conn.scalar(query)
    return found


async def hold(
    conn: AsyncConnection, hub: str, api: str, *, retry_after: float, at: datetime
) -> datetime:
    """Keep the newest 429's wait for the hub's ``api`` (one row, rewritten): no call
    before ``at`` + ``retry_after`` seconds, which it answers."""
    not_before = at + timedelta(seconds=retry_after)
    values = {"not_before": not_before, "retry_after_seconds": retry_after, "noted_at": at}
    statement = insert(t.rate_limit_holds).values(hub=hub, api=api, **values)
    keys = [_H.hub, _H.api]
    await conn.execute(statement.on_conflict_do_update(index_elements=keys, set_=values))
    return not_before
