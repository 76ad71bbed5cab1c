"""What an operator does about a stuck channel or client, beside the product's own
commands: confirm a permission the client granted, queue a failed key job again, reconcile
a client now, resend an event. Each names its source (``dashboard:operator-<id>``) on the
timeline.

``confirm_permission``, ``requeue_key`` and ``resend_event`` run in the caller's
transaction (the dashboard's confirmed action: plan, do and audit in one);
``reconcile_client`` reads 360dialog first and owns its transaction and audit row.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from onboard360.config.hubs import HubConfig
from onboard360.db.queries.deliveries import product_event
from onboard360.db.queries.subjects import channel_state
from onboard360.domain import ChannelId, ChannelSnapshot, PermissionConfirmed, SnapshotError
from onboard360.hub import HubError
from onboard360.jobs.queue import defer, provision_job
from onboard360.jobs.replay import replay_event
from onboard360.jobs.transition import apply_inputs
from onboard360.services.audit import audit
from onboard360.services.refusals import Refused
from onboard360.services.source import Source
from onboard360.wiring.service import Service


class NowhereToSend(Refused):
    """The product takes no webhooks: there is nowhere to send it."""

    code = "no_webhook_url"
    status = 409


async def confirm_permission(
    conn: AsyncConnection, service: Service, hub: HubConfig, channel: ChannelId, source: Source
) -> int:
    """Mark the channel's API-key permission granted (the client granted it in their hub);
    a key is then generated. The sequence number the confirmation took."""
    sequence = int(await conn.scalar(text("SELECT nextval('onboarding_sequence')")) or 0)
    confirmed = PermissionConfirmed(channel, sequence)
    await apply_inputs(conn, hub, service.product_of(hub), [confirmed], source=str(source))
    return sequence


async def requeue_key(conn: AsyncConnection, hub: HubConfig, channel: ChannelId) -> int:
    """Queue the key job of the channel's current intent again (its job failed for good);
    the intent. The key ledger still allows one generation per intent."""
    state = await channel_state(conn, hub.name, channel)
    await defer(conn, provision_job(hub.name, channel, state.key_intent))
    return state.key_intent


async def resend_event(
    conn: AsyncConnection, service: Service, event_id: str, attempts_seen: str
) -> tuple[bool, Any]:
    """Queue the event again unless it changed since the operator looked (``attempts_seen``)
    or is queued already; whether it was queued, and the event."""
    row = await product_event(conn, event_id, lock=True)
    if row is None:
        raise Refused("There is no such event.", code="not_found")
    product = service.settings.product(row.product)
    if product is None or not product.webhook_url:
        raise NowhereToSend
    if str(row.attempts) != attempts_seen:
        return False, row
    return await replay_event(conn, product.name, row.id), row


@dataclass(frozen=True)
class Reconciled:
    done: str  # reconcile_done, reconcile_failed
    detail: dict[str, Any]


async def reconcile_client(
    service: Service, hub: HubConfig, client_id: str, *, source: Source, audit_as: str
) -> Reconciled:
    """Read the client's channels from 360dialog now and apply what it lists; one audit
    row (``audit_as``) says what came of it, a failure to ask included."""
    target = f"client:{hub.name}/{client_id}"
    named = {"hub": hub.name, "client_id": client_id}
    try:
        snapshots = await _client_channels(service, hub, client_id)
    except HubError as exc:
        done = Reconciled("reconcile_failed", {"error": str(exc)})
    else:
        async with service.engine.begin() as conn:
            product = service.product_of(hub)
            outcome = await apply_inputs(conn, hub, product, snapshots, source=str(source))
            detail = {"channels_seen": len(snapshots), "changed": len(outcome.changed_channels)}
            done = Reconciled("reconcile_done", detail)
            await audit(
                conn,
                source.operator_id,
                audit_as,
                target,
                {**named, "outcome": done.done, **detail},
            )
        return done
    async with service.engine.begin() as conn:
        detail = {**named, "outcome": done.done, **done.detail}
        await audit(conn, source.operator_id, audit_as, target, detail)
    return done


async def _client_channels(
    service: Service, hub: HubConfig, client_id: str
) -> list[ChannelSnapshot]:
    """The client's channels as 360dialog lists them; before any transaction (HTTP)."""
    snapshots: list[ChannelSnapshot] = []
    api = service.partner_api(hub)
    async for channel in api.iter_channels(filters={"client_id": client_id}):
        try:
            snapshots.append(ChannelSnapshot.from_api(channel.raw))
        except SnapshotError:
            continue  # counted by the periodic sync; nothing an operator can do here
    return snapshots
