"""The overview: per hub, onboardings by stage, channels by state, and who needs attention.

The queries are web/queries/overview.py, shared with the product API's ``/overview``.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from onboard360.db.queries.overview import (
    ATTENTION,
    attention_list,
    channel_states,
    stage_counts,
)
from onboard360.web.dashboard.pages import render
from onboard360.web.dashboard.sessions import DashboardRoute, PageError, SessionDep
from onboard360.web.deps import ServiceDep

router = APIRouter(prefix="/dashboard", route_class=DashboardRoute, include_in_schema=False)

PREVIEW = 5  # items of each list shown on the overview
PAGE = 200  # items on a list's own page


@router.get("")
async def overview(session: SessionDep, service: ServiceDep) -> Response:
    hubs: list[dict[str, Any]] = []
    stuck_after = service.settings.stuck_after_minutes
    async with service.engine.connect() as conn:
        for hub in service.settings.hubs:
            lists = []
            for kind, spec in ATTENTION.items():
                total, rows = await attention_list(conn, kind, hub.name, service.settings, PREVIEW)
                lists.append({"spec": spec, "total": total, "rows": rows})
            hubs.append(
                {
                    "hub": hub,
                    "stages": list((await stage_counts(conn, hub.name)).items()),
                    "states": await channel_states(conn, hub.name),
                    "lists": lists,
                }
            )
    return render("overview.html", session=session, hubs=hubs, stuck_after=stuck_after)


@router.get("/attention/{kind}")
async def attention(
    kind: str, request: Request, session: SessionDep, service: ServiceDep
) -> Response:
    spec = ATTENTION.get(kind)
    hub = service.settings.hub(request.query_params.get("hub", ""))
    if spec is None or hub is None:
        raise PageError(404, "There is no such list: go back to the overview.")
    async with service.engine.connect() as conn:
        total, rows = await attention_list(conn, kind, hub.name, service.settings, PAGE)
    return render("attention.html", session=session, spec=spec, hub=hub, total=total, rows=rows)
