"""Drive the sandbox popup over HTTP, the way a browser would submit its forms."""

from __future__ import annotations

import html
import re
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx

SESSION_RE = re.compile(r'name="session" value="([^"]+)"')
ERROR_RE = re.compile(r'id="error"[^>]*>([^<]*)<')
H1_RE = re.compile(r"<h1[^>]*>([^<]*)</h1>")


def unique_email(tag: str) -> str:
    """An email no earlier onboarding of this test process used."""
    return f"{tag}-{time.monotonic_ns()}@example.com"


def error_of(response: httpx.Response) -> str:
    match = ERROR_RE.search(response.text)
    return html.unescape(match[1]) if match else ""


def heading_of(response: httpx.Response) -> str:
    match = H1_RE.search(response.text)
    return html.unescape(match[1]) if match else ""


@dataclass(frozen=True)
class Redirect:
    base: str
    query: str
    client: str
    channels: list[str]
    revoked: list[str]
    state: str | None


def _list(raw: str | None) -> list[str]:
    if raw is None:
        return []
    assert raw.startswith("["), raw
    assert raw.endswith("]"), raw
    return [item for item in raw[1:-1].split(",") if item]


def parse_redirect(location: str) -> Redirect:
    parts = urlsplit(location)
    raw = dict(item.partition("=")[::2] for item in parts.query.split("&"))
    state = raw.get("state")
    return Redirect(
        base=f"{parts.scheme}://{parts.netloc}{parts.path}",
        query=parts.query,
        client=raw["client"],
        channels=_list(raw.get("channels")),
        revoked=_list(raw.get("revoked")),
        state=None if state is None else unquote(state),
    )


class Popup:
    """One popup session: ``open`` it, then ``post`` each step's form."""

    def __init__(self, http: httpx.Client, partner_id: str) -> None:
        self.http = http
        self.partner_id = partner_id
        self.session = ""

    def open(self, url: str | None = None, **params: str) -> httpx.Response:
        response = self.http.get(url or f"/dashboard/app/{self.partner_id}", params=params or None)
        match = SESSION_RE.search(response.text)
        self.session = match[1] if match else ""
        return response

    def post(self, step: str, **fields: Any) -> httpx.Response:
        return self.http.post(
            f"/dashboard/app/{self.partner_id}/{step}", data={"session": self.session, **fields}
        )


def onboard(
    popup: Popup,
    *,
    name: str = "Acme GmbH",
    email: str,
    numbers: list[str],
    direct: bool = False,
    grant: bool = True,
    login: bool = False,
    share: list[str] | None = None,
    opened: httpx.Response | None = None,
) -> httpx.Response:
    """Walk every step; ``share`` defaults to all offered numbers. Answers the last response."""
    response = opened or popup.open(**({"next": "login"} if login else {}))
    assert response.status_code == 200, response.text
    account = {"email": email} if login else {"name": name, "email": email}
    response = popup.post("account", **account)
    if direct and not login:
        response = popup.post(
            "payment",
            holder=name,
            card_number="4242 4242 4242 4242",
            expiry="12/39",
            cvc="123",
        )
    if direct:
        response = popup.post("api-key", api_key_permission="grant" if grant else "deny")
    assert response.status_code == 200, error_of(response)
    response = popup.post("numbers", phone_number=numbers, phone_name=["" for _ in numbers])
    assert response.status_code == 200, error_of(response)
    offered = re.findall(r'name="share" value="([^"]+)"', response.text)
    return popup.post("share", share=offered if share is None else share)
