"""The overview: per hub, onboardings by stage, channels by state, and who needs attention."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request, Response
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from onboard360.jobs.effects import PROVISION_TASK
from onboard360.web.dashboard.pages import render
from onboard360.web.dashboard.sessions import DashboardRoute, PageError, SessionDep
from onboard360.web.deps import ServiceDep

router = APIRouter(prefix="/dashboard", route_class=DashboardRoute, include_in_schema=False)

PREVIEW = 5  # items of each list shown on the overview
PAGE = 200  # items on a list's own page

# An onboarding's stage, as web/progress.py tells it to the opener page, plus "expired":
# an attempt nobody finished before it expired.
_STAGES = text(
    """
    SELECT stage, count(*) AS n FROM (
      SELECT CASE
        WHEN o.redirected_at IS NULL AND o.expires_at <= now() THEN 'expired'
        WHEN o.redirected_at IS NULL THEN 'waiting_for_popup'
        WHEN cardinality(o.channels) > 0 AND NOT EXISTS (
          SELECT 1 FROM unnest(o.channels) AS shared(id)
          LEFT JOIN channels c ON c.hub = o.hub AND c.channel_id = shared.id
          WHERE c.key_status IS DISTINCT FROM 'stored') THEN 'live'
        ELSE 'connecting' END AS stage
      FROM onboardings o WHERE o.hub = :hub) AS staged
    GROUP BY stage
    """
)
STAGES = ("waiting_for_popup", "connecting", "live", "expired")

_CHANNEL_STATES = text(
    """
    SELECT coalesce(status, 'unknown') AS status, permission, key_status, count(*) AS n
    FROM channels WHERE hub = :hub
    GROUP BY 1, 2, 3 ORDER BY n DESC, 1, 2, 3
    """
)


@dataclass(frozen=True)
class Attention:
    """One "needs attention" list: what it means and the query that fills it.

    Every query answers hub, channel_id, client_id, phone_number, what (a line for a
    person), since (how long it has been so); bound parameters only.
    """

    kind: str
    title: str
    explains: str
    sql: str


ATTENTION = {
    a.kind: a
    for a in (
        Attention(
            "waiting_for_permission",
            "Waiting for permission",
            "Running numbers that get no API key until the client grants permission: send a "
            "re-permission link, or retry once they granted it in their 360dialog hub.",
            """SELECT c.hub, c.channel_id, c.client_id, c.phone_number,
              c.reason AS what, c.updated_at AS since
            FROM channels c WHERE c.hub = :hub AND c.blocker = 'waiting_for_permission'""",
        ),
        Attention(
            "stuck",
            "Stuck",
            "Numbers without a key that have not moved for longer than stuck_after_minutes.",
            """SELECT c.hub, c.channel_id, c.client_id, c.phone_number,
              c.reason AS what, c.updated_at AS since
            FROM channels c
            WHERE c.hub = :hub AND c.key_status <> 'stored'
              AND c.status IS DISTINCT FROM 'terminated' AND c.updated_at < :stuck_before""",
        ),
        Attention(
            "provisioning_failed",
            "Provisioning failed",
            "Key generations that failed at 360dialog and have no stored key: retry once the "
            "cause is fixed.",
            """SELECT c.hub, c.channel_id, c.client_id, c.phone_number,
              g.attempts || ' attempt(s), ' ||
              CASE WHEN EXISTS (SELECT 1 FROM procrastinate_jobs j
                WHERE j.task_name = :provision_task AND j.status IN ('todo', 'doing')
                  AND j.args->>'hub' = g.hub AND j.args->>'channel_id' = g.channel_id
                  AND (j.args->>'intent')::int = g.intent)
              THEN 'still retrying' ELSE 'given up' END
              || ': ' || coalesce(g.last_error, 'the job failed') AS what,
              g.updated_at AS since
            FROM key_generations g
            JOIN channels c ON c.hub = g.hub AND c.channel_id = g.channel_id
            WHERE g.hub = :hub AND g.status = 'pending'
              AND NOT EXISTS (SELECT 1 FROM api_keys k WHERE k.hub = g.hub
                AND k.channel_id = g.channel_id AND k.intent = g.intent)
              AND (g.last_error IS NOT NULL OR EXISTS (SELECT 1 FROM procrastinate_jobs j
                WHERE j.task_name = :provision_task AND j.status = 'failed'
                  AND j.args->>'hub' = g.hub AND j.args->>'channel_id' = g.channel_id
                  AND (j.args->>'intent')::int = g.intent))""",
        ),
        Attention(
            "handoff_failing",
            "Handoff failing",
            "Events the partner's product has not accepted yet (failed: retries exhausted): "
            "fix the product's endpoint, then resend or replay them.",
            """SELECT e.hub, e.channel_id, e.client_id, NULL AS phone_number,
              e.event_type || CASE WHEN e.failed_at IS NULL THEN '' ELSE ' (failed)' END ||
              ': ' || e.attempts || ' attempt(s), last answer ' ||
              coalesce(e.last_status::text, 'none') ||
              coalesce(' (' || left(e.last_error, 120) || ')', '') AS what,
              e.created_at AS since
            FROM product_events e
            WHERE e.hub = :hub AND e.attempts > 0 AND e.delivered_at IS NULL""",
        ),
        Attention(
            "endpoint_disabled",
            "Deliveries disabled",
            "The product's endpoint is disabled: no event is sent, every one is kept. Fix the "
            "product, then enable deliveries on the product's page (the pending events follow).",
            """SELECT :hub AS hub, NULL AS channel_id, NULL AS client_id, NULL AS phone_number,
              'product ' || p.product || ': disabled by ' || p.disabled_by || ': ' ||
              p.disabled_reason AS what,
              p.disabled_at AS since
            FROM product_endpoints p
            WHERE p.product = :product AND p.disabled_at IS NOT NULL""",
        ),
        Attention(
            "violations",
            "Violations",
            "Numbers Meta flagged (account_violation, account_restriction).",
            """SELECT c.hub, c.channel_id, c.client_id, c.phone_number,
              array_to_string(ARRAY(SELECT jsonb_array_elements_text(c.state->'violations')),
                ', ') AS what,
              c.updated_at AS since
            FROM channels c
            WHERE c.hub = :hub AND jsonb_array_length(coalesce(c.state->'violations', '[]')) > 0
            """,
        ),
    )
}


async def attention_list(
    conn: AsyncConnection, service: ServiceDep, kind: str, hub: str, limit: int
) -> tuple[int, list[Any]]:
    """How many items the list has in this hub, and the oldest ``limit`` of them."""
    spec = ATTENTION[kind]
    stuck_before = datetime.now(UTC) - timedelta(minutes=service.settings.stuck_after_minutes)
    query = text(
        f"SELECT *, count(*) OVER () AS total FROM ({spec.sql}) AS items "  # noqa: S608 - fixed SQL
        "ORDER BY since, channel_id LIMIT :limit"
    )
    params: dict[str, object] = {"limit": limit, "hub": hub}
    if ":stuck_before" in spec.sql:
        params["stuck_before"] = stuck_before
    if ":provision_task" in spec.sql:
        params["provision_task"] = PROVISION_TASK
    if ":product" in spec.sql:
        configured = service.settings.hub(hub)
        params["product"] = configured.product if configured else ""
    rows = list(await conn.execute(query, params))
    return (rows[0].total if rows else 0), rows


@router.get("")
async def overview(session: SessionDep, service: ServiceDep) -> Response:
    hubs: list[dict[str, Any]] = []
    async with service.engine.connect() as conn:
        for hub in service.settings.hubs:
            stages = {row.stage: row.n for row in await conn.execute(_STAGES, {"hub": hub.name})}
            states = list(await conn.execute(_CHANNEL_STATES, {"hub": hub.name}))
            lists = []
            for kind, spec in ATTENTION.items():
                total, rows = await attention_list(conn, service, kind, hub.name, PREVIEW)
                lists.append({"spec": spec, "total": total, "rows": rows})
            hubs.append(
                {
                    "hub": hub,
                    "stages": [(stage, stages.get(stage, 0)) for stage in STAGES],
                    "states": states,
                    "lists": lists,
                }
            )
    return render(
        "overview.html",
        session=session,
        hubs=hubs,
        stuck_after=service.settings.stuck_after_minutes,
    )


@router.get("/attention/{kind}")
async def attention(
    kind: str, request: Request, session: SessionDep, service: ServiceDep
) -> Response:
    spec = ATTENTION.get(kind)
    hub = service.settings.hub(request.query_params.get("hub", ""))
    if spec is None or hub is None:
        raise PageError(404, "There is no such list: go back to the overview.")
    async with service.engine.connect() as conn:
        total, rows = await attention_list(conn, service, kind, hub.name, PAGE)
    return render("attention.html", session=session, spec=spec, hub=hub, total=total, rows=rows)
