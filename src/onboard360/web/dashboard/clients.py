"""A client's page: its channels and a timeline of everything that happened to it.

Keys are never read here: no query of this module selects ``api_keys.ciphertext``, and
every detail shown passes through ``pages.redact``.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from onboard360.db import tables as t
from onboard360.domain import is_valid_id
from onboard360.hubs_config import HubConfig
from onboard360.web.dashboard.pages import PAGE_HEADERS, render
from onboard360.web.dashboard.sessions import DashboardRoute, PageError, SessionDep
from onboard360.web.deps import ServiceDep

router = APIRouter(prefix="/dashboard", route_class=DashboardRoute, include_in_schema=False)

TIMELINE_LIMIT = 300

_CHANNELS = text(
    """
    SELECT c.hub, c.channel_id, c.client_id, c.phone_number, c.status, c.permission,
      c.key_status, c.key_intent, c.blocker, c.reason, c.updated_at, c.created_at,
      c.state->'violations' AS violations
    FROM channels c
    WHERE c.hub = :hub AND (c.client_id = :client OR c.channel_id = ANY(:channels))
    ORDER BY c.created_at, c.channel_id
    """
)

_ONBOARDINGS = text(
    """
    SELECT o.id, o.external_user_id, o.created_at, o.expires_at, o.redirected_at,
      o.channels, o.revoked, o.prefill->>'login' AS login, o.expires_at <= now() AS expired
    FROM onboardings o
    WHERE o.hub = :hub AND (o.client_id = :client
      OR (o.client_id IS NULL AND o.external_user_id = :external_user_id))
    ORDER BY o.created_at DESC LIMIT 50
    """
)

_KEY_GENERATIONS = text(
    """
    SELECT g.channel_id, g.intent, g.rotation, g.status, g.attempts, g.last_error,
      g.created_at, g.updated_at
    FROM key_generations g
    WHERE g.hub = :hub AND g.channel_id = ANY(:channels)
    ORDER BY g.channel_id, g.intent DESC
    """
)

_PRODUCT_EVENTS = text(
    """
    SELECT e.id, e.event_type, e.channel_id, e.created_at, e.delivered_at, e.failed_at,
      e.attempts, e.last_status, e.last_error
    FROM product_events e
    WHERE e.hub = :hub AND (e.client_id = :client OR e.channel_id = ANY(:channels))
    ORDER BY e.created_at DESC LIMIT 100
    """
)

# Everything, newest first: one row per thing that happened, from every table that
# records something about the client or its channels. Keys are never selected.
_TIMELINE = text(
    """
    SELECT * FROM (
      SELECT l.at, l.source, l.kind, l.channel_id, l.detail, NULL::text AS note
      FROM timeline l
      WHERE l.hub = :hub AND (l.client_id = :client OR l.channel_id = ANY(:channels))
    UNION ALL
      SELECT o.created_at, 'onboarding', 'onboarding_created', NULL,
        jsonb_build_object('onboarding_id', o.id, 'user', o.external_user_id), NULL
      FROM onboardings o WHERE o.hub = :hub AND o.client_id = :client
    UNION ALL
      SELECT o.redirected_at, 'redirect', 'redirected', NULL,
        jsonb_build_object('channels', o.channels, 'revoked', o.revoked), NULL
      FROM onboardings o
      WHERE o.hub = :hub AND o.client_id = :client AND o.redirected_at IS NOT NULL
    UNION ALL
      SELECT i.received_at, 'webhook', coalesce(i.event_type, 'unknown event'), i.channel_id,
        jsonb_build_object('processed', i.processed_at IS NOT NULL), i.error
      FROM inbox_events i
      WHERE i.hub = :hub AND (i.client_id = :client OR i.channel_id = ANY(:channels))
    UNION ALL
      SELECT g.created_at, 'key', CASE WHEN g.rotation THEN 'key_rotation' ELSE 'key_intent' END,
        g.channel_id, jsonb_build_object('intent', g.intent, 'status', g.status,
          'attempts', g.attempts), g.last_error
      FROM key_generations g WHERE g.hub = :hub AND g.channel_id = ANY(:channels)
    UNION ALL
      SELECT e.created_at, 'handoff', e.event_type, e.channel_id,
        jsonb_build_object('delivered', e.delivered_at IS NOT NULL,
          'failed', e.failed_at IS NOT NULL, 'attempts', e.attempts,
          'last_status', e.last_status), e.last_error
      FROM product_events e
      WHERE e.hub = :hub AND (e.client_id = :client OR e.channel_id = ANY(:channels))
    UNION ALL
      SELECT a.at, 'operator', a.action, a.detail->>'channel_id',
        a.detail - 'hub' - 'client_id' - 'channel_id' || jsonb_build_object('by', op.email),
        NULL
      FROM audit_log a LEFT JOIN operators op ON op.id = a.operator_id
      WHERE a.detail->>'hub' = :hub
        AND (a.detail->>'client_id' = :client OR a.detail->>'channel_id' = ANY(:channels))
    ) AS everything
    ORDER BY at DESC NULLS LAST LIMIT :limit
    """
)


def configured_hub(service: ServiceDep, name: str) -> HubConfig:
    hub = service.settings.hub(name)
    if hub is None:
        raise PageError(404, "There is no hub of that name: go back to the overview.")
    return hub


def checked_id(value: str, what: str) -> str:
    if not is_valid_id(value):
        raise PageError(404, f"There is no such {what}.")
    return value


async def subject_context(
    conn: AsyncConnection, hub: HubConfig, client: Any | None, channel_ids: list[str]
) -> dict[str, Any]:
    """What the client page shows, for a client (``client`` row) or a lone channel."""
    client_id = client.client_id if client is not None else None
    params = {"hub": hub.name, "client": client_id, "channels": channel_ids}
    channels = list(await conn.execute(_CHANNELS, params))
    params["channels"] = [c.channel_id for c in channels] or channel_ids
    external = client.external_user_id if client is not None else None
    return {
        "hub": hub,
        "client": client,
        "channels": channels,
        "onboardings": (
            list(await conn.execute(_ONBOARDINGS, {**params, "external_user_id": external}))
            if client is not None
            else []
        ),
        "generations": list(await conn.execute(_KEY_GENERATIONS, params)),
        "events": list(await conn.execute(_PRODUCT_EVENTS, params)),
        "timeline": list(await conn.execute(_TIMELINE, {**params, "limit": TIMELINE_LIMIT})),
    }


DONE_MESSAGES = {
    "retry_requeued": "The key job was queued again; a worker will generate the key.",
    "retry_confirmed": "Permission marked as granted: a worker will generate the key.",
    "retry_nothing": "Nothing was done: there was nothing to retry (see the reason).",
    "rotate_requested": "A new key was requested; a worker generates it and the old one stops.",
    "rotate_nothing": "Nothing was done: that key was already replaced or is being replaced.",
    "resend_queued": "The event was queued for delivery again.",
    "resend_nothing": "Nothing was done: the event was already queued or resent.",
    "reconcile_done": "Reconciled with 360dialog.",
    "reconcile_failed": "360dialog could not be reached: nothing changed. Try again later.",
}


@router.get("/clients/{hub_name}/{client_id}")
async def client_page(
    hub_name: str, client_id: str, request: Request, session: SessionDep, service: ServiceDep
) -> Response:
    hub = configured_hub(service, hub_name)
    checked_id(client_id, "client")
    async with service.engine.connect() as conn:
        client = (
            await conn.execute(
                select(t.clients).where(
                    t.clients.c.hub == hub.name, t.clients.c.client_id == client_id
                )
            )
        ).first()
        if client is None:
            raise PageError(404, "There is no such client in this hub.")
        context = await subject_context(conn, hub, client, [])
    done = DONE_MESSAGES.get(request.query_params.get("done", ""))
    return render("client.html", session=session, done=done, **context)


@router.get("/channels/{hub_name}/{channel_id}")
async def channel_page(
    hub_name: str, channel_id: str, session: SessionDep, service: ServiceDep
) -> Response:
    """A channel's client page, or the channel alone when no client row owns it yet."""
    hub = configured_hub(service, hub_name)
    checked_id(channel_id, "channel")
    async with service.engine.connect() as conn:
        row = (
            await conn.execute(
                select(t.channels.c.client_id, t.clients.c.client_id.label("known"))
                .select_from(t.channels)
                .outerjoin(
                    t.clients,
                    (t.clients.c.hub == t.channels.c.hub)
                    & (t.clients.c.client_id == t.channels.c.client_id),
                )
                .where(t.channels.c.hub == hub.name, t.channels.c.channel_id == channel_id)
            )
        ).first()
        if row is None:
            raise PageError(404, "There is no such channel in this hub.")
        if row.known is not None:
            target = f"/dashboard/clients/{hub.name}/{row.known}#channel-{channel_id}"
            return RedirectResponse(target, status_code=303, headers=PAGE_HEADERS)
        context = await subject_context(conn, hub, None, [channel_id])
    return render("client.html", session=session, done=None, **context)
