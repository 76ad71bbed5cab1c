"""Adopting a hub that already has clients, for operators: the dry run, import, take over.

The page lists the hub's channels as 360dialog does (services/adoption.survey) and what
would happen to each. Importing a key (one channel, or many as CSV/JSON pasted) and
taking channels over are POSTs checked with the session's CSRF token; a take-over must
carry the number of live channels whose key dies, typed by the operator. Each is audited
with ``dashboard:operator-<id>``; a refusal shows the page again, with nothing done.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse
from pydantic import SecretStr

from onboard360.config.hubs import HubConfig
from onboard360.hub import HubError
from onboard360.services import adoption
from onboard360.services.key_file import parse_held_keys
from onboard360.services.source import Source
from onboard360.web.dashboard.clients import configured_hub
from onboard360.web.dashboard.pages import PAGE_HEADERS, render
from onboard360.web.dashboard.sessions import DashboardRoute, Session, SessionDep, check_csrf
from onboard360.web.deps import ServiceDep
from onboard360.wiring.service import Service

router = APIRouter(prefix="/dashboard", route_class=DashboardRoute, include_in_schema=False)

DONE = {
    "imported": "Key(s) imported: the product can read them now; nothing was generated or revoked.",
    "taken_over": "Channel(s) taken over: a worker generates their new keys.",
    "nothing": "Nothing to take over: every channel is onboard360's to key already.",
}


@router.get("/hubs/{hub}/adopt")
async def adopt_page(
    hub: str, request: Request, session: SessionDep, service: ServiceDep
) -> Response:
    done = DONE.get(request.query_params.get("done", ""))
    return await _page(service, session, configured_hub(service, hub), done=done)


@router.post("/hubs/{hub}/adopt/import")
async def import_keys(
    hub: str, request: Request, session: SessionDep, service: ServiceDep
) -> Response:
    config = configured_hub(service, hub)
    form = await request.form()
    check_csrf(session.csrf_token, form)
    channel, key, pasted = (str(form.get(k, "")) for k in ("channel", "api_key", "keys"))
    try:
        one = [adoption.HeldKey(channel, SecretStr(key))] if channel else None
        keys = one or parse_held_keys(pasted)
        await adoption.import_keys(service, config, keys, Source.dashboard(session.operator_id))
    except (adoption.AdoptionRefused, HubError) as exc:
        return await _refused(service, session, config, exc)
    return _back(config, "imported")


@router.post("/hubs/{hub}/adopt/take-over")
async def take_over(
    hub: str, request: Request, session: SessionDep, service: ServiceDep
) -> Response:
    config = configured_hub(service, hub)
    form = await request.form()
    check_csrf(session.csrf_token, form)
    ids = [str(v) for v in form.getlist("channel")]
    typed = str(form.get("live_channels", "")).strip()
    actor = Source.dashboard(session.operator_id)
    try:
        plan = await adoption.plan_take_over(service, config, ids or None)
        confirmed = int(typed) if typed.isdigit() and len(typed) < 8 else None
        await adoption.take_over(service, config, plan, confirmed, actor)
    except (adoption.AdoptionRefused, HubError) as exc:
        return await _refused(service, session, config, exc)
    return _back(config, "taken_over" if plan.channel_ids else "nothing")


async def _page(
    service: Service,
    session: Session,
    hub: HubConfig,
    *,
    done: str | None = None,
    error: str | None = None,
    status: int = 200,
) -> Response:
    context: dict[str, Any] = {"session": session, "hub": hub, "done": done, "error": error}
    try:
        found = await adoption.survey(service, hub)
        context.update(channels=found.channels, counts=found.counts())
    except HubError as exc:
        context.update(channels=[], counts=None, unreachable=f"360dialog: {exc}")
    return render("adopt.html", status, **context)


async def _refused(service: Service, session: Session, hub: HubConfig, exc: Exception) -> Response:
    message = str(exc) if isinstance(exc, adoption.AdoptionRefused) else f"360dialog: {exc}"
    return await _page(service, session, hub, error=message, status=409)


def _back(hub: HubConfig, done: str) -> RedirectResponse:
    url = f"/dashboard/hubs/{hub.name}/adopt?{urlencode({'done': done})}"
    return RedirectResponse(url, status_code=303, headers=PAGE_HEADERS)
