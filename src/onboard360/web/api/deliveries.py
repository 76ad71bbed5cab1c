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

from onboard360.config.hubs import ProductConfig
from onboard360.db.queries.deliveries import ATTEMPT_ORDER, attempts_of, product_event
from onboard360.domain import ID_PATTERN, ProductEvent
from onboard360.jobs.endpoints import MAX_REASON_CHARS
from onboard360.jobs.replay import MAX_BULK, ReplayFilter, ReplayStatus, delivery_state, is_event_id
from onboard360.services import deliveries
from onboard360.services.source import API
from onboard360.web.api.common import CONFLICT, ERRORS, PRINTABLE
from onboard360.web.deps import ProductDep, ServiceDep
from onboard360.web.errors import ApiError, not_found
from onboard360.web.pagination import Cursor, Keyset, Limit, fetch_page, page
from onboard360.web.strict import DateTimeText, RequestBody

router = APIRouter(prefix="/api/v1", tags=["deliveries"], responses=ERRORS)

OLDEST_FIRST = Keyset("attempts", ATTEMPT_ORDER, [int])


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
    async with service.engine.connect() as conn:
        event = await product_event(conn, event_id, product.name)
        if event is None:
            raise not_found("event")
        rows, next_cursor = await fetch_page(
            conn, attempts_of(event_id), OLDEST_FIRST, limit, cursor
        )
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
    queued = await deliveries.replay_one(service, product, event_id, source=API)
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
    since, until = deliveries.replay_window(body.since, body.until, datetime.now(UTC))
    spec = ReplayFilter(
        status=body.status,
        since=since,
        until=until,
        event_type=body.event_type.value if body.event_type else None,
        channel_id=body.channel_id,
        client_id=body.client_id,
        limit=body.limit,
    )
    report = await deliveries.replay_matching(service, product, spec, source=API)
    return {"queued": report.queued, "has_more": report.has_more, "since": since, "until": until}


@router.get("/endpoint", response_model=Endpoint)
async def get_endpoint(product: ProductDep, service: ServiceDep) -> dict[str, Any]:
    """Whether deliveries to this product's webhook_url are attempted, and what waits."""
    report = await deliveries.endpoint_report(service, _with_endpoint(product))
    return report.view()


@router.post("/endpoint/disable", response_model=EndpointChanged)
async def disable(
    product: ProductDep, service: ServiceDep, body: DisableRequest | None = None
) -> dict[str, Any]:
    """Pause deliveries; events are kept (pending) until the endpoint is enabled."""
    reason = (body or DisableRequest()).reason
    done = await deliveries.disable_deliveries(service, _with_endpoint(product), reason, source=API)
    return {**done.view(), "changed": done.changed, "requeued": 0}


@router.post("/endpoint/enable", response_model=EndpointChanged)
async def enable(product: ProductDep, service: ServiceDep) -> dict[str, Any]:
    """Resume deliveries: every pending event is queued again, oldest first."""
    done = await deliveries.enable_deliveries(service, _with_endpoint(product), source=API)
    return {**done.view(), "changed": done.changed, "requeued": done.requeued}
