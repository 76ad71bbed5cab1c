"""A client's page: its channels, key generations, events, onboardings and a timeline of
everything that happened to it — for the dashboard's client page and the API's.

Keys are never read here: no query selects ``api_keys.ciphertext``; details may still
name a secret-looking field, so whoever shows them passes them through
``dashboard.pages.redact``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, Subquery, Text, select, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from onboard360.config.hubs import HubConfig
from onboard360.db import tables as t
from onboard360.db.paging import Keyset, fetch_page

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
# ``ref`` is unique per row (with ``at``, the order a page of the API resumes from).
_TIMELINE_SQL = """
      SELECT l.at, l.source, l.kind, l.channel_id, l.detail, NULL::text AS note,
        'timeline/' || l.id AS ref
      FROM timeline l
      WHERE l.hub = :hub AND (l.client_id = :client OR l.channel_id = ANY(:channels))
    UNION ALL
      SELECT o.created_at, 'onboarding', 'onboarding_created', NULL,
        jsonb_build_object('onboarding_id', o.id, 'user', o.external_user_id), NULL,
        'onboarding/' || o.id
      FROM onboardings o WHERE o.hub = :hub AND o.client_id = :client
    UNION ALL
      SELECT o.redirected_at, 'redirect', 'redirected', NULL,
        jsonb_build_object('channels', o.channels, 'revoked', o.revoked), NULL,
        'redirect/' || o.id
      FROM onboardings o
      WHERE o.hub = :hub AND o.client_id = :client AND o.redirected_at IS NOT NULL
    UNION ALL
      SELECT i.received_at, 'webhook', coalesce(i.event_type, 'unknown event'), i.channel_id,
        jsonb_build_object('processed', i.processed_at IS NOT NULL), i.error,
        'webhook/' || i.id
      FROM inbox_events i
      WHERE i.hub = :hub AND (i.client_id = :client OR i.channel_id = ANY(:channels))
    UNION ALL
      SELECT g.created_at, 'key', CASE WHEN g.rotation THEN 'key_rotation' ELSE 'key_intent' END,
        g.channel_id, jsonb_build_object('intent', g.intent, 'status', g.status,
          'attempts', g.attempts), g.last_error,
        'key/' || g.channel_id || '/' || g.intent
      FROM key_generations g WHERE g.hub = :hub AND g.channel_id = ANY(:channels)
    UNION ALL
      SELECT e.created_at, 'handoff', e.event_type, e.channel_id,
        jsonb_build_object('delivered', e.delivered_at IS NOT NULL,
          'failed', e.failed_at IS NOT NULL, 'attempts', e.attempts,
          'last_status', e.last_status), e.last_error,
        'handoff/' || e.id
      FROM product_events e
      WHERE e.hub = :hub AND (e.client_id = :client OR e.channel_id = ANY(:channels))
    UNION ALL
      SELECT a.at, 'operator', a.action, a.detail->>'channel_id',
        a.detail - 'hub' - 'client_id' - 'channel_id'
          || jsonb_build_object('by', CASE WHEN a.operator_id IS NULL
               THEN coalesce(a.detail->>'by', 'system') ELSE {operator} END),
        NULL, 'operator/' || a.id
      FROM audit_log a LEFT JOIN operators op ON op.id = a.operator_id
      WHERE a.detail->>'hub' = :hub
        AND (a.detail->>'client_id' = :client OR a.detail->>'channel_id' = ANY(:channels))
"""
# Who did an operator's action: the dashboard (operators among themselves) names the
# operator's login email; the product API says only that an operator did it — an
# operator's login is none of the product's business. Actions without an operator keep
# their own "by" (api, cli).
TIMELINE_SQL = _TIMELINE_SQL.format(operator="op.email")
PRODUCT_TIMELINE_SQL = _TIMELINE_SQL.format(operator="'operator'")
_TIMELINE = text(
    f"SELECT * FROM ({TIMELINE_SQL}) AS everything "  # noqa: S608 - fixed SQL
    "ORDER BY at DESC, ref DESC LIMIT :limit"
)


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


def timeline_items(hub: str, client_id: str | None, channel_ids: list[str]) -> Subquery:
    """The whole timeline of a client (and its channels) as a subquery, for the product
    API's pages: operators appear as ``"by": "operator"``, never by their login."""
    params = {"hub": hub, "client": client_id, "channels": channel_ids}
    return (
        text(PRODUCT_TIMELINE_SQL)
        .bindparams(**params)
        .columns(
            at=DateTime(timezone=True),
            source=Text,
            kind=Text,
            channel_id=Text,
            detail=JSONB,
            note=Text,
            ref=Text,
        )
        .subquery("everything")
    )


_CL = t.clients.c
_C = t.channels.c
BY_CLIENT_ID = Keyset("clients", [_CL.hub, _CL.client_id], [str, str])


async def clients_page(
    conn: AsyncConnection,
    hubs: Sequence[str],
    *,
    external_user_id: str | None,
    claimed: bool | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[Row[Any]], str | None]:
    """A page of the clients of these hubs (by hub and client id), optionally only one
    user's, or only those bound (``claimed``) or bound to nobody; and the next cursor."""
    query = select(t.clients).where(_CL.hub.in_(hubs))
    if external_user_id is not None:
        query = query.where(_CL.external_user_id == external_user_id)
    if claimed is not None:
        bound = _CL.external_user_id.is_not(None)
        query = query.where(bound if claimed else ~bound)
    return await fetch_page(conn, query, BY_CLIENT_ID, limit, cursor)


async def client(conn: AsyncConnection, hub: str, client_id: str) -> Row[Any] | None:
    """The client row, if the hub knows it."""
    query = select(t.clients).where(_CL.hub == hub, _CL.client_id == client_id)
    return (await conn.execute(query)).first()


async def client_in_hubs(
    conn: AsyncConnection, client_id: str, hubs: Sequence[str]
) -> Row[Any] | None:
    """The client of that id in the first (by name) of these hubs that knows it."""
    query = (
        select(t.clients)
        .where(_CL.client_id == client_id, _CL.hub.in_(hubs))
        .order_by(_CL.hub)
        .limit(1)
    )
    return (await conn.execute(query)).first()


async def hub_of_client(conn: AsyncConnection, client_id: str, hubs: Sequence[str]) -> str | None:
    """The first (by name) of these hubs that knows a client of that id."""
    query = (
        select(_CL.hub)
        .where(_CL.client_id == client_id, _CL.hub.in_(hubs))
        .order_by(_CL.hub)
        .limit(1)
    )
    hub: str | None = await conn.scalar(query)
    return hub


async def client_channels(conn: AsyncConnection, hub: str, client_id: str) -> list[Row[Any]]:
    """The client's channel rows, by channel id (never a key: channels hold none)."""
    query = (
        select(t.channels).where(_C.hub == hub, _C.client_id == client_id).order_by(_C.channel_id)
    )
    return list(await conn.execute(query))


async def channel_client(conn: AsyncConnection, hub: str, channel_id: str) -> Row[Any] | None:
    """The channel's ``client_id`` and ``known``: that client's id when a client row owns
    it, else None; no row at all when the hub has no such channel."""
    query = (
        select(_C.client_id, _CL.client_id.label("known"))
        .select_from(t.channels)
        .outerjoin(t.clients, (_CL.hub == _C.hub) & (_CL.client_id == _C.client_id))
        .where(_C.hub == hub, _C.channel_id == channel_id)
    )
    return (await conn.execute(query)).first()


async def timeline_page(
    conn: AsyncConnection, hub: str, client_id: str, limit: int, cursor: str | None
) -> tuple[list[Row[Any]], str | None]:
    """A page of the client's timeline as the product sees it (``timeline_items``), newest
    first; and the next cursor."""
    query = select(_C.channel_id).where(_C.hub == hub, _C.client_id == client_id)
    channel_ids = list(await conn.scalars(query))
    items = timeline_items(hub, client_id, channel_ids)
    keyset = Keyset("timeline", [items.c.at, items.c.ref], [datetime, str], descending=True)
    return await fetch_page(conn, select(items), keyset, limit, cursor)
