"""A tiny partner product (a CRM, say) using onboard360 the way a real one would.

`onboard360 demo` runs it beside the service; it is the demo's one page for a person:

- per hub, "Onboard a new client": the product's *server* asks onboard360 for an
  onboarding (``POST /api/v1/onboardings`` with its bearer token) and sends the browser
  to the hosted connect page it answers with;
- it receives onboard360's events at ``/events`` (Standard Webhooks): it verifies each
  signature and refuses a bad one with 400;
- on ``channel.activated`` / ``channel.key_rotated`` it fetches the channel's API key
  (``GET /api/v1/channels/{id}/api-key``) and keeps it; its page shows only a masked form;
- it is every activated channel's messaging webhook (``/inbound``);
- its page polls ``/state.json`` every second to show the events and channels.

Everything lives in memory: this is an example, not part of the service.
"""

from __future__ import annotations

import json
import secrets
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from onboard360.handoff import SignatureError, verify
from onboard360.runtime.asgi import BodySizeLimit
from onboard360.runtime.logging import get_logger

log = get_logger(__name__)

MAX_EVENTS_SHOWN = 200
MAX_IDS_REMEMBERED = 10_000
KEY_EVENTS = ("channel.activated", "channel.key_rotated")
TEMPLATES = Path(__file__).parent / "templates"


@dataclass(frozen=True)
class ProductHub:
    """A hub as the product shows it: onboard360's hub name and words for people."""

    name: str
    label: str
    about: str


@dataclass(frozen=True)
class ProductSetup:
    """What the product was given when it was connected to onboard360."""

    title: str
    service_url: str
    api_token: str
    webhook_secret: str
    hubs: tuple[ProductHub, ...]


def mask(key: str) -> str:
    """Enough of a key for a person to tell two apart, never enough to use it."""
    return f"{key[:4]}…"


@dataclass
class Ledger:
    """What the product knows: onboard360's events, its channels and their keys."""

    events: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=MAX_EVENTS_SHOWN))
    channels: dict[str, dict[str, Any]] = field(default_factory=dict)
    keys: dict[str, str] = field(default_factory=dict)  # never shown, never logged
    seen: deque[str] = field(default_factory=lambda: deque(maxlen=MAX_IDS_REMEMBERED))
    inbound: int = 0

    def first_time(self, webhook_id: str) -> bool:
        """Standard Webhooks redeliver with the same id: handle each id once."""
        if webhook_id in self.seen:
            return False
        self.seen.append(webhook_id)
        return True

    def record(self, event_type: str, data: dict[str, Any], note: str | None = None) -> None:
        channel_id = data.get("channel_id")
        self.events.appendleft(
            {
                "type": event_type,
                "received_at": datetime.now(UTC).strftime("%H:%M:%S"),
                "hub": data.get("hub"),
                "channel_id": channel_id,
                "phone_number": data.get("phone_number"),
                # onboarding.started / .completed: whose attempt it is.
                "external_user_id": data.get("external_user_id"),
                "note": note,
            }
        )
        if not isinstance(channel_id, str):
            return
        channel = self.channels.setdefault(channel_id, {"channel_id": channel_id})
        for name in ("hub", "client_id", "phone_number", "status", "permission", "reason"):
            if data.get(name) is not None or name == "reason":
                channel[name] = data.get(name)
        if event_type == "channel.permission_revoked":
            self.keys.pop(channel_id, None)  # onboard360 discarded it: stop using it

    def view(self) -> dict[str, Any]:
        channels = [
            {**channel, "key": mask(self.keys[cid]) if cid in self.keys else None}
            for cid, channel in sorted(self.channels.items())
        ]
        return {"events": list(self.events), "channels": channels, "inbound": self.inbound}


def create_product_app(setup: ProductSetup, clock: Callable[[], float] = time.time) -> FastAPI:
    ledger = Ledger()
    templates = Jinja2Templates(directory=TEMPLATES)
    hubs = {hub.name: hub for hub in setup.hubs}

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        headers = {"Authorization": f"Bearer {setup.api_token}"}
        async with httpx.AsyncClient(
            base_url=setup.service_url, headers=headers, timeout=10
        ) as service:
            app.state.service = service
            yield

    app = FastAPI(title=setup.title, lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.ledger = ledger

    def page(request: Request, status: int = 200, error: str | None = None) -> HTMLResponse:
        context = {"setup": setup, "error": error}
        return templates.TemplateResponse(request, "product.html", context, status_code=status)

    @app.get("/", response_class=HTMLResponse)
    async def home(request: Request) -> Response:
        return page(request)

    @app.post("/onboard/{hub_name}")
    async def onboard(request: Request, hub_name: str, customer: str = Form("")) -> Response:
        """Ask onboard360 for an onboarding of one of our customers, then hand over."""
        if hub_name not in hubs:
            return page(request, 404, "There is no such hub.")
        external_user_id = customer.strip()[:100] or f"customer-{secrets.token_hex(3)}"
        body = {"hub": hub_name, "external_user_id": external_user_id}
        try:
            answer = await request.app.state.service.post("/api/v1/onboardings", json=body)
        except httpx.HTTPError as exc:
            return page(request, 502, f"onboard360 did not answer ({type(exc).__name__}).")
        if answer.status_code != 201:
            return page(request, 502, f"onboard360 refused: HTTP {answer.status_code}.")
        return RedirectResponse(answer.json()["connect_url"], status_code=303)

    @app.post("/events")
    async def events(request: Request) -> Response:
        body = await request.body()
        try:
            verify(setup.webhook_secret, request.headers, body, now=int(clock()))
        except SignatureError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        try:
            event = json.loads(body)
            event_type, data = str(event["type"]), dict(event["data"])
        except (ValueError, KeyError, TypeError):
            return JSONResponse({"error": "not an onboard360 event"}, status_code=400)
        if not ledger.first_time(request.headers["webhook-id"]):
            return JSONResponse({"duplicate": True})
        note = None
        if event_type in KEY_EVENTS and isinstance(data.get("channel_id"), str):
            note = await fetch_key(request.app.state.service, data["channel_id"])
        ledger.record(event_type, data, note)
        return JSONResponse({"received": True})

    async def fetch_key(service: httpx.AsyncClient, channel_id: str) -> str:
        try:
            answer = await service.get(f"/api/v1/channels/{channel_id}/api-key")
        except httpx.HTTPError as exc:
            return f"could not fetch the key ({type(exc).__name__})"
        if answer.status_code != 200:
            return f"could not fetch the key (HTTP {answer.status_code})"
        key = str(answer.json()["api_key"])
        ledger.keys[channel_id] = key
        log.info("example product stored a channel key", channel_id=channel_id)
        return f"API key {mask(key)} fetched"

    @app.post("/inbound")
    async def inbound() -> dict[str, bool]:
        """The channels' messaging webhook: where a real product gets its messages."""
        ledger.inbound += 1
        return {"received": True}

    @app.get("/state.json")
    async def state() -> JSONResponse:
        return JSONResponse(ledger.view(), headers={"Cache-Control": "no-store"})

    app.add_middleware(BodySizeLimit)
    return app
