"""Carry out the lifecycle's effects inside the transition's transaction: rows and jobs."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from onboard360.db import tables as t
from onboard360.domain import (
    ChannelId,
    ChannelState,
    DiscardKey,
    Effect,
    KeyStatus,
    NotifyProduct,
    ProductEvent,
    ProvisionKey,
    may_generate_key,
)
from onboard360.hubs_config import HubConfig, ProductConfig
from onboard360.jobs.defer import Job, defer

PROVISION_TASK = "provision_key"
DELIVER_TASK = "deliver_product_event"
MESSAGING_TASK = "configure_messaging"


async def carry_out(
    conn: AsyncConnection,
    hub: HubConfig,
    product: ProductConfig,
    effects: Sequence[Effect],
    channels: dict[ChannelId, ChannelState],
) -> None:
    for effect in effects:
        if isinstance(effect, ProvisionKey):
            await _provision(conn, hub, effect)
        elif isinstance(effect, DiscardKey):
            await _discard(conn, hub, effect)
        elif isinstance(effect, NotifyProduct):
            state = channels.get(effect.channel_id) if effect.channel_id else None
            await notify_product(conn, hub, product, effect, state)


def key_lock(hub: HubConfig, channel_id: str) -> str:
    """The procrastinate lock that serialises every key job of one channel."""
    return f"key:{hub.name}:{channel_id}"


def deliver_job(product: str, event_id: str, subject: str) -> Job:
    """The job that hands one event to the product; one subject's events go one at a time."""
    return Job(DELIVER_TASK, {"event_id": event_id}, lock=f"deliver:{product}:{subject}")


async def _provision(conn: AsyncConnection, hub: HubConfig, effect: ProvisionKey) -> None:
    inserted = await conn.execute(
        insert(t.key_generations)
        .values(
            hub=hub.name,
            channel_id=effect.channel_id,
            intent=effect.intent,
            rotation=effect.rotation,
            status="pending",
            attempts=0,
        )
        .on_conflict_do_nothing()
        .returning(t.key_generations.c.intent)
    )
    if inserted.first() is None:
        return  # this intent was already asked for: the job exists
    job = Job(
        PROVISION_TASK,
        {"hub": hub.name, "channel_id": effect.channel_id, "intent": effect.intent},
        lock=key_lock(hub, effect.channel_id),
    )
    await defer(conn, job)


async def _discard(conn: AsyncConnection, hub: HubConfig, effect: DiscardKey) -> None:
    await conn.execute(
        t.api_keys.update()
        .where(
            t.api_keys.c.hub == hub.name,
            t.api_keys.c.channel_id == effect.channel_id,
            t.api_keys.c.discarded_at.is_(None),
        )
        .values(discarded_at=func.now())
    )
    await conn.execute(
        t.key_generations.update()
        .where(
            t.key_generations.c.hub == hub.name,
            t.key_generations.c.channel_id == effect.channel_id,
            t.key_generations.c.intent == effect.intent,
            t.key_generations.c.status == "pending",
        )
        .values(status="discarded", updated_at=func.now())
    )


# At most one of each per redirect / confirmation (property-tested in the domain): a key
# provisioning that proves API-key permission keeps the sequence of the redirect before it.
_BY_SEQUENCE = frozenset(
    {ProductEvent.CHANNEL_SHARED, ProductEvent.PERMISSION_GRANTED, ProductEvent.PERMISSION_REVOKED}
)


def _dedupe_suffix(effect: NotifyProduct, state: ChannelState | None) -> str:
    if state is None:
        return ""
    if effect.event in (ProductEvent.CHANNEL_ACTIVATED, ProductEvent.KEY_ROTATED):
        return f":{state.key_intent}"
    if effect.event in _BY_SEQUENCE:
        return f":{state.permission_sequence}"
    if effect.event is ProductEvent.PERMISSION_REFUSED:
        return f":{state.key_intent}"
    if effect.event is ProductEvent.CHANNEL_VIOLATION:
        return f":{effect.detail}"
    return ""


def product_payload(
    hub: HubConfig, effect: NotifyProduct, state: ChannelState | None
) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "hub": hub.name,
        "partner_id": hub.partner_id,
        "client_id": effect.client_id,
        "channel_id": effect.channel_id,
    }
    if effect.detail:
        payload["detail"] = effect.detail
    if state is not None:
        verdict = may_generate_key(state)
        payload.update(
            phone_number=state.phone_number,
            status=state.status,
            permission=state.permission.value,
            shared=state.shared,
            key_permission=state.key_permission.value,
            api_key_available=state.key is KeyStatus.STORED,
            reason=None if verdict.allowed else verdict.message,
        )
    return payload


async def notify_product(
    conn: AsyncConnection,
    hub: HubConfig,
    product: ProductConfig,
    effect: NotifyProduct,
    state: ChannelState | None,
) -> None:
    subject = effect.channel_id or effect.client_id or ""
    dedupe = f"{effect.event.value}:{hub.name}:{subject}{_dedupe_suffix(effect, state)}"
    event_id = f"msg_{uuid.uuid4().hex}"
    inserted = await conn.execute(
        insert(t.product_events)
        .values(
            id=event_id,
            product=product.name,
            event_type=effect.event.value,
            dedupe_key=dedupe,
            hub=hub.name,
            client_id=effect.client_id,
            channel_id=effect.channel_id,
            payload=product_payload(hub, effect, state),
            attempts=0,
        )
        .on_conflict_do_nothing()
        .returning(t.product_events.c.id)
    )
    if inserted.first() is None:
        return
    jobs = []
    if product.webhook_url:
        jobs.append(deliver_job(product.name, event_id, subject))
    activated = effect.event in (ProductEvent.CHANNEL_ACTIVATED, ProductEvent.KEY_ROTATED)
    if activated and product.messaging_webhook_url and effect.channel_id:
        args = {"hub": hub.name, "channel_id": effect.channel_id}
        jobs.append(Job(MESSAGING_TASK, args, lock=key_lock(hub, effect.channel_id)))
    await defer(conn, *jobs)
