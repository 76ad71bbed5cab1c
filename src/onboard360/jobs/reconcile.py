"""Reconciliation: page through 360dialog's channels and bring local state in line.

A webhook lost during a deploy, a channel onboarded outside the popup, a status that
moved while we were down: each channel's snapshot goes through the same transitions as a
webhook, so a running, permitted channel without a key is provisioned through the same
exactly-once path. Idempotent (unchanged channels write nothing) and bounded: one
Partner API call per page, 429s honoured by the client's retry policy. One run per hub at
a time, resumable: each page commits with the hub's checkpoint (jobs/checkpoints.py).

Most snapshots of a periodic sync change nothing. Each page first reads the stored
states without locking them and asks the domain (``apply``, the same pure function) what
each snapshot would do; only those that would change a state or cause an effect go
through ``apply_inputs``, which locks the rows and decides again. The filter cannot hide
a change made by a concurrent transition: what a snapshot adds to a channel (the most
advanced status, the statuses seen, a first client and phone number, the once-only
announcements) and to its client (known, its channel ids) only ever grows, so a snapshot
that adds nothing to a committed state adds nothing to any later one; and every stored
state has been settled by ``apply`` (provisioned if it could be), so the one remaining
effect of a snapshot, provisioning, shows in the filter as well.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import not_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from onboard360.config.hubs import HubConfig, ProductConfig
from onboard360.db import state_rows
from onboard360.db import tables as t
from onboard360.domain import (
    ChannelId,
    ChannelSnapshot,
    ChannelState,
    ClientId,
    ClientState,
    SnapshotError,
    apply,
    apply_client,
)
from onboard360.hub import ChannelInfo, Page
from onboard360.jobs import checkpoints
from onboard360.jobs.queue import defer, key_job_queued, provision_job
from onboard360.jobs.transition import apply_inputs
from onboard360.runtime import failpoints
from onboard360.runtime.logging import get_logger
from onboard360.wiring.service import Service

log = get_logger(__name__)
DEFAULT_PAGE_SIZE = 1000  # unverified: the largest page 360dialog serves

# (position reached in the hub's channel list, the list's length), after each page.
Progress = Callable[[int, int], None]


@dataclass
class SyncReport:
    hub: str
    run_id: str = ""
    # Where this run started in the hub's channel list: 0, or the offset an interrupted
    # run of the hub had reached (``resumed``).
    started_at_offset: int = 0
    resumed: bool = False
    channels_seen: int = 0
    channels_changed: int = 0
    unusable: int = 0
    api_calls: int = 0
    keys_requeued: int = 0
    problems: list[str] = field(default_factory=list)


async def reconcile_hub(
    service: Service,
    hub: HubConfig,
    *,
    page_size: int = DEFAULT_PAGE_SIZE,
    progress: Progress | None = None,
) -> SyncReport:
    """Reconcile one hub; raises checkpoints.SyncAlreadyRunning if another sync has it."""
    async with checkpoints.hub_sync_lock(service.engine, hub.name) as lock:
        async with service.engine.begin() as conn:
            run = await checkpoints.start_run(conn, hub.name)
        report = SyncReport(hub.name, run.run_id.hex, run.next_offset, resumed=run.resumed)
        await _pages(service, hub, run, report, lock, page_size=page_size, progress=progress)
        report.keys_requeued = await requeue_stranded_keys(service, hub)
        async with service.engine.begin() as conn:
            await checkpoints.finish(conn, hub.name, run.run_id)
    log.info(
        "reconciled",
        hub=hub.name,
        run=report.run_id,
        resumed_at=report.started_at_offset if report.resumed else None,
        seen=report.channels_seen,
        changed=report.channels_changed,
        calls=report.api_calls,
    )
    return report


async def _pages(
    service: Service,
    hub: HubConfig,
    run: checkpoints.Checkpoint,
    report: SyncReport,
    lock: checkpoints.HubSyncLock,
    *,
    page_size: int,
    progress: Progress | None,
) -> None:
    api = service.partner_api(hub)
    product = service.product_of(hub)
    offset = run.next_offset

    def fetch(start: int) -> asyncio.Future[Page[ChannelInfo]]:
        return asyncio.ensure_future(
            api.channels_page(sort="created_at", limit=page_size, offset=start)
        )

    upcoming = fetch(offset)
    try:
        while True:
            page = await upcoming
            report.api_calls += 1
            snapshots = _snapshots(page, report)
            offset += len(page.items)
            last = not page.items or offset >= page.total
            if not last:
                upcoming = fetch(offset)  # 360dialog answers while this page is applied
            async with service.engine.begin() as conn:
                report.channels_changed += await _apply_page(conn, hub, product, snapshots)
                await checkpoints.advance(conn, hub.name, run.run_id, offset)
                lock.check()
            failpoints.hit(failpoints.SYNC_PAGE_COMMITTED)
            report.channels_seen += len(page.items)
            if progress is not None:
                progress(offset, page.total)
            if last:
                return
    finally:
        # A page asked for and no longer wanted (an error, an interruption): stop it, and
        # take its outcome so that a failed request is not reported as never retrieved.
        upcoming.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await upcoming


def _snapshots(page: Page[ChannelInfo], report: SyncReport) -> list[ChannelSnapshot]:
    snapshots: list[ChannelSnapshot] = []
    for channel in page.items:
        try:
            snapshots.append(ChannelSnapshot.from_api(channel.raw))
        except SnapshotError as exc:
            report.unusable += 1
            report.problems.append(str(exc)[:200])
    return snapshots


async def _apply_page(
    conn: AsyncConnection, hub: HubConfig, product: ProductConfig, snapshots: list[ChannelSnapshot]
) -> int:
    """Apply the snapshots that may change something; the number of channels changed."""
    channels, clients = await state_rows.read(
        conn,
        hub.name,
        [s.channel_id for s in snapshots],
        list(dict.fromkeys(s.client_id for s in snapshots if s.client_id)),
    )
    changing = [s for s in snapshots if _may_change(s, channels, clients)]
    if not changing:
        return 0
    outcome = await apply_inputs(conn, hub, product, changing, source="sync")
    return len(outcome.changed_channels)


def _may_change(
    snapshot: ChannelSnapshot,
    channels: dict[ChannelId, ChannelState],
    clients: dict[ClientId, ClientState],
) -> bool:
    channel = channels.get(snapshot.channel_id)
    if channel is None or apply(channel, snapshot) != (channel, ()):
        return True
    if snapshot.client_id is None:
        return False
    client = clients.get(snapshot.client_id)
    return client is None or apply_client(client, snapshot) != (client, ())


async def stranded_keys(
    conn: AsyncConnection, hub: str, channel_id: str | None = None, intent: int | None = None
) -> list[tuple[str, int]]:
    """Pending key intents of ``hub`` (or of one channel / intent) whose job gave up or
    vanished: no key job waits or runs for them. Their rows are locked (SKIP LOCKED), so
    two callers never requeue the same intent."""
    g = t.key_generations
    query = select(g.c.channel_id, g.c.intent).where(
        g.c.hub == hub,
        g.c.status == "pending",
        not_(key_job_queued(g.c.hub, g.c.channel_id, g.c.intent)),
    )
    if channel_id is not None:
        query = query.where(g.c.channel_id == channel_id)
    if intent is not None:
        query = query.where(g.c.intent == intent)
    rows = await conn.execute(query.with_for_update(of=g, skip_locked=True))
    return [(row.channel_id, row.intent) for row in rows]


async def requeue_stranded_keys(service: Service, hub: HubConfig) -> int:
    """Defer again the key jobs whose job gave up or vanished while the intent is wanted."""
    async with service.engine.begin() as conn:
        stranded = await stranded_keys(conn, hub.name)
        await defer(conn, *(provision_job(hub.name, c, i) for c, i in stranded))
    return len(stranded)
