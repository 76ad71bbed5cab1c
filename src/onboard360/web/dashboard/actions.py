"""What an operator can do about a stuck client: each confirmed, audited and idempotent.

The actions are confirmed.py's (a confirm page, then one audited transaction); the work
is the services' (services/operator.py, services/rotation.py). A key a health check found
dead gets its own action (``new-key``): the same rotation, refused unless the key is
marked not working.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse

from onboard360.config.hubs import HubConfig
from onboard360.db.queries.deliveries import product_event
from onboard360.db.queries.subjects import channel_row, channel_state, client_exists
from onboard360.domain import (
    ChannelId,
    KeyBlocker,
    KeyStatus,
    may_generate_key,
    may_replace_dead_key,
)
from onboard360.jobs.endpoints import endpoint_state
from onboard360.jobs.reconcile import stranded_keys
from onboard360.jobs.replay import delivery_state, queued_events
from onboard360.services import operator
from onboard360.services.refusals import RotationRefused
from onboard360.services.rotation import request_rotation
from onboard360.services.source import Source
from onboard360.web.dashboard import confirmed
from onboard360.web.dashboard.clients import checked_id, configured_hub
from onboard360.web.dashboard.confirmed import Action, Outcome, Plan
from onboard360.web.dashboard.pages import PAGE_HEADERS, render
from onboard360.web.dashboard.sessions import DashboardRoute, PageError, SessionDep, check_csrf
from onboard360.web.deps import ServiceDep
from onboard360.wiring.service import Service

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection

router = APIRouter(prefix="/dashboard", route_class=DashboardRoute, include_in_schema=False)


@dataclass(frozen=True)
class Subject:
    """What an action is about, and where its page is."""

    hub: HubConfig
    client_id: str | None
    channel_id: str | None = None
    event_id: str | None = None

    @property
    def page(self) -> str:
        if self.client_id:
            return f"/dashboard/clients/{self.hub.name}/{self.client_id}"
        return f"/dashboard/channels/{self.hub.name}/{self.channel_id}"

    @property
    def target(self) -> str:
        if self.event_id:
            return f"event:{self.event_id}"
        if self.channel_id:
            return f"channel:{self.hub.name}/{self.channel_id}"
        return f"client:{self.hub.name}/{self.client_id}"

    def detail(self) -> dict[str, Any]:
        found = {"client_id": self.client_id, "channel_id": self.channel_id}
        return {"hub": self.hub.name, **{k: v for k, v in found.items() if v}}


# ---- subjects ------------------------------------------------------------------------


async def channel_subject(conn: AsyncConnection, service: Service, params: Any) -> Subject:
    hub = configured_hub(service, str(params.get("hub", "")))
    channel_id = checked_id(str(params.get("channel", "")), "channel")
    row = await channel_row(conn, hub.name, channel_id)
    if row is None:
        raise PageError(404, "There is no such channel in this hub.")
    return Subject(hub, row.client_id, channel_id)


async def client_subject(conn: AsyncConnection, service: Service, params: Any) -> Subject:
    hub = configured_hub(service, str(params.get("hub", "")))
    client_id = checked_id(str(params.get("client", "")), "client")
    if not await client_exists(conn, hub.name, client_id):
        raise PageError(404, "There is no such client in this hub.")
    return Subject(hub, client_id)


async def event_subject(conn: AsyncConnection, service: Service, params: Any) -> Subject:
    event_id = str(params.get("event", ""))[:100]
    row = await product_event(conn, event_id)
    hub = service.settings.hub(row.hub) if row is not None and row.hub else None
    if row is None or hub is None:
        raise PageError(404, "There is no such event.")
    return Subject(hub, row.client_id, row.channel_id, event_id)


# ---- retry provisioning --------------------------------------------------------------


async def plan_retry(conn: AsyncConnection, subject: Subject, _form: Any) -> Plan:
    state = await channel_state(conn, subject.hub.name, subject.channel_id or "", lock=True)
    if state.key is KeyStatus.PROVISIONING:
        channel = subject.channel_id or ""
        if await stranded_keys(conn, subject.hub.name, channel, state.key_intent):
            return Plan(
                "requeue",
                f"The job generating key #{state.key_intent} gave up. A new job is queued; "
                "it generates the key once (fix what made it fail first).",
            )
        return Plan(None, "A worker is generating the key right now: nothing to retry.")
    verdict = may_generate_key(state)
    if verdict.blocker is KeyBlocker.WAITING_FOR_PERMISSION:
        return Plan(
            "confirm_permission",
            "The channel waits for API-key permission. Confirm only if the client granted it "
            "in their 360dialog hub: the permission is marked granted and a key is generated "
            "(if 360dialog still refuses, the channel says so again).",
        )
    return Plan(None, f"Nothing to retry: {verdict.message}")


async def do_retry(
    conn: AsyncConnection,
    service: Service,
    subject: Subject,
    plan: Plan,
    _form: Any,
    source: Source,
) -> Outcome:
    channel = ChannelId(subject.channel_id or "")
    hub = subject.hub
    if plan.step == "requeue":
        intent = await operator.requeue_key(conn, hub, channel)
        return "retry_requeued", {"intent": intent}
    if plan.step == "confirm_permission":
        sequence = await operator.confirm_permission(conn, service, hub, channel, source)
        return "retry_confirmed", {"sequence": sequence}
    return "retry_nothing", {}


# ---- rotate a key --------------------------------------------------------------------


async def plan_rotate(conn: AsyncConnection, subject: Subject, _form: Any) -> Plan:
    row = await channel_row(conn, subject.hub.name, subject.channel_id or "")
    if row is None or row.key_status != KeyStatus.STORED.value:
        return Plan(None, "The channel has no API key to replace.")
    return Plan(
        "rotate",
        f"A new API key is generated at 360dialog; key version {row.key_intent} stops working "
        "at once. The product gets channel.key_rotated and reads the new key from the API.",
        (("key_version", str(row.key_intent)),),
    )


async def do_rotate(
    conn: AsyncConnection, service: Service, subject: Subject, _p: Plan, form: Any, source: Source
) -> Outcome:
    return await _replace_key(conn, service, subject, form, source=source, done="rotate")


async def _replace_key(
    conn: AsyncConnection,
    service: Service,
    subject: Subject,
    form: Any,
    *,
    source: Source,
    done: str,
    dead: bool = False,
) -> Outcome:
    """Rotate (``dead``: only a key marked not working) the key version the confirm page
    showed, not the current one: a resent form after the rotation went through names a
    replaced key and is refused, changing nothing."""
    seen = str(form.get("key_version", ""))
    if not seen.isdigit() or not 0 < int(seen) < 2**31:
        raise PageError(400, "This form names no key version: open the page again.")
    try:
        intent = await request_rotation(
            conn,
            service,
            [subject.hub.name],
            subject.channel_id or "",
            replaces=int(seen),
            only_if_not_working=dead,
            source=source,
        )
    except RotationRefused as exc:
        return f"{done}_nothing", {"replaces": int(seen), "refused": exc.code}
    return f"{done}_requested", {"replaces": int(seen), "new_version": intent}


# ---- a new key for a key found dead --------------------------------------------------


async def plan_new_key(conn: AsyncConnection, subject: Subject, _form: Any) -> Plan:
    state = await channel_state(conn, subject.hub.name, subject.channel_id or "", lock=True)
    verdict = may_replace_dead_key(state, state.key_intent)
    if not verdict.allowed:
        return Plan(None, f"No new key: {verdict.message}.")
    return Plan(
        "new_key",
        f"360dialog refused key version {state.key_intent} on a key health check. A new API "
        f"key is generated at 360dialog, which revokes version {state.key_intent} for good: "
        "be sure the client did not just take API-key permission away (it must grant it "
        "again first). The product gets channel.key_rotated and reads the new key.",
        (("key_version", str(state.key_intent)),),
    )


async def do_new_key(
    conn: AsyncConnection, service: Service, subject: Subject, _p: Plan, form: Any, source: Source
) -> Outcome:
    return await _replace_key(
        conn, service, subject, form, source=source, done="new_key", dead=True
    )


# ---- resend a handoff event ----------------------------------------------------------


_RESEND_STATES = {
    "delivered": "was delivered",
    "failed": "failed: retries exhausted",
    "pending": "has not been delivered",
}


async def plan_resend(conn: AsyncConnection, subject: Subject, _form: Any) -> Plan:
    row = await product_event(conn, subject.event_id or "")
    if row is None:
        raise PageError(404, "There is no such event.")
    if await queued_events(conn, [row.id]):
        return Plan(None, "The event is already queued for delivery.")
    if not (await endpoint_state(conn, row.product)).enabled:
        return Plan(
            None,
            "Deliveries to the product are disabled: enable them on the product's page "
            "(a pending event is then sent again; a failed one can be resent after).",
        )
    state = _RESEND_STATES[delivery_state(row)]
    return Plan(
        "resend",
        f"The {row.event_type} event ({state}, {row.attempts} attempt(s)) is sent to the "
        "product again, signed with the same webhook-id so the product can de-duplicate it.",
        (("attempts", str(row.attempts)),),
    )


async def do_resend(
    conn: AsyncConnection, service: Service, subject: Subject, plan: Plan, form: Any, _s: Source
) -> Outcome:
    seen = str(form.get("attempts", "")) if plan.step is not None else ""
    queued, row = await operator.resend_event(conn, service, subject.event_id or "", seen)
    if not queued:
        return "resend_nothing", {"event_id": row.id}
    return "resend_queued", {"event_id": row.id, "event_type": row.event_type}


# ---- reconcile a client now ----------------------------------------------------------


async def plan_reconcile(_conn: AsyncConnection, subject: Subject, _form: Any) -> Plan:
    return Plan(
        "reconcile",
        f"Reads client {subject.client_id}'s channels from 360dialog's Partner API now and "
        "applies what it sees (status, new numbers); a channel that became eligible gets its key.",
    )


# ---- the routes ----------------------------------------------------------------------


ACTIONS: dict[str, Action[Subject]] = {
    a.name: a
    for a in (
        Action("retry-provisioning", "Retry provisioning", channel_subject, plan_retry, do_retry),
        Action("rotate-key", "Rotate the API key", channel_subject, plan_rotate, do_rotate),
        Action(
            "new-key",
            "Generate a new key for a key not working",
            channel_subject,
            plan_new_key,
            do_new_key,
            nothing="new_key_nothing",
        ),
        Action("resend-event", "Resend the event", event_subject, plan_resend, do_resend),
        # Reads 360dialog first: not one transaction, its route does it (services/operator.py).
        Action("reconcile", "Reconcile with 360dialog now", client_subject, plan_reconcile, None),
    )
}


@router.get("/actions/{name}")
async def confirm_page(
    name: str, request: Request, session: SessionDep, service: ServiceDep
) -> Response:
    action = confirmed.find(ACTIONS, name)
    subject, plan = await confirmed.confirm(service, action, request.query_params)
    return render("confirm.html", session=session, action=action, subject=subject, plan=plan)


@router.post("/actions/{name}")
async def perform(
    name: str, request: Request, session: SessionDep, service: ServiceDep
) -> Response:
    action = confirmed.find(ACTIONS, name)
    form = await request.form()
    check_csrf(session.csrf_token, form)
    if form.get("confirm") != "yes":
        query = {k: str(form.get(k, "")) for k in ("hub", "channel", "client", "event")}
        back = f"/dashboard/actions/{name}?" + urlencode({k: v for k, v in query.items() if v})
        return RedirectResponse(back, status_code=303, headers=PAGE_HEADERS)
    if action.do is not None:
        return await confirmed.perform(service, session, action, form)
    async with service.engine.connect() as conn:
        subject = await action.subject(conn, service, form)
    done = await operator.reconcile_client(
        service,
        subject.hub,
        subject.client_id or "",
        source=Source.dashboard(session.operator_id),
        audit_as=action.name,
    )
    return confirmed.back(subject, done.done)
