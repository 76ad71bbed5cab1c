"""Turn stored partner webhooks into lifecycle transitions.

The receiver defers one job per group-committed batch of deliveries (web/ingest.py), with
the ids of the rows that batch stored. The job processes them in id order, each in its
own transaction: one event that fails leaves its neighbours processed, and the retried
job skips every row already marked processed — each event takes effect exactly once
however often its job runs (docs/decisions/0005-ingest-group-commit.md).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from sqlalchemy import func, select
from structlog.contextvars import bound_contextvars

from onboard360.db import tables as t
from onboard360.domain import EventError, EventKind, parse_event
from onboard360.jobs.transition import apply_inputs, record
from onboard360.runtime.logging import get_logger
from onboard360.wiring.service import Service, UnknownHub

log = get_logger(__name__)


class InboxEventsFailed(Exception):
    """Some events of the batch failed; the job is retried for them (the rest are done)."""


async def process_inbox_events(service: Service, event_ids: Sequence[int]) -> str:
    """Process each stored webhook of a batch in its own transaction; a summary of outcomes.

    Raises InboxEventsFailed, after trying every event, when any of them failed.
    """
    outcomes: Counter[str] = Counter()
    failed: list[int] = []
    first_error: Exception | None = None
    for event_id in event_ids:
        with bound_contextvars(inbox_event_id=event_id):
            try:
                outcomes[await process_inbox_event(service, event_id)] += 1
            except Exception as exc:  # the others of the batch still get their turn
                log.warning("partner webhook processing failed", error=type(exc).__name__)
                failed.append(event_id)
                first_error = first_error or exc
    if first_error is not None:
        message = f"{len(failed)} of {len(event_ids)} failed: {failed[:20]}"
        raise InboxEventsFailed(message) from first_error
    return ", ".join(f"{n} {outcome}" for outcome, n in sorted(outcomes.items()))


async def process_inbox_event(service: Service, event_id: int) -> str:
    async with service.engine.begin() as conn:
        row = (
            await conn.execute(
                select(t.inbox_events.c.hub, t.inbox_events.c.body, t.inbox_events.c.processed_at)
                .where(t.inbox_events.c.id == event_id)
                .with_for_update()
            )
        ).first()
        if row is None or row.processed_at is not None:
            return "already processed"
        done = t.inbox_events.update().where(t.inbox_events.c.id == event_id)
        try:
            hub = service.hub(row.hub)
            event = parse_event(row.body)
        except (EventError, UnknownHub) as exc:
            # Kept and visible, never dropped: an operator can read why.
            await conn.execute(done.values(processed_at=func.now(), error=str(exc)[:500]))
            log.warning("partner webhook not usable", inbox_id=event_id, error=str(exc)[:200])
            return "unusable"
        outcome = await apply_inputs(conn, hub, service.product_of(hub), [event], source="webhook")
        if event.kind is EventKind.UNKNOWN and not outcome.channels:
            # About no channel we know: still surfaced on the timeline, never dropped.
            detail = {"unknown_event": True, "inbox_id": event_id}
            await record(conn, hub, "webhook", event.name, detail, client_id=event.client_id)
        await conn.execute(
            done.values(
                processed_at=func.now(),
                event_type=event.name,
                channel_id=event.channel_id,
                client_id=event.client_id,
            )
        )
    return event.kind.value
