"""Retention: remove what the settings say is kept no longer, in small batches.

Each batch is its own short transaction (at most ``BATCH`` rows, locked with ``SKIP
LOCKED`` so a batch never waits on a row in use), walked in id order with a keyset, so
no table is locked for the duration and a large backlog is removed a little at a time.
What a run removed is counted in ``onboard360_pruned_rows{table}`` and logged.

Never removed, whatever the settings:

- an ``inbox_events`` row not processed yet (its processing job still needs its body);
- the ``delivery_attempts`` of a product event not delivered yet (pending or failed: the
  dashboard's "handoff failing" list and the delivery log a person reads to fix it);
- a waiting or running job, and a failed key job (``key_job_failed``, the "provisioning
  failed" list): jobs/queue.py, the one module naming the queue's tables, says which;
- timeline lines and product events unless ``retention_timeline_days`` /
  ``retention_product_events_days`` are set; then only delivered events.

A run also keeps the funnel's past days (db/queries/funnel_counts.py): the last year's
days not kept yet, and again the kept days a change made stale, so that questions find
them kept and the marks (``funnel_stale``) never pile up unread.

A webhook redelivered after its inbox row was removed is stored and processed again;
processing is idempotent (the state machines change nothing for a state they are in).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from onboard360.config.settings import Settings
from onboard360.db.pooling import one_off_async_engine
from onboard360.db.queries.funnel_counts import keep_days
from onboard360.jobs import queue
from onboard360.runtime.logging import get_logger
from onboard360.runtime.metrics import PRUNED_ROWS

log = get_logger(__name__)

BATCH = 1000

# Per table: the rows past the cutoff that may go, with ``id > :after`` for the keyset.
_PRUNABLE = {
    "inbox_events": """SELECT i.id FROM inbox_events i WHERE i.id > :after
      AND i.processed_at IS NOT NULL AND i.received_at < :cutoff""",
    "delivery_attempts": """SELECT a.id FROM delivery_attempts a
      JOIN product_events e ON e.id = a.event_id
      WHERE a.id > :after AND a.started_at < :cutoff AND e.delivered_at IS NOT NULL""",
    "timeline": """SELECT l.id FROM timeline l WHERE l.id > :after AND l.at < :cutoff""",
    # Text ids: the keyset is the id's text order (the cutoff decides, not the order).
    "product_events": """SELECT e.id FROM product_events e WHERE e.id > :after
      AND e.delivered_at IS NOT NULL AND e.created_at < :cutoff""",
}
_ALIAS = {"inbox_events": "i", "delivery_attempts": "a", "timeline": "l", "product_events": "e"}


@dataclass(frozen=True)
class Retention:
    """How long each kind of row is kept (None: as long as its client exists)."""

    inbox: timedelta
    attempts: timedelta
    jobs: timedelta
    timeline: timedelta | None = None
    events: timedelta | None = None

    @classmethod
    def of(cls, settings: Settings) -> Retention:
        def days(n: int | None) -> timedelta | None:
            return None if n is None else timedelta(days=n)

        return cls(
            inbox=timedelta(weeks=settings.retention_inbox_weeks),
            attempts=timedelta(weeks=settings.retention_delivery_attempts_weeks),
            jobs=timedelta(days=settings.retention_jobs_days),
            timeline=days(settings.retention_timeline_days),
            events=days(settings.retention_product_events_days),
        )

    def cutoffs(self, now: datetime) -> dict[str, datetime]:
        """Per table, the age before which rows go; tables kept for ever are left out."""
        kept = {
            "inbox_events": self.inbox,
            "delivery_attempts": self.attempts,
            queue.JOBS_TABLE: self.jobs,
            "timeline": self.timeline,
            "product_events": self.events,
        }
        return {table: now - age for table, age in kept.items() if age is not None}


def _count_sql(table: str) -> Any:
    return text(f"SELECT count(*) FROM ({_PRUNABLE[table]}) p")  # noqa: S608 - fixed SQL


def _delete_sql(table: str) -> Any:
    alias = _ALIAS[table]
    return text(
        f"""
        DELETE FROM {table} WHERE id IN (
          {_PRUNABLE[table]} ORDER BY {alias}.id LIMIT :batch FOR UPDATE OF {alias} SKIP LOCKED)
        RETURNING id
        """  # noqa: S608 - fixed SQL
    )


async def _count(conn: AsyncConnection, table: str, cutoff: datetime) -> int:
    if table == queue.JOBS_TABLE:
        return await queue.count_finished_jobs(conn, cutoff)
    after = "" if table == "product_events" else 0
    return int(await conn.scalar(_count_sql(table), {"after": after, "cutoff": cutoff}) or 0)


def _deleter(table: str) -> Callable[[AsyncConnection, datetime, Any, int], Awaitable[list[Any]]]:
    if table == queue.JOBS_TABLE:
        return queue.delete_finished_jobs
    statement = _delete_sql(table)

    async def delete(conn: AsyncConnection, cutoff: datetime, after: Any, batch: int) -> list[Any]:
        params = {"after": after, "cutoff": cutoff, "batch": batch}
        return [row.id for row in await conn.execute(statement, params)]

    return delete


async def _prune_table(engine: AsyncEngine, table: str, cutoff: datetime, batch: int) -> int:
    delete = _deleter(table)
    after: Any = "" if table == "product_events" else 0
    removed = 0
    while True:
        async with engine.begin() as conn:
            ids = await delete(conn, cutoff, after, batch)
        removed += len(ids)
        PRUNED_ROWS.labels(table).inc(len(ids))
        if len(ids) < batch:
            return removed
        after = max(ids)


async def prune(
    engine: AsyncEngine,
    settings: Settings,
    *,
    dry_run: bool = False,
    now: datetime | None = None,
    batch: int = BATCH,
) -> dict[str, int]:
    """Apply the retention settings now; per table, the rows removed (or, with
    ``dry_run``, the rows that would be)."""
    cutoffs = Retention.of(settings).cutoffs(now or datetime.now(UTC))
    counts: dict[str, int] = {}
    for table, cutoff in cutoffs.items():
        if dry_run:
            async with engine.connect() as conn:
                counts[table] = await _count(conn, table, cutoff)
        else:
            counts[table] = await _prune_table(engine, table, cutoff, batch)
    if dry_run:
        log.info("retention dry run", **counts)
        return counts
    async with engine.begin() as conn:  # the funnel's past days: kept, stale ones again
        stale = await keep_days(conn, [hub.name for hub in settings.hubs])
    log.info("retention applied", funnel_stale_spans_recounted=stale, **counts)
    return counts


def summary(counts: dict[str, int]) -> str:
    return ", ".join(f"{table}: {n}" for table, n in counts.items()) or "nothing kept for a time"


async def prune_database(
    settings: Settings, database_url: str, *, dry_run: bool = False
) -> dict[str, int]:
    """``prune`` on a short-lived engine of its own (``onboard360 prune``)."""
    engine = one_off_async_engine(database_url)
    try:
        return await prune(engine, settings, dry_run=dry_run)
    finally:
        await engine.dispose()
