"""A client's page: its channels and a timeline of everything that happened to it.

The queries are db/queries/clients.py (shared with the API's client endpoints); they
never read a key, and every detail shown passes through ``pages.redact``.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse

from onboard360.config.hubs import HubConfig
from onboard360.db.queries.clients import channel_client, client, subject_context
from onboard360.domain import is_valid_id
from onboard360.web.dashboard.pages import PAGE_HEADERS, render
from onboard360.web.dashboard.sessions import DashboardRoute, PageError, SessionDep
from onboard360.web.deps import ServiceDep

router = APIRouter(prefix="/dashboard", route_class=DashboardRoute, include_in_schema=False)


def configured_hub(service: ServiceDep, name: str) -> HubConfig:
    hub = service.settings.hub(name)
    if hub is None:
        raise PageError(404, "There is no hub of that name: go back to the overview.")
    return hub


def checked_id(value: str, what: str) -> str:
    if not is_valid_id(value):
        raise PageError(404, f"There is no such {what}.")
    return value


DONE_MESSAGES = {
    "retry_requeued": "The key job was queued again; a worker will generate the key.",
    "retry_confirmed": "Permission marked as granted: a worker will generate the key.",
    "retry_nothing": "Nothing was done: there was nothing to retry (see the reason).",
    "rotate_requested": "A new key was requested; a worker generates it and the old one stops.",
    "rotate_nothing": "Nothing was done: that key was already replaced or is being replaced.",
    "new_key_requested": "A new key was requested for the key not working; a worker generates it.",
    "new_key_nothing": "Nothing was done: the key is not marked not working (any more), or "
    "it was already replaced.",
    "resend_queued": "The event was queued for delivery again.",
    "resend_nothing": "Nothing was done: the event was already queued or resent.",
    "reconcile_done": "Reconciled with 360dialog.",
    "reconcile_failed": "360dialog could not be reached: nothing changed. Try again later.",
    "claim_claimed": "The client is bound to the user: its numbers are keyed as they go live.",
    "claim_reassigned": "The client was re-assigned to the user (recorded in the audit log).",
    "claim_unchanged": "Nothing was done: the client is already bound to that user.",
}


@router.get("/clients/{hub_name}/{client_id}")
async def client_page(
    hub_name: str, client_id: str, request: Request, session: SessionDep, service: ServiceDep
) -> Response:
    hub = configured_hub(service, hub_name)
    checked_id(client_id, "client")
    async with service.engine.connect() as conn:
        row = await client(conn, hub.name, client_id)
        if row is None:
            raise PageError(404, "There is no such client in this hub.")
        context = await subject_context(conn, hub, row, [])
    done = DONE_MESSAGES.get(request.query_params.get("done", ""))
    return render("client.html", session=session, done=done, **context)


@router.get("/channels/{hub_name}/{channel_id}")
async def channel_page(
    hub_name: str, channel_id: str, session: SessionDep, service: ServiceDep
) -> Response:
    """A channel's client page, or the channel alone when no client row owns it yet."""
    hub = configured_hub(service, hub_name)
    checked_id(channel_id, "channel")
    async with service.engine.connect() as conn:
        row = await channel_client(conn, hub.name, channel_id)
        if row is None:
            raise PageError(404, "There is no such channel in this hub.")
        if row.known is not None:
            target = f"/dashboard/clients/{hub.name}/{row.known}#channel-{channel_id}"
            return RedirectResponse(target, status_code=303, headers=PAGE_HEADERS)
        context = await subject_context(conn, hub, None, [channel_id])
    return render("client.html", session=session, done=None, **context)
