"""Queue events for delivery to the product again: one, many by filter, or every pending.

A replay sends the same event (same ``webhook-id``) so the product can de-duplicate it.
It is idempotent: an event whose delivery job is already queued or running is not queued
twice. The candidate rows are locked first and the queue is checked after the lock, so
two replays racing for one event queue it once.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import and_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from onboard360.db import tables as t
from onboard360.domain import delivery_subject
from onboard360.jobs.queue import defer, deliver_job, queued_deliveries

MAX_BULK = 1000
DEFAULT_SPAN = timedelta(days=7)
MAX_SPAN = timedelta(days=90)
_EVENT_ID = re.compile(r"msg_[0-9a-f]{32}")


class ReplayStatus(StrEnum):
    """Which events a bulk replay takes."""

    FAILED = "failed"  # retries exhausted (dead)
    UNDELIVERED = "undelivered"  # not delivered: dead, retrying or held
    ALL = "all"  # delivered ones too


class ReplayRefused(Exception):
    """The product's endpoint takes no deliveries now, or the replay asks too much."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def is_event_id(value: str) -> bool:
    """The shape of the ids jobs/effects.py gives events (the ``webhook-id``)."""
    return _EVENT_ID.fullmatch(value) is not None


def replay_window(
    since: datetime | None, until: datetime | None, now: datetime
) -> tuple[datetime, datetime]:
    """The created-at range of a bulk replay: ``until`` defaults to now, ``since`` to a
    week before it; at most MAX_SPAN (ReplayRefused otherwise)."""
    if (since and since.tzinfo is None) or (until and until.tzinfo is None):
        raise ReplayRefused("invalid_range", "since and until need a UTC offset (e.g. Z)")
    try:
        until = until or now
        since = since or until - DEFAULT_SPAN
        backwards, span = since >= until, until - since
    except OverflowError:  # e.g. until in year 1: a week before it is no date
        raise ReplayRefused("invalid_range", "since and until must be real dates") from None
    if backwards:
        raise ReplayRefused("invalid_range", "since must be before until")
    if span > MAX_SPAN:
        raise ReplayRefused(
            "range_too_large",
            f"since..until spans more than {MAX_SPAN.days} days: replay in smaller ranges",
        )
    return since, until


@dataclass(frozen=True)
class ReplayFilter:
    status: ReplayStatus
    since: datetime
    until: datetime
    event_type: str | None = None
    channel_id: str | None = None
    client_id: str | None = None
    limit: int = MAX_BULK


@dataclass(frozen=True)
class ReplayReport:
    queued: int
    has_more: bool  # more events matched than ``limit``: replay again to take the next ones


def delivery_state(event: Any) -> str:
    """A product event's state: delivered; failed (retries exhausted: dead, replayable);
    or pending (not accepted yet, retrying or held while the endpoint is disabled)."""
    return "delivered" if event.delivered_at else "failed" if event.failed_at else "pending"


_STATUS = {
    ReplayStatus.FAILED: t.product_events.c.failed_at.is_not(None),
    ReplayStatus.UNDELIVERED: t.product_events.c.delivered_at.is_(None),
}
_PENDING = and_(t.product_events.c.delivered_at.is_(None), t.product_events.c.failed_at.is_(None))


def _filters(product: str, spec: ReplayFilter) -> list[Any]:
    e = t.product_events.c
    where = [e.product == product, e.created_at >= spec.since, e.created_at < spec.until]
    if spec.status in _STATUS:
        where.append(_STATUS[spec.status])
    if spec.event_type:
        where.append(e.event_type == spec.event_type)
    if spec.channel_id:
        where.append(e.channel_id == spec.channel_id)
    if spec.client_id:
        where.append(e.client_id == spec.client_id)
    return where


async def _queue(
    conn: AsyncConnection, product: str, where: Sequence[Any], limit: int | None
) -> tuple[int, bool]:
    """Lock the matching events (oldest first), skip those already queued, queue the rest."""
    query = (
        select(
            t.product_events.c.id,
            t.product_events.c.channel_id,
            t.product_events.c.client_id,
            t.product_events.c.payload["onboarding_id"].astext.label("onboarding_id"),
        )
        .where(*where)
        .order_by(t.product_events.c.created_at, t.product_events.c.id)
        .with_for_update()
    )
    if limit is not None:
        query = query.limit(limit + 1)
    rows = list(await conn.execute(query))
    more = limit is not None and len(rows) > limit
    rows = rows[:limit] if limit is not None else rows
    queued = await queued_events(conn, [row.id for row in rows])
    todo = [row for row in rows if row.id not in queued]
    if not todo:
        return 0, more
    await conn.execute(
        t.product_events.update()
        .where(t.product_events.c.id.in_([row.id for row in todo]))
        .values(delivered_at=None, failed_at=None)
    )
    jobs = [
        deliver_job(
            product, row.id, delivery_subject(row.channel_id, row.client_id, row.onboarding_id)
        )
        for row in todo
    ]
    await defer(conn, *jobs)
    return len(todo), more


async def queued_events(conn: AsyncConnection, ids: Sequence[str]) -> set[str]:
    """Which of these events have a delivery job waiting or running."""
    return await queued_deliveries(conn, ids)


async def replay_events(conn: AsyncConnection, product: str, spec: ReplayFilter) -> ReplayReport:
    queued, more = await _queue(conn, product, _filters(product, spec), spec.limit)
    return ReplayReport(queued, more)


async def replay_event(conn: AsyncConnection, product: str, event_id: str) -> bool:
    """Queue one event again; False when its delivery is queued already."""
    where = [t.product_events.c.product == product, t.product_events.c.id == event_id]
    queued, _ = await _queue(conn, product, where, 1)
    return queued == 1


async def requeue_pending(conn: AsyncConnection, product: str) -> int:
    """Queue every pending event that has no job (after the endpoint was disabled)."""
    queued, _ = await _queue(conn, product, [t.product_events.c.product == product, _PENDING], None)
    return queued
