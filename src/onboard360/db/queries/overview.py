"""Per hub: onboardings by stage, channels by state, and who needs attention."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import DateTime, Subquery, Text, func, select, text
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from onboard360.config.settings import Settings
from onboard360.db.paging import Keyset, fetch_page
from onboard360.domain.stage import STAGES, WAITING

# An onboarding's stage is stored (domain/stage.py defines it, db/stages.py keeps it);
# only "expired" is read from the clock: a stored waiting_for_popup past its expiry.
# ``stage_filter`` and ``stage_counts`` are the lists' one reading of it (alias ``o``).
_WAITING = "o.stage = 'waiting_for_popup'"
_STAGE_FILTER = {
    "expired": f"{_WAITING} AND o.expires_at <= now()",
    "waiting_for_popup": f"{_WAITING} AND o.expires_at > now()",
}

# Counters kept by the onboardings' triggers (migration 0011), plus the hub's waiting
# onboardings not yet expired (the partial index onboardings_waiting: recent attempts).
_STAGES = text(
    """
    SELECT stage, sum(n)::bigint AS n FROM onboarding_stage_counts
    WHERE hub = :hub GROUP BY stage
    UNION ALL
    SELECT 'unexpired', count(*) FROM onboardings o
    WHERE o.hub = :hub AND o.stage = 'waiting_for_popup' AND o.expires_at > now()
    """
)


def stage_filter(stage: str) -> str:
    """The condition on ``o`` (an onboardings alias) of the onboardings shown in ``stage``."""
    if stage not in STAGES:
        raise ValueError(f"no such stage: {stage}")
    return _STAGE_FILTER.get(stage, f"o.stage = '{stage}'")


async def stage_counts(conn: AsyncConnection, hub: str) -> dict[str, int]:
    """Every stage of ``STAGES``, with how many of the hub's onboardings are in it."""
    counted = {row.stage: int(row.n) for row in await conn.execute(_STAGES, {"hub": hub})}
    unexpired = counted.pop("unexpired", 0)
    counted["expired"] = counted.get(WAITING, 0) - unexpired
    counted[WAITING] = unexpired
    return {stage: counted.get(stage, 0) for stage in STAGES}


# Counters kept by the channels' triggers (migration 0012): at most 16 rows per state,
# whatever the number of channels (status NULL is counted as 'unknown').
_CHANNEL_STATES = text(
    """
    SELECT status, permission, key_status, sum(n)::bigint AS n
    FROM channel_state_counts WHERE hub = :hub
    GROUP BY 1, 2, 3 HAVING sum(n) <> 0 ORDER BY n DESC, 1, 2, 3
    """
)


async def channel_states(conn: AsyncConnection, hub: str) -> list[Any]:
    """Rows of status, permission, key_status and n: the hub's channels by state."""
    return list(await conn.execute(_CHANNEL_STATES, {"hub": hub}))


@dataclass(frozen=True)
class Attention:
    """One "needs attention" list: what it means and the query that fills it.

    Every query answers hub, channel_id, client_id, phone_number, what (a line for a
    person), since (how long it has been so) and item (unique, with since the order);
    bound parameters only, for the hubs in ``:hubs``.
    """

    kind: str
    title: str
    explains: str
    sql: str
    # Its items are clients a person may claim for a user (services/claims.py).
    claimable: bool = False


ATTENTION = {
    a.kind: a
    for a in (
        Attention(
            "waiting_for_permission",
            "Waiting for permission",
            "Running numbers that get no API key until the client grants permission: send a "
            "re-permission link, or retry once they granted it in their 360dialog hub.",
            """SELECT c.hub, c.channel_id, c.client_id, c.phone_number,
              c.reason AS what, c.updated_at AS since, c.hub || '/' || c.channel_id AS item
            FROM channels c
            WHERE c.hub = ANY(:hubs) AND c.blocker = 'waiting_for_permission'""",
        ),
        Attention(
            "stuck",
            "Stuck",
            "Numbers without a key that have not moved for longer than stuck_after_minutes.",
            """SELECT c.hub, c.channel_id, c.client_id, c.phone_number,
              c.reason AS what, c.updated_at AS since, c.hub || '/' || c.channel_id AS item
            FROM channels c
            WHERE c.hub = ANY(:hubs) AND c.key_status <> 'stored'
              AND c.status IS DISTINCT FROM 'terminated' AND c.updated_at < :stuck_before""",
        ),
        Attention(
            "provisioning_failed",
            "Provisioning failed",
            "Key generations that failed at 360dialog and have no stored key: retry once the "
            "cause is fixed.",
            """SELECT c.hub, c.channel_id, c.client_id, c.phone_number,
              g.attempts || ' attempt(s), ' ||
              CASE WHEN key_job_queued(g.hub, g.channel_id, g.intent)
              THEN 'still retrying' ELSE 'given up' END
              || ': ' || coalesce(g.last_error, 'the job failed') AS what,
              g.updated_at AS since,
              g.hub || '/' || g.channel_id || '/' || g.intent AS item
            FROM key_generations g
            JOIN channels c ON c.hub = g.hub AND c.channel_id = g.channel_id
            WHERE g.hub = ANY(:hubs) AND g.status = 'pending'
              AND NOT EXISTS (SELECT 1 FROM api_keys k WHERE k.hub = g.hub
                AND k.channel_id = g.channel_id AND k.intent = g.intent)
              AND (g.last_error IS NOT NULL
                OR key_job_failed(g.hub, g.channel_id, g.intent))""",
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
              e.created_at AS since, e.id AS item
            FROM product_events e
            WHERE e.hub = ANY(:hubs) AND e.attempts > 0 AND e.delivered_at IS NULL""",
        ),
        Attention(
            "endpoint_disabled",
            "Deliveries failing or disabled",
            "The product's endpoint fails every delivery (it is disabled automatically after "
            "endpoint_disable_after_hours without a success), or is disabled: no event is "
            "sent, every one is kept. Fix the product, then enable deliveries on the "
            "product's page (the pending events follow).",
            """SELECT h.hub, NULL AS channel_id, NULL AS client_id, NULL AS phone_number,
              CASE WHEN p.disabled_at IS NOT NULL
                THEN 'product ' || p.product || ': disabled by ' || p.disabled_by || ': ' ||
                  p.disabled_reason
                ELSE 'product ' || p.product || ': failing, no delivery succeeded since'
              END AS what,
              coalesce(p.disabled_at, p.failing_since) AS since,
              h.hub || '/' || p.product AS item
            FROM product_endpoints p
            JOIN unnest(CAST(:hubs AS text[]), CAST(:products AS text[])) AS h(hub, product)
              ON h.product = p.product
            WHERE p.disabled_at IS NOT NULL OR p.failing_since IS NOT NULL""",
        ),
        Attention(
            "unclaimed_clients",
            "Unclaimed clients",
            "Clients bound to none of the product's users: they reached 360dialog without an "
            "onboarding of ours (a direct link, 360dialog's own hub, a hub adopted with its "
            "clients). Claim one for a user, or import the keys its numbers already use.",
            """SELECT cl.hub, NULL AS channel_id, cl.client_id, NULL AS phone_number,
              (SELECT count(*) FROM channels c WHERE c.hub = cl.hub
                AND c.client_id = cl.client_id) || ' number(s), bound to no user' AS what,
              cl.created_at AS since, cl.hub || '/' || cl.client_id AS item
            FROM clients cl
            WHERE cl.hub = ANY(:hubs) AND cl.external_user_id IS NULL""",
            claimable=True,
        ),
        Attention(
            "redirect_unconfirmed",
            "Redirects not applied",
            "Onboardings whose redirect changed nothing yet: 360dialog could not be asked (a "
            "job retries), or the client it named is someone else's, older than the "
            "onboarding, or unknown to 360dialog. If the client is the user's, claim it.",
            """SELECT o.hub, NULL AS channel_id, o.client_id, NULL AS phone_number,
              CASE WHEN o.verification = 'pending'
                THEN 'waiting for 360dialog to confirm the redirect of ' || o.external_user_id
                ELSE 'redirect of ' || o.external_user_id || ' not applied: ' ||
                  coalesce(o.conflict->>'claim', o.verification) || ' (client ' ||
                  coalesce(o.conflict->>'claimed_client', '?') || ')' END AS what,
              o.redirected_at AS since, o.id::text AS item
            FROM onboardings o
            WHERE o.hub = ANY(:hubs)
              AND o.verification IN ('pending', 'conflict', 'unknown_client')""",
            claimable=True,
        ),
        Attention(
            "violations",
            "Violations",
            "Numbers Meta flagged (account_violation, account_restriction).",
            """SELECT c.hub, c.channel_id, c.client_id, c.phone_number,
              array_to_string(ARRAY(SELECT jsonb_array_elements_text(c.state->'violations')),
                ', ') AS what,
              c.updated_at AS since, c.hub || '/' || c.channel_id AS item
            FROM channels c
            WHERE c.hub = ANY(:hubs)
              AND jsonb_array_length(coalesce(c.state->'violations', '[]')) > 0
            """,
        ),
    )
}


def attention_items(kind: str, hubs: list[str], settings: Settings) -> Subquery:
    """The ``kind`` list of these hubs as a subquery (columns as ``Attention`` says)."""
    spec = ATTENTION[kind]
    params: dict[str, object] = {"hubs": hubs}
    if ":stuck_before" in spec.sql:
        stuck_after = timedelta(minutes=settings.stuck_after_minutes)
        params["stuck_before"] = datetime.now(UTC) - stuck_after
    if ":products" in spec.sql:
        configured = [settings.hub(name) for name in hubs]
        params["products"] = [hub.product if hub else "" for hub in configured]
    return (
        text(spec.sql)
        .bindparams(**params)
        .columns(
            hub=Text,
            channel_id=Text,
            client_id=Text,
            phone_number=Text,
            what=Text,
            since=DateTime(timezone=True),
            item=Text,
        )
        .subquery("items")
    )


async def attention_list(
    conn: AsyncConnection, kind: str, hub: str, settings: Settings, limit: int
) -> tuple[int, list[Any]]:
    """How many items the list has in this hub, and the oldest ``limit`` of them."""
    items = attention_items(kind, [hub], settings)
    query = (
        select(items, func.count().over().label("total"))
        .order_by(items.c.since, items.c.item)
        .limit(limit)
    )
    rows = list(await conn.execute(query))
    return (rows[0].total if rows else 0), rows


async def attention_page(
    conn: AsyncConnection,
    kind: str,
    hubs: list[str],
    settings: Settings,
    *,
    limit: int,
    cursor: str | None,
) -> tuple[list[Row[Any]], str | None]:
    """A page of the ``kind`` list of these hubs, oldest first; and the next cursor."""
    items = attention_items(kind, hubs, settings)
    keyset = Keyset(f"attention.{kind}", [items.c.since, items.c.item], [datetime, str])
    return await fetch_page(conn, select(items), keyset, limit, cursor)


async def attention_counts(conn: AsyncConnection, hub: str, settings: Settings) -> dict[str, int]:
    """How many items each list has in this hub."""
    counts = {}
    for kind in ATTENTION:
        items = attention_items(kind, [hub], settings)
        counts[kind] = int(await conn.scalar(select(func.count()).select_from(items)) or 0)
    return counts
