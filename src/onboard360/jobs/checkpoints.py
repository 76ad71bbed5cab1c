"""One reconciliation of a hub at a time, and where it got to.

A sync holds a PostgreSQL session advisory lock on its hub for the whole run, on a
connection of its own: a second sync of the same hub (another `onboard360 sync`, the
periodic job on another worker) is told so and does nothing. The lock goes with the
session, so a killed process releases it. Each page's transaction also moves the hub's
checkpoint (``sync_checkpoints``) to the next offset; a run that never finished is
continued by the next one from there, a finished one is followed by a run from 0.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from onboard360.db import tables as t

# First key of the two-int advisory lock form: our namespace, so hubs never collide with
# another application's locks (the second key is the hub name's hash).
_LOCK_SPACE = 360_005
_TRY_LOCK = text("SELECT pg_try_advisory_lock(:space, hashtext(:hub))")
_UNLOCK = text("SELECT pg_advisory_unlock(:space, hashtext(:hub))")


@dataclass(frozen=True)
class Checkpoint:
    """A hub's reconciliation run: where the next page starts."""

    run_id: uuid.UUID
    next_offset: int
    started_at: datetime
    updated_at: datetime
    finished_at: datetime | None = None
    # This run continues one that stopped before its end (crash, kill, error).
    resumed: bool = False


class SyncAlreadyRunning(Exception):
    """Another reconciliation of this hub is running; this one did nothing."""

    def __init__(self, hub: str, running: Checkpoint | None) -> None:
        where = ""
        if running is not None and running.finished_at is None:
            where = (
                f" (run {running.run_id.hex[:8]}, at channel {running.next_offset}, "
                f"last page {running.updated_at:%Y-%m-%d %H:%M:%S %Z})"
            )
        super().__init__(f"another sync of hub {hub!r} is running{where}; this one did nothing")
        self.hub = hub


@asynccontextmanager
async def hub_sync_lock(engine: AsyncEngine, hub: str) -> AsyncIterator[None]:
    """Hold the hub's sync lock for the block, or raise SyncAlreadyRunning at once."""
    params = {"space": _LOCK_SPACE, "hub": hub}
    async with engine.connect() as conn:
        got = (await conn.execute(_TRY_LOCK, params)).scalar_one()
        await conn.commit()  # a session lock: no transaction stays open meanwhile
        if not got:
            raise SyncAlreadyRunning(hub, await read_checkpoint(conn, hub))
        try:
            yield
        finally:
            try:
                await conn.execute(_UNLOCK, params)
                await conn.commit()
            except BaseException:
                # The lock must not stay on a pooled connection: closing the session ends it.
                await conn.invalidate()
                raise


async def read_checkpoint(conn: AsyncConnection, hub: str) -> Checkpoint | None:
    row = (
        await conn.execute(select(t.sync_checkpoints).where(t.sync_checkpoints.c.hub == hub))
    ).first()
    if row is None:
        return None
    return Checkpoint(row.run_id, row.next_offset, row.started_at, row.updated_at, row.finished_at)


async def start_run(conn: AsyncConnection, hub: str) -> Checkpoint:
    """Continue the hub's unfinished run, or start a new one at offset 0 (hold the lock)."""
    last = await read_checkpoint(conn, hub)
    if last is not None and last.finished_at is None:
        return replace(last, resumed=True)
    values = {"run_id": uuid.uuid4(), "next_offset": 0, "finished_at": None}
    now = {"started_at": func.now(), "updated_at": func.now()}
    row = (
        await conn.execute(
            insert(t.sync_checkpoints)
            .values(hub=hub, **values, **now)
            .on_conflict_do_update(index_elements=["hub"], set_={**values, **now})
            .returning(t.sync_checkpoints)
        )
    ).one()
    return Checkpoint(row.run_id, row.next_offset, row.started_at, row.updated_at)


async def advance(conn: AsyncConnection, hub: str, run_id: uuid.UUID, next_offset: int) -> None:
    """Move the checkpoint, inside the transaction that applied the page."""
    await conn.execute(
        t.sync_checkpoints.update()
        .where(t.sync_checkpoints.c.hub == hub, t.sync_checkpoints.c.run_id == run_id)
        .values(next_offset=next_offset, updated_at=func.now())
    )


async def finish(conn: AsyncConnection, hub: str, run_id: uuid.UUID) -> None:
    await conn.execute(
        t.sync_checkpoints.update()
        .where(t.sync_checkpoints.c.hub == hub, t.sync_checkpoints.c.run_id == run_id)
        .values(finished_at=func.now(), updated_at=func.now())
    )
