"""Turn a stored partner webhook into lifecycle transitions."""

from __future__ import annotations

from sqlalchemy import func, select

from onboard360.db import tables as t
from onboard360.domain import EventError, EventKind, parse_event
from onboard360.jobs.transition import apply_inputs, record
from onboard360.logging import get_logger
from onboard360.service import Service, UnknownHub

log = get_logger(__name__)


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
