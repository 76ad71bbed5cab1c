"""The popup's redirect: verified against 360dialog, then applied — or recorded, never trusted.

The seam with the edges (``web/connect.py``, ``POST /api/v1/redirects``) and the job::

    complete(engine, service, hub, attempt, redirect, query) -> Completed

The edge parses the query (``parse_redirect``) and finds the attempt the redirect belongs
to — today by ``state``; the hosted page's first-party cookie or the onboarding id a
product forwards may replace that — and passes its ``onboardings`` row, or ``None`` when
no attempt of ours is behind the redirect (a direct link, 360dialog's own hub). The edge
refuses what it cannot tie to an attempt it knows of (unknown or expired); this module
decides everything else:

1. A repeat of the attempt's redirect answers as the first did; a different one for a
   used attempt is refused (409, ``RedirectRefused``).
2. 360dialog is asked about the client (services/verification.py). If it cannot answer,
   the redirect is stored on the attempt as ``pending`` and the ``verify_redirect`` job
   applies it once it can (the person sees "confirming with 360dialog…").
3. ``domain.binding.verify`` decides, under a per-client lock: a client bound to this
   attempt's user, or nobody's and created after the attempt began, is bound and its
   confirmed channels get a ``Redirected`` input (which entitles them); any other client
   binds nothing and changes no channel (a *conflict* on the attempt, settled by a claim,
   services/claims.py); a client 360dialog does not know creates nothing.
4. With no attempt, the confirmed channels are recorded from 360dialog's own channel
   objects (``ChannelSnapshot``, which entitles nothing): an unclaimed client.

The attempt row's ``channels`` / ``revoked`` hold only what was verified and applied;
``redirect_query`` keeps what the browser sent, ``ignored`` the ids 360dialog does not
list under the client, ``conflict`` what a refused claim asked for.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from onboard360.config.hubs import HubConfig
from onboard360.db import stages
from onboard360.db import tables as t
from onboard360.domain import (
    Input,
    Redirected,
    RedirectResult,
    attempts,
    parse_redirect,
)
from onboard360.domain.binding import Attempt, Claim, Verdict, verify
from onboard360.jobs.effects import notify_product
from onboard360.jobs.queue import defer, verify_job
from onboard360.jobs.transition import apply_inputs, record
from onboard360.runtime import clock
from onboard360.services.refusals import RedirectRefused
from onboard360.services.verification import DIRECT_LINK_KIND, Learnt, Unverifiable, learn
from onboard360.wiring.service import Service


class Outcome(StrEnum):
    """What became of a redirect (the page the person sees follows from it)."""

    APPLIED = "applied"
    PENDING = "pending"  # 360dialog could not be asked yet: a job finishes it
    CONFLICT = "conflict"  # someone else's client, or older than the attempt
    UNKNOWN_CLIENT = "unknown_client"  # 360dialog knows no such client: nothing recorded
    RECORDED = "recorded"  # no attempt of ours: an unclaimed client


_VERIFICATION = {
    Claim.RETURNING: Outcome.APPLIED,
    Claim.NEW: Outcome.APPLIED,
    Claim.OTHER_USER: Outcome.CONFLICT,
    Claim.OLD_CLIENT: Outcome.CONFLICT,
    Claim.UNKNOWN_CLIENT: Outcome.UNKNOWN_CLIENT,
    Claim.NO_ATTEMPT: Outcome.RECORDED,
}


@dataclass(frozen=True)
class Completed:
    outcome: Outcome
    attempt: Row[Any] | None = None


async def complete(  # noqa: PLR0917 - the seam named in the module docstring
    engine: AsyncEngine,
    service: Service,
    hub: HubConfig,
    attempt: Row[Any] | None,
    redirect: RedirectResult,
    query: str,
) -> Completed:
    """Verify the redirect with 360dialog and apply what it supports (module docstring)."""
    if attempt is not None and attempt.redirected_at is not None:
        return _repeat(attempt, redirect)
    try:
        learnt = await learn(service, hub, redirect.client_id, engine)
    except Unverifiable:
        return await _postpone(engine, hub, attempt, redirect, query)
    async with engine.begin() as conn:
        return await settle(conn, service, hub, attempt, redirect, query, learnt)


async def verify_pending(
    service: Service, hub_name: str, onboarding_id: str | None, query: str
) -> str:
    """The job: verify and apply a redirect 360dialog could not confirm at the time."""
    hub = service.hub(hub_name)
    redirect = parse_redirect(query)
    attempt = None
    if onboarding_id is not None:
        async with service.engine.connect() as conn:
            attempt = await _attempt(conn, uuid.UUID(onboarding_id))
        if attempt is None or attempt.verification != Outcome.PENDING:
            return "nothing pending"
    try:
        learnt = await learn(service, hub, redirect.client_id, service.engine)
    except Unverifiable as exc:
        raise Unverifiable(f"360dialog still cannot confirm the redirect: {exc}") from None
    async with service.engine.begin() as conn:
        done = await settle(conn, service, hub, attempt, redirect, query, learnt)
    return done.outcome.value


async def settle(  # noqa: PLR0917 - one decision's inputs
    conn: AsyncConnection,
    service: Service,
    hub: HubConfig,
    attempt: Row[Any] | None,
    redirect: RedirectResult,
    query: str,
    learnt: Learnt,
    *,
    conflict_settled: bool = False,
) -> Completed:
    """Decide and write under the client's lock, in the caller's transaction.

    An attempt already redirected is decided again only while ``pending`` (the job) or,
    with ``conflict_settled``, while a ``conflict`` a claim just settled.
    """
    await lock_client(conn, hub, redirect.client_id)
    # Rows in the one lock order (db/stages.py): a webhook's transition holds the client's
    # rows and then locks its onboardings; locking the attempt first would deadlock it.
    await stages.lock_in_order(
        conn,
        hub.name,
        client_ids=[redirect.client_id],
        channel_ids=[*redirect.channels, *redirect.revoked],
        onboarding_ids=[] if attempt is None else [attempt.id],
    )
    if attempt is not None:
        attempt = await _attempt(conn, attempt.id, lock=True)
        if attempt is None:
            raise LookupError("the attempt disappeared")
        again = {Outcome.PENDING, *([Outcome.CONFLICT] if conflict_settled else [])}
        if attempt.redirected_at is not None and attempt.verification not in again:
            return _repeat(attempt, redirect)
    owner = await client_owner(conn, hub, redirect.client_id)
    # 360dialog's clock, as far as we know it (a test clock when following one): a client
    # made "in the future" of ours would look like someone else's.
    now = clock.now()
    began = None if attempt is None else Attempt(attempt.external_user_id, attempt.created_at)
    verdict = verify(redirect, learnt.facts, began, owner, now=now)
    outcome = _VERIFICATION[verdict.claim]
    if attempt is None:
        await _record_direct(conn, service, hub, verdict, learnt)
        return Completed(outcome)
    row = await _write_attempt(conn, attempt, redirect, verdict, query)
    if outcome is Outcome.APPLIED:
        await _apply(conn, service, hub, row, verdict)
    else:
        await record(
            conn,
            hub,
            "redirect",
            f"redirect_{outcome.value}",
            {"onboarding_id": str(row.id), "claim": verdict.claim.value, **_claimed(redirect)},
            client_id=redirect.client_id if outcome is Outcome.CONFLICT else None,
        )
    await stages.refresh(conn, hub.name, client_ids=[row.client_id], onboarding_ids=[row.id])
    return Completed(outcome, await _attempt(conn, row.id) or row)  # with its stage


async def lock_client(conn: AsyncConnection, hub: HubConfig, client: str) -> None:
    """Serialise every binding decision about one client (redirects, pending jobs, claims)."""
    await conn.execute(
        text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": f"bind:{hub.name}:{client}"}
    )


async def client_owner(conn: AsyncConnection, hub: HubConfig, client: str) -> str | None:
    owner: str | None = await conn.scalar(
        select(t.clients.c.external_user_id).where(
            t.clients.c.hub == hub.name, t.clients.c.client_id == client
        )
    )
    return owner


def snapshots_of(learnt: Learnt, ids: tuple[str, ...] | list[str]) -> list[Input]:
    """360dialog's channel objects for ``ids`` (those it listed), as lifecycle inputs."""
    return [learnt.snapshots[c] for c in ids if c in learnt.snapshots]  # type: ignore[index]


async def _apply(
    conn: AsyncConnection, service: Service, hub: HubConfig, row: Row[Any], verdict: Verdict
) -> None:
    kept = verdict.redirect
    # The redirect alone, as before verification: statuses still come from webhooks and
    # syncs, so what the redirect applies does not depend on when 360dialog was asked.
    inputs: list[Input] = [Redirected(kept, row.sequence)]
    await apply_inputs(conn, hub, service.product_of(hub), inputs, source="redirect")
    await conn.execute(
        t.clients.update()
        .where(t.clients.c.hub == hub.name, t.clients.c.client_id == kept.client_id)
        .where(t.clients.c.external_user_id.is_(None))
        .values(external_user_id=row.external_user_id)
    )
    await record(
        conn,
        hub,
        "redirect",
        "onboarding_completed",
        {
            "onboarding_id": str(row.id),
            "claim": verdict.claim.value,
            "channels": list(kept.channels),
            "revoked": list(kept.revoked),
            "ignored": list(verdict.ignored),
        },
        client_id=kept.client_id,
    )
    completed = attempts.completed(str(row.id), row.external_user_id, kept)
    await notify_product(conn, hub, service.product_of(hub), completed, None)


async def _record_direct(
    conn: AsyncConnection, service: Service, hub: HubConfig, verdict: Verdict, learnt: Learnt
) -> None:
    """No attempt of ours: record what 360dialog confirms, bound to nobody, entitled to
    nothing; a client 360dialog does not know leaves no trace but the log."""
    if verdict.claim is Claim.UNKNOWN_CLIENT:
        return
    kept = verdict.redirect
    inputs = snapshots_of(learnt, [*kept.channels, *kept.revoked])
    if inputs:
        await apply_inputs(conn, hub, service.product_of(hub), inputs, source="redirect")
    await record(
        conn,
        hub,
        "redirect",
        DIRECT_LINK_KIND,
        {"channels": list(kept.channels), "ignored": list(verdict.ignored)},
        client_id=kept.client_id,
    )


async def _write_attempt(
    conn: AsyncConnection,
    attempt: Row[Any],
    redirect: RedirectResult,
    verdict: Verdict,
    query: str,
) -> Row[Any]:
    outcome = _VERIFICATION[verdict.claim]
    applied = outcome is Outcome.APPLIED
    claimed = verdict.redirect if applied else None
    values: dict[str, Any] = {
        "redirected_at": attempt.redirected_at or datetime.now(UTC),
        "redirect_query": query[:8192],
        "client_id": verdict.redirect.client_id if outcome is not Outcome.UNKNOWN_CLIENT else None,
        "channels": list(claimed.channels) if claimed else [],
        "revoked": list(claimed.revoked) if claimed else [],
        "verification": outcome.value,
        "verified_at": datetime.now(UTC),
        "ignored": list(verdict.ignored),
        "conflict": None if applied else {"claim": verdict.claim.value, **_claimed(redirect)},
    }
    return (
        await conn.execute(
            t.onboardings.update()
            .where(t.onboardings.c.id == attempt.id)
            .values(**values)
            .returning(*t.onboardings.c)
        )
    ).one()


async def _postpone(
    engine: AsyncEngine,
    hub: HubConfig,
    attempt: Row[Any] | None,
    redirect: RedirectResult,
    query: str,
) -> Completed:
    """360dialog cannot be asked now: keep the redirect and let a job apply it."""
    onboarding_id = None if attempt is None else str(attempt.id)
    job = verify_job(hub.name, onboarding_id, query[:8192], redirect.client_id)
    async with engine.begin() as conn:
        row = None
        if attempt is not None:
            row = await _attempt(conn, attempt.id, lock=True)
            if row is None:
                raise LookupError("the attempt disappeared")
            if row.redirected_at is not None:
                return _repeat(row, redirect)
            row = (
                await conn.execute(
                    t.onboardings.update()
                    .where(t.onboardings.c.id == row.id)
                    .values(
                        redirected_at=datetime.now(UTC),
                        redirect_query=query[:8192],
                        channels=[],
                        revoked=[],
                        verification=Outcome.PENDING.value,
                    )
                    .returning(*t.onboardings.c)
                )
            ).one()
            await stages.refresh(conn, hub.name, onboarding_ids=[row.id])
            row = await _attempt(conn, row.id) or row  # with its stage
        await record(
            conn,
            hub,
            "redirect",
            "redirect_pending",
            {"onboarding_id": None if row is None else str(row.id), **_claimed(redirect)},
        )
        await defer(conn, job)
    return Completed(Outcome.PENDING, row)


def is_repeat(attempt: Row[Any], redirect: RedirectResult) -> bool:
    """Whether ``redirect`` is the one ``attempt`` already received (what the browser sent,
    not what was verified of it): the button calls back twice, a reload sends it again."""
    first = None if attempt.redirected_at is None else parse_redirect(attempt.redirect_query or "")
    return attempts.is_same_redirect(first, redirect)


def _repeat(attempt: Row[Any], redirect: RedirectResult) -> Completed:
    """The attempt's own redirect again: answered as the first time."""
    if not is_repeat(attempt, redirect):
        raise RedirectRefused(
            "This onboarding was already completed: start a new one from the partner's page."
        )
    return Completed(Outcome(attempt.verification or Outcome.APPLIED), attempt)


def _claimed(redirect: RedirectResult) -> dict[str, Any]:
    """What the browser claimed, for the timeline (ids only, bounded by the parser)."""
    return {
        "claimed_client": redirect.client_id,
        "claimed_channels": list(redirect.channels),
        "claimed_revoked": list(redirect.revoked),
    }


async def _attempt(
    conn: AsyncConnection, onboarding_id: uuid.UUID, *, lock: bool = False
) -> Row[Any] | None:
    query = select(t.onboardings).where(t.onboardings.c.id == onboarding_id)
    return (await conn.execute(query.with_for_update() if lock else query)).first()
