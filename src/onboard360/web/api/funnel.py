"""The funnel: how many journeys reached each step, conversion and time between steps,
per hub, billing model, new or returning client and range of days (domain/funnel.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from onboard360.db.queries.funnel import days_page, summary
from onboard360.domain.funnel import Billing, ClientKind
from onboard360.web.api.common import ERRORS, HubName, product_hubs
from onboard360.web.api.models import Funnel, FunnelDay
from onboard360.web.deps import ProductDep, ServiceDep
from onboard360.web.funnel import FunnelQuestion, day_body, funnel_body, question
from onboard360.web.pagination import Cursor, Limit, Page, page
from onboard360.web.strict import QueryDate

router = APIRouter(prefix="/api/v1", tags=["funnel"], responses=ERRORS)

From = Annotated[
    QueryDate | None,
    Query(alias="from", description="first UTC day, YYYY-MM-DD (default: 29 days before to)"),
]
To = Annotated[QueryDate | None, Query(description="last UTC day, included (default: today, UTC)")]
BillingQuery = Annotated[Billing | None, Query(description="only the hubs of this billing model")]
ClientQuery = Annotated[
    ClientKind | None,
    Query(description="new: the user had no client on the hub; returning: it had one"),
]


def _asked(  # noqa: PLR0917 - one dependency for the filters both routes take
    product: ProductDep,
    service: ServiceDep,
    first: From = None,
    to: To = None,
    hub: HubName = None,
    billing: BillingQuery = None,
    client: ClientQuery = None,
) -> FunnelQuestion:
    return question(
        product_hubs(service, product),
        today=datetime.now(UTC).date(),
        first=first,
        last=to,
        hub=hub,
        billing=billing,
        client=client,
    )


Asked = Annotated[FunnelQuestion, Depends(_asked)]


@router.get("/funnel", response_model=Funnel, responses={422: ERRORS[422]})
async def funnel(asked: Asked, service: ServiceDep) -> dict[str, Any]:
    """Journeys started in the range (at most 366 days): each step's count, conversion
    from the step before, median and p90 time from it; outcomes, abandoned attempts by
    step, resumed journeys, popups blocked or closed without a redirect, time to live.
    422 ``invalid_range``: from after to, or over 366 days; 422 ``invalid_filter``: a hub
    of the other billing model."""
    async with service.engine.begin() as conn:  # keeps the days it counts
        counted = await summary(
            conn, asked.hubs, asked.first, asked.last, returning=asked.returning
        )
    return funnel_body(asked, counted)


@router.get("/funnel/days", response_model=Page[FunnelDay])
async def funnel_days(
    asked: Asked,
    service: ServiceDep,
    limit: Limit = 31,
    cursor: Cursor = None,
) -> dict[str, Any]:
    """The same journeys per UTC day and outcome, newest day first; every day of the
    range is listed, also those without a journey."""
    async with service.engine.begin() as conn:  # keeps the days it counts
        rows, next_cursor = await days_page(
            conn,
            asked.hubs,
            asked.first,
            asked.last,
            returning=asked.returning,
            limit=limit,
            cursor=cursor,
        )
    return page([day_body(day) for day in rows], next_cursor)
