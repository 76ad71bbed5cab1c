"""The funnel page: where customers drop out and how long going live takes, per hub,
billing model, new or returning client and range of days.

The numbers are ``GET /api/v1/funnel``'s (web/funnel.py builds both from the same
queries, db/queries/funnel.py); the charts are SVG drawn on the server
(funnel_charts.py). Filters are a plain GET form: the page works without script.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Any, cast

from fastapi import APIRouter, Request, Response

from onboard360.db.queries.funnel import days, summary
from onboard360.domain.funnel import Billing, ClientKind
from onboard360.web.dashboard import funnel_charts as charts
from onboard360.web.dashboard.pages import render
from onboard360.web.dashboard.sessions import DashboardRoute, PageError, SessionDep
from onboard360.web.deps import ServiceDep
from onboard360.web.errors import ApiError
from onboard360.web.funnel import BILLING_NAMES, funnel_body, question

router = APIRouter(prefix="/dashboard", route_class=DashboardRoute, include_in_schema=False)

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
CLIENT_NAMES = {"new": "New clients", "returning": "Returning clients"}


def _day(request: Request, name: str) -> date | None:
    value = request.query_params.get(name, "").strip()
    if not value:
        return None
    try:
        if not _DATE.fullmatch(value):
            raise ValueError(value)
        return date.fromisoformat(value)
    except ValueError:
        raise PageError(422, f"{name}: a date written YYYY-MM-DD, e.g. 2026-12-04.") from None


def _choice(request: Request, name: str, allowed: dict[str, str]) -> str | None:
    value = request.query_params.get(name, "").strip()
    if not value:
        return None
    if value not in allowed:
        raise PageError(422, f"{name}: one of {', '.join(allowed)}.")
    return value


@router.get("/funnel")
async def funnel_page(request: Request, session: SessionDep, service: ServiceDep) -> Response:
    hubs = service.settings.hubs
    hub = request.query_params.get("hub", "").strip() or None
    try:
        asked = question(
            hubs,
            today=datetime.now(UTC).date(),
            first=_day(request, "from"),
            last=_day(request, "to"),
            hub=hub,
            billing=cast("Billing | None", _choice(request, "billing", BILLING_NAMES)),
            client=cast("ClientKind | None", _choice(request, "client", CLIENT_NAMES)),
        )
    except ApiError as exc:
        message = "There is no such hub." if exc.status == 404 else f"{exc.message}."
        raise PageError(exc.status, message) from None
    async with service.engine.begin() as conn:  # keeps the days it counts
        span = (asked.hubs, asked.first, asked.last)
        counted = await summary(conn, *span, returning=asked.returning)
        per_day = await days(conn, *span, returning=asked.returning)
    body: dict[str, Any] = funnel_body(asked, counted)
    steps = [
        {
            **step,
            "share": charts.percent(step["conversion"]),
            "median": charts.duration(step["median_seconds"]),
            "p90": charts.duration(step["p90_seconds"]),
        }
        for step in body["steps"]
    ]
    ttl = body["time_to_live"]
    return render(
        "funnel.html",
        session=session,
        hubs=hubs,
        asked=asked,
        billing_names=BILLING_NAMES,
        client_names=CLIENT_NAMES,
        funnel=body,
        steps=steps,
        ttl_median=charts.duration(ttl["median_seconds"]),
        ttl_p90=charts.duration(ttl["p90_seconds"]),
        conversion=charts.conversion_chart(body["steps"]),
        per_day=charts.days_chart(per_day),
        ttl=charts.ttl_chart(ttl["buckets"]),
    )
