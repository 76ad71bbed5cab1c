"""Search by phone number, client id, channel id or the partner's own user id.

The query is only ever a bound parameter (never SQL text) and is echoed autoescaped.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from sqlalchemy import text

from onboard360.web.dashboard.pages import render
from onboard360.web.dashboard.sessions import DashboardRoute, SessionDep
from onboard360.web.deps import ServiceDep

router = APIRouter(prefix="/dashboard", route_class=DashboardRoute, include_in_schema=False)

MAX_QUERY = 200
LIMIT = 100
MIN_PHONE_DIGITS = 4  # fewer digits would match half the book

_CLIENTS = text(
    """
    SELECT cl.hub, cl.client_id, cl.external_user_id, cl.created_at,
      (SELECT count(*) FROM channels c WHERE c.hub = cl.hub AND c.client_id = cl.client_id)
        AS channels
    FROM clients cl
    WHERE cl.client_id = :q OR cl.external_user_id = :q
       OR EXISTS (SELECT 1 FROM channels c WHERE c.hub = cl.hub AND c.client_id = cl.client_id
                  AND (c.channel_id = :q OR (:digits <> '' AND c.phone_number LIKE :phone)))
       OR EXISTS (SELECT 1 FROM onboardings o WHERE o.hub = cl.hub
                  AND o.client_id = cl.client_id AND o.external_user_id = :q)
    ORDER BY cl.hub, cl.client_id LIMIT :limit
    """
)

# Channels no client row owns (e.g. seen only by reconciliation before its client was).
_CHANNELS = text(
    """
    SELECT c.hub, c.channel_id, c.client_id, c.phone_number, c.status, c.reason
    FROM channels c
    WHERE (c.channel_id = :q OR (:digits <> '' AND c.phone_number LIKE :phone))
      AND NOT EXISTS (SELECT 1 FROM clients cl WHERE cl.hub = c.hub
                      AND cl.client_id = c.client_id)
    ORDER BY c.hub, c.channel_id LIMIT :limit
    """
)

# Onboardings of that partner user that never came back with a client.
_ONBOARDINGS = text(
    """
    SELECT o.id, o.hub, o.external_user_id, o.created_at, o.expires_at
    FROM onboardings o
    WHERE o.external_user_id = :q AND o.client_id IS NULL
    ORDER BY o.created_at DESC LIMIT :limit
    """
)


def phone_pattern(query: str) -> tuple[str, str]:
    """The digits of a phone-like query and a LIKE pattern matching numbers ending in them."""
    stripped = query.replace(" ", "").replace("-", "").replace("(", "").replace(")", "")
    digits = stripped.removeprefix("+")
    if len(digits) < MIN_PHONE_DIGITS or not digits.isascii() or not digits.isdigit():
        return "", ""
    return digits, f"%{digits}"  # only digits: nothing for LIKE to interpret


@router.get("/search")
async def search(request: Request, session: SessionDep, service: ServiceDep) -> Response:
    query = request.query_params.get("q", "").strip()[:MAX_QUERY]
    results: dict[str, list[Any]] = {"clients": [], "channels": [], "onboardings": []}
    if query:
        digits, phone = phone_pattern(query)
        params = {"q": query, "digits": digits, "phone": phone, "limit": LIMIT}
        async with service.engine.connect() as conn:
            results["clients"] = list(await conn.execute(_CLIENTS, params))
            results["channels"] = list(await conn.execute(_CHANNELS, params))
            results["onboardings"] = list(await conn.execute(_ONBOARDINGS, params))
    found = sum(len(v) for v in results.values())
    return render("search.html", session=session, query=query, found=found, **results)
