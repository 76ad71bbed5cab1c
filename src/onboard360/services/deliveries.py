"""Deliveries to a product: disable or enable its endpoint, replay its events.

Each command owns its transaction and writes one audit row naming who asked (``by``:
the source). The API (``/api/v1/endpoint``, ``/api/v1/events/…/replay``) and the CLI
(``onboard360 endpoint|events``) call these; the queue work is jobs/endpoints.py's and
jobs/replay.py's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from onboard360.config.hubs import ProductConfig
from onboard360.db.queries.deliveries import product_event_exists
from onboard360.jobs import endpoints, replay
from onboard360.jobs.endpoints import EndpointState
from onboard360.jobs.replay import ReplayFilter, ReplayReport
from onboard360.services.audit import audit
from onboard360.services.refusals import NotFound, ReplayRefused
from onboard360.services.source import Source
from onboard360.wiring.service import Service


@dataclass(frozen=True)
class EndpointReport:
    """The endpoint's state and what waits, as the command left it."""

    state: EndpointState
    pending: int
    failed: int
    changed: bool = False
    requeued: int = 0

    def view(self) -> dict[str, Any]:
        return {
            **self.state.view(),
            "pending_events": self.pending,
            "failed_events": self.failed,
        }


async def endpoint_report(service: Service, product: ProductConfig) -> EndpointReport:
    async with service.engine.connect() as conn:
        return await _report(conn, await endpoints.endpoint_state(conn, product.name))


async def disable_deliveries(
    service: Service,
    product: ProductConfig,
    reason: str,
    *,
    source: Source,
    shown_as: str | None = None,
) -> EndpointReport:
    """Pause deliveries (idempotent); ``shown_as`` is who the endpoint says disabled it."""
    async with service.engine.begin() as conn:
        state, changed = await endpoints.disable_endpoint(
            conn, product.name, reason, shown_as or str(source)
        )
        detail = {"changed": changed, "reason": reason}
        await _audit(conn, product, source, "endpoint-disable", detail)
        return await _report(conn, state, changed=changed)


async def enable_deliveries(
    service: Service, product: ProductConfig, *, source: Source
) -> EndpointReport:
    """Resume deliveries: the pending events are queued again, oldest first (idempotent)."""
    async with service.engine.begin() as conn:
        state, changed, requeued = await endpoints.enable_endpoint(conn, product.name)
        detail = {"changed": changed, "requeued": requeued}
        await _audit(conn, product, source, "endpoint-enable", detail)
        return await _report(conn, state, changed=changed, requeued=requeued)


def replay_window(
    since: datetime | None, until: datetime | None, now: datetime
) -> tuple[datetime, datetime]:
    """jobs/replay.py's window, refused as a ``ReplayRefused`` (400)."""
    try:
        return replay.replay_window(since, until, now)
    except replay.ReplayRefused as exc:
        raise ReplayRefused(str(exc), code=exc.code) from None


async def replay_one(
    service: Service, product: ProductConfig, event_id: str, *, source: Source
) -> bool:
    """Queue one of the product's events again; False when it was queued already."""
    missing = NotFound(f"product {product.name} has no event {event_id[:40]}")
    if not replay.is_event_id(event_id):
        raise missing
    async with service.engine.begin() as conn:
        if not await product_event_exists(conn, product.name, event_id):
            raise missing
        await _deliverable(conn, product)
        queued = await replay.replay_event(conn, product.name, event_id)
        if queued:
            await _audit(conn, product, source, "event-replay", {"event_id": event_id})
        return queued


async def replay_matching(
    service: Service, product: ProductConfig, spec: ReplayFilter, *, source: Source
) -> ReplayReport:
    """Queue again every matching event not queued already (at most ``spec.limit``)."""
    async with service.engine.begin() as conn:
        await _deliverable(conn, product)
        report = await replay.replay_events(conn, product.name, spec)
        detail = {"status": spec.status.value, "queued": report.queued}
        await _audit(conn, product, source, "events-replay", detail)
        return report


async def _deliverable(conn: AsyncConnection, product: ProductConfig) -> None:
    try:
        await endpoints.ensure_deliverable(conn, product)
    except replay.ReplayRefused as exc:
        raise ReplayRefused(str(exc), code=exc.code) from None


async def _report(
    conn: AsyncConnection, state: EndpointState, *, changed: bool = False, requeued: int = 0
) -> EndpointReport:
    pending, failed = await endpoints.undelivered_counts(conn, state.product)
    return EndpointReport(state, pending, failed, changed, requeued)


async def _audit(
    conn: AsyncConnection,
    product: ProductConfig,
    source: Source,
    action: str,
    detail: dict[str, Any],
) -> None:
    await audit(
        conn, source.operator_id, action, f"product:{product.name}", {"by": str(source), **detail}
    )
