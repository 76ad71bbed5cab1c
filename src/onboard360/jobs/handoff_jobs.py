"""Hand events and channels to the partner's product: signed webhooks, messaging webhook."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from onboard360.db import tables as t
from onboard360.db.stages import stamp_activated
from onboard360.domain.effects import ProductEvent
from onboard360.handoff import deliver
from onboard360.jobs.backoff import DeliveryFailed
from onboard360.jobs.endpoints import endpoint_state, note_failure, note_success
from onboard360.jobs.keys import stored_key
from onboard360.jobs.transition import record
from onboard360.runtime import metrics
from onboard360.runtime.logging import get_logger
from onboard360.wiring.service import Service

log = get_logger(__name__)


async def deliver_product_event(
    service: Service, event_id: str, *, last_attempt: bool = False
) -> str:
    """One attempt at handing the event to the product, logged in delivery_attempts.

    ``last_attempt``: the retry schedule ends here, so a failure makes the event dead
    (``failed_at``) until it is replayed.
    """
    async with service.engine.connect() as conn:
        row = (
            await conn.execute(select(t.product_events).where(t.product_events.c.id == event_id))
        ).first()
        if row is None or row.delivered_at is not None:
            return "nothing to deliver"
        product = service.settings.product(row.product)
        if product is None or not product.webhook_url:
            return "the product takes no webhooks"
        if not (await endpoint_state(conn, product.name)).enabled:
            metrics.PRODUCT_DELIVERIES.labels(product.name, "held").inc()
            return "endpoint disabled: the event waits until it is enabled"
    started_at = datetime.now(UTC)
    result = await deliver(
        service.http,
        product.webhook_url,
        product.webhook_secrets,
        row.id,
        row.event_type,
        row.payload,
        now=int(started_at.timestamp()),
        occurred_at=row.created_at,
        timeout=product.webhook_timeout_seconds,
    )
    dead = not result.ok and not result.gone and last_attempt
    async with service.engine.begin() as conn:
        if result.ok and row.event_type == ProductEvent.CHANNEL_ACTIVATED and row.channel_id:
            # The funnel's last step (db/stages.py); before the event's own row, in the
            # order a transition takes onboardings, then events.
            await stamp_activated(conn, row.hub, row.channel_id)
        attempt = await conn.scalar(
            t.product_events.update()
            .where(t.product_events.c.id == event_id)
            .values(
                attempts=t.product_events.c.attempts + 1,
                last_status=result.status,
                last_error=result.error,
                delivered_at=func.now() if result.ok else None,
                failed_at=func.now() if dead else None,
            )
            .returning(t.product_events.c.attempts)
        )
        await conn.execute(
            t.delivery_attempts.insert().values(
                event_id=event_id,
                product=product.name,
                attempt=attempt,
                started_at=started_at,
                duration_ms=round(result.duration_ms),
                status=result.status,
                error_class=result.error_class,
                error=result.error,
                response_excerpt=result.excerpt,
            )
        )
        # Ordered by when each attempt ended (jobs/endpoints.py), not when it started.
        ended_at = started_at + timedelta(milliseconds=result.duration_ms)
        if result.ok:
            await note_success(conn, product.name, ended_at)
            disabled = None
        else:
            disabled = await note_failure(
                conn, service.settings, product.name, ended_at, gone=result.gone
            )
    outcome = "delivered" if result.ok else "gone" if result.gone else "failed"
    metrics.PRODUCT_DELIVERIES.labels(product.name, outcome).inc()
    if result.ok:
        return "delivered"
    log.warning(
        "product event not accepted", event_id=event_id, status=result.status, attempt=attempt
    )
    if disabled:
        metrics.PRODUCT_ENDPOINTS_DISABLED.labels(product.name).inc()
        log.warning("product endpoint disabled", product=product.name, reason=disabled)
    if result.gone or disabled:
        return "endpoint disabled: the event waits until it is enabled"
    raise DeliveryFailed(result.error or "not accepted", result.retry_after)


async def configure_messaging(service: Service, hub_name: str, channel_id: str) -> str:
    """Point the channel's messaging webhook at the product (POST /v1/configs/webhook)."""
    hub = service.hub(hub_name)
    product = service.product_of(hub)
    if not product.messaging_webhook_url:
        return "not configured"
    async with service.engine.connect() as conn:
        key = await stored_key(conn, service, hub, channel_id)
    if key is None:
        return "no key"
    await service.messaging_api(hub).set_webhook(key.api_key, product.messaging_webhook_url)
    async with service.engine.begin() as conn:
        await record(
            conn,
            hub,
            "job",
            "messaging_webhook_set",
            {"url": product.messaging_webhook_url},
            channel_id=channel_id,
        )
    return "set"
