"""Deliveries to the partner's product: its endpoint, its undelivered events, one event's
delivery log, and the product actions (disable / enable the endpoint, replay the failed
events).

Product actions follow actions.py's rules: a GET confirm page saying what will happen, a
POST with the session's CSRF token and ``confirm=yes``, the work and its ``audit_log`` row
in one transaction, and a resent form that finds nothing left to do.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from onboard360.config.hubs import ProductConfig
from onboard360.db import tables as t
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
from onboard360.runtime.service import Service
from onboard360.services.audit import audit
from onboard360.web.dashboard.pages import PAGE_HEADERS, render
from onboard360.web.dashboard.sessions import (
    DashboardRoute,
    PageError,
    Session,
    SessionDep,
    check_csrf,
)
from onboard360.web.deps import ServiceDep

router = APIRouter(prefix="/dashboard", route_class=DashboardRoute, include_in_schema=False)

EVENTS_SHOWN = 50
ATTEMPTS_SHOWN = 100
# A dashboard replay takes failed events of any age (still at most MAX_BULK per click).
EVER = datetime(2000, 1, 1, tzinfo=UTC)

_UNDELIVERED = text(
    """
    SELECT e.id, e.event_type, e.hub, e.client_id, e.channel_id, e.created_at, e.attempts,
      e.last_status, e.last_error, e.failed_at
    FROM product_events e
    WHERE e.product = :product AND e.delivered_at IS NULL
    ORDER BY e.created_at, e.id LIMIT :limit
    """
)

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
        events = list(
            await conn.execute(_UNDELIVERED, {"product": product.name, "limit": EVENTS_SHOWN})
        )
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
        event = (
            await conn.execute(select(t.product_events).where(t.product_events.c.id == event_id))
        ).first()
        if event is None:
            raise PageError(404, "There is no such event.")
        a = t.delivery_attempts.c
        attempts = list(
            await conn.execute(
                select(t.delivery_attempts)
                .where(a.event_id == event_id)
                .order_by(a.attempt.desc())
                .limit(ATTEMPTS_SHOWN)
            )
        )
    return render("event.html", session=session, event=event, attempts=attempts)


# ---- product actions -----------------------------------------------------------------


@dataclass(frozen=True)
class ProductPlan:
    step: str | None
    says: str


async def _plan_disable(conn: AsyncConnection, product: ProductConfig) -> ProductPlan:
    state = await endpoint_state(conn, product.name)
    if not state.enabled:
        return ProductPlan(None, f"Deliveries are disabled already: {state.disabled_reason}")
    return ProductPlan(
        "disable",
        "No event is sent to the product until its endpoint is enabled again. Events are "
        "kept (pending) and are sent, oldest first, when it is.",
    )


async def _plan_enable(conn: AsyncConnection, product: ProductConfig) -> ProductPlan:
    state = await endpoint_state(conn, product.name)
    if state.enabled:
        return ProductPlan(None, "Deliveries are enabled: nothing to do.")
    pending, _ = await undelivered_counts(conn, product.name)
    return ProductPlan(
        "enable",
        f"Deliveries were disabled ({state.disabled_by}: {state.disabled_reason}). Enabling "
        f"queues the {pending} pending event(s) again, oldest first; fix the endpoint first.",
    )


async def _plan_replay(conn: AsyncConnection, product: ProductConfig) -> ProductPlan:
    if not (await endpoint_state(conn, product.name)).enabled:
        return ProductPlan(None, "Deliveries are disabled: enable the endpoint first.")
    _, failed = await undelivered_counts(conn, product.name)
    if not failed:
        return ProductPlan(None, "No event has failed: nothing to replay.")
    return ProductPlan(
        "replay",
        f"The {failed} failed event(s) (at most {MAX_BULK}, oldest first) are sent to the "
        "product again, each with its own webhook-id so the product can de-duplicate them.",
    )


async def _do_disable(
    conn: AsyncConnection, product: ProductConfig, session: Session
) -> tuple[str, dict[str, Any]]:
    reason = f"disabled by {session.email} on the dashboard"
    _, changed = await disable_endpoint(conn, product.name, reason, f"operator:{session.email}")
    return ("endpoint_disabled" if changed else "endpoint_nothing"), {}


async def _do_enable(
    conn: AsyncConnection, product: ProductConfig, _session: Session
) -> tuple[str, dict[str, Any]]:
    _, changed, requeued = await enable_endpoint(conn, product.name)
    return ("endpoint_enabled" if changed else "endpoint_nothing"), {"requeued": requeued}


async def _do_replay(
    conn: AsyncConnection, product: ProductConfig, _session: Session
) -> tuple[str, dict[str, Any]]:
    spec = ReplayFilter(ReplayStatus.FAILED, since=EVER, until=datetime.now(UTC))
    report = await replay_events(conn, product.name, spec)
    done = "replay_queued" if report.queued else "replay_nothing"
    return done, {"queued": report.queued}


@dataclass(frozen=True)
class ProductAction:
    name: str
    title: str
    plan: Callable[[AsyncConnection, ProductConfig], Awaitable[ProductPlan]]
    do: Callable[[AsyncConnection, ProductConfig, Session], Awaitable[tuple[str, dict[str, Any]]]]
    nothing: str  # the outcome when the plan finds nothing to do (a resent form)


PRODUCT_ACTIONS = {
    a.name: a
    for a in (
        ProductAction(
            "disable-endpoint",
            "Disable deliveries",
            _plan_disable,
            _do_disable,
            "endpoint_nothing",
        ),
        ProductAction(
            "enable-endpoint", "Enable deliveries", _plan_enable, _do_enable, "endpoint_nothing"
        ),
        ProductAction(
            "replay-failed",
            "Replay the failed events",
            _plan_replay,
            _do_replay,
            "replay_nothing",
        ),
    )
}


def _product_action(name: str) -> ProductAction:
    action = PRODUCT_ACTIONS.get(name)
    if action is None:
        raise PageError(404, "There is no such action.")
    return action


@router.get("/products/{product_name}/actions/{name}")
async def product_confirm(
    product_name: str, name: str, session: SessionDep, service: ServiceDep
) -> Response:
    action = _product_action(name)
    product = configured_product(service, product_name)
    async with service.engine.connect() as conn:
        plan = await action.plan(conn, product)
    return render(
        "product_confirm.html", session=session, action=action, product=product, plan=plan
    )


@router.post("/products/{product_name}/actions/{name}")
async def product_perform(
    product_name: str, name: str, request: Request, session: SessionDep, service: ServiceDep
) -> Response:
    action = _product_action(name)
    product = configured_product(service, product_name)
    form = await request.form()
    check_csrf(session.csrf_token, form)
    page = f"/dashboard/products/{product.name}"
    if form.get("confirm") != "yes":
        return RedirectResponse(f"{page}/actions/{name}", status_code=303, headers=PAGE_HEADERS)
    async with service.engine.begin() as conn:
        plan = await action.plan(conn, product)
        done, detail = (
            (action.nothing, {}) if plan.step is None else await action.do(conn, product, session)
        )
        await audit(
            conn,
            session.operator_id,
            action.name,
            f"product:{product.name}",
            {"product": product.name, "outcome": done, **detail},
        )
    return RedirectResponse(
        f"{page}?{urlencode({'done': done})}", status_code=303, headers=PAGE_HEADERS
    )
