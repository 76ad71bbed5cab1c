"""Claim a client for a product user from the dashboard, or re-assign it (audited).

``GET /dashboard/claim?hub=&client=`` shows who the client is bound to (if anyone) and a
form for the ``external_user_id``; re-assigning a client bound to another user takes an
extra, explicit tick. The POST checks the CSRF token and runs the same
``services/claims.claim`` as the product API, writing an ``audit_log`` row either way.
"""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse

from onboard360.domain import ClientId
from onboard360.services.claims import claim_for_operator
from onboard360.services.redirects import client_owner
from onboard360.services.source import Source
from onboard360.web.dashboard.clients import checked_id, configured_hub
from onboard360.web.dashboard.pages import PAGE_HEADERS, render
from onboard360.web.dashboard.sessions import DashboardRoute, PageError, SessionDep, check_csrf
from onboard360.web.deps import ServiceDep

router = APIRouter(prefix="/dashboard", route_class=DashboardRoute, include_in_schema=False)

MAX_USER_ID = 200
# What a refused claim means, by its code (the page never reflects text from the URL).
REFUSALS = {
    "already_claimed": "Nothing changed: the client is bound to another user. Tick "
    "re-assign to move it.",
    "not_found": "Nothing changed: 360dialog knows no such client under this hub.",
    "hub_unavailable": "Nothing changed: 360dialog could not be asked. Try again later.",
}


@router.get("/claim")
async def claim_page(request: Request, session: SessionDep, service: ServiceDep) -> Response:
    hub = configured_hub(service, str(request.query_params.get("hub", "")))
    client = checked_id(str(request.query_params.get("client", "")), "client")
    async with service.engine.connect() as conn:
        owner = await client_owner(conn, hub, client)
    return render(
        "claim.html",
        session=session,
        hub=hub,
        client=client,
        owner=owner,
        error=REFUSALS.get(str(request.query_params.get("error", ""))),
    )


@router.post("/claim")
async def claim_client(request: Request, session: SessionDep, service: ServiceDep) -> Response:
    form = await request.form()
    check_csrf(session.csrf_token, form)
    hub = configured_hub(service, str(form.get("hub", "")))
    client = ClientId(checked_id(str(form.get("client", "")), "client"))
    user = str(form.get("external_user_id", "")).strip()
    if not user or len(user) > MAX_USER_ID or not user.isprintable():
        raise PageError(400, "Name the user: their id in your product (printable, ≤ 200).")
    done = await claim_for_operator(
        service,
        hub,
        client,
        user,
        source=Source.dashboard(session.operator_id),
        reassign=form.get("reassign") == "yes",
    )
    if done.refused is not None:
        back = "/dashboard/claim?" + urlencode(
            {"hub": hub.name, "client": client, "error": done.refused}
        )
        return RedirectResponse(back, status_code=303, headers=PAGE_HEADERS)
    page = f"/dashboard/clients/{hub.name}/{client}?" + urlencode({"done": f"claim_{done.outcome}"})
    return RedirectResponse(page, status_code=303, headers=PAGE_HEADERS)
