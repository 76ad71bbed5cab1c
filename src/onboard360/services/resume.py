"""Resume an abandoned onboarding: a fresh attempt for the same user, in the same journey.

``POST /api/v1/onboardings/{id}/resume`` takes an attempt that is abandoned, or expired
without its redirect, and makes a new one for the same product user with the same
prefill (``number``, ``email``, ``name``), opening on the popup's login when the user is
a returning client (as ``start_onboarding`` does). The new attempt carries
``journey_id`` (the first attempt's id: the funnel counts the journey once) and
``resumed_from``, and is announced with ``onboarding.started`` like any other.

- **At most one resume per attempt.** The old row is locked for the transaction and a
  unique index on ``resumed_from`` (migration 0016) backs it: a second resume, at once or
  later, is ``409 already_resumed`` naming the attempt that resumed it. A new state
  cannot be answered twice (only its sha256 is kept), so there is no "return the same
  one": resume that attempt once it is abandoned in turn, which keeps one open attempt
  per journey at a time.
- An attempt past its deadline that the sweep has not reached yet is marked abandoned
  here, in the same transaction, without ``onboarding.abandoned``: the product asked.
- Refused, with nothing written: ``404`` unknown, or another product's; ``409
  still_open``, ``in_progress``, ``already_live`` (domain/abandonment.py) and
  ``already_resumed``.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from onboard360.db import tables as t
from onboard360.db.queries.onboardings import user_has_client
from onboard360.domain.abandonment import NOT_RESUMABLE, abandonment, why_not_resumable
from onboard360.jobs.abandon import Found, as_abandoned, mark, policy, read_attempts
from onboard360.runtime import clock
from onboard360.services.onboardings import Prefill, Started, create, returning_prefill
from onboard360.services.refusals import NotFound, Refused
from onboard360.services.source import Source
from onboard360.wiring.service import Service

_O = t.onboardings.c
# The unique index that keeps one resume per attempt (migration 0016).
RESUMED_FROM_INDEX = "onboardings_resumed_from"


class ResumeRefused(Refused):
    """This onboarding cannot be resumed."""

    code = "cannot_resume"
    status = 409


async def resume_onboarding(
    service: Service, product: str, onboarding_id: uuid.UUID, *, source: Source
) -> Started:
    """A fresh attempt continuing ``onboarding_id``'s journey (see the module's rules)."""
    now = clock.now()
    try:
        async with service.engine.begin() as conn:
            return await _resume(conn, service, product, onboarding_id, now=now, source=source)
    except IntegrityError as exc:
        diag = getattr(exc.orig, "diag", None)
        if getattr(diag, "constraint_name", None) != RESUMED_FROM_INDEX:
            raise
        # Another resume of the same attempt committed first (migration 0016's index).
        raise _already_resumed(None) from exc


async def _resume(
    conn: AsyncConnection,
    service: Service,
    product: str,
    onboarding_id: uuid.UUID,
    *,
    now: datetime,
    source: Source,
) -> Started:
    query = select(t.onboardings).where(_O.id == onboarding_id, _O.product == product)
    old = (await conn.execute(query.with_for_update())).first()
    hub = service.settings.hub(old.hub) if old is not None else None
    if old is None or hub is None or hub.product != product:
        raise NotFound("no such onboarding")
    resumed_by = await conn.scalar(select(_O.id).where(_O.resumed_from == old.id))
    if resumed_by is not None:
        raise _already_resumed(resumed_by)
    ((attempt, numbers),) = await read_attempts(conn, hub.name, [old.id])
    verdict = abandonment(attempt, numbers, now, policy(service.settings))
    if verdict is not None:
        await mark(conn, hub, service, [Found(attempt, replace(verdict, notify=False))])
        attempt = as_abandoned(attempt, verdict)
    why = why_not_resumable(attempt, now)
    if why is not None:
        raise ResumeRefused(NOT_RESUMABLE[why], code=why)
    kept = old.prefill or {}
    returning = bool(kept.get("login")) or await user_has_client(
        conn, hub.name, old.external_user_id
    )
    prefill = Prefill(kept.get("number"), kept.get("email"), kept.get("name"))
    prefill = returning_prefill(prefill, returning)
    row, state = await create(
        conn, service, hub, old.external_user_id, prefill, source=source, resumes=old
    )
    return Started(row, state, returning)


def _already_resumed(by: uuid.UUID | None) -> ResumeRefused:
    which = f" as {by}" if by is not None else ""
    return ResumeRefused(
        f"this onboarding was resumed already{which}: resume that one once it is abandoned",
        code="already_resumed",
    )
