"""Carry out the lifecycle's effects inside the transition's transaction: rows and jobs."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC
from typing import Any

from sqlalchemy import func, text
from sqlalchemy.ext.asyncio import AsyncConnection

from onboard360.config.hubs import HubConfig, ProductConfig
from onboard360.db import tables as t
from onboard360.db.batch import recordset, rows_param
from onboard360.domain import (
    KEY_IMPORTED,
    ChannelId,
    ChannelState,
    DiscardKey,
    Effect,
    KeyStatus,
    NotifyProduct,
    OnboardingFacts,
    ProductEvent,
    ProvisionKey,
    dedupe_key,
    delivery_subject,
    may_generate_key,
)
from onboard360.jobs.queue import JobSpec, defer, deliver_job, messaging_job, provision_job


async def carry_out(
    conn: AsyncConnection,
    hub: HubConfig,
    product: ProductConfig,
    effects: Sequence[Effect],
    channels: dict[ChannelId, ChannelState],
) -> None:
    """Write a call's effects: one statement per table for all of them, one for the jobs.

    The jobs keep the order of the effects that asked for them (jobs sharing a lock run
    in that order). A DiscardKey only ever names an intent provisioned before it (intents
    grow), so discarding after the batch's key_generations insert is the order asked for.
    """
    keys = [(n, e) for n, e in enumerate(effects) if isinstance(e, ProvisionKey)]
    jobs = await _provision(conn, hub, keys)
    for effect in effects:
        if isinstance(effect, DiscardKey):
            await _discard(conn, hub, effect)
    notices = [
        (n, e, channels.get(e.channel_id) if e.channel_id else None)
        for n, e in enumerate(effects)
        if isinstance(e, NotifyProduct)
    ]
    jobs.update(await _notify(conn, hub, product, notices))
    await defer(conn, *(job for n in sorted(jobs) for job in jobs[n]))


# Batch inserts read their rows from one JSON parameter (db/batch.py): one statement text
# whatever the batch size; RETURNING names the new rows, whose jobs are then deferred.
_INSERT_KEY_GENERATIONS = text(
    f"""
    INSERT INTO key_generations (hub, channel_id, intent, rotation, status, attempts)
    SELECT :hub, channel_id, intent, rotation, 'pending', 0
    FROM {recordset({"channel_id": "text", "intent": "int", "rotation": "boolean"})}
    ON CONFLICT DO NOTHING
    RETURNING channel_id, intent
    """  # noqa: S608 - names are ours
)

_EVENT_COLUMNS = {
    "id": "text",
    "event_type": "text",
    "dedupe_key": "text",
    "client_id": "text",
    "channel_id": "text",
    "payload": "jsonb",
}
_INSERT_PRODUCT_EVENTS = text(
    f"""
    INSERT INTO product_events
        (product, hub, attempts, {", ".join(_EVENT_COLUMNS)})
    SELECT :product, :hub, 0, {", ".join(_EVENT_COLUMNS)}
    FROM {recordset(_EVENT_COLUMNS)}
    ON CONFLICT DO NOTHING
    RETURNING id
    """  # noqa: S608 - names are ours
)


async def _provision(
    conn: AsyncConnection, hub: HubConfig, effects: Sequence[tuple[int, ProvisionKey]]
) -> dict[int, list[JobSpec]]:
    """Ask for each new intent once: its ledger row, and the job when the row is new."""
    first: dict[tuple[str, int], tuple[int, ProvisionKey]] = {}
    for n, effect in effects:
        first.setdefault((effect.channel_id, effect.intent), (n, effect))
    if not first:
        return {}
    asked = [effect for _n, effect in first.values()]
    inserted = await conn.execute(
        _INSERT_KEY_GENERATIONS,
        {
            "hub": hub.name,
            "rows": rows_param(
                {"channel_id": e.channel_id, "intent": e.intent, "rotation": e.rotation}
                for e in asked
            ),
        },
    )
    # A row that existed means this intent was already asked for: its job exists.
    new = {(row.channel_id, row.intent) for row in inserted}
    return {
        n: [provision_job(hub.name, effect.channel_id, effect.intent)]
        for key, (n, effect) in first.items()
        if key in new
    }


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


def _onboarding_payload(
    hub: HubConfig, effect: NotifyProduct, facts: OnboardingFacts
) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "hub": hub.name,
        "partner_id": hub.partner_id,
        "onboarding_id": facts.onboarding_id,
        "external_user_id": facts.external_user_id,
    }
    if effect.event is ProductEvent.ONBOARDING_STARTED:
        expires = facts.expires_at.astimezone(UTC).isoformat() if facts.expires_at else None
        payload.update(returning_client=facts.returning_client, expires_at=expires)
    elif effect.event is ProductEvent.ONBOARDING_ABANDONED:
        payload.update(
            client_id=effect.client_id,
            channel_id=effect.channel_id,
            step=facts.step,
            blocker=facts.blocker,
            reason=facts.reason,
            # What gives the same user a fresh link with the same prefill.
            resume=f"/api/v1/onboardings/{facts.onboarding_id}/resume",
        )
    else:
        payload.update(
            client_id=effect.client_id, channels=list(facts.channels), revoked=list(facts.revoked)
        )
    return payload


def product_payload(
    hub: HubConfig, effect: NotifyProduct, state: ChannelState | None
) -> dict[str, Any]:
    if effect.onboarding is not None:
        return _onboarding_payload(hub, effect, effect.onboarding)
    payload: dict[str, Any] = {
        "hub": hub.name,
        "partner_id": hub.partner_id,
        "client_id": effect.client_id,
        "channel_id": effect.channel_id,
    }
    if effect.event is ProductEvent.CLIENT_CLAIMED:
        payload["external_user_id"] = effect.detail
    elif effect.detail:
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
    """One product event (a batch of one), outside a lifecycle transition: e.g. an
    onboarding attempt started or completed, in the transaction that writes its row."""
    jobs = await _notify(conn, hub, product, [(0, effect, state)])
    await defer(conn, *jobs.get(0, ()))


@dataclass(frozen=True)
class _Notice:
    """A product event row about to be written, and where its effect stood in the call."""

    n: int
    effect: NotifyProduct
    event_id: str
    subject: str
    payload: dict[str, Any]


async def _notify(
    conn: AsyncConnection,
    hub: HubConfig,
    product: ProductConfig,
    notices: Sequence[tuple[int, NotifyProduct, ChannelState | None]],
) -> dict[int, list[JobSpec]]:
    """Store each event once per dedupe key (the first effect wins) and its jobs if new.

    The key is the domain's (``dedupe_key``): an ``onboarding.*`` event is stored once
    per attempt.
    """
    rows: dict[str, _Notice] = {}
    for n, effect, state in notices:
        onboarding = effect.onboarding.onboarding_id if effect.onboarding else None
        subject = delivery_subject(effect.channel_id, effect.client_id, onboarding)
        dedupe = dedupe_key(hub.name, effect, state)
        if dedupe not in rows:
            payload = product_payload(hub, effect, state)
            rows[dedupe] = _Notice(n, effect, f"msg_{uuid.uuid4().hex}", subject, payload)
    if not rows:
        return {}
    inserted = await conn.execute(
        _INSERT_PRODUCT_EVENTS,
        {
            "hub": hub.name,
            "product": product.name,
            "rows": rows_param(
                {
                    "id": row.event_id,
                    "event_type": row.effect.event.value,
                    "dedupe_key": dedupe,
                    "client_id": row.effect.client_id,
                    "channel_id": row.effect.channel_id,
                    "payload": row.payload,
                }
                for dedupe, row in rows.items()
            ),
        },
    )
    new = {row.id for row in inserted}
    return {row.n: _notice_jobs(hub, product, row) for row in rows.values() if row.event_id in new}


def _notice_jobs(hub: HubConfig, product: ProductConfig, row: _Notice) -> list[JobSpec]:
    effect = row.effect
    jobs = []
    if product.webhook_url:
        jobs.append(deliver_job(product.name, row.event_id, row.subject))
    activated = effect.event in (ProductEvent.CHANNEL_ACTIVATED, ProductEvent.KEY_ROTATED)
    # An imported key is the partner's current system's: its messaging webhook stays where
    # that system set it until someone asks to move it.
    if (
        activated
        and effect.detail != KEY_IMPORTED
        and product.messaging_webhook_url
        and effect.channel_id
    ):
        jobs.append(messaging_job(hub.name, effect.channel_id))
    return jobs
