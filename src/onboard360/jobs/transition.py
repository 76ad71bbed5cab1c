"""Load state, let the domain decide, persist the new state and its effects — one transaction.

``apply_inputs`` is the only place where client and channel rows change. It runs inside
the caller's transaction, locks every row it touches (clients before channels, each in
id order, so two transitions never deadlock), and turns effects into rows and jobs in
that same transaction: a crash at any line leaves either everything or nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from onboard360.db import codec
from onboard360.db import tables as t
from onboard360.domain import (
    Billing,
    ChannelId,
    ChannelState,
    ClientId,
    ClientState,
    DiscardKey,
    Effect,
    EventKind,
    Input,
    KeyStatus,
    NotifyProduct,
    PartnerEvent,
    ProductEvent,
    ProvisionKey,
    apply,
    apply_client,
    channels_touched,
    client_of,
    may_generate_key,
)
from onboard360.hubs_config import HubConfig, ProductConfig
from onboard360.jobs.defer import Job, defer

PROVISION_TASK = "provision_key"
DELIVER_TASK = "deliver_product_event"
MESSAGING_TASK = "configure_messaging"


@dataclass
class Outcome:
    """What a transition did, for the caller's logs and tests."""

    effects: list[Effect] = field(default_factory=list)
    channels: dict[ChannelId, ChannelState] = field(default_factory=dict)
    clients: dict[ClientId, ClientState] = field(default_factory=dict)


async def apply_inputs(
    conn: AsyncConnection,
    hub: HubConfig,
    product: ProductConfig,
    items: Sequence[Input],
    *,
    source: str,
    external_user_id: str | None = None,
) -> Outcome:
    client_ids = list(dict.fromkeys(c for item in items if (c := client_of(item))))
    channel_ids = list(
        dict.fromkeys(
            [c for item in items for c in channels_touched(item)]
            + await _channels_by_phone(conn, hub, items)
        )
    )
    clients = await _lock_clients(conn, hub, client_ids, external_user_id)
    channels = await _lock_channels(conn, hub, channel_ids)
    outcome = Outcome()
    for item in items:
        for cid, client in clients.items():
            clients[cid], effects = apply_client(client, item)
            outcome.effects.extend(effects)
        for chid, channel in channels.items():
            channels[chid], effects = apply(channel, item)
            outcome.effects.extend(effects)
            if effects or _is_about(channel, item):
                await _timeline(conn, hub, channels[chid], item, source)
    await _save(conn, hub, clients, channels)
    await carry_out(conn, hub, product, outcome.effects, channels)
    outcome.channels, outcome.clients = channels, clients
    return outcome


def _is_about(channel: ChannelState, item: Input) -> bool:
    return channel.channel_id in channels_touched(item)


async def _channels_by_phone(
    conn: AsyncConnection, hub: HubConfig, items: Sequence[Input]
) -> list[ChannelId]:
    # account_violation names only the phone number (doc).
    phones = [
        item.phone_number
        for item in items
        if isinstance(item, PartnerEvent) and item.channel_id is None and item.phone_number
    ]
    if not phones:
        return []
    rows = await conn.execute(
        select(t.channels.c.channel_id).where(
            t.channels.c.hub == hub.name, t.channels.c.phone_number.in_(phones)
        )
    )
    return [ChannelId(row.channel_id) for row in rows]


async def _lock_clients(
    conn: AsyncConnection, hub: HubConfig, ids: list[ClientId], external_user_id: str | None
) -> dict[ClientId, ClientState]:
    if not ids:
        return {}
    rows = [
        {"hub": hub.name, "client_id": cid, "state": codec.client_to_json(ClientState(cid))}
        for cid in ids
    ]
    await conn.execute(insert(t.clients).values(rows).on_conflict_do_nothing())
    if external_user_id is not None:
        await conn.execute(
            t.clients.update()
            .where(t.clients.c.hub == hub.name, t.clients.c.client_id.in_(ids))
            .where(t.clients.c.external_user_id.is_(None))
            .values(external_user_id=external_user_id)
        )
    locked = await conn.execute(
        select(t.clients.c.client_id, t.clients.c.state)
        .where(t.clients.c.hub == hub.name, t.clients.c.client_id.in_(ids))
        .order_by(t.clients.c.client_id)
        .with_for_update()
    )
    return {ClientId(r.client_id): codec.client_from_json(r.state) for r in locked}


async def _lock_channels(
    conn: AsyncConnection, hub: HubConfig, ids: list[ChannelId]
) -> dict[ChannelId, ChannelState]:
    if not ids:
        return {}
    rows = [_channel_row(hub, ChannelState(cid, Billing(hub.billing))) for cid in ids]
    await conn.execute(insert(t.channels).values(rows).on_conflict_do_nothing())
    locked = await conn.execute(
        select(t.channels.c.channel_id, t.channels.c.state)
        .where(t.channels.c.hub == hub.name, t.channels.c.channel_id.in_(ids))
        .order_by(t.channels.c.channel_id)
        .with_for_update()
    )
    return {ChannelId(r.channel_id): codec.channel_from_json(r.state) for r in locked}


def _channel_row(hub: HubConfig, state: ChannelState) -> dict[str, Any]:
    verdict = may_generate_key(state)
    return {
        "hub": hub.name,
        "channel_id": state.channel_id,
        "client_id": state.client_id,
        "phone_number": state.phone_number,
        "status": state.status,
        "permission": state.permission.value,
        "key_status": state.key.value,
        "key_intent": state.key_intent,
        "blocker": None if verdict.allowed else verdict.blocker,
        "reason": verdict.message,
        "state": codec.channel_to_json(state),
    }


async def _save(
    conn: AsyncConnection,
    hub: HubConfig,
    clients: dict[ClientId, ClientState],
    channels: dict[ChannelId, ChannelState],
) -> None:
    for cid, client in clients.items():
        await conn.execute(
            t.clients.update()
            .where(t.clients.c.hub == hub.name, t.clients.c.client_id == cid)
            .values(state=codec.client_to_json(client), updated_at=func.now())
        )
    for chid, channel in channels.items():
        row = _channel_row(hub, channel)
        del row["hub"], row["channel_id"]
        await conn.execute(
            t.channels.update()
            .where(t.channels.c.hub == hub.name, t.channels.c.channel_id == chid)
            .values(**row, updated_at=func.now())
        )


async def _timeline(
    conn: AsyncConnection, hub: HubConfig, state: ChannelState, item: Input, source: str
) -> None:
    kind = item.name if isinstance(item, PartnerEvent) else type(item).__name__
    detail = {
        "status": state.status,
        "permission": state.permission.value,
        "key": state.key.value,
        "key_intent": state.key_intent,
    }
    if isinstance(item, PartnerEvent) and item.kind is EventKind.UNKNOWN:
        detail["unknown_event"] = True
    await record(
        conn, hub, source, kind, detail, client_id=state.client_id, channel_id=state.channel_id
    )


async def record(
    conn: AsyncConnection,
    hub: HubConfig,
    source: str,
    kind: str,
    detail: dict[str, Any],
    *,
    client_id: str | None = None,
    channel_id: str | None = None,
) -> None:
    """One timeline line: what happened, for people. Never put a key in ``detail``."""
    await conn.execute(
        t.timeline.insert().values(
            hub=hub.name,
            client_id=client_id,
            channel_id=channel_id,
            source=source,
            kind=kind,
            detail=detail,
        )
    )


# ---- effects ------------------------------------------------------------------------------


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


def _dedupe_suffix(effect: NotifyProduct, state: ChannelState | None) -> str:
    if state is None:
        return ""
    if effect.event in (ProductEvent.CHANNEL_ACTIVATED, ProductEvent.KEY_ROTATED):
        return f":{state.key_intent}"
    if effect.event in (ProductEvent.PERMISSION_GRANTED, ProductEvent.PERMISSION_REVOKED):
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
        lock = f"deliver:{product.name}:{subject}"
        jobs.append(Job(DELIVER_TASK, {"event_id": event_id}, lock=lock))
    activated = effect.event in (ProductEvent.CHANNEL_ACTIVATED, ProductEvent.KEY_ROTATED)
    if activated and product.messaging_webhook_url and effect.channel_id:
        args = {"hub": hub.name, "channel_id": effect.channel_id}
        jobs.append(Job(MESSAGING_TASK, args, lock=key_lock(hub, effect.channel_id)))
    await defer(conn, *jobs)
