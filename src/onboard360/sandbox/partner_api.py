"""The Partner API (``/api/v2``): token, channel and client lists, key generation, partner.

Shapes follow 360dialog's docs and client code; guesses live in platform.py.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Generic, TypeVar

from fastapi import APIRouter, Body, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator

from onboard360.hub import platform as p
from onboard360.sandbox.auth import PartnerHub, PartnerUnauthorized
from onboard360.sandbox.deps import SandboxDep, base_url
from onboard360.sandbox.entities import Channel, Client, NotFound, SandboxError
from onboard360.sandbox.faults import ApiRoute, apply_faults
from onboard360.sandbox.models import check_http_url
from onboard360.sandbox.state import Sandbox

router = APIRouter(route_class=ApiRoute, tags=["Partner API"])

# Ids the sandbox hands out are short letters and digits; anything else cannot exist.
ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
MAX_FILTER_VALUE = 200
NO_STORE = {"Cache-Control": "no-store"}

Item = TypeVar("Item", Channel, Client)


class BadQuery(SandboxError):
    """The query parameters are malformed."""

    status = 400


# ---- auth ------------------------------------------------------------------------------


class TokenRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    username: str | None = Field(None, max_length=200)
    password: str | None = Field(None, max_length=200)


@router.post("/token")
async def token(
    sandbox: SandboxDep, body: Annotated[TokenRequest | None, Body()] = None
) -> JSONResponse:
    """Trade a partner's username and password for a bearer token (legacy auth)."""
    if body is None or not body.username or not body.password:
        raise PartnerUnauthorized("username and password are required")
    issued = sandbox.issue_token(body.username, body.password)
    if issued is None:
        raise PartnerUnauthorized("wrong username or password")
    value, issued_token = issued
    try:
        await apply_faults(sandbox.hub(issued_token.partner_id), sandbox.rng)
    except SandboxError:
        # A failed answer hands out nothing that works.
        sandbox.tokens.pop(value, None)
        raise
    answer = {
        "access_token": value,
        "token_type": "bearer",
        "expires_in": p.TOKEN_TTL_SECONDS,
        # Never accepted: the sandbox has no refresh endpoint (platform.py).
        "refresh_token": secrets.token_urlsafe(32),
    }
    return JSONResponse(answer, headers=NO_STORE)


# ---- lists -----------------------------------------------------------------------------


def parse_filters(raw: str | None, allowed: Sequence[str]) -> dict[str, str]:
    """``filters``: a URL-encoded JSON object of allowed keys to string values."""
    if raw is None or not raw.strip():
        return {}
    example = 'e.g. filters={"status":"running"} (URL-encoded)'
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):
        raise BadQuery(f"filters must be a JSON object, {example}") from None
    if not isinstance(value, dict):
        raise BadQuery(f"filters must be a JSON object, {example}")
    if any(key not in allowed for key in value):
        raise BadQuery(f"unknown filter key; filters accepts {', '.join(allowed)}")
    for key, wanted in value.items():
        if not isinstance(wanted, str) or len(wanted) > MAX_FILTER_VALUE:
            raise BadQuery(f"filter {key} must be a string of at most {MAX_FILTER_VALUE} chars")
    return value


def parse_sort(raw: str, allowed: Sequence[str]) -> tuple[str, bool]:
    """``sort``: a field name, with a leading ``-`` for descending order."""
    field = raw.removeprefix("-")
    if field not in allowed:
        choices = ", ".join(allowed)
        raise BadQuery(f"sort must be one of {choices}, optionally prefixed with '-'")
    return field, raw.startswith("-")


@dataclass(frozen=True)
class ListQuery:
    """Paging, order and filters as the list endpoints take them."""

    limit: int
    offset: int
    sort: str
    filters: str | None


async def list_query(
    limit: Annotated[int, Query(ge=1, le=p.LIST_LIMIT_MAX)] = p.LIST_LIMIT_DEFAULT,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    sort: Annotated[str, Query(max_length=50)] = p.LIST_SORT_DEFAULT,
    filters: Annotated[str | None, Query(max_length=4000)] = None,
) -> ListQuery:
    return ListQuery(limit, offset, sort, filters)


ListParams = Annotated[ListQuery, Depends(list_query)]


@dataclass(frozen=True)
class Listing(Generic[Item]):
    """One list endpoint: the envelope's name for its items, its filters and sort fields."""

    name: str
    filter_keys: Sequence[str]
    sort_fields: Sequence[str]

    def page(
        self, items: Iterable[Item], query: ListQuery, render: Callable[[Item], dict[str, Any]]
    ) -> dict[str, Any]:
        """One page of ``items`` in the envelope ``{name: [...], "count", "total", ...}``."""
        wanted = parse_filters(query.filters, self.filter_keys)
        field, descending = parse_sort(query.sort, self.sort_fields)
        matching = [item for item in items if all(matches(item, k, v) for k, v in wanted.items())]
        # Python's sort is stable, also reversed: equal keys keep creation order.
        matching.sort(key=lambda item: getattr(item, field), reverse=descending)
        shown = [render(item) for item in matching[query.offset : query.offset + query.limit]]
        return {
            self.name: shown,
            "count": len(shown),
            "total": len(matching),
            "limit": query.limit,
            "offset": query.offset,
            "sort": query.sort,
            "filters": wanted,
        }


CHANNELS: Listing[Channel] = Listing(
    "partner_channels", p.CHANNEL_FILTER_KEYS, p.CHANNEL_SORT_FIELDS
)
CLIENTS: Listing[Client] = Listing("clients", p.CLIENT_FILTER_KEYS, p.CLIENT_SORT_FIELDS)


def matches(item: Channel | Client, key: str, wanted: str) -> bool:
    if key == "email":
        # Case-insensitive (platform.py).
        return getattr(item, key).casefold() == wanted.strip().casefold()
    return str(getattr(item, key)) == wanted


@router.get("/partners/{pid}/channels")
async def list_channels(sandbox: SandboxDep, hub: PartnerHub, query: ListParams) -> dict[str, Any]:
    """The hub's channels; one channel is ``filters={"id": "<channel_id>"}``."""
    channels = sandbox.channels_of_hub(hub.partner_id)
    return CHANNELS.page(channels, query, lambda c: c.public(sandbox.client(c.client_id)))


@router.get("/partners/{pid}/clients")
async def list_clients(sandbox: SandboxDep, hub: PartnerHub, query: ListParams) -> dict[str, Any]:
    """The hub's clients."""
    return CLIENTS.page(sandbox.clients_of_hub(hub.partner_id), query, Client.public)


# ---- keys ------------------------------------------------------------------------------


def own_channel(sandbox: Sandbox, partner_id: str, channel_id: str) -> Channel:
    if not ID_RE.match(channel_id):
        raise NotFound("no such channel")
    return sandbox.channel(channel_id, partner_id)


@router.post("/partners/{pid}/channels/{cid}/api_keys", status_code=p.API_KEY_CREATED_STATUS)
async def generate_api_key(
    cid: str, request: Request, sandbox: SandboxDep, hub: PartnerHub
) -> JSONResponse:
    """Generate the channel's API key, revoking every earlier one (shown once)."""
    channel = own_channel(sandbox, hub.partner_id, cid)
    key = sandbox.generate_api_key(hub.partner_id, channel.id)
    answer = {
        "id": key.id,
        "api_key": key.value,
        # The sandbox serves the Messaging API too (platform.py).
        "address": base_url(request),
        "app_id": channel.id,  # platform.py
    }
    return JSONResponse(answer, status_code=p.API_KEY_CREATED_STATUS, headers=NO_STORE)


# ---- the partner -----------------------------------------------------------------------


class PartnerUpdate(BaseModel):
    """What PATCH /partners/{pid} may change; anything else is refused."""

    model_config = ConfigDict(extra="forbid")

    webhook_url: str | None = Field(None, max_length=2048)
    partner_redirect_url: str | None = Field(None, max_length=2048)

    @field_validator("webhook_url", "partner_redirect_url")
    @classmethod
    def _absolute_http_url(cls, value: str | None) -> str:
        # Runs only for fields that were sent: null is refused, left out means unchanged.
        if value is None:
            raise ValueError("must be an absolute http(s) URL, not null")
        return check_http_url(value)


@router.get("/partners/{pid}")
async def get_partner(hub: PartnerHub) -> dict[str, Any]:
    """The partner object: its id, Partner Webhook URL and Redirect URL (platform.py)."""
    return hub.public()


@router.patch("/partners/{pid}")
async def update_partner(hub: PartnerHub, body: PartnerUpdate) -> dict[str, Any]:
    """Set the hub's Partner Webhook URL and Redirect URL; answers the partner object."""
    if body.webhook_url is not None:
        hub.webhook_url = body.webhook_url
    if body.partner_redirect_url is not None:
        hub.redirect_url = body.partner_redirect_url
    return hub.public()
