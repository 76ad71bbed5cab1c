"""Drive the operator dashboard over real HTTP, as a browser would: cookies, forms, CSRF."""

from __future__ import annotations

import asyncio
import html
import re
from typing import Any

import httpx
from sqlalchemy import text

from onboard360.db.pooling import one_off_async_engine
from onboard360.services import source
from onboard360.services.accounts import create_operator
from tests.stack import Stack

PASSWORD = "correct horse battery staple"
HIDDEN_RE = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')
FORM_RE = re.compile(r'<form\b[^>]*\bmethod="post"[^>]*\baction="([^"]+)"[^>]*>(.*?)</form>', re.S)


def make_operator(stack: Stack, email: str, password: str = PASSWORD) -> int:
    async def run() -> int:
        engine = one_off_async_engine(stack.database_url)
        try:
            operator = await create_operator(engine, email, password, source=source.CLI)
            return operator.id
        finally:
            await engine.dispose()

    return asyncio.run(run())


def sql(stack: Stack, statement: str, **params: Any) -> list[Any]:
    """Run one statement on the stack's database; the rows it answers (if any)."""

    async def run() -> list[Any]:
        engine = one_off_async_engine(stack.database_url)
        try:
            async with engine.begin() as conn:
                result = await conn.execute(text(statement), params)
                return list(result) if result.returns_rows else []
        finally:
            await engine.dispose()

    return asyncio.run(run())


def forms(page: httpx.Response) -> dict[str, dict[str, str]]:
    """Each POST form of the page: its action → its hidden fields."""
    return {
        action: {k: html.unescape(v) for k, v in HIDDEN_RE.findall(body)}
        for action, body in FORM_RE.findall(page.text)
    }


class Dashboard:
    """One operator's browser: a cookie jar and the dashboard's forms."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.http = httpx.Client(base_url=stack.service_url, timeout=15)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Dashboard:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def login(self, email: str, password: str = PASSWORD) -> httpx.Response:
        """Submit the login form; answers the redirect (303) the POST made."""
        page = self.http.get("/dashboard/login")
        fields = forms(page)["/dashboard/login"]
        return self.http.post(
            "/dashboard/login", data={**fields, "email": email, "password": password}
        )

    def get(self, path: str, **params: str) -> httpx.Response:
        return self.http.get(path, params=params or None)

    def csrf_token(self) -> str:
        return forms(self.get("/dashboard"))["/dashboard/logout"]["csrf_token"]

    def confirm_page(self, action: str, **params: str) -> httpx.Response:
        page = self.get(f"/dashboard/actions/{action}", **params)
        assert page.status_code == 200, page.text
        return page

    def act(self, action: str, **params: str) -> httpx.Response:
        """Open the action's confirm page and submit its form, as a person clicking would."""
        page = self.confirm_page(action, **params)
        target = f"/dashboard/actions/{action}"
        fields = forms(page)[target]
        return self.http.post(target, data=fields)

    def logout(self) -> httpx.Response:
        return self.http.post("/dashboard/logout", data={"csrf_token": self.csrf_token()})


def logged_in(stack: Stack, email: str) -> Dashboard:
    make_operator(stack, email)
    dashboard = Dashboard(stack)
    answer = dashboard.login(email)
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == "/dashboard"
    return dashboard


def audit_rows(stack: Stack, action: str) -> list[Any]:
    return sql(
        stack,
        "SELECT action, target, detail FROM audit_log WHERE action = :a ORDER BY id",
        a=action,
    )


# ---- scenarios: clients in the states an operator must see -----------------------------

_numbers = iter(range(10_000_000))


def onboarded(
    stack: Stack,
    hub: str,
    *,
    user: str = "user-1",
    permission: bool | None = None,
    numbers: int = 1,
    running: bool = True,
    hub_down_after_redirect: bool = False,
) -> tuple[str, list[str]]:
    """A client that went through the popup (the redirect came back), its channels moved to
    running and every job run: the client id and its channel ids.

    ``hub_down_after_redirect``: the Partner API fails from right after the redirect was
    verified, so the key jobs give up (the test turns the fault off again)."""
    created = stack.start_onboarding(hub, user)
    state = httpx.URL(created["connect_url"]).params["start"]
    partner_id = stack.hub(hub).partner_id
    client = stack.sandbox.create_client(
        partner_id, "Acme", f"{user}@acme.test", api_key_permission=permission
    )
    channels = [
        stack.sandbox.create_channel(client.id, f"+4917{next(_numbers):08d}").id
        for _ in range(numbers)
    ]
    query = {"client": client.id, "channels": f"[{','.join(channels)}]", "state": state}
    answer = httpx.get(f"{stack.service_url}/connect/{hub}", params=query)
    assert answer.status_code == 200, answer.text
    if hub_down_after_redirect:
        stack.sandbox_hub(hub).faults.api_5xx_rate = 1.0
    if running:
        for channel in channels:
            stack.sandbox.set_status(channel, "running")
    stack.settle()
    return client.id, channels


def api_key(stack: Stack, channel: str) -> str:
    answer = stack.api.get(f"/api/v1/channels/{channel}/api-key")
    assert answer.status_code == 200, answer.text
    key: str = answer.json()["api_key"]
    return key


def trigger(stack: Stack, channel: str, event: str, **body: str) -> None:
    answer = httpx.post(
        f"{stack.sandbox_url}/sandbox/channels/{channel}/events", json={"event": event, **body}
    )
    assert answer.status_code == 202, answer.text


COUNT_RE = re.compile(
    r'<li data-kind="([a-z_]+)"[^>]*>\s*<a [^>]*><span class="count">(\d+)</span>'
)
STAGE_RE = re.compile(r'data-stage="([a-z_]+)"><span class="n">(\d+)</span>')


def hub_section(page: httpx.Response, hub: str) -> str:
    start = page.text.index(f'id="hub-{hub}"')
    end = page.text.find('<section class="hub"', start)
    return page.text[start : end if end > 0 else None]


def attention_counts(page: httpx.Response, hub: str) -> dict[str, int]:
    return {k: int(v) for k, v in COUNT_RE.findall(hub_section(page, hub))}


def stage_counts(page: httpx.Response, hub: str) -> dict[str, int]:
    return {k: int(v) for k, v in STAGE_RE.findall(hub_section(page, hub))}
