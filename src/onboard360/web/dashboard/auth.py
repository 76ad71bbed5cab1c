"""Logging in and out, and the dashboard's static files.

Every refusal of a login says the same thing and redirects to the same page, whether the
email is unknown, the password wrong, the account disabled or locked, or the login over
a limit of the login gate (login_gate.py): nothing tells an attacker which emails are
operators.
"""

from __future__ import annotations

import secrets
from urllib.parse import urlencode

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse

from onboard360.services.accounts import authenticate
from onboard360.services.sessions import SESSION_LIFETIME, log_in, log_out
from onboard360.web.dashboard.pages import PAGE_HEADERS, STATIC, render
from onboard360.web.dashboard.sessions import (
    COOKIE,
    COOKIE_PATH,
    LOGIN_COOKIE,
    DashboardRoute,
    LoginRequired,
    SessionDep,
    check_csrf,
    current_session,
    login_gate,
    set_cookie,
)
from onboard360.web.deps import ServiceDep

router = APIRouter(prefix="/dashboard", route_class=DashboardRoute, include_in_schema=False)

REFUSED = (
    "Wrong email or password — or too many failed attempts: after 5 in a row, an account "
    "waits 15 minutes. Ask an administrator if you cannot log in."
)
LOGIN_FORM_SECONDS = 3600
ASSETS = {"dashboard.css": "text/css", "dashboard.js": "text/javascript"}


def _safe_next(value: str | None) -> str:
    """Only a dashboard path of ours: never another site, never a protocol-relative URL."""
    if not value or not value.startswith("/dashboard") or "//" in value or "\\" in value:
        return "/dashboard"
    return value


@router.get("/login")
async def login_page(request: Request, service: ServiceDep) -> Response:
    try:
        await current_session(request, service)
    except LoginRequired:
        pass
    else:
        return RedirectResponse(
            _safe_next(request.query_params.get("next")), status_code=303, headers=PAGE_HEADERS
        )
    token = request.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(32)
    response = render(
        "login.html",
        session=None,
        csrf_token=token,
        next=_safe_next(request.query_params.get("next")),
        refused=REFUSED if request.query_params.get("failed") else None,
        logged_out=bool(request.query_params.get("bye")),
    )
    set_cookie(request, response, LOGIN_COOKIE, token, LOGIN_FORM_SECONDS)
    return response


@router.post("/login")
async def login(request: Request, service: ServiceDep) -> Response:
    form = await request.form()
    check_csrf(request.cookies.get(LOGIN_COOKIE, "") or secrets.token_urlsafe(8), form)
    email = str(form.get("email", ""))[:300]
    password = str(form.get("password", ""))
    target = _safe_next(str(form.get("next", "")))
    operator = None
    address = request.client.host if request.client is not None else "unknown"
    async with login_gate(request).admit(address, email) as admitted:
        if admitted:
            operator = await authenticate(service.engine, email, password)
    if operator is None:
        failed = "/dashboard/login?" + urlencode({"failed": 1, "next": target})
        return RedirectResponse(failed, status_code=303, headers=PAGE_HEADERS)
    token, _session = await log_in(service.engine, operator)
    response = RedirectResponse(target, status_code=303, headers=PAGE_HEADERS)
    set_cookie(request, response, COOKIE, token, int(SESSION_LIFETIME.total_seconds()))
    response.delete_cookie(LOGIN_COOKIE, path=COOKIE_PATH)
    return response


@router.post("/logout")
async def logout(request: Request, session: SessionDep, service: ServiceDep) -> Response:
    form = await request.form()
    check_csrf(session.csrf_token, form)
    await log_out(service.engine, request.cookies.get(COOKIE, ""), session)
    response = RedirectResponse("/dashboard/login?bye=1", status_code=303, headers=PAGE_HEADERS)
    response.delete_cookie(COOKIE, path=COOKIE_PATH)
    return response


@router.get("/static/{name}")
async def static(name: str) -> Response:
    media_type = ASSETS.get(name)
    if media_type is None:
        return Response("not found", status_code=404, media_type="text/plain")
    return Response(
        (STATIC / name).read_text(encoding="utf-8"),
        media_type=media_type,
        headers={"Cache-Control": "public, max-age=300", "X-Content-Type-Options": "nosniff"},
    )
