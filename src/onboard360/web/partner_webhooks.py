"""The partner webhook receiver: authenticate, store raw, enqueue, answer after commit.

URL: ``POST /hooks/360dialog/{hub}/{webhook_secret}``. Proof that a delivery comes from
360dialog, each checked in constant time before anything is stored: the secret path
segment (always), the ``x-360dialog-signature`` HMAC (when the hub has a platform
secret) and a custom header (when configured). A redelivery — the same bytes for the
same hub — is acknowledged and not stored or processed again.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from fastapi import APIRouter, Request, Response

from onboard360 import metrics
from onboard360.hubs_config import HubConfig
from onboard360.sandbox.platform import SIGNATURE_HEADER
from onboard360.service import Service
from onboard360.signatures import webhook_signature_valid
from onboard360.web.deps import service_of
from onboard360.web.errors import ApiError
from onboard360.web.ingest import Delivery, InboxWriter, StoreFailed, inbox_writer
from onboard360.web.json_body import decode_object

router = APIRouter(tags=["360dialog"], lifespan=inbox_writer)

MAX_WEBHOOK_BYTES = 64 * 1024
_NOT_FOUND = ApiError(404, "not_found", "no such webhook endpoint")
_UNAVAILABLE = ApiError(
    503, "store_failed", "the webhook could not be stored; send it again later", "api_error"
)


def authenticate(hub: HubConfig | None, secret: str, request: Request, body: bytes) -> HubConfig:
    """The hub this delivery proves to come from, or a 404/401 refusal."""
    expected = hub.webhook_secret.get_secret_value() if hub else "x" * 32
    # Compare even for an unknown hub, so timing tells nothing about which hubs exist.
    path_ok = hmac.compare_digest(expected.encode(), secret.encode())
    if hub is None or not path_ok:
        raise _NOT_FOUND
    if hub.platform_secret is not None:
        signature = request.headers.get(SIGNATURE_HEADER)
        if not webhook_signature_valid(hub.platform_secret.get_secret_value(), body, signature):
            raise ApiError(401, "bad_signature", f"missing or wrong {SIGNATURE_HEADER} header")
    if hub.webhook_header and hub.webhook_header_value is not None:
        sent = request.headers.get(hub.webhook_header, "")
        wanted = hub.webhook_header_value.get_secret_value()
        if not hmac.compare_digest(wanted.encode(), sent.encode()):
            raise ApiError(401, "bad_header", f"missing or wrong {hub.webhook_header} header")
    return hub


def decode(body: bytes) -> dict[str, Any]:
    """The body as a JSON object that fits ``jsonb``, or a precise 400 (web/json_body.py)."""
    return decode_object(body)


@router.post("/hooks/360dialog/{hub_name}/{secret}", status_code=200)
async def receive(hub_name: str, secret: str, request: Request) -> Response:
    # Not ServiceDep: FastAPI runs a sync dependency in its thread pool, which cost this
    # hot path more CPU than everything else it does (bench/README.md).
    service = service_of(request)
    label = hub_name if service.settings.hub(hub_name) else metrics.UNKNOWN
    try:
        duplicate = await _store(hub_name, secret, request, service)
    except ApiError as exc:
        outcome = "unavailable" if exc.status >= 500 else "refused"
        metrics.PARTNER_WEBHOOKS.labels(label, outcome).inc()
        raise
    metrics.PARTNER_WEBHOOKS.labels(label, "duplicate" if duplicate else "received").inc()
    return Response(
        content=json.dumps({"received": True, "duplicate": duplicate}),
        media_type="application/json",
    )


async def _store(hub_name: str, secret: str, request: Request, service: Service) -> bool:
    """Authenticate and store the delivery; True when the same bytes were stored before."""
    body = await request.body()
    if len(body) > MAX_WEBHOOK_BYTES:
        raise ApiError(413, "too_large", f"webhook bodies are limited to {MAX_WEBHOOK_BYTES} bytes")
    hub = authenticate(service.settings.hub(hub_name), secret, request, body)
    data = decode(body)
    event = data.get("event")
    delivery = Delivery(
        hub=hub.name,
        body_sha256=hashlib.sha256(body).digest(),
        event_type=event if isinstance(event, str) else None,
        body_json=json.dumps(data),
    )
    try:
        # Answers after the commit of this delivery's row and job (web/ingest.py).
        writer: InboxWriter = request.app.state.inbox_writer
        return await writer.store(delivery)
    except StoreFailed:
        raise _UNAVAILABLE from None
