"""The product's delivery controls (``/api/v1``): the delivery log of an event, replays,
and its endpoint's state (disable, enable).

A product sees only its own events: another product's event id is answered as if it did
not exist. See docs/events.md for what is sent and docs/service.md for the rules.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from onboard360.config.hubs import ProductConfig
from onboard360.db import tables as t
from onboard360.domain import ID_PATTERN, ProductEvent
from onboard360.jobs.endpoints import (
    MAX_REASON_CHARS,
    EndpointState,
    disable_endpoint,
    enable_endpoint,
    endpoint_state,
    ensure_deliverable,
    undelivered_counts,
)
from onboard360.jobs.replay import (
    MAX_BULK,
    ReplayFilter,
    ReplayRefused,
    ReplayStatus,
    delivery_state,
    is_event_id,
    replay_event,
    replay_events,
    replay_window,
)
from onboard360.web.api.common import CONFLICT, ERRORS, PRINTABLE
from onboard360.web.dashboard.accounts import audit
from onboard360.web.deps import ProductDep, ServiceDep
from onboard360.web.errors import ApiError, not_found
from onboard360.web.pagination import Cursor, Keyset, Limit, fetch_page, page
from onboard360.web.strict import DateTimeText, RequestBody

router = APIRouter(prefix="/api/v1", tags=["deliveries"], responses=ERRORS)

OLDEST_FIRST = Keyset("attempts", [t.delivery_attempts.c.attempt], [int])


class Attempt(BaseModel):
    attempt: int = Field(description="1, 2, … over the event's whole life, replays included")
    started_at: datetime
    duration_ms: int
    status: int | None = Field(description="the product's HTTP status; null: no answer came")
    error_class: str | None = Field(description="ConnectError, ReadTimeout…; null: it answered")
    error: str | None
    response_excerpt: str | None = Field(description="the answer's first bytes, redacted")


class AttemptList(BaseModel):
    event_id: str
    event_type: str
    state: Literal["delivered", "pending", "failed"]
    data: list[Attempt]
    has_more: bool = Field(description="another page follows")
    next_cursor: str | None = Field(description="pass as ?cursor= to get the next page")


class ReplayQueued(BaseModel):
    event_id: str
    queued: bool = Field(description="false: its delivery was queued already (not twice)")


class BulkReplayRequest(RequestBody):
    status: ReplayStatus = Field(
        ReplayStatus.FAILED,
        strict=False,  # the enum's value, as text
        description="failed: dead events; undelivered: not delivered yet; all: delivered too",
    )
    since: DateTimeText | None = Field(
        None, strict=False, description="events created at or after (default: until - 7 days)"
    )
    until: DateTimeText | None = Field(
        None, strict=False, description="events created before (default: now)"
    )
    event_type: ProductEvent | None = Field(None, strict=False)
    channel_id: str | None = Field(None, pattern=f"^{ID_PATTERN}$")
    client_id: str | None = Field(None, pattern=f"^{ID_PATTERN}$")
    limit: int = Field(MAX_BULK, ge=1, le=MAX_BULK, description="at most this many are queued")


class BulkReplayQueued(BaseModel):
    queued: int
    has_more: bool = Field(description="more matched than ``limit``: send the request again")
    since: datetime
    until: datetime


class DisableRequest(RequestBody):
    reason: str = Field(
        "disabled by the product through the API",
        min_length=1,
        max_length=MAX_REASON_CHARS,
        pattern=PRINTABLE,
    )


class Endpoint(BaseModel):
    product: str
    state: Literal["enabled", "disabled"]
    disabled_since: datetime | None
    disabled_reason: str | None
    disabled_by: str | None
    failing_since: datetime | None = Field(description="first failure since the last success")
    pending_events: int = Field(description="not delivered yet: retrying, or held while disabled")
    failed_events: int = Field(description="dead: retries exhausted; replay them")


class EndpointChanged(Endpoint):
    changed: bool = Field(description="false: it was in that state already")
    requeued: int = Field(0, description="pending events queued again by enabling")


def _with_endpoint(product: ProductConfig) -> ProductConfig:
    if not product.webhook_url:
        raise ApiError(404, "no_webhook_url", "the product has no webhook_url configured")
    return product


async def _endpoint(conn: AsyncConnection, state: EndpointState) -> dict[str, Any]:
    pending, failed = await undelivered_counts(conn, state.product)
    return {**state.view(), "pending_events": pending, "failed_events": failed}


async def _audit(
    conn: AsyncConnection, product: ProductConfig, action: str, detail: dict[str, Any]
) -> None:
    await audit(conn, None, action, f"product:{product.name}", {"by": "api", **detail})


def _refused(exc: ReplayRefused) -> ApiError:
    return ApiError(409, exc.code, str(exc))


@router.get("/events/{event_id}/attempts", response_model=AttemptList)
async def event_attempts(
    event_id: str,
    product: ProductDep,
    service: ServiceDep,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> dict[str, Any]:
    """Every attempt to deliver one of this product's events, oldest first."""
    if not is_event_id(event_id):
        raise not_found("event")
    e, a = t.product_events.c, t.delivery_attempts.c
    async with service.engine.connect() as conn:
        event = (
            await conn.execute(
                select(e.id, e.event_type, e.delivered_at, e.failed_at).where(
                    e.id == event_id, e.product == product.name
                )
            )
        ).first()
        if event is None:
            raise not_found("event")
        query = select(t.delivery_attempts).where(a.event_id == event_id)
        rows, next_cursor = await fetch_page(conn, query, OLDEST_FIRST, limit, cursor)
    attempts = [Attempt.model_validate(row._mapping, from_attributes=False) for row in rows]
    return {
        "event_id": event.id,
        "event_type": event.event_type,
        "state": delivery_state(event),
        **page(attempts, next_cursor),
    }


@router.post(
    "/events/{event_id}/replay",
    status_code=202,
    response_model=ReplayQueued,
    responses=CONFLICT,
)
async def replay_one(event_id: str, product: ProductDep, service: ServiceDep) -> dict[str, Any]:
    """Send one event again, with the same ``webhook-id`` (idempotent while it is queued)."""
    if not is_event_id(event_id):
        raise not_found("event")
    try:
        async with service.engine.begin() as conn:
            found = await conn.scalar(
                select(t.product_events.c.id).where(
                    t.product_events.c.id == event_id, t.product_events.c.product == product.name
                )
            )
            if found is None:
                raise not_found("event")
            await ensure_deliverable(conn, product)
            queued = await replay_event(conn, product.name, event_id)
            if queued:
                await _audit(conn, product, "event-replay", {"event_id": event_id})
    except ReplayRefused as exc:
        raise _refused(exc) from None
    return {"event_id": event_id, "queued": queued}


@router.post(
    "/events/replay",
    status_code=202,
    response_model=BulkReplayQueued,
    responses=CONFLICT,
)
async def replay_bulk(
    body: BulkReplayRequest, product: ProductDep, service: ServiceDep
) -> dict[str, Any]:
    """Send again every matching event (oldest first, at most ``limit``) that is not queued
    already; ``has_more`` says to send the same request again for the next ones."""
    try:
        since, until = replay_window(body.since, body.until, datetime.now(UTC))
    except ReplayRefused as exc:
        raise ApiError(400, exc.code, str(exc)) from None
    spec = ReplayFilter(
        status=body.status,
        since=since,
        until=until,
        event_type=body.event_type.value if body.event_type else None,
        channel_id=body.channel_id,
        client_id=body.client_id,
        limit=body.limit,
    )
    try:
        async with service.engine.begin() as conn:
            await ensure_deliverable(conn, product)
            report = await replay_events(conn, product.name, spec)
            detail = {"status": spec.status.value, "queued": report.queued}
            await _audit(conn, product, "events-replay", detail)
    except ReplayRefused as exc:
        raise _refused(exc) from None
    return {"queued": report.queued, "has_more": report.has_more, "since": since, "until": until}


@router.get("/endpoint", response_model=Endpoint)
async def get_endpoint(product: ProductDep, service: ServiceDep) -> dict[str, Any]:
    """Whether deliveries to this product's webhook_url are attempted, and what waits."""
    _with_endpoint(product)
    async with service.engine.connect() as conn:
        return await _endpoint(conn, await endpoint_state(conn, product.name))


@router.post("/endpoint/disable", response_model=EndpointChanged)
async def disable(
    product: ProductDep, service: ServiceDep, body: DisableRequest | None = None
) -> dict[str, Any]:
    """Pause deliveries; events are kept (pending) until the endpoint is enabled."""
    _with_endpoint(product)
    reason = (body or DisableRequest()).reason
    async with service.engine.begin() as conn:
        state, changed = await disable_endpoint(conn, product.name, reason, "api")
        await _audit(conn, product, "endpoint-disable", {"changed": changed, "reason": reason})
        return {**await _endpoint(conn, state), "changed": changed, "requeued": 0}


@router.post("/endpoint/enable", response_model=EndpointChanged)
async def enable(product: ProductDep, service: ServiceDep) -> dict[str, Any]:
    """Resume deliveries: every pending event is queued again, oldest first."""
    _with_endpoint(product)
    async with service.engine.begin() as conn:
        state, changed, requeued = await enable_endpoint(conn, product.name)
        await _audit(conn, product, "endpoint-enable", {"changed": changed, "requeued": requeued})
        return {**await _endpoint(conn, state), "changed": changed, "requeued": requeued}
