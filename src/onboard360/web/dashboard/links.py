"""The re-permission link: a new onboarding that sends an existing client back to the popup.

The client logs in there (``next=login``) and shares more numbers or grants API-key
permission again; the redirect then comes back like any other. The link is our hosted
connect page for a new attempt of the client's partner user. Only the attempt's state
token makes the link, and the database keeps only its sha256, so the link is shown once,
right after it was made (a repeated request makes another link; earlier ones keep working
until they expire, so repeating is harmless).
"""

from __future__ import annotations

import hmac
import uuid
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse

from onboard360.config.hubs import HubConfig
from onboard360.db.queries.clients import client
from onboard360.db.queries.onboardings import onboarding_in_hub
from onboard360.services.onboardings import permission_link
from onboard360.web import onboardings
from onboard360.web.dashboard.clients import checked_id, configured_hub
from onboard360.web.dashboard.pages import PAGE_HEADERS, render
from onboard360.web.dashboard.sessions import DashboardRoute, PageError, SessionDep, check_csrf
from onboard360.web.deps import ServiceDep

router = APIRouter(prefix="/dashboard", route_class=DashboardRoute, include_in_schema=False)

MAX_USER_ID = 200


async def _client(service: ServiceDep, params: Any) -> tuple[HubConfig, str, str | None]:
    """The hub, the client id and its partner user id (None if never learnt)."""
    hub = configured_hub(service, str(params.get("hub", "")))
    client_id = checked_id(str(params.get("client", "")), "client")
    async with service.engine.connect() as conn:
        row = await client(conn, hub.name, client_id)
    if row is None:
        raise PageError(404, "There is no such client in this hub.")
    return hub, client_id, row.external_user_id


@router.get("/links/new")
async def confirm_link(request: Request, session: SessionDep, service: ServiceDep) -> Response:
    hub, client_id, external = await _client(service, request.query_params)
    return render(
        "link_confirm.html",
        session=session,
        hub=hub,
        client_id=client_id,
        external_user_id=external,
        ttl_minutes=service.settings.onboarding_ttl_seconds // 60,
    )


@router.post("/links/new")
async def make_link(request: Request, session: SessionDep, service: ServiceDep) -> Response:
    form = await request.form()
    check_csrf(session.csrf_token, form)
    hub, client_id, external = await _client(service, form)
    if form.get("confirm") != "yes":
        back = "/dashboard/links/new?" + urlencode({"hub": hub.name, "client": client_id})
        return RedirectResponse(back, status_code=303, headers=PAGE_HEADERS)
    if external is None:
        # Reconciliation found this client, so we never learnt its partner user: the
        # operator says whose it is (stored on the client when the redirect comes back).
        external = str(form.get("external_user_id", "")).strip()[:MAX_USER_ID] or None
        if external is None:
            raise PageError(400, "Say which of your users this client is, then try again.")
    started = await permission_link(service, hub, client_id, external, session.operator_id)
    row, state = started.row, started.state
    query = urlencode({"hub": hub.name, "client": client_id, "start": state})
    target = f"/dashboard/links/{row.id}?{query}"
    return RedirectResponse(target, status_code=303, headers=PAGE_HEADERS)


@router.get("/links/{onboarding_id}")
async def show_link(
    onboarding_id: str, request: Request, session: SessionDep, service: ServiceDep
) -> Response:
    hub, client_id, _ = await _client(service, request.query_params)
    start = request.query_params.get("start", "")
    try:
        wanted = uuid.UUID(onboarding_id)
    except ValueError:
        raise PageError(404, "There is no such link.") from None
    async with service.engine.connect() as conn:
        row = await onboarding_in_hub(conn, hub.name, wanted)
    if row is None or not hmac.compare_digest(row.state_sha256, onboardings.state_digest(start)):
        raise PageError(404, "There is no such link (it is shown only right after it was made).")
    return render(
        "link.html",
        session=session,
        hub=hub,
        client_id=client_id,
        link=onboardings.connect_url(service, hub, start),
        onboarding=row,
    )
