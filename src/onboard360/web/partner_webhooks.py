"""The partner webhook receiver: authenticate, store raw, enqueue, answer after commit.

URL: ``POST /hooks/360dialog/{hub}/{webhook_secret}``. Proof that a delivery comes from
360dialog, each checked in constant time before anything is stored: the secret path
segment (always), the ``x-360dialog-signature`` HMAC (when the hub has a platform
secret) and a custom header (when configured). A redelivery — the same bytes for the
same hub — is acknowledged and not stored or processed again.

The hot path does not go through FastAPI: ``WebhookFastPath``, a pure-ASGI middleware
inside the body limit and the observability middleware, answers these POSTs before
FastAPI's routing and parameter solving (which cost more CPU than the rest of the
receiver, bench/README.md). The FastAPI route below stays for the API docs and for any
request the fast path does not claim (a ``root_path`` deployment); both run ``ingest``,
and the fast path matches with the route's own compiled pattern (``_ROUTE_PATH``), so the
two cannot disagree about which paths are the receiver's.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.routing import APIRoute
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Receive, Scope, Send

from onboard360.config.hubs import HubConfig
from onboard360.hub.platform import SIGNATURE_HEADER
from onboard360.hub.signatures import webhook_signature_matches
from onboard360.runtime import metrics
from onboard360.web.errors import ApiError, error_response
from onboard360.web.ingest import Delivery, InboxWriter, StoreFailed, inbox_writer
from onboard360.web.json_body import decode_object_text
from onboard360.wiring.service import Service

router = APIRouter(tags=["360dialog"], lifespan=inbox_writer)

ROUTE = "/hooks/360dialog/{hub_name}/{secret}"
MAX_WEBHOOK_BYTES = 64 * 1024
_NOT_FOUND = ApiError(404, "not_found", "no such webhook endpoint")
_UNAVAILABLE = ApiError(
    503, "store_failed", "the webhook could not be stored; send it again later", "api_error"
)
_SIGNATURE_HEADER = SIGNATURE_HEADER.lower().encode("latin-1")
_UNKNOWN_HUB_SECRET = b"x" * 32
# The answers, as json.dumps writes them.
_ANSWERS = {
    False: b'{"received": true, "duplicate": false}',
    True: b'{"received": true, "duplicate": true}',
}
_CONTENT_TYPE = (b"content-type", b"application/json")


@dataclass(frozen=True, slots=True)
class _HubKeys:
    """A hub's secrets, encoded once instead of on every delivery."""

    hub: HubConfig
    path_secret: bytes
    platform_secret: bytes | None
    header: bytes | None  # lowercased, as ASGI servers pass header names
    header_value: bytes | None


_KEYS: dict[int, _HubKeys] = {}


def _keys(hub: HubConfig) -> _HubKeys:
    keys = _KEYS.get(id(hub))
    if keys is None or keys.hub is not hub:
        header: bytes | None = None
        header_value: bytes | None = None
        platform: bytes | None = None
        if hub.webhook_header and hub.webhook_header_value is not None:
            header = hub.webhook_header.lower().encode("latin-1")
            header_value = hub.webhook_header_value.get_secret_value().encode()
        if hub.platform_secret is not None:
            platform = hub.platform_secret.get_secret_value().encode()
        path_secret = hub.webhook_secret.get_secret_value().encode()
        keys = _KEYS[id(hub)] = _HubKeys(hub, path_secret, platform, header, header_value)
    return keys


def _header(headers: list[tuple[bytes, bytes]], name: bytes) -> str | None:
    """The first value of header ``name`` (lowercase), decoded like Starlette's Headers."""
    for key, value in headers:
        if key == name:
            return value.decode("latin-1")
    return None


def authenticate(
    hub: HubConfig | None, secret: str, headers: list[tuple[bytes, bytes]], body: bytes
) -> HubConfig:
    """The hub this delivery proves to come from, or a 404/401 refusal."""
    keys = _keys(hub) if hub is not None else None
    expected = keys.path_secret if keys is not None else _UNKNOWN_HUB_SECRET
    # Compare even for an unknown hub, so timing tells nothing about which hubs exist.
    path_ok = hmac.compare_digest(expected, secret.encode())
    if hub is None or keys is None or not path_ok:
        raise _NOT_FOUND
    if keys.platform_secret is not None:
        signature = _header(headers, _SIGNATURE_HEADER)
        if not webhook_signature_matches(keys.platform_secret, body, signature):
            raise ApiError(401, "bad_signature", f"missing or wrong {SIGNATURE_HEADER} header")
    if keys.header is not None and keys.header_value is not None:
        sent = _header(headers, keys.header) or ""
        if not hmac.compare_digest(keys.header_value, sent.encode()):
            raise ApiError(401, "bad_header", f"missing or wrong {hub.webhook_header} header")
    return hub


_COUNTERS: dict[tuple[str, str], Any] = {}


def _count(label: str, outcome: str) -> None:
    counter = _COUNTERS.get((label, outcome))
    if counter is None:
        counter = _COUNTERS[(label, outcome)] = metrics.PARTNER_WEBHOOKS.labels(label, outcome)
    counter.inc()


async def ingest(
    app: Any, hub_name: str, secret: str, headers: list[tuple[bytes, bytes]], body: bytes
) -> bool:
    """Authenticate, store and count one delivery; True when its bytes were stored before."""
    service: Service = app.state.service
    hub = service.settings.hub(hub_name)
    label = hub_name if hub else metrics.UNKNOWN
    try:
        duplicate = await _store(app, hub, secret, headers, body)
    except ApiError as exc:
        _count(label, "unavailable" if exc.status >= 500 else "refused")
        raise
    _count(label, "duplicate" if duplicate else "received")
    return duplicate


def delivery_of(hub_name: str, body: bytes) -> Delivery:
    """What the inbox stores of an authenticated body, or a precise 400 (web/json_body.py)."""
    # The validated text is what jsonb stores: no json.dumps of the parsed value.
    data, text = decode_object_text(body)
    event = data.get("event")
    return Delivery(
        hub=hub_name,
        body_sha256=hashlib.sha256(body).digest(),
        event_type=event if isinstance(event, str) else None,
        body_json=text,
    )


async def _store(
    app: Any, hub: HubConfig | None, secret: str, headers: list[tuple[bytes, bytes]], body: bytes
) -> bool:
    """Authenticate and store the delivery; True when the same bytes were stored before."""
    if len(body) > MAX_WEBHOOK_BYTES:
        raise ApiError(413, "too_large", f"webhook bodies are limited to {MAX_WEBHOOK_BYTES} bytes")
    delivery = delivery_of(authenticate(hub, secret, headers, body).name, body)
    try:
        # Answers after the commit of this delivery's row and job (web/ingest.py).
        writer: InboxWriter = app.state.inbox_writer
        return await writer.store(delivery)
    except StoreFailed:
        raise _UNAVAILABLE from None


@router.post(ROUTE, status_code=200)
async def receive(hub_name: str, secret: str, request: Request) -> Response:
    body = await request.body()
    duplicate = await ingest(request.app, hub_name, secret, request.scope["headers"], body)
    return Response(content=_ANSWERS[duplicate], media_type="application/json")


def _route_pattern(path: str) -> re.Pattern[str]:
    """The pattern Starlette itself compiled for the receiver's route (its one template)."""
    route = next(r for r in router.routes if isinstance(r, APIRoute) and r.path == path)
    if set(route.param_convertors) != {"hub_name", "secret"}:
        raise RuntimeError(f"{path}: the fast path reads hub_name and secret from it")
    return route.path_regex


_ROUTE_PATH = _route_pattern(ROUTE)


@dataclass(frozen=True, slots=True)
class _RouteTemplate:
    """What ``scope["route"]`` needs for the observability middleware (web/observe.py)."""

    path: str


_ROUTE = _RouteTemplate(ROUTE)


class WebhookFastPath:
    """``POST /hooks/360dialog/{hub_name}/{secret}`` as a pure-ASGI endpoint.

    Sits inside ``RequestObservability`` and ``BodySizeLimit`` (request ids, HTTP metrics
    and the 413 stay theirs) and answers exactly what the FastAPI route would: the same
    status, headers and body, refusals rendered by the app's one error shape. Any other
    request goes on to FastAPI.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope.get("root_path"):
            await self.app(scope, receive, send)
            return
        match = _ROUTE_PATH.fullmatch(scope["path"])
        if match is None:
            await self.app(scope, receive, send)
            return
        hub_name, secret = match.group("hub_name", "secret")
        scope["route"] = _ROUTE
        scope["path_params"] = {"hub_name": hub_name, "secret": secret}
        body = await _read_body(receive)
        try:
            duplicate = await ingest(scope["app"], hub_name, secret, scope["headers"], body)
        except ApiError as exc:
            await error_response(exc.status, exc.type, exc.code, exc.message)(scope, receive, send)
            return
        answer = _ANSWERS[duplicate]
        headers = [(b"content-length", str(len(answer)).encode()), _CONTENT_TYPE]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": answer})


async def _read_body(receive: Receive) -> bytes:
    """The whole request body, like Starlette's ``Request.body()``."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.request":
            chunk = message.get("body", b"")
            if not message.get("more_body", False):
                if not chunks:
                    return bytes(chunk)
                chunks.append(chunk)
                return b"".join(chunks)
            chunks.append(chunk)
        elif message["type"] == "http.disconnect":
            raise ClientDisconnect
