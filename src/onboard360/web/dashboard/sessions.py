"""Operator sessions, CSRF tokens, the login gate, and the dashboard's route class.

A session is a random token in an HttpOnly, SameSite=Lax cookie (Secure when the service
is reached over https); the database keeps only its sha256, with an absolute expiry and
an idle timeout. Each session has its own CSRF token, put in every form and compared in
constant time on every POST. Logging out deletes the row, so a copied cookie dies too.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Coroutine
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Depends, Request, Response
from fastapi.responses import RedirectResponse
from fastapi.routing import APIRoute

from onboard360.services.refusals import Refused
from onboard360.services.sessions import Session, live_session
from onboard360.web.dashboard.login_gate import GateLimits, LoginGate
from onboard360.web.dashboard.pages import PAGE_HEADERS, render_error
from onboard360.web.deps import ServiceDep

COOKIE = "o360_session"
LOGIN_COOKIE = "o360_login"  # the login form's CSRF token, before there is a session
COOKIE_PATH = "/dashboard"


class LoginRequired(Exception):
    """No valid session: the browser is sent to the login page."""


class CsrfRefused(Refused):
    """This form has expired or did not come from the dashboard: nothing was done. Go
    back, reload the page and try again."""

    code = "csrf_refused"
    status = 403


class PageError(Refused):
    """A dashboard page that cannot be shown (unknown client, bad parameter)."""

    code = "page_error"

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message, status=status)


def secure_cookies(request: Request) -> bool:
    return bool(request.app.state.settings.public_url.startswith("https://"))


def set_cookie(request: Request, response: Response, name: str, value: str, max_age: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=COOKIE_PATH,
        httponly=True,
        samesite="lax",
        secure=secure_cookies(request),
    )


async def current_session(request: Request, service: ServiceDep) -> Session:
    """The request's live session, or LoginRequired (expired, forged, disabled operator)."""
    token = request.cookies.get(COOKIE, "")
    if not token or len(token) > 100:
        raise LoginRequired
    session = await live_session(service.engine, token)
    if session is None:
        raise LoginRequired
    return session


SessionDep = Annotated[Session, Depends(current_session)]


def check_csrf(expected: str, form: Any) -> None:
    sent = form.get("csrf_token")
    if not isinstance(sent, str) or not hmac.compare_digest(sent.encode(), expected.encode()):
        raise CsrfRefused


def login_gate(request: Request) -> LoginGate:
    """This web process's login gate (login_gate.py), made from the settings on first use."""
    gate: LoginGate | None = getattr(request.app.state, "dashboard_login_gate", None)
    if gate is None:
        settings = request.app.state.settings
        limits = GateLimits(
            concurrent=settings.login_concurrency,
            per_address=settings.login_concurrency_per_address,
        )
        gate = request.app.state.dashboard_login_gate = LoginGate(limits)
    return gate


def login_redirect(request: Request) -> RedirectResponse:
    target = request.url.path
    if request.method == "GET" and request.url.query:
        target += "?" + request.url.query
    query = urlencode({"next": target}) if target != "/dashboard" else ""
    location = "/dashboard/login" + (f"?{query}" if query else "")
    return RedirectResponse(location, status_code=303, headers=PAGE_HEADERS)


class DashboardRoute(APIRoute):
    """Turns the dashboard's refusals into pages: the login page, a 403, an error page.

    The service's own handlers answer JSON (for the API); a person gets HTML here.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except LoginRequired:
                return login_redirect(request)
            except Refused as exc:  # every command's refusal, the CSRF check's, a page's
                return render_error(exc.status, exc.message)

        return handle
