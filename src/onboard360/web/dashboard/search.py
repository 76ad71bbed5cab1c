"""Search by phone number, client id, channel id or the partner's own user id.

The queries are web/queries/search.py (shared with the API's ``/search``); the query is
echoed autoescaped.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from onboard360.db.queries.search import MAX_QUERY, search_lists
from onboard360.web.dashboard.pages import render
from onboard360.web.dashboard.sessions import DashboardRoute, SessionDep
from onboard360.web.deps import ServiceDep

router = APIRouter(prefix="/dashboard", route_class=DashboardRoute, include_in_schema=False)

LIMIT = 100


@router.get("/search")
async def search(request: Request, session: SessionDep, service: ServiceDep) -> Response:
    query = request.query_params.get("q", "").strip()[:MAX_QUERY]
    results: dict[str, list[Any]] = {"clients": [], "channels": [], "onboardings": []}
    if query:
        hubs = [hub.name for hub in service.settings.hubs]
        async with service.engine.connect() as conn:
            results = await search_lists(conn, query, hubs, LIMIT)
    found = sum(len(v) for v in results.values())
    return render("search.html", session=session, query=query, found=found, **results)
