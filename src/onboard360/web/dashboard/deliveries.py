"""Deliveries to the partner's product: its endpoint, its undelivered events, one event's
delivery log, and the product actions (disable / enable the endpoint, replay the failed
events).

Product actions are confirmed.py's: a GET confirm page saying what will happen, a POST
with the session's CSRF token and ``confirm=yes``, the work and its ``audit_log`` row in
one transaction, and a resent form that finds nothing left to do.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse

from onboard360.config.hubs import ProductConfig
from onboard360.db.queries.deliveries import latest_attempts, product_event, undelivered_events
from onboard360.jobs.endpoints import (
    disable_endpoint,
    disabled_after,
    enable_endpoint,
    endpoint_state,
    undelivered_counts,
)
from onboard360.jobs.replay import (
    MAX_BULK,
    ReplayFilter,
    ReplayStatus,
    is_event_id,
    replay_events,
)
from onboard360.services.source import Source
from onboard360.web.dashboard import confirmed
from onboard360.web.dashboard.confirmed import Action, Outcome, Plan
from onboard360.web.dashboard.pages import PAGE_HEADERS, render
from onboard360.web.dashboard.sessions import DashboardRoute, PageError, SessionDep, check_csrf
from onboard360.web.deps import ServiceDep
from onboard360.wiring.service import Service

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection

router = APIRouter(prefix="/dashboard", route_class=DashboardRoute, include_in_schema=False)

EVENTS_SHOWN = 50
ATTEMPTS_SHOWN = 100
# A dashboard replay takes failed events of any age (still at most MAX_BULK per click).
EVER = datetime(2000, 1, 1, tzinfo=UTC)

DONE_MESSAGES = {
    "endpoint_disabled": "Deliveries are disabled: events are kept until you enable them.",
    "endpoint_enabled": "Deliveries are enabled again; the pending events were queued.",
    "endpoint_nothing": "Nothing was done: the endpoint was in that state already.",
    "replay_queued": "The failed events were queued for delivery again.",
    "replay_nothing": "Nothing was done: no failed event is left to replay.",
}


def configured_product(service: Service, name: str) -> ProductConfig:
    product = service.settings.product(name)
    if product is None or not product.webhook_url:
        raise PageError(404, "There is no product of that name taking webhooks.")
    return product


@router.get("/products/{name}")
async def product_page(
    name: str, request: Request, session: SessionDep, service: ServiceDep
) -> Response:
    product = configured_product(service, name)
    async with service.engine.connect() as conn:
        state = await endpoint_state(conn, product.name)
        pending, failed = await undelivered_counts(conn, product.name)
        events = await undelivered_events(conn, product.name, EVENTS_SHOWN)
    return render(
        "product.html",
        session=session,
        product=product,
        endpoint=state,
        disabled_after=disabled_after(state, service.settings),
        pending=pending,
        failed=failed,
        events=events,
        done=DONE_MESSAGES.get(request.query_params.get("done", "")),
    )


@router.get("/events/{event_id}")
async def event_page(event_id: str, session: SessionDep, service: ServiceDep) -> Response:
    """One event: what it carries (redacted) and every attempt to deliver it."""
    if not is_event_id(event_id):
        raise PageError(404, "There is no such event.")
    async with service.engine.connect() as conn:
        event = await product_event(conn, event_id)
        if event is None:
            raise PageError(404, "There is no such event.")
        attempts = await latest_attempts(conn, event_id, ATTEMPTS_SHOWN)
    return render("event.html", session=session, event=event, attempts=attempts)


# ---- product actions -----------------------------------------------------------------


@dataclass(frozen=True)
class ProductSubject:
    """A product, as the subject of an action."""

    product: ProductConfig

    @property
    def page(self) -> str:
        return f"/dashboard/products/{self.product.name}"

    @property
    def target(self) -> str:
        return f"product:{self.product.name}"

    def detail(self) -> dict[str, Any]:
        return {"product": self.product.name}


async def _product(_conn: AsyncConnection, service: Service, params: Any) -> ProductSubject:
    return ProductSubject(configured_product(service, str(params.get("product", ""))))


async def _plan_disable(conn: AsyncConnection, subject: ProductSubject, _form: Any) -> Plan:
    state = await endpoint_state(conn, subject.product.name)
    if not state.enabled:
        return Plan(None, f"Deliveries are disabled already: {state.disabled_reason}")
    return Plan(
        "disable",
        "No event is sent to the product until its endpoint is enabled again. Events are "
        "kept (pending) and are sent, oldest first, when it is.",
    )


async def _plan_enable(conn: AsyncConnection, subject: ProductSubject, _form: Any) -> Plan:
    state = await endpoint_state(conn, subject.product.name)
    if state.enabled:
        return Plan(None, "Deliveries are enabled: nothing to do.")
    pending, _ = await undelivered_counts(conn, subject.product.name)
    return Plan(
        "enable",
        f"Deliveries were disabled ({state.disabled_by}: {state.disabled_reason}). Enabling "
        f"queues the {pending} pending event(s) again, oldest first; fix the endpoint first.",
    )


async def _plan_replay(conn: AsyncConnection, subject: ProductSubject, _form: Any) -> Plan:
    if not (await endpoint_state(conn, subject.product.name)).enabled:
        return Plan(None, "Deliveries are disabled: enable the endpoint first.")
    _, failed = await undelivered_counts(conn, subject.product.name)
    if not failed:
        return Plan(None, "No event has failed: nothing to replay.")
    return Plan(
        "replay",
        f"The {failed} failed event(s) (at most {MAX_BULK}, oldest first) are sent to the "
        "product again, each with its own webhook-id so the product can de-duplicate them.",
    )


async def _do_disable(
    conn: AsyncConnection, _s: Service, subject: ProductSubject, _p: Plan, _f: Any, source: Source
) -> Outcome:
    by = source.shown_to_operators
    reason = f"disabled by {by.removeprefix('operator:')} on the dashboard"
    _, changed = await disable_endpoint(conn, subject.product.name, reason, by)
    return ("endpoint_disabled" if changed else "endpoint_nothing"), {}


async def _do_enable(
    conn: AsyncConnection, _s: Service, subject: ProductSubject, _p: Plan, _f: Any, _so: Source
) -> Outcome:
    _, changed, requeued = await enable_endpoint(conn, subject.product.name)
    return ("endpoint_enabled" if changed else "endpoint_nothing"), {"requeued": requeued}


async def _do_replay(
    conn: AsyncConnection, _s: Service, subject: ProductSubject, _p: Plan, _f: Any, _so: Source
) -> Outcome:
    spec = ReplayFilter(ReplayStatus.FAILED, since=EVER, until=datetime.now(UTC))
    report = await replay_events(conn, subject.product.name, spec)
    done = "replay_queued" if report.queued else "replay_nothing"
    return done, {"queued": report.queued}


PRODUCT_ACTIONS: dict[str, Action[ProductSubject]] = {
    a.name: a
    for a in (
        Action(
            "disable-endpoint",
            "Disable deliveries",
            _product,
            _plan_disable,
            _do_disable,
            "endpoint_nothing",
        ),
        Action(
            "enable-endpoint",
            "Enable deliveries",
            _product,
            _plan_enable,
            _do_enable,
            "endpoint_nothing",
        ),
        Action(
            "replay-failed",
            "Replay the failed events",
            _product,
            _plan_replay,
            _do_replay,
            "replay_nothing",
        ),
    )
}


@router.get("/products/{product_name}/actions/{name}")
async def product_confirm(
    product_name: str, name: str, session: SessionDep, service: ServiceDep
) -> Response:
    action = confirmed.find(PRODUCT_ACTIONS, name)
    subject, plan = await confirmed.confirm(service, action, {"product": product_name})
    return render(
        "product_confirm.html", session=session, action=action, product=subject.product, plan=plan
    )


@router.post("/products/{product_name}/actions/{name}")
async def product_perform(
    product_name: str, name: str, request: Request, session: SessionDep, service: ServiceDep
) -> Response:
    action = confirmed.find(PRODUCT_ACTIONS, name)
    product = configured_product(service, product_name)
    form = await request.form()
    check_csrf(session.csrf_token, form)
    if form.get("confirm") != "yes":
        page = f"/dashboard/products/{product.name}/actions/{name}"
        return RedirectResponse(page, status_code=303, headers=PAGE_HEADERS)
    return await confirmed.perform(service, session, action, {"product": product.name})
