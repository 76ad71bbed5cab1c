"""Start an onboarding: the attempt a product makes for one of its users.

The attempt's row, its timeline line and ``onboarding.started`` are written in one
transaction; the state token it answers is the popup's capability (only its sha256 is
kept). What the redirect then does is services/redirects.py.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from onboard360.config.hubs import HubConfig
from onboard360.db import tables as t
from onboard360.db.queries.onboardings import user_has_client
from onboard360.domain import NotifyProduct, attempts
from onboard360.jobs.effects import notify_product
from onboard360.jobs.transition import record
from onboard360.runtime import clock
from onboard360.services.audit import audit
from onboard360.services.source import Source
from onboard360.wiring.service import Service

# The audit log's name for an operator's re-permission link.
LINK_ACTION = "repermission-link"


@dataclass(frozen=True)
class Prefill:
    number: str | None = None
    email: str | None = None
    name: str | None = None
    # An existing client logs in (the popup's next=login) to share more numbers or grant
    # permission again: the dashboard's re-permission link.
    login: bool = False

    def as_dict(self) -> dict[str, str | bool]:
        return {k: v for k, v in vars(self).items() if v}


def state_digest(state: str) -> bytes:
    """What the database keeps of a state (or an attempt cookie's token): its sha256."""
    return hashlib.sha256(state.encode()).digest()


@dataclass(frozen=True)
class Started:
    row: Row[Any]
    state: str  # the popup's capability: answered once, never stored
    returning_client: bool


def returning_prefill(prefill: Prefill, returning: bool) -> Prefill:
    """``prefill``, opening the popup at its login when the user is a returning client."""
    if not returning:
        return prefill
    return Prefill(prefill.number, prefill.email, prefill.name, login=True)


async def start_onboarding(
    service: Service,
    hub: HubConfig,
    external_user_id: str,
    prefill: Prefill,
    *,
    source: Source,
) -> Started:
    """A new attempt for the user. A user who onboarded a client on this hub before comes
    back to share more numbers or grant permission again: the popup opens at its login
    rather than a new signup."""
    async with service.engine.begin() as conn:
        returning = await user_has_client(conn, hub.name, external_user_id)
        prefill = returning_prefill(prefill, returning)
        row, state = await create(conn, service, hub, external_user_id, prefill, source=source)
    return Started(row, state, returning)


async def permission_link(
    service: Service, hub: HubConfig, client_id: str, external_user_id: str, operator_id: str
) -> Started:
    """An operator's re-permission link for a client: an attempt that opens at the popup's
    login for the client's user, and the operator's audit row, in one transaction."""
    source = Source.dashboard(operator_id)
    async with service.engine.begin() as conn:
        row, state = await create(
            conn, service, hub, external_user_id, Prefill(login=True), source=source
        )
        detail = {
            "hub": hub.name,
            "client_id": client_id,
            "onboarding_id": str(row.id),
            "external_user_id": external_user_id,
        }
        await audit(conn, operator_id, LINK_ACTION, f"client:{hub.name}/{client_id}", detail)
    return Started(row, state, returning_client=True)


async def create(
    conn: AsyncConnection,
    service: Service,
    hub: HubConfig,
    external_user_id: str,
    prefill: Prefill,
    *,
    source: Source,
    resumes: Row[Any] | None = None,
) -> tuple[Row[Any], str]:
    """The attempt's row, timeline line and ``onboarding.started``; ``resumes``: the
    attempt this one resumes (services/resume.py), whose journey it continues."""
    state = secrets.token_urlsafe(24)
    journey: dict[str, Any] = {}
    if resumes is not None:
        journey = {"journey_id": resumes.journey_id or resumes.id, "resumed_from": resumes.id}
    expires = attempts.expires_at(clock.now(), service.settings.onboarding_ttl_seconds)
    row = (
        await conn.execute(
            t.onboardings.insert()
            .values(
                id=uuid.uuid4(),
                hub=hub.name,
                product=hub.product,
                external_user_id=external_user_id,
                state_sha256=state_digest(state),
                prefill=prefill.as_dict(),
                returning_client=prefill.login,
                expires_at=expires,
                **journey,
            )
            .returning(*t.onboardings.c)
        )
    ).one()
    line = {"onboarding_id": str(row.id), **{k: str(v) for k, v in journey.items()}}
    await record(conn, hub, str(source), "onboarding_started", line)
    notice = attempts.started(
        str(row.id), external_user_id, returning_client=prefill.login, expires=row.expires_at
    )
    await _notify(conn, service, hub, notice)
    return row, state


async def _notify(
    conn: AsyncConnection, service: Service, hub: HubConfig, effect: NotifyProduct
) -> None:
    """The attempt's event, in the transaction that writes its row: neither without the other."""
    await notify_product(conn, hub, service.product_of(hub), effect, None)
