"""The control API at /sandbox: drive the sandbox like ``stripe trigger`` — for tests and people.

Not part of 360dialog: it creates hubs (answering their secrets), clients and channels,
moves channels through their lifecycle, sends any partner webhook on demand, switches
faults and permissions at run time, and shows the delivery log and key counts.
"""

from __future__ import annotations

import secrets
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request
from pydantic import ValidationError

from onboard360.hub import platform as p
from onboard360.sandbox.control_models import (
    ChannelCreate,
    ClientCreate,
    ClockChange,
    EventTrigger,
    PermissionChange,
    SeedRequest,
    SharingChange,
    StatusChange,
    StrictHubSpec,
)
from onboard360.sandbox.deps import DispatcherDep, SandboxDep, base_url
from onboard360.sandbox.entities import Channel, Client, Hub, SandboxError, iso
from onboard360.sandbox.models import Faults, describe_errors
from onboard360.sandbox.seeding import seed_hub
from onboard360.sandbox.state import Sandbox

router = APIRouter(tags=["sandbox control"])

# Hub settings PATCH /sandbox/hubs/{pid} may change; ids, billing and credentials stay.
PATCHABLE = frozenset(
    {
        "name",
        "redirect_url",
        "webhook_url",
        "webhook_headers",
        "platform_secret",
        "io_signature",
        "step_delay_seconds",
        "auto_advance",
        "echo_state",
        "opener_policy",
        "faults",
    }
)
JsonObject = Annotated[dict[str, Any], Body()]


class Invalid(SandboxError):
    """The request is well-formed JSON but its values are not acceptable."""

    status = 422


# ---- views -----------------------------------------------------------------------------------


def hub_view(hub: Hub, request: Request, *, credentials: bool) -> dict[str, Any]:
    """A hub as the control API shows it; ``credentials`` adds its secrets (sandbox only)."""
    base = base_url(request)
    view: dict[str, Any] = {
        "partner_id": hub.partner_id,
        "name": hub.name,
        "billing": hub.billing,
        "redirect_url": hub.redirect_url,
        "webhook_url": hub.webhook_url,
        "io_signature": hub.io_signature,
        "step_delay_seconds": hub.step_delay_seconds,
        "auto_advance": hub.auto_advance,
        "echo_state": hub.echo_state,
        "opener_policy": hub.opener_policy,
        "faults": hub.faults.model_dump(),
        "created_at": hub.public()["created_at"],
        "popup_url": f"{base}/dashboard/app/{hub.partner_id}",
        "partner_api_url": f"{base}/api/v2",
    }
    if credentials:
        view.update(
            api_key=hub.api_key,
            username=hub.username,
            password=hub.password,
            platform_secret=hub.platform_secret,
            webhook_headers=dict(hub.webhook_headers),
        )
    return view


def client_view(world: Sandbox, client: Client) -> dict[str, Any]:
    return {
        **client.public(),
        "api_key_permission": client.api_key_permission,
        "channel_ids": [c.id for c in world.channels_of(client.id)],
    }


def channel_view(world: Sandbox, channel: Channel) -> dict[str, Any]:
    return {
        **channel.public(world.client(channel.client_id)),
        "shared": channel.shared,
        "template_messaging": channel.template_messaging,
        "keys_generated": channel.keys_generated,
        # Key values are never shown here: only when and which one is current.
        "api_keys": [
            {"id": k.id, "created_at": iso(k.created_at), "revoked_at": iso(k.revoked_at)}
            for k in channel.api_keys
        ],
    }


# ---- hubs ------------------------------------------------------------------------------------


@router.post("/hubs", status_code=201)
async def create_hub(spec: StrictHubSpec, world: SandboxDep, request: Request) -> dict[str, Any]:
    """Create a Partner Hub; answers its ids, credentials and popup URL."""
    hub = world.create_hub(spec)
    return hub_view(hub, request, credentials=True)


@router.get("/hubs")
async def list_hubs(world: SandboxDep, request: Request) -> dict[str, Any]:
    return {"hubs": [hub_view(hub, request, credentials=False) for hub in world.hubs.values()]}


@router.get("/hubs/{partner_id}")
async def get_hub(partner_id: str, world: SandboxDep, request: Request) -> dict[str, Any]:
    return hub_view(world.hub(partner_id), request, credentials=True)


@router.patch("/hubs/{partner_id}")
async def update_hub(
    partner_id: str, patch: JsonObject, world: SandboxDep, request: Request
) -> dict[str, Any]:
    """Change some of a hub's settings; ``faults`` may be partial."""
    hub = world.hub(partner_id)
    unknown = sorted(set(patch) - PATCHABLE)
    if unknown:
        raise SandboxError(
            f"cannot change {', '.join(unknown)}; one of {', '.join(sorted(PATCHABLE))}"
        )
    current = hub_spec(hub)
    merged = {**current, **patch}
    if isinstance(patch.get("faults"), dict):
        merged["faults"] = {**current["faults"], **patch["faults"]}
    try:
        spec = StrictHubSpec.model_validate(merged)
    except ValidationError as exc:
        raise Invalid(describe_errors(exc.errors())) from None
    for name in patch:
        value = getattr(spec, name)
        setattr(hub, name, value.model_copy() if isinstance(value, Faults) else value)
    return hub_view(hub, request, credentials=True)


@router.patch("/hubs/{partner_id}/faults")
async def update_faults(partner_id: str, patch: JsonObject, world: SandboxDep) -> dict[str, Any]:
    """Switch some of a hub's faults, leaving the others as they are."""
    hub = world.hub(partner_id)
    try:
        hub.faults = Faults.model_validate({**hub.faults.model_dump(), **patch}, strict=True)
    except ValidationError as exc:
        raise Invalid(describe_errors(exc.errors(), "faults.")) from None
    return hub.faults.model_dump()


def hub_spec(hub: Hub) -> dict[str, Any]:
    """The hub's current settings in HubSpec's words, to validate a patch against."""
    return {
        "partner_id": hub.partner_id,
        "name": hub.name,
        "billing": hub.billing,
        "redirect_url": hub.redirect_url,
        "webhook_url": hub.webhook_url,
        "webhook_headers": dict(hub.webhook_headers),
        "api_key": hub.api_key,
        "username": hub.username,
        "password": hub.password,
        "platform_secret": hub.platform_secret,
        "io_signature": hub.io_signature,
        "step_delay_seconds": hub.step_delay_seconds,
        "auto_advance": hub.auto_advance,
        "echo_state": hub.echo_state,
        "opener_policy": hub.opener_policy,
        "faults": hub.faults.model_dump(),
    }


@router.get("/hubs/{partner_id}/key-counts")
async def key_counts(
    partner_id: str, world: SandboxDep, only_with_keys: bool = False
) -> dict[str, Any]:
    """How many API keys were generated per channel of the hub (revoked ones included)."""
    world.hub(partner_id)
    counts = {
        c.id: c.keys_generated
        for c in world.channels_of_hub(partner_id)
        if c.keys_generated or not only_with_keys
    }
    return {"partner_id": partner_id, "key_counts": counts, "total": sum(counts.values())}


@router.post("/hubs/{partner_id}/seed", status_code=201)
async def seed(partner_id: str, body: SeedRequest, world: SandboxDep) -> dict[str, Any]:
    """Bulk-create clients and channels (e.g. 100,000 for a reconciliation benchmark)."""
    return await seed_hub(world, partner_id, body)


# ---- clients and channels --------------------------------------------------------------------


@router.post("/hubs/{partner_id}/clients", status_code=201)
async def create_client(partner_id: str, body: ClientCreate, world: SandboxDep) -> dict[str, Any]:
    client = world.create_client(
        partner_id,
        body.name,
        body.email or f"client-{secrets.token_hex(4)}@example.com",
        api_key_permission=body.api_key_permission,
        client_id=body.client_id,
    )
    return client_view(world, client)


@router.get("/clients/{client_id}")
async def get_client(client_id: str, world: SandboxDep) -> dict[str, Any]:
    return client_view(world, world.client(client_id))


@router.post("/clients/{client_id}/channels", status_code=201)
async def create_channel(client_id: str, body: ChannelCreate, world: SandboxDep) -> dict[str, Any]:
    channel = world.create_channel(
        client_id,
        body.phone_number or random_phone_number(world),
        phone_name=body.phone_name,
        shared=body.shared,
        channel_id=body.channel_id,
        account_mode=body.account_mode,
    )
    return channel_view(world, channel)


def random_phone_number(world: Sandbox) -> str:
    # +4915… is a German mobile range; numbers only need to look plausible and differ.
    return f"+49155{len(world.channels) + 1:08d}"


@router.post("/clients/{client_id}/api-key-permission")
async def set_api_key_permission(
    client_id: str, body: PermissionChange, world: SandboxDep
) -> dict[str, Any]:
    """Grant or take away the partner's API-key permission (revoking takes its keys)."""
    return client_view(world, world.set_api_key_permission(client_id, body.granted))


@router.get("/channels/{channel_id}")
async def get_channel(channel_id: str, world: SandboxDep) -> dict[str, Any]:
    return channel_view(world, world.channel(channel_id))


@router.post("/channels/{channel_id}/sharing")
async def set_sharing(channel_id: str, body: SharingChange, world: SandboxDep) -> dict[str, Any]:
    """Share the number with the partner, or stop sharing it (its keys are revoked)."""
    (channel,) = world.set_shared([channel_id], body.shared)
    return channel_view(world, channel)


@router.post("/channels/{channel_id}/status")
async def set_status(channel_id: str, body: StatusChange, world: SandboxDep) -> dict[str, Any]:
    """Move the channel to any status; each lifecycle step passed sends its webhook."""
    return channel_view(world, world.set_status(channel_id, body.status))


@router.post("/channels/{channel_id}/events", status_code=202)
async def trigger_event(channel_id: str, body: EventTrigger, world: SandboxDep) -> dict[str, Any]:
    """Send one partner webhook about this channel now, without changing its status."""
    channel = world.channel(channel_id)
    if body.event not in p.ALL_EVENTS:
        raise SandboxError(f"unknown event {body.event!r}; one of {', '.join(p.ALL_EVENTS)}")
    payload = event_payload(world, channel, body)
    outgoing = world.emit(channel.partner_id, body.event, payload)
    return {"event_id": outgoing.id, "event": outgoing.event, "partner_id": outgoing.partner_id}


def event_payload(world: Sandbox, channel: Channel, body: EventTrigger) -> dict[str, Any]:
    if body.event == "client_created":
        payload = world.client(channel.client_id).public()
    else:
        payload = world.channel_payload(channel)
    if body.event in ("account_violation", "account_restriction"):
        # Beside the channel's fields (platform.py).
        payload["violation_type"] = body.violation_type or p.DEFAULT_VIOLATION_TYPE
    if body.event.startswith("template_messaging_"):
        channel.template_messaging = body.event == "template_messaging_enabled"
    payload.update(body.fields)
    return payload


# ---- deliveries ------------------------------------------------------------------------------


@router.get("/deliveries")
async def deliveries(
    *,
    dispatcher: DispatcherDep,
    partner_id: str | None = None,
    event: str | None = None,
    event_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1_000,
    after: Annotated[int | None, Query(ge=0, description="only attempts with a later seq")] = None,
) -> dict[str, Any]:
    """Every delivery attempt, oldest first (the newest ``limit``), and how many wait.

    ``after`` follows the log: pass the last ``seq`` seen to get only what came since."""
    found = dispatcher.attempts(
        partner_id=partner_id, event=event, event_id=event_id, after=after, limit=limit
    )
    return {"deliveries": [a.public() for a in found], "pending": dispatcher.pending}


# ---- the clock -------------------------------------------------------------------------------


@router.get("/clock")
async def get_clock(world: SandboxDep) -> dict[str, Any]:
    """The sandbox's time, how fast it runs and how far ahead of real time it is."""
    return world.clock.view()


@router.patch("/clock")
async def set_clock(body: ClockChange, world: SandboxDep) -> dict[str, Any]:
    """Run the clock faster (``speed``) and/or move it forward now (``advance_seconds``):
    lifecycle step delays, webhook retries and expiries play out sooner."""
    if body.speed is not None:
        world.clock.set_speed(body.speed)
    if body.advance_seconds:
        world.clock.advance(body.advance_seconds)
    return world.clock.view()
