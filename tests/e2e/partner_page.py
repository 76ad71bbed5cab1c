"""A bare partner page in front of the sandbox alone, for the popup's own browser tests.

It hosts a Connect button per hub, is the hubs' Redirect URL (inside the popup it posts
``location.search`` to its opener and closes, like the official button) and their Partner
Webhook URL, and shows what arrived. No onboard360 service is involved: these tests pin
the sandbox's popup down; tests/e2e/test_hosted_connect.py drives the whole service.
"""

from __future__ import annotations

import json
import secrets
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from onboard360.hub import platform as p
from onboard360.hub.signatures import io_signature, webhook_signature_valid
from onboard360.runtime.asgi import BodySizeLimit
from onboard360.sandbox.models import HubSpec

PARTNER_PAYMENT_ID = "DemoPartnerPA"
DIRECT_PAYMENT_ID = "DemoDirectPA"
MAX_WEBHOOKS_SHOWN = 200
POPUP_PARAMS = ("state", "number", "email", "name", "next")


def demo_hubs(partner_url: str, step_delay_seconds: float = 2.0) -> list[HubSpec]:
    """One Partner Payment hub (IO Signature on) and one Direct Payment hub."""
    base = partner_url.rstrip("/")
    return [
        HubSpec(
            partner_id=PARTNER_PAYMENT_ID,
            name="Demo partner (Partner Payment)",
            billing="partner",
            redirect_url=f"{base}/",
            webhook_url=f"{base}/webhooks/{PARTNER_PAYMENT_ID}",
            platform_secret=secrets.token_urlsafe(24),
            io_signature=True,
            step_delay_seconds=step_delay_seconds,
        ),
        HubSpec(
            partner_id=DIRECT_PAYMENT_ID,
            name="Demo partner (Direct Payment)",
            billing="direct",
            redirect_url=f"{base}/",
            webhook_url=f"{base}/webhooks/{DIRECT_PAYMENT_ID}",
            step_delay_seconds=step_delay_seconds,
        ),
    ]


def create_partner_app(
    sandbox_url: str, hubs: list[HubSpec], clock: Callable[[], int] | None = None
) -> FastAPI:
    """The partner page. ``clock`` gives unix seconds for IO Signatures (tests may pin it)."""
    by_id = {hub.partner_id: hub for hub in hubs if hub.partner_id}
    received: deque[dict[str, Any]] = deque(maxlen=MAX_WEBHOOKS_SHOWN)
    templates = Jinja2Templates(directory=Path(__file__).parent)
    now_seconds = clock or (lambda: int(time.time()))
    app = FastAPI(title="a partner page over the sandbox", docs_url=None, redoc_url=None)

    @app.get("/", response_class=HTMLResponse)
    async def partner_page(request: Request) -> Response:
        return templates.TemplateResponse(
            request, "partner_page.html", {"hubs": list(by_id.values()), "sandbox_url": sandbox_url}
        )

    @app.get("/connect/{partner_id}")
    async def connect(request: Request, partner_id: str) -> Response:
        """Open the popup: add a fresh IO Signature server-side when the hub has a secret."""
        hub = by_id.get(partner_id)
        if hub is None:
            return JSONResponse({"error": "unknown hub"}, status_code=404)
        query = {k: v[:200] for k in POPUP_PARAMS if (v := request.query_params.get(k, ""))}
        if hub.platform_secret:
            moment = now_seconds()
            query["io_timestamp"] = str(moment)
            query["io_signature"] = io_signature(hub.platform_secret, partner_id, moment)
        url = f"{sandbox_url}/dashboard/app/{partner_id}"
        return RedirectResponse(f"{url}?{urlencode(query)}" if query else url, status_code=303)

    @app.post("/webhooks/{partner_id}")
    async def webhook(request: Request, partner_id: str) -> Response:
        hub = by_id.get(partner_id)
        if hub is None:
            return JSONResponse({"error": "unknown hub"}, status_code=404)
        body = await request.body()
        if hub.platform_secret and not webhook_signature_valid(
            hub.platform_secret, body, request.headers.get(p.SIGNATURE_HEADER)
        ):
            return JSONResponse({"error": "bad signature"}, status_code=401)
        try:
            event = json.loads(body)
        except ValueError:
            return JSONResponse({"error": "body is not JSON"}, status_code=400)
        received.appendleft({"partner_id": partner_id, "body": event})
        return JSONResponse({"ok": True})

    @app.get("/events.json")
    async def events() -> dict[str, Any]:
        return {"webhooks": list(received)}

    app.add_middleware(BodySizeLimit, max_bytes=64 * 1024)
    return app
