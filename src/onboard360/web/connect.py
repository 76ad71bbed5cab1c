"""The hosted connect page per hub, the popup opener, and the redirect consumer.

``/connect/{hub}`` is the hub's Redirect URL at 360dialog *and* the page that hosts the
Connect button, as Integrated Onboarding requires: opened in the popup with the
redirect's query it records the result, hands it to its opener and closes; opened by a
person it shows the button and then the numbers' progress.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from onboard360.config.hubs import HubConfig
from onboard360.config.settings import Settings
from onboard360.domain import RedirectError, parse_redirect
from onboard360.domain.attempts import PopupStep
from onboard360.services import attempts as attempt_service
from onboard360.services import redirects
from onboard360.services.redirects import Outcome, RedirectRefused
from onboard360.web import attempts, onboardings
from onboard360.web.deps import ServiceDep
from onboard360.web.onboardings import OnboardingRefused
from onboard360.web.progress import onboarding_view

if TYPE_CHECKING:
    from sqlalchemy.engine import Row
    from sqlalchemy.ext.asyncio import AsyncConnection

router = APIRouter(tags=["connect"], include_in_schema=False)
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
STATIC = Path(__file__).parent / "static"

# No Cross-Origin-Opener-Policy: same-origin here — it would cut the popup off from its
# opener and break the flow silently.
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "frame-ancestors 'none'",
}


def page_headers(settings: Settings, hub_name: str | None) -> dict[str, str]:
    """The page's headers: framed only by the origins the hub's product allows."""
    hub = settings.hub(hub_name) if hub_name else None
    product = settings.product(hub.product) if hub is not None else None
    if product is None or not product.frame_ancestors:
        return PAGE_HEADERS
    policy = "frame-ancestors " + " ".join(product.frame_ancestors)
    return {**PAGE_HEADERS, "Content-Security-Policy": policy}


def _page(request: Request, name: str, status: int = 200, **context: object) -> HTMLResponse:
    # Links are built from public_url, never from the request's Host header.
    settings: Settings = request.app.state.settings
    headers = page_headers(settings, request.path_params.get("hub_name"))
    context = {"public_url": settings.public_url, **context}
    return templates.TemplateResponse(request, name, context, status_code=status, headers=headers)


def _refusal(request: Request, status: int, message: str) -> HTMLResponse:
    return _page(request, "connect_error.html", status, message=message)


def _hub(service: ServiceDep, name: str) -> HubConfig | None:
    return service.settings.hub(name)


@router.get("/connect/{hub_name}", response_class=HTMLResponse)
async def connect_page(hub_name: str, request: Request, service: ServiceDep) -> Response:
    hub = _hub(service, hub_name)
    if hub is None:
        return _refusal(request, 404, "There is no such connect page.")
    query = request.url.query
    if "client" in request.query_params:
        return await _consume_redirect(request, service, hub, query)
    if not query:
        # The page a partner who shares a link instead of a button sends people to.
        link = onboardings.direct_link(service, hub)
        return _page(request, "connect_direct.html", hub=hub, hub_name=hub.name, link=link)
    start = request.query_params.get("start")
    try:
        async with service.engine.connect() as conn:
            await onboardings.find(conn, hub, start)
    except OnboardingRefused as exc:
        return _refusal(request, exc.status, str(exc))
    return _page(request, "connect.html", hub=hub, start=start, hub_name=hub.name)


# What the person reads once the popup came back, by what became of the redirect; a popup
# adds that it may be closed (connect_result.html), a same-tab visit does not.
_RESULT = {
    Outcome.APPLIED: "Your numbers are being connected.",
    Outcome.PENDING: "Confirming with 360dialog… Your numbers are connected as soon as "
    "360dialog confirms them.",
    Outcome.CONFLICT: "We could not confirm that this WhatsApp account is yours, so nothing "
    "was connected yet: the partner checks it and finishes connecting it.",
    Outcome.RECORDED: "Your number is being connected.",
    # No attempt of ours and a client 360dialog does not know (yet): nothing is recorded,
    # and the person is not the one to act on it.
    Outcome.UNKNOWN_CLIENT: "Your number is being connected.",
}


async def _consume_redirect(
    request: Request, service: ServiceDep, hub: HubConfig, query: str
) -> Response:
    try:
        redirect = parse_redirect(query)
    except RedirectError as exc:
        return _refusal(request, 400, f"This redirect is malformed: {exc}")
    try:
        # The lookup only reads (its rows locked while it decides), then lets go.
        async with service.engine.connect() as conn:
            attempt = await attempts.identify(conn, hub, request.cookies, redirect)
        done = await redirects.complete(
            service.engine, service, hub, attempt and onboardings.live(attempt), redirect, query
        )
    except (OnboardingRefused, RedirectRefused) as exc:
        return _refusal(request, exc.status, str(exc))
    if done.outcome is Outcome.UNKNOWN_CLIENT and done.attempt is not None:
        return _refusal(
            request,
            400,
            "360dialog does not know the account this window named: start again "
            "from the partner's page.",
        )
    # Watched by the state when it came back, else by the attempt's cookie; a redirect
    # with no attempt of ours (a direct link) has nothing to watch.
    watch: dict[str, str] = {}
    if done.attempt is not None:
        watch = {"start": redirect.state} if redirect.state else {"attempt": done.attempt.id.hex}
    in_tab = done.attempt is not None and attempts.came_back_in_tab(done.attempt, request.cookies)
    return _page(
        request,
        "connect_result.html",
        hub_name=hub.name,
        watch=watch,
        message=_RESULT[done.outcome],
        same_tab=in_tab,
    )


@router.get("/connect/{hub_name}/popup")
async def open_popup(hub_name: str, request: Request, service: ServiceDep) -> Response:
    """Send the browser to 360dialog's popup, signed now (IO Signature is per opening).

    ``in=tab``: the browser blocked the popup and the person goes on in the connect page's
    own tab; the redirect then comes back to this tab, and its page says welcome back
    instead of "close this window"."""
    hub = _hub(service, hub_name)
    if hub is None:
        return _refusal(request, 404, "There is no such connect page.")
    start = request.query_params.get("start")
    try:
        async with service.engine.connect() as conn:
            row = await onboardings.find(conn, hub, start)
        cookie = await attempts.popup_opened(service.engine, hub, row)
    except OnboardingRefused as exc:
        return _refusal(request, exc.status, str(exc))
    target = onboardings.popup_url(
        hub, onboardings.popup_parameters(hub, start or "", row.prefill or {})
    )
    response = RedirectResponse(target, status_code=303, headers=PAGE_HEADERS)
    # The popup brings these cookies back with 360dialog's redirect (web/attempts.py).
    secure = service.settings.public_url.startswith("https://")
    tab = attempts.tab_cookie(
        cookie, request.cookies, in_tab=request.query_params.get("in") == "tab"
    )
    for each in (cookie, tab) if tab is not None else (cookie,):
        response.set_cookie(
            each.key,
            each.value,
            max_age=each.max_age,
            path=each.path,
            httponly=True,
            samesite="lax",
            secure=secure,
        )
    return response


@router.get("/connect/{hub_name}/direct")
async def open_direct_link(hub_name: str, request: Request, service: ServiceDep) -> Response:
    """The hub's direct link: 360dialog's popup for the partner, no attempt behind it."""
    hub = _hub(service, hub_name)
    if hub is None:
        return _refusal(request, 404, "There is no such connect page.")
    target = onboardings.popup_url(hub, onboardings.popup_parameters(hub, None, {}))
    return RedirectResponse(target, status_code=303, headers=PAGE_HEADERS)


@router.get("/connect/{hub_name}/progress")
async def progress(hub_name: str, request: Request, service: ServiceDep) -> Response:
    """The attempt's stage and its own numbers. ``start=<state>``: the state token is the
    capability; or ``attempt=<id>`` with the cookie of the browser that opened its popup."""
    hub = _hub(service, hub_name)
    if hub is None:
        return JSONResponse({"error": "no such hub"}, status_code=404, headers=PAGE_HEADERS)
    headers = {**PAGE_HEADERS, **_cors(service, hub, request)}
    try:
        async with service.engine.connect() as conn:
            view = await onboarding_view(conn, await _named_attempt(conn, hub, request))
    except OnboardingRefused as exc:
        return JSONResponse({"error": str(exc)}, status_code=exc.status, headers=headers)
    # The browser holds this attempt only: not whom it is for, nor its other attempts.
    for private in ("external_user_id", "journey_id", "resumed_from"):
        view.pop(private, None)
    return JSONResponse(view, headers=headers)


@router.post("/connect/{hub_name}/steps/{step}")
async def popup_step(hub_name: str, step: str, request: Request, service: ServiceDep) -> Response:
    """The connect page saw the browser block the popup (``popup_blocked``) or the person
    close it before the redirect came back (``popup_closed``): stamped once, for the
    funnel. The attempt is named as for progress (``start`` or ``attempt`` + cookie)."""
    hub = _hub(service, hub_name)
    if hub is None:
        return JSONResponse({"error": "no such hub"}, status_code=404, headers=PAGE_HEADERS)
    headers = {**PAGE_HEADERS, **_cors(service, hub, request)}
    if step not in set(PopupStep):
        return JSONResponse({"error": "no such step"}, status_code=404, headers=headers)
    try:
        async with service.engine.connect() as conn:
            row = onboardings.live(await _named_attempt(conn, hub, request))
        at = await attempt_service.popup_step(
            service.engine, hub.name, row.id, PopupStep(step), datetime.now(UTC)
        )
    except OnboardingRefused as exc:
        return JSONResponse({"error": str(exc)}, status_code=exc.status, headers=headers)
    return JSONResponse({"step": step, "at": at.isoformat()}, headers=headers)


async def _named_attempt(conn: AsyncConnection, hub: HubConfig, request: Request) -> Row[Any]:
    """The attempt a connect page's call names: ``start=<state>`` (the state token is the
    capability), or ``attempt=<id>`` with the cookie of the browser that opened its popup."""
    attempt = request.query_params.get("attempt")
    if attempt is not None:
        return await attempts.held(conn, hub, request.cookies, attempt)
    return await onboardings.find(conn, hub, request.query_params.get("start"))


def _cors(service: ServiceDep, hub: HubConfig, request: Request) -> dict[str, str]:
    """Pages of the hub's product that embed connect.js may read progress; nobody else."""
    origin = request.headers.get("origin", "")
    product = service.settings.product(hub.product)
    if product is not None and origin in product.embed_origins:
        return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}
    return {"Vary": "Origin"}


@router.get("/connect-assets/connect.js")
async def connect_script() -> Response:
    """The embeddable script: a Connect button for any page, no React needed."""
    return Response(
        (STATIC / "connect.js").read_text(encoding="utf-8"),
        media_type="text/javascript",
        headers={"Cache-Control": "public, max-age=300", "Access-Control-Allow-Origin": "*"},
    )
