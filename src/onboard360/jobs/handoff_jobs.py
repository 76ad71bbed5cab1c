"""Hand events and channels to the partner's product: signed webhooks, messaging webhook."""

from __future__ import annotations

import time

from sqlalchemy import func, select

from onboard360 import metrics
from onboard360.db import tables as t
from onboard360.handoff import deliver
from onboard360.jobs.keys import stored_key
from onboard360.jobs.transition import record
from onboard360.logging import get_logger
from onboard360.service import Service

log = get_logger(__name__)


class DeliveryFailed(Exception):
    """The product did not accept the event; the job will be retried with backoff."""


async def deliver_product_event(service: Service, event_id: str) -> str:
    async with service.engine.connect() as conn:
        row = (
            await conn.execute(select(t.product_events).where(t.product_events.c.id == event_id))
        ).first()
    if row is None or row.delivered_at is not None:
        return "nothing to deliver"
    product = service.settings.product(row.product)
    if product is None or not product.webhook_url:
        return "the product takes no webhooks"
    result = await deliver(
        service.http,
        product.webhook_url,
        product.webhook_secrets,
        row.id,
        row.event_type,
        row.payload,
        now=int(time.time()),
        occurred_at=row.created_at,
    )
    async with service.engine.begin() as conn:
        await conn.execute(
            t.product_events.update()
            .where(t.product_events.c.id == event_id)
            .values(
                attempts=t.product_events.c.attempts + 1,
                last_status=result.status,
                last_error=result.error,
                delivered_at=func.now() if result.ok else None,
            )
        )
    outcome = "delivered" if result.ok else "gone" if result.gone else "failed"
    metrics.PRODUCT_DELIVERIES.labels(product.name, outcome).inc()
    if result.ok:
        return "delivered"
    log.warning("product event not accepted", event_id=event_id, status=result.status)
    if result.gone:
        return "endpoint gone"
    raise DeliveryFailed(result.error or "not accepted")


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
