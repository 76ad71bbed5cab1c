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
from sqlalchemy.dialects.postgresql import insert

from onboard360.db import tables as t
from onboard360.hubs_config import HubConfig
from onboard360.jobs.defer import Job, defer
from onboard360.jobs.worker import INBOX_TASK
from onboard360.sandbox.platform import SIGNATURE_HEADER
from onboard360.signatures import webhook_signature_valid
from onboard360.web.deps import ServiceDep
from onboard360.web.errors import ApiError

router = APIRouter(tags=["360dialog"])

MAX_WEBHOOK_BYTES = 64 * 1024
_NOT_FOUND = ApiError(404, "not_found", "no such webhook endpoint")


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
    if not body:
        raise ApiError(400, "empty_body", "the webhook body is empty")
    if b"\\u0000" in body:
        # PostgreSQL's jsonb cannot hold NUL characters; say so instead of failing later.
        raise ApiError(400, "nul_character", "the webhook body contains a \\u0000 character")
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        raise ApiError(400, "invalid_json", "the webhook body is not valid JSON") from None
    if not isinstance(data, dict):
        raise ApiError(400, "not_an_object", "the webhook body must be a JSON object")
    return data


@router.post("/hooks/360dialog/{hub_name}/{secret}", status_code=200)
async def receive(hub_name: str, secret: str, request: Request, service: ServiceDep) -> Response:
    body = await request.body()
    if len(body) > MAX_WEBHOOK_BYTES:
        raise ApiError(413, "too_large", f"webhook bodies are limited to {MAX_WEBHOOK_BYTES} bytes")
    hub = authenticate(service.settings.hub(hub_name), secret, request, body)
    data = decode(body)
    event = data.get("event")
    async with service.engine.begin() as conn:
        stored = await conn.execute(
            insert(t.inbox_events)
            .values(
                hub=hub.name,
                body_sha256=hashlib.sha256(body).digest(),
                event_type=event if isinstance(event, str) else None,
                body=data,
            )
            .on_conflict_do_nothing()
            .returning(t.inbox_events.c.id)
        )
        row = stored.first()
        if row is not None:
            await defer(conn, Job(INBOX_TASK, {"event_id": row.id}))
    # Only now, after the commit, do we say we have it.
    return Response(
        content=json.dumps({"received": True, "duplicate": row is None}),
        media_type="application/json",
    )
