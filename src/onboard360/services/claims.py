"""Claiming a client for a product user: the one explicit way to bind a client.

A client is nobody's when it reached onboard360 without an attempt of ours (a direct
link, 360dialog's own hub, a hub adopted with clients) or when its redirect was a
conflict (services/redirects.py). The product (``POST /api/v1/clients/{id}/claim``) or an
operator (the dashboard) claims it for an ``external_user_id``:

1. 360dialog must confirm the client exists under the hub (the Partner API; no claim is
   decided on onboard360's own rows alone);
2. under the client's binding lock: a client bound to another user is refused
   (``already_claimed``) unless an operator explicitly re-assigns it (audited); a claim
   for the user it already has changes nothing;
3. the client is bound, 360dialog's channels of it are recorded, the attempts of that user
   whose redirect was a conflict over this client are applied now (their verified
   channels, ``onboarding.completed``), and the product gets ``client.claimed``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncConnection

from onboard360.config.hubs import HubConfig
from onboard360.db import stages, state_rows
from onboard360.db import tables as t
from onboard360.db.state_rows import CLIENTS
from onboard360.domain import (
    ClientId,
    ClientState,
    Entitled,
    Entitlement,
    Input,
    NotifyProduct,
    ProductEvent,
    may_claim,
    parse_redirect,
)
from onboard360.jobs.effects import notify_product
from onboard360.jobs.transition import apply_inputs, record
from onboard360.services.audit import audit
from onboard360.services.redirects import Outcome, client_owner, lock_client, settle
from onboard360.services.refusals import ClaimRefused
from onboard360.services.source import Source
from onboard360.services.verification import Learnt, Unverifiable, learn
from onboard360.wiring.service import Service


@dataclass(frozen=True)
class Claimed:
    client_id: str
    external_user_id: str
    previous: str | None
    changed: bool
    attempts_applied: int = 0


async def claim(
    service: Service,
    hub: HubConfig,
    client: ClientId,
    external_user_id: str,
    *,
    source: Source,
    reassign: bool = False,
) -> Claimed:
    """Bind ``client`` to ``external_user_id`` once 360dialog confirms it (module docstring).

    ``reassign`` (an operator's explicit re-assignment) is the only way to take a client
    from the user it is bound to; ``source`` says who asked.
    """
    try:
        learnt = await learn(service, hub, client, service.engine)
    except Unverifiable as exc:
        raise ClaimRefused(
            f"360dialog cannot confirm the client now: {exc}", code="hub_unavailable", status=503
        ) from None
    if not learnt.facts.exists:
        raise ClaimRefused("360dialog knows no such client under this hub", code="not_found")
    async with service.engine.begin() as conn:
        await lock_client(conn, hub, client)
        previous = await client_owner(conn, hub, client)
        if not may_claim(previous, external_user_id, reassign=reassign):
            raise ClaimRefused(
                "this client is bound to another user; only an operator can re-assign it",
                code="already_claimed",
            )
        if previous == external_user_id:
            return Claimed(client, external_user_id, previous, changed=False)
        await _lock_in_order(conn, hub, client, external_user_id, learnt)
        await _bind(conn, service, hub, client, external_user_id, learnt=learnt, source=str(source))
        applied = await _settle_conflicts(conn, service, hub, client, external_user_id, learnt)
        await record(
            conn,
            hub,
            str(source),
            "client_claimed",
            {"external_user_id": external_user_id, "reassigned": previous is not None},
            client_id=client,
        )
        claimed = NotifyProduct(ProductEvent.CLIENT_CLAIMED, client, detail=external_user_id)
        await notify_product(conn, hub, service.product_of(hub), claimed, None)
    return Claimed(client, external_user_id, previous, changed=True, attempts_applied=applied)


async def _bind(
    conn: AsyncConnection,
    service: Service,
    hub: HubConfig,
    client: ClientId,
    external_user_id: str,
    *,
    learnt: Learnt,
    source: str,
) -> None:
    """Record 360dialog's channels of the client, entitle them, then bind it."""
    inputs: list[Input] = [
        *learnt.snapshots.values(),
        *(Entitled(c, Entitlement.CLAIMED) for c in learnt.snapshots),
    ]
    if inputs:
        await apply_inputs(conn, hub, service.product_of(hub), inputs, source=source)
    else:  # a client without channels yet: its row, so it can be bound
        await state_rows.create(conn, hub.name, CLIENTS, {client: ClientState(client, known=True)})
    await conn.execute(
        t.clients.update()
        .where(t.clients.c.hub == hub.name, t.clients.c.client_id == client)
        .values(external_user_id=external_user_id)
    )
    await stages.refresh(conn, hub.name, client_ids=[client])


def _conflicts_of(hub: HubConfig, client: ClientId, external_user_id: str) -> Select[Any]:
    return (
        select(t.onboardings)
        .where(
            t.onboardings.c.hub == hub.name,
            t.onboardings.c.client_id == client,
            t.onboardings.c.external_user_id == external_user_id,
            t.onboardings.c.verification == Outcome.CONFLICT.value,
        )
        .order_by(t.onboardings.c.sequence)
    )


async def _lock_in_order(
    conn: AsyncConnection,
    hub: HubConfig,
    client: ClientId,
    external_user_id: str,
    learnt: Learnt,
) -> None:
    """The client, every channel the claim and its settled conflicts touch, then the
    client's onboardings: db/stages.py's one lock order, before anything is written."""
    conflicts = (await conn.execute(_conflicts_of(hub, client, external_user_id))).all()
    named = [parse_redirect(row.redirect_query or "") for row in conflicts]
    channels = {*learnt.snapshots, *(c for r in named for c in (*r.channels, *r.revoked))}
    await stages.lock_in_order(conn, hub.name, client_ids=[client], channel_ids=channels)


async def _settle_conflicts(  # noqa: PLR0917 - one claim's facts
    conn: AsyncConnection,
    service: Service,
    hub: HubConfig,
    client: ClientId,
    external_user_id: str,
    learnt: Learnt,
) -> int:
    """Apply this user's attempts whose redirect over this client was a conflict."""
    rows = (await conn.execute(_conflicts_of(hub, client, external_user_id))).all()
    for row in rows:
        query = row.redirect_query or ""
        await settle(
            conn, service, hub, row, parse_redirect(query), query, learnt, conflict_settled=True
        )
    return len(rows)


@dataclass(frozen=True)
class OperatorClaim:
    outcome: str  # claimed, reassigned, unchanged; or refused (``refused``: its code)
    refused: str | None = None


async def claim_for_operator(
    service: Service,
    hub: HubConfig,
    client: ClientId,
    external_user_id: str,
    *,
    source: Source,
    reassign: bool,
) -> OperatorClaim:
    """An operator's claim (the dashboard's): claim(), and one audit row saying what came
    of it, refused or done."""
    detail: dict[str, Any] = {
        "hub": hub.name,
        "client_id": client,
        "external_user_id": external_user_id,
    }
    try:
        done = await claim(service, hub, client, external_user_id, source=source, reassign=reassign)
    except ClaimRefused as exc:
        result = OperatorClaim("refused", exc.code)
        detail["outcome"] = f"refused:{exc.code}"
    else:
        outcome = "reassigned" if done.previous else ("claimed" if done.changed else "unchanged")
        result = OperatorClaim(outcome)
        detail.update(outcome=outcome, previous=done.previous)
    async with service.engine.begin() as conn:
        target = f"client:{hub.name}/{client}"
        await audit(conn, source.operator_id, "claim-client", target, detail)
    return result
