"""The sandbox's world: hubs, clients, channels, keys, tokens and the outgoing events.

State lives in memory and is mutated only from the event loop (every sandbox route is
``async def``), so no locks are needed. Every mutation that 360dialog would report to a
partner goes through ``emit`` to the dispatcher (webhooks.py). The entities themselves
and the refusals are in entities.py.
"""

from __future__ import annotations

import random
import secrets
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any, Protocol

from onboard360.hub import platform as p
from onboard360.runtime.clock import MovableClock
from onboard360.sandbox.entities import (
    ApiKey,
    Channel,
    Client,
    Conflict,
    Hub,
    KeyRefused,
    NotFound,
    OutgoingEvent,
    SandboxError,
    Token,
    iso,
    now_utc,
    unused_id,
)
from onboard360.sandbox.models import HubSpec

# Entities and refusals are importable from here too (tests and older imports do).
__all__ = [
    "ApiKey",
    "Channel",
    "Client",
    "Conflict",
    "Dispatcher",
    "Hub",
    "KeyRefused",
    "NotFound",
    "OutgoingEvent",
    "RecordingDispatcher",
    "Sandbox",
    "SandboxError",
    "Token",
    "check_status",
    "claim_id",
    "iso",
    "now_utc",
]


def claim_id(kind: str, taken: dict[str, Any], wanted: str | None, suffix: str) -> str:
    """``wanted`` when it is free (a taken one is a conflict), else a fresh id."""
    if wanted is None:
        return unused_id(taken, suffix)
    if wanted in taken:
        raise Conflict(f"{kind} {wanted} already exists")
    return wanted


def check_status(status: str) -> str:
    """``status`` when the sandbox knows it, else a refusal naming the ones it knows."""
    if status not in p.CHANNEL_STATUSES:
        raise SandboxError(f"unknown status {status!r}; one of {', '.join(p.CHANNEL_STATUSES)}")
    return status


class Dispatcher(Protocol):
    """Delivers outgoing events and advances new channels (webhooks.py)."""

    def send(self, event: OutgoingEvent) -> None: ...

    def advance_later(self, channel_id: str) -> None: ...


class RecordingDispatcher:
    """Keeps what it is given; the default until the app installs the real dispatcher."""

    def __init__(self) -> None:
        self.sent: list[OutgoingEvent] = []
        self.advancing: list[str] = []

    def send(self, event: OutgoingEvent) -> None:
        self.sent.append(event)

    def advance_later(self, channel_id: str) -> None:
        self.advancing.append(channel_id)


class Sandbox:
    """All hubs and what happened in them."""

    def __init__(
        self,
        dispatcher: Dispatcher | None = None,
        clock: Callable[[], datetime] | MovableClock = now_utc,
        rng: random.Random | None = None,
    ) -> None:
        self.dispatcher: Dispatcher = dispatcher or RecordingDispatcher()
        # One clock for timestamps and waits (clock.py); a plain function is its wall time.
        self.clock = clock if isinstance(clock, MovableClock) else MovableClock(clock)
        # Draws every injected fault; seed it (``random.Random(7)``) for a repeatable mix.
        self.rng = rng or random.Random()
        self.hubs: dict[str, Hub] = {}
        self.clients: dict[str, Client] = {}
        self.channels: dict[str, Channel] = {}
        self.tokens: dict[str, Token] = {}

    # ---- hubs ---------------------------------------------------------------------------

    def create_hub(self, spec: HubSpec) -> Hub:
        partner_id = claim_id("hub", self.hubs, spec.partner_id, p.PARTNER_ID_SUFFIX)
        hub = Hub(
            partner_id=partner_id,
            name=spec.name,
            billing=spec.billing,
            redirect_url=spec.redirect_url,
            webhook_url=spec.webhook_url,
            webhook_headers=dict(spec.webhook_headers),
            api_key=spec.api_key or secrets.token_urlsafe(32),
            username=spec.username or f"partner-{partner_id.lower()}",
            password=spec.password or secrets.token_urlsafe(16),
            platform_secret=spec.platform_secret,
            io_signature=spec.io_signature,
            step_delay_seconds=spec.step_delay_seconds,
            auto_advance=spec.auto_advance,
            echo_state=spec.echo_state,
            opener_policy=spec.opener_policy,
            faults=spec.faults.model_copy(),
            created_at=self.clock(),
        )
        self.hubs[partner_id] = hub
        return hub

    def hub(self, partner_id: str) -> Hub:
        try:
            return self.hubs[partner_id]
        except KeyError:
            raise NotFound(f"no hub {partner_id!r}") from None

    def hub_by_api_key(self, api_key: str) -> Hub | None:
        for hub in self.hubs.values():
            if secrets.compare_digest(hub.api_key.encode(), api_key.encode()):
                return hub
        return None

    def issue_token(self, username: str, password: str) -> tuple[str, Token] | None:
        for hub in self.hubs.values():
            same_user = secrets.compare_digest(hub.username.encode(), username.encode())
            same_password = secrets.compare_digest(hub.password.encode(), password.encode())
            if same_user and same_password:
                token = Token(hub.partner_id, self.clock() + timedelta(seconds=p.TOKEN_TTL_SECONDS))
                value = secrets.token_urlsafe(32)
                self.tokens[value] = token
                return value, token
        return None

    def hub_by_token(self, value: str) -> Hub | None:
        token = self.tokens.get(value)
        if token is None or token.expires_at <= self.clock():
            return None
        return self.hubs.get(token.partner_id)

    # ---- clients and channels -------------------------------------------------------------

    def client(self, client_id: str, partner_id: str | None = None) -> Client:
        client = self.clients.get(client_id)
        if client is None or (partner_id is not None and client.partner_id != partner_id):
            raise NotFound(f"no client {client_id!r}")
        return client

    def channel(self, channel_id: str, partner_id: str | None = None) -> Channel:
        channel = self.channels.get(channel_id)
        if channel is None or (partner_id is not None and channel.partner_id != partner_id):
            raise NotFound(f"no channel {channel_id!r}")
        return channel

    def clients_of_hub(self, partner_id: str) -> list[Client]:
        return [c for c in self.clients.values() if c.partner_id == partner_id]

    def channels_of_hub(self, partner_id: str) -> list[Channel]:
        return [c for c in self.channels.values() if c.partner_id == partner_id]

    def channels_of(self, client_id: str) -> list[Channel]:
        return [c for c in self.channels.values() if c.client_id == client_id]

    def find_client_by_email(self, partner_id: str, email: str) -> Client | None:
        wanted = email.strip().casefold()
        return next(
            (c for c in self.clients_of_hub(partner_id) if c.email.casefold() == wanted), None
        )

    def create_client(
        self,
        partner_id: str,
        name: str,
        email: str,
        *,
        api_key_permission: bool | None = None,
        client_id: str | None = None,
    ) -> Client:
        hub = self.hub(partner_id)
        client_id = claim_id("client", self.clients, client_id, p.CLIENT_ID_SUFFIX)
        if api_key_permission is None:
            # Partner Payment: the partner manages its clients' channels by default (doc).
            api_key_permission = not hub.direct_payment
        client = Client(
            id=client_id,
            partner_id=partner_id,
            name=name,
            email=email,
            created_at=self.clock(),
            api_key_permission=api_key_permission,
        )
        self.clients[client_id] = client
        self.emit(partner_id, "client_created", client.public())
        return client

    def create_channel(
        self,
        client_id: str,
        phone_number: str,
        *,
        phone_name: str = "",
        shared: bool = True,
        channel_id: str | None = None,
        account_mode: str = "live",
    ) -> Channel:
        client = self.client(client_id)
        channel_id = claim_id("channel", self.channels, channel_id, p.CHANNEL_ID_SUFFIX)
        channel = Channel(
            id=channel_id,
            client_id=client.id,
            partner_id=client.partner_id,
            phone_number=phone_number,
            phone_name=phone_name or client.name,
            status=p.STATUS_PENDING,
            created_at=self.clock(),
            account_mode=account_mode,
            waba_external_id=secrets.token_hex(8),
            shared=shared,
        )
        self.channels[channel_id] = channel
        self.emit(client.partner_id, "channel_created", self.channel_payload(channel))
        if self.hub(client.partner_id).auto_advance:
            self.dispatcher.advance_later(channel.id)
        return channel

    def channel_payload(self, channel: Channel) -> dict[str, Any]:
        payload = channel.public(self.client(channel.client_id))
        # channel_created names these at top level (doc).
        payload.update(
            phone_number=channel.phone_number,
            phone_name=channel.phone_name,
        )
        return payload

    def set_status(self, channel_id: str, status: str) -> Channel:
        """Move a channel to ``status``, sending the event of every lifecycle step passed."""
        channel = self.channel(channel_id)
        check_status(status)
        steps = list(p.LIFECYCLE_EVENTS)
        if status == channel.status:
            passed = []
        elif channel.status in steps and status in steps[steps.index(channel.status) + 1 :]:
            passed = steps[steps.index(channel.status) + 1 : steps.index(status) + 1]
        else:
            # Backwards, or into or out of a status outside the lifecycle: one move.
            passed = [status]
        for step in passed:
            channel.status = step
            if step == p.STATUS_RUNNING and channel.billing_started_at is None:
                channel.billing_started_at = self.clock()
                channel.fb_account_status = "verified"
            if step == p.STATUS_TERMINATED:
                channel.terminated_at = self.clock()
            event = p.LIFECYCLE_EVENTS.get(step)
            if event:
                self.emit(channel.partner_id, event, self.channel_payload(channel))
        return channel

    def advance(self, channel_id: str) -> Channel | None:
        """One lifecycle step forward; None when the channel has nowhere further to go."""
        channel = self.channel(channel_id)
        steps = list(p.LIFECYCLE_EVENTS)
        if channel.status not in steps or channel.status == steps[-1]:
            return None
        return self.set_status(channel_id, steps[steps.index(channel.status) + 1])

    # ---- permission and keys --------------------------------------------------------------

    def may_generate_key(self, channel: Channel) -> str | None:
        """None when the partner may generate a key now, else why not."""
        client = self.client(channel.client_id)
        if not channel.shared:
            return "the client has not shared this channel with the partner"
        if not client.api_key_permission:
            return "the client has not granted the partner API-key permission"
        if channel.status != p.STATUS_RUNNING:
            return f"channel is {channel.status}, not running"
        return None

    def generate_api_key(self, partner_id: str, channel_id: str) -> ApiKey:
        channel = self.channel(channel_id, partner_id)
        reason = self.may_generate_key(channel)
        if reason:
            raise KeyRefused(reason)
        moment = self.clock()
        channel.revoke_keys(moment)
        key = ApiKey(id=secrets.token_hex(8), value=secrets.token_urlsafe(24), created_at=moment)
        channel.api_keys.append(key)
        return key

    def channel_by_key(self, value: str) -> Channel | None:
        """The channel whose *current* key this is (revoked keys find nothing)."""
        for channel in self.channels.values():
            current = channel.current_key()
            if current and secrets.compare_digest(current.value.encode(), value.encode()):
                return channel
        return None

    def set_shared(self, channel_ids: Iterable[str], shared: bool) -> list[Channel]:
        """Share the channels with the partner or stop; all found first, so none or all change."""
        channels = [self.channel(channel_id) for channel_id in channel_ids]
        moment = self.clock()
        for channel in channels:
            channel.shared = shared
            if not shared:
                # Unsharing revokes the partner's keys (platform.py).
                channel.revoke_keys(moment)
        return channels

    def set_api_key_permission(self, client_id: str, granted: bool) -> Client:
        client = self.client(client_id)
        client.api_key_permission = granted
        if not granted:
            moment = self.clock()
            for channel in self.channels_of(client.id):
                channel.revoke_keys(moment)
        return client

    # ---- events ---------------------------------------------------------------------------

    def emit(self, partner_id: str, event: str, payload: dict[str, Any]) -> OutgoingEvent:
        outgoing = OutgoingEvent(
            id=secrets.token_hex(12),
            partner_id=partner_id,
            event=event,
            payload=payload,
            created_at=self.clock(),
        )
        self.dispatcher.send(outgoing)
        return outgoing
