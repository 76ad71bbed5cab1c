"""One reconciliation of a hub at a time, and where it got to.

A sync holds a transaction-scoped advisory lock on its hub for the whole run, in a
transaction of its own that does nothing else: a second sync of the same hub (another
`onboard360 sync`, the periodic job on another worker) is told so and does nothing. The
lock ends with that transaction, so a killed process releases it, also through a pooler
in transaction mode (a session lock would stay on a server connection the pooler hands to
someone else; db/pooling.py). The transaction takes no snapshot while it waits, so it
holds back no vacuum; a statement every ``KEEPALIVE_SECONDS`` keeps idle-transaction
timeouts away, and a sync whose lock transaction died stops at its next page. Each
page's transaction also moves the hub's checkpoint (``sync_checkpoints``) to the next
offset; a run that never finished is continued by the next one from there, a finished
one is followed by a run from 0.
"""

from __future__ import annotations

import asyncio
import contextlib
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
_TRY_LOCK = text("SELECT pg_try_advisory_xact_lock(:space, hashtext(:hub))")
_KEEPALIVE = text("SELECT 1")
KEEPALIVE_SECONDS = 10.0


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


class SyncLockLost(Exception):
    """The transaction holding this hub's sync lock ended (the database or a pooler closed
    it); the sync stopped at its last committed page: run it again to continue."""


@dataclass
class HubSyncLock:
    """A held sync lock: ``check()`` before committing a page."""

    hub: str
    lost: BaseException | None = None

    def check(self) -> None:
        if self.lost is not None:
            raise SyncLockLost(f"hub {self.hub!r}: {SyncLockLost.__doc__}")


@asynccontextmanager
async def hub_sync_lock(engine: AsyncEngine, hub: str) -> AsyncIterator[HubSyncLock]:
    """Hold the hub's sync lock for the block, or raise SyncAlreadyRunning at once."""
    async with engine.connect() as conn:
        got = (await conn.execute(_TRY_LOCK, {"space": _LOCK_SPACE, "hub": hub})).scalar_one()
        if not got:
            await conn.rollback()
            raise SyncAlreadyRunning(hub, await read_checkpoint(conn, hub))
        lock = HubSyncLock(hub)
        keepalive = asyncio.create_task(_keep_alive(conn, lock), name=f"sync lock {hub}")
        try:
            yield lock
        finally:
            keepalive.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keepalive
            try:
                await conn.rollback()  # ends the transaction, and the lock with it
            except Exception:
                await conn.invalidate()  # closing the connection ends them as well


async def _keep_alive(conn: AsyncConnection, lock: HubSyncLock) -> None:
    try:
        while True:
            await asyncio.sleep(KEEPALIVE_SECONDS)
            await conn.execute(_KEEPALIVE)
    except Exception as exc:
        lock.lost = exc


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
