"""Whether deliveries to a product's endpoint are attempted: enabled, or disabled with a
reason and since when.

An endpoint is disabled by hand (API, CLI, dashboard) or automatically: on ``410 Gone``
at once, or after sustained failure — it failed without a single success for
``endpoint_disable_after_hours`` (5 days by default, as Svix and Stripe do). Only
failures count, each at the moment it *ended*: ``failing_since`` is when the first
failure since the last success ended, and a success that ended after it ends the run. A
delivery that times out after 15 s therefore never makes the deliveries that succeeded
meanwhile look failed. Operators see "failing since" on the dashboard from the first
failure on, days before anything is disabled.

While it is disabled the deliver job attempts nothing and the events stay pending (never
lost); enabling it re-queues them, oldest first. Every change here is one statement on
one row, so concurrent workers and operators serialise on that row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from onboard360.config.hubs import ProductConfig
from onboard360.config.settings import Settings
from onboard360.jobs.replay import ReplayRefused, requeue_pending

MAX_REASON_CHARS = 200

_STATE = text(
    "SELECT disabled_at, disabled_reason, disabled_by, failing_since "
    "FROM product_endpoints WHERE product = :product"
)
_DISABLE = text(
    """
    INSERT INTO product_endpoints AS p (product, disabled_at, disabled_reason, disabled_by)
    VALUES (:product, now(), :reason, :by)
    ON CONFLICT (product) DO UPDATE
      SET disabled_at = now(), disabled_reason = :reason, disabled_by = :by, updated_at = now()
      WHERE p.disabled_at IS NULL
    RETURNING disabled_at
    """
)
_ENABLE = text(
    """
    UPDATE product_endpoints
    SET disabled_at = NULL, disabled_reason = NULL, disabled_by = NULL, failing_since = NULL,
      updated_at = now()
    WHERE product = :product AND disabled_at IS NOT NULL
    RETURNING product
    """
)
# A success ends the failing run it ended after (not one that began after it ended: that
# failure is newer than the success, whatever order the commits came in).
_SUCCEEDED = text(
    "UPDATE product_endpoints SET failing_since = NULL, updated_at = now() "
    "WHERE product = :product AND failing_since <= :ended_at"
)
_FAILED = text(
    """
    INSERT INTO product_endpoints AS p (product, failing_since) VALUES (:product, :ended_at)
    ON CONFLICT (product) DO UPDATE
      SET failing_since = coalesce(p.failing_since, :ended_at), updated_at = now()
    RETURNING failing_since, disabled_at
    """
)
_UNDELIVERED = text(
    "SELECT count(*) FILTER (WHERE failed_at IS NULL) AS pending, "
    "count(*) FILTER (WHERE failed_at IS NOT NULL) AS failed "
    "FROM product_events WHERE product = :product AND delivered_at IS NULL"
)


@dataclass(frozen=True)
class EndpointState:
    product: str
    disabled_at: datetime | None = None
    disabled_reason: str | None = None
    disabled_by: str | None = None
    failing_since: datetime | None = None

    @property
    def enabled(self) -> bool:
        return self.disabled_at is None

    def view(self) -> dict[str, Any]:
        return {
            "product": self.product,
            "state": "enabled" if self.enabled else "disabled",
            "disabled_since": self.disabled_at,
            "disabled_reason": self.disabled_reason,
            "disabled_by": self.disabled_by,
            "failing_since": self.failing_since,
        }


async def endpoint_state(conn: AsyncConnection, product: str) -> EndpointState:
    row = (await conn.execute(_STATE, {"product": product})).first()
    return EndpointState(product, *row) if row is not None else EndpointState(product)


async def undelivered_counts(conn: AsyncConnection, product: str) -> tuple[int, int]:
    """How many of the product's events are pending (retrying or held) and failed (dead)."""
    row = (await conn.execute(_UNDELIVERED, {"product": product})).one()
    return int(row.pending), int(row.failed)


async def disable_endpoint(
    conn: AsyncConnection, product: str, reason: str, by: str
) -> tuple[EndpointState, bool]:
    """Disable (idempotent: an endpoint already disabled keeps its reason and since)."""
    params = {"product": product, "reason": reason[:MAX_REASON_CHARS], "by": by}
    changed = (await conn.execute(_DISABLE, params)).first() is not None
    return await endpoint_state(conn, product), changed


async def enable_endpoint(conn: AsyncConnection, product: str) -> tuple[EndpointState, bool, int]:
    """Enable and re-queue the pending events, oldest first. Whether it was disabled, and
    how many events were queued (idempotent: nothing is queued when it was enabled)."""
    changed = (await conn.execute(_ENABLE, {"product": product})).first() is not None
    requeued = await requeue_pending(conn, product) if changed else 0
    return await endpoint_state(conn, product), changed, requeued


async def note_success(conn: AsyncConnection, product: str, ended_at: datetime) -> None:
    await conn.execute(_SUCCEEDED, {"product": product, "ended_at": ended_at})


async def note_failure(
    conn: AsyncConnection, settings: Settings, product: str, ended_at: datetime, *, gone: bool
) -> str | None:
    """Count a failed attempt that ended at ``ended_at``; disable the endpoint when it is
    time. The reason, if so."""
    params = {"product": product, "ended_at": ended_at}
    failing_since, disabled_at = (await conn.execute(_FAILED, params)).one()
    if disabled_at is not None:
        return None
    hours = settings.endpoint_disable_after_hours
    if gone:
        reason = "the product answered 410 Gone: it asks us to stop sending"
    elif ended_at - failing_since >= timedelta(hours=hours):
        reason = f"every attempt failed for {_duration(hours)}, not one succeeded"
    else:
        return None
    _, changed = await disable_endpoint(conn, product, reason, "auto")
    return reason if changed else None


def disabled_after(state: EndpointState, settings: Settings) -> datetime | None:
    """When a failing endpoint will be disabled unless a delivery succeeds first."""
    if state.failing_since is None or not state.enabled:
        return None
    return state.failing_since + timedelta(hours=settings.endpoint_disable_after_hours)


def _duration(hours: float) -> str:
    if hours >= 48 and hours % 24 == 0:
        return f"{hours / 24:g} days"
    if hours >= 1:
        return f"{hours:g} hour(s)"
    return f"{hours * 3600:g} second(s)"


async def ensure_deliverable(conn: AsyncConnection, product: ProductConfig) -> None:
    """Refuse (ReplayRefused) to queue deliveries that would not be attempted."""
    if not product.webhook_url:
        raise ReplayRefused("no_webhook_url", "the product has no webhook_url configured")
    if not (await endpoint_state(conn, product.name)).enabled:
        raise ReplayRefused(
            "endpoint_disabled",
            "deliveries to the product's endpoint are disabled: enable it first "
            "(enabling re-queues every pending event)",
        )
