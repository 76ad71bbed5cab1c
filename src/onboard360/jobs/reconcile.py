"""Reconciliation: page through 360dialog's channels and bring local state in line.

A webhook lost during a deploy, a channel onboarded outside the popup, a status that
moved while we were down: each channel's snapshot goes through the same transitions as a
webhook, so a running, permitted channel without a key is provisioned through the same
exactly-once path. Idempotent (unchanged channels write nothing) and bounded: one
Partner API call per page, 429s honoured by the client's retry policy.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import text

from onboard360.domain import ChannelSnapshot, SnapshotError
from onboard360.hubs_config import HubConfig
from onboard360.jobs.defer import Job, defer
from onboard360.jobs.effects import PROVISION_TASK, key_lock
from onboard360.jobs.transition import apply_inputs
from onboard360.logging import get_logger
from onboard360.service import Service

log = get_logger(__name__)
DEFAULT_PAGE_SIZE = 1000  # unverified: the largest page 360dialog serves

Progress = Callable[[int, int], None]


@dataclass
class SyncReport:
    hub: str
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
    report = SyncReport(hub.name)
    api = service.partner_api(hub)
    product = service.product_of(hub)
    offset = 0
    while True:
        page = await api.channels_page(sort="created_at", limit=page_size, offset=offset)
        report.api_calls += 1
        snapshots: list[ChannelSnapshot] = []
        for channel in page.items:
            try:
                snapshots.append(ChannelSnapshot.from_api(channel.raw))
            except SnapshotError as exc:
                report.unusable += 1
                report.problems.append(str(exc)[:200])
        async with service.engine.begin() as conn:
            outcome = await apply_inputs(conn, hub, product, snapshots, source="sync")
        report.channels_seen += len(page.items)
        report.channels_changed += len(outcome.changed_channels)
        offset += len(page.items)
        if progress is not None:
            progress(report.channels_seen, page.total)
        if not page.items or offset >= page.total:
            break
    report.keys_requeued = await requeue_stranded_keys(service, hub)
    log.info("reconciled", hub=hub.name, seen=report.channels_seen, calls=report.api_calls)
    return report


_STRANDED = text(
    """
    SELECT g.channel_id, g.intent FROM key_generations g
    WHERE g.hub = :hub AND g.status = 'pending'
      AND NOT EXISTS (
        SELECT 1 FROM procrastinate_jobs j
        WHERE j.task_name = :task AND j.status IN ('todo', 'doing')
          AND j.args->>'hub' = g.hub AND j.args->>'channel_id' = g.channel_id
          AND (j.args->>'intent')::int = g.intent)
    FOR UPDATE OF g SKIP LOCKED
    """
)


async def requeue_stranded_keys(service: Service, hub: HubConfig) -> int:
    """Defer again the key jobs whose job gave up or vanished while the intent is wanted."""
    async with service.engine.begin() as conn:
        rows = list(await conn.execute(_STRANDED, {"hub": hub.name, "task": PROVISION_TASK}))
        jobs = [
            Job(
                PROVISION_TASK,
                {"hub": hub.name, "channel_id": row.channel_id, "intent": row.intent},
                lock=key_lock(hub, row.channel_id),
            )
            for row in rows
        ]
        await defer(conn, *jobs)
    return len(jobs)
