"""The Integrated Onboarding popup: server-rendered pages at ``/dashboard/app/{partner_id}``.

Pages, in order (``popup_flow.steps_for``): account (sign up, or log in with
``next=login``) → Direct Payment only: price and card, then API-key permission → a simulated
Meta Embedded Signup (add numbers) → the permission screen (which numbers the partner may
manage) → a 303 to the partner's redirect URL with ``client``, ``channels`` and ``revoked``.
Every page posts to ``/dashboard/app/{partner_id}/{step}`` with the session id in a hidden
field. The popup must stay openable from another origin, so no COOP header is ever set.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.datastructures import FormData

from onboard360.hub import platform as p
from onboard360.hub.signatures import io_signature_problem
from onboard360.sandbox import popup_flow as flow
from onboard360.sandbox import popup_forms as forms
from onboard360.sandbox.deps import sandbox_of
from onboard360.sandbox.entities import Hub, SandboxError
from onboard360.sandbox.popup_steps import STEP_HANDLERS, step_context

router = APIRouter(include_in_schema=False)

HERE = Path(__file__).parent
ASSETS = {"popup.css": "text/css; charset=utf-8", "popup.js": "text/javascript; charset=utf-8"}
STEP_TEMPLATES = {
    "account": "account.html",
    "payment": "payment.html",
    "api-key": "api_key.html",
    "numbers": "numbers.html",
    "share": "share.html",
}


class PageError(Exception):
    """Ends the popup with an error page instead of the next step."""

    def __init__(self, status: int, title: str, message: str, hub: Hub | None = None) -> None:
        super().__init__(message)
        self.status, self.title, self.message, self.hub = status, title, message, hub


@functools.cache
def templates() -> Jinja2Templates:
    return Jinja2Templates(directory=HERE / "templates")


def sessions(request: Request) -> flow.PopupSessions:
    store = getattr(request.app.state, "popup_sessions", None)
    if store is None:
        # Sessions expire on the sandbox's clock: a scenario's `advance` expires them too.
        clock = sandbox_of(request).clock.ticks
        store = request.app.state.popup_sessions = flow.PopupSessions(clock=clock)
    return store


def page(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    response = templates().TemplateResponse(request, template, context, status_code=status)
    response.headers["Cache-Control"] = "no-store"
    return response


def error_page(request: Request, exc: PageError) -> HTMLResponse:
    return page(
        request, "error.html", exc.status, title=exc.title, message=exc.message, hub=exc.hub
    )


def live_hub(request: Request, partner_id: str) -> Hub:
    hub = sandbox_of(request).hubs.get(partner_id)
    if hub is None:
        raise PageError(
            404,
            "Unknown partner",
            f"There is no partner hub {partner_id[:40]!r}. Check the partner id in the button.",
        )
    if hub.faults.outage:
        raise PageError(503, "360dialog is unavailable", "Please try again in a few minutes.", hub)
    return hub


def render_step(
    request: Request,
    hub: Hub,
    session: flow.PopupSession,
    *,
    error: str | None = None,
    values: dict[str, Any] | None = None,
) -> HTMLResponse:
    context = step_context(sandbox_of(request), hub, session, values or {})
    return page(
        request,
        STEP_TEMPLATES[session.step],
        422 if error else 200,
        hub=hub,
        session=session,
        steps=flow.steps_for(hub, session),
        error=error,
        **context,
    )


def redirect_base(hub: Hub, requested: str) -> str:
    if not requested:
        return hub.redirect_url
    allowed = p.origin_of(hub.redirect_url)
    if p.origin_of(requested) != allowed or any(ch.isspace() for ch in requested):
        raise PageError(
            400,
            "Redirect not allowed",
            f"redirect_url must be an address on {allowed}, the partner's configured "
            "Redirect URL. Ask the partner to fix its Connect button.",
            hub,
        )
    return requested


@router.get("/dashboard/assets/{name}")
async def asset(name: str) -> Response:
    if name not in ASSETS:
        return Response("not found", status_code=404, media_type="text/plain")
    body = (HERE / "static" / name).read_bytes()
    return Response(body, media_type=ASSETS[name], headers={"Cache-Control": "max-age=300"})


@router.get("/dashboard/app/{partner_id}")
@router.get("/dashboard/app/{partner_id}/permissions")
async def open_popup(request: Request, partner_id: str) -> Response:
    """The button opens this; older button versions append ``/permissions`` (doc)."""
    try:
        hub = live_hub(request, partner_id)
        try:
            params = forms.parse_params(request.query_params)
        except forms.Invalid as exc:
            raise PageError(
                400, "Invalid link", f"This popup link is malformed: {exc}.", hub
            ) from None
        if hub.io_signature:
            problem = (
                io_signature_problem(
                    hub.platform_secret,
                    hub.partner_id,
                    params.io_signature,
                    params.io_timestamp,
                    # The partner's server signs with real time: a sped-up clock must not
                    # make its signatures look stale.
                    now_seconds=int(sandbox_of(request).clock.wall().timestamp()),
                )
                if hub.platform_secret
                else "the hub requires an IO Signature but has no platform secret"
            )
            if problem:
                raise PageError(
                    403,
                    "This link is not signed by the partner",
                    f"{problem[0].upper()}{problem[1:]}. Open the popup again from the "
                    "partner's page.",
                    hub,
                )
        base = redirect_base(hub, params.redirect_url)
    except PageError as exc:
        return error_page(request, exc)
    session = sessions(request).start(hub.partner_id, params, base)
    return with_opener_policy(hub, render_step(request, hub, session))


@router.post("/dashboard/app/{partner_id}/{step}")
async def submit(request: Request, partner_id: str, step: str) -> Response:
    try:
        hub = live_hub(request, partner_id)
        form = await read_form(request)
        session_id = forms.field(form, "session", 100)
        if step == "cancel":
            sessions(request).end(session_id)
            return page(request, "cancelled.html", hub=hub)
        if step not in STEP_HANDLERS:
            raise PageError(404, "Unknown step", "This page does not exist.", hub)
        session = current_session(request, hub, session_id)
        if step != session.step:
            raise PageError(
                409,
                "Out of step",
                "This form was already submitted or belongs to another step. "
                "Continue in the current popup page, or start again from the partner's page.",
                hub,
            )
        return with_opener_policy(hub, await run_step(request, hub, session, form))
    except PageError as exc:
        return error_page(request, exc)


def with_opener_policy(hub: Hub, response: Response) -> Response:
    """The hub's Cross-Origin-Opener-Policy on a popup page, if it has one."""
    if hub.opener_policy:
        response.headers["Cross-Origin-Opener-Policy"] = hub.opener_policy
    return response


async def read_form(request: Request) -> FormData:
    try:
        form = await request.form(max_files=0, max_fields=forms.MAX_FORM_FIELDS)
        forms.check_form_size(form)
    except forms.Invalid as exc:
        raise PageError(400, "Invalid form", f"{exc}.") from None
    except Exception:
        raise PageError(400, "Invalid form", "The form could not be read.") from None
    return form


def current_session(request: Request, hub: Hub, session_id: str) -> flow.PopupSession:
    session = None
    if forms.SESSION_ID_RE.match(session_id):
        session = sessions(request).get(session_id, hub.partner_id)
    if session is None:
        raise PageError(
            400,
            "This popup has expired",
            "The signup session is unknown or has expired. Close this window and open it "
            "again from the partner's page.",
            hub,
        )
    return session


async def run_step(
    request: Request, hub: Hub, session: flow.PopupSession, form: FormData
) -> Response:
    world = sandbox_of(request)
    values: dict[str, Any] = {}
    try:
        done = STEP_HANDLERS[session.step](world, hub, session, form, values)
    except forms.Invalid as exc:
        message = str(exc)
        error = message[:1].upper() + message[1:] + "."
        return render_step(request, hub, session, error=error, values=values)
    if not done:  # the same page again, e.g. one more number row
        return render_step(request, hub, session, values=values)
    if session.step != "share":
        session.step = flow.next_step(hub, session)
        return render_step(request, hub, session)
    try:
        outcome = flow.complete(world, hub, session, values["share_new"], values["share_earlier"])
    except SandboxError as exc:
        sessions(request).end(session.id)
        raise PageError(409, "Nothing was changed", f"{exc}.", hub) from None
    sessions(request).end(session.id)
    # unverified: that 360dialog echoes `state` on the redirect (its docs list only client,
    # channels and revoked). Echoed by default; `echo_state = false` shows it is not needed.
    location = p.onboarding_redirect(
        session.redirect_base,
        outcome.client_id,
        outcome.channel_ids,
        outcome.revoked_ids,
        session.params.state if hub.echo_state else None,
    )
    return RedirectResponse(location, status_code=303)
