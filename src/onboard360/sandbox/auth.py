"""Who is calling: a partner (Partner API) or a channel (Messaging API), then its faults.

Partner API: a partner API key in ``x-api-key`` (current default) or ``Authorization:
Bearer <token>`` from ``POST /api/v2/token`` (legacy). Messaging API: the channel's current
key in ``D360-API-KEY``. Partner credentials never work on the Messaging API and channel
keys never on the Partner API (doc). Error messages never repeat what was sent.
"""

from __future__ import annotations

from typing import Annotated, ClassVar

from fastapi import Depends, Header

from onboard360.hub import platform as p
from onboard360.sandbox.deps import SandboxDep
from onboard360.sandbox.entities import Channel, Hub, SandboxError
from onboard360.sandbox.faults import apply_faults


class PartnerUnauthorized(SandboxError):
    """Missing or invalid partner credentials: send `x-api-key` or a bearer token."""

    status = 401
    headers: ClassVar[dict[str, str]] = {"WWW-Authenticate": "Bearer"}


class OtherPartner(SandboxError):
    """These credentials do not grant access to this partner id; use your own."""

    status = p.OTHER_PARTNER_STATUS


class ChannelUnauthorized(SandboxError):
    """Missing, unknown or revoked D360-API-KEY: send the channel's current API key."""

    status = 401


def bearer_token(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, value = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


async def calling_hub(
    sandbox: SandboxDep,
    x_api_key: Annotated[str | None, Header(include_in_schema=False)] = None,
    authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> Hub:
    """The hub whose credentials came with the request, after its faults had their say."""
    hub: Hub | None = None
    if x_api_key:
        hub = sandbox.hub_by_api_key(x_api_key)
    else:
        token = bearer_token(authorization)
        hub = sandbox.hub_by_token(token) if token else None
    if hub is None:
        raise PartnerUnauthorized
    await apply_faults(hub, sandbox.rng)
    return hub


CallingHub = Annotated[Hub, Depends(calling_hub)]


async def partner_hub(pid: str, hub: CallingHub) -> Hub:
    """The calling hub, when ``pid`` in the path is its own partner id."""
    if pid != hub.partner_id:
        raise OtherPartner
    return hub


PartnerHub = Annotated[Hub, Depends(partner_hub)]


async def key_channel(
    sandbox: SandboxDep,
    d360_api_key: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> Channel:
    """The channel whose current key came in ``D360-API-KEY``, after its hub's faults."""
    channel = sandbox.channel_by_key(d360_api_key) if d360_api_key else None
    if channel is None:
        raise ChannelUnauthorized
    await apply_faults(sandbox.hub(channel.partner_id), sandbox.rng)
    return channel


KeyChannel = Annotated[Channel, Depends(key_channel)]
