"""The sandbox's world: hubs, clients, channels, keys, tokens and the outgoing events.

State lives in memory and is mutated only from the event loop (every sandbox route is
``async def``), so no locks are needed. Every mutation that 360dialog would report to a
partner goes through ``emit`` to the dispatcher (webhooks.py).
"""

from __future__ import annotations

import random
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from onboard360.sandbox import platform as p
from onboard360.sandbox.models import Faults, HubSpec


class SandboxError(Exception):
    """Base of the sandbox's refusals; ``status`` is the HTTP answer."""

    status = 400

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.__doc__ or "sandbox error")


class NotFound(SandboxError):
    """No such hub, client or channel."""

    status = 404


class Conflict(SandboxError):
    """That id is already taken."""

    status = 409


class KeyRefused(SandboxError):
    """The partner may not generate a key for this channel."""

    status = p.KEY_REFUSED_STATUS


def now_utc() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")


def new_id(suffix: str, rng_token: Callable[[int], str] = secrets.token_hex) -> str:
    return rng_token(4).upper() + suffix


@dataclass
class Hub:
    partner_id: str
    name: str
    billing: str
    redirect_url: str
    webhook_url: str | None
    webhook_headers: dict[str, str]
    api_key: str
    username: str
    password: str
    platform_secret: str | None
    io_signature: bool
    step_delay_seconds: float
    auto_advance: bool
    faults: Faults
    created_at: datetime

    @property
    def direct_payment(self) -> bool:
        return self.billing == "direct"

    def public(self) -> dict[str, Any]:
        """The partner object as PATCH /partners/{pid} answers it (no secrets)."""
        return {
            "id": self.partner_id,
            "name": self.name,
            "billing_model": self.billing,  # unverified: field name
            "partner_redirect_url": self.redirect_url,
            "webhook_url": self.webhook_url,
            "created_at": iso(self.created_at),
        }


@dataclass
class Client:
    id: str
    partner_id: str
    name: str
    email: str
    created_at: datetime
    # Direct Payment: the client's API-key permission choice in the popup.
    api_key_permission: bool
    payment_method: str | None = None
    status: str = "active"  # unverified

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "partner_id": self.partner_id,
            "name": self.name,
            "contact_info": {"email": self.email},  # unverified: shape
            "status": self.status,
            "created_at": iso(self.created_at),
            "partner_payload": None,
        }


@dataclass
class ApiKey:
    id: str
    value: str
    created_at: datetime
    revoked_at: datetime | None = None


@dataclass
class Channel:
    id: str
    client_id: str
    partner_id: str
    phone_number: str
    phone_name: str
    status: str
    created_at: datetime
    account_mode: str = "live"
    fb_account_status: str = "pending"
    billing_started_at: datetime | None = None
    terminated_at: datetime | None = None
    waba_external_id: str = ""
    # The client shares this number with the partner (the popup's per-number choice).
    shared: bool = True
    api_keys: list[ApiKey] = field(default_factory=list)
    messaging_webhook: dict[str, Any] | None = None
    template_messaging: bool = True

    @property
    def keys_generated(self) -> int:
        return len(self.api_keys)

    def current_key(self) -> ApiKey | None:
        live = [k for k in self.api_keys if k.revoked_at is None]
        return live[-1] if live else None

    def public(self, client: Client) -> dict[str, Any]:
        return {
            "id": self.id,
            "client_id": self.client_id,
            "partner_id": self.partner_id,
            "status": self.status,
            "account_mode": self.account_mode,
            "created_at": iso(self.created_at),
            "billing_started_at": iso(self.billing_started_at),
            "terminated_at": iso(self.terminated_at),
            "setup_info": {"phone_number": self.phone_number, "phone_name": self.phone_name},
            "waba_account": {"external_id": self.waba_external_id, "status": "approved"},
            "client": client.public(),
            "fb_account_status": self.fb_account_status,
        }


@dataclass(frozen=True)
class OutgoingEvent:
    """A partner webhook the sandbox wants delivered."""

    id: str
    partner_id: str
    event: str
    payload: dict[str, Any]
    created_at: datetime

    def body(self) -> dict[str, Any]:
        # unverified: envelope (see platform.py).
        return {
            "id": self.id,
            "event": self.event,
            "created_at": iso(self.created_at),
            "payload": self.payload,
        }


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


@dataclass
class Token:
    partner_id: str
    expires_at: datetime


class Sandbox:
    """All hubs and what happened in them."""

    def __init__(
        self,
        dispatcher: Dispatcher | None = None,
        clock: Callable[[], datetime] = now_utc,
        rng: random.Random | None = None,
    ) -> None:
        self.dispatcher: Dispatcher = dispatcher or RecordingDispatcher()
        self.clock = clock
        # Draws every injected fault; seed it (``random.Random(7)``) for a repeatable mix.
        self.rng = rng or random.Random()
        self.hubs: dict[str, Hub] = {}
        self.clients: dict[str, Client] = {}
        self.channels: dict[str, Channel] = {}
        self.tokens: dict[str, Token] = {}

    # ---- hubs ---------------------------------------------------------------------------

    def create_hub(self, spec: HubSpec) -> Hub:
        partner_id = spec.partner_id or new_id(p.PARTNER_ID_SUFFIX)
        if partner_id in self.hubs:
            raise Conflict(f"hub {partner_id} already exists")
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

    def find_client_by_email(self, partner_id: str, email: str) -> Client | None:
        wanted = email.strip().lower()
        for client in self.clients.values():
            if client.partner_id == partner_id and client.email.lower() == wanted:
                return client
        return None

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
        client_id = client_id or new_id(p.CLIENT_ID_SUFFIX)
        if client_id in self.clients:
            raise Conflict(f"client {client_id} already exists")
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
        channel_id = channel_id or new_id(p.CHANNEL_ID_SUFFIX)
        if channel_id in self.channels:
            raise Conflict(f"channel {channel_id} already exists")
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
        if status not in p.CHANNEL_STATUSES:
            raise SandboxError(f"unknown status {status!r}; one of {', '.join(p.CHANNEL_STATUSES)}")
        steps = list(p.LIFECYCLE_EVENTS)
        if channel.status in steps and status in steps:
            passed = steps[steps.index(channel.status) + 1 : steps.index(status) + 1]
        else:
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
        for earlier in channel.api_keys:
            earlier.revoked_at = earlier.revoked_at or moment
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
        changed = []
        for channel_id in channel_ids:
            channel = self.channel(channel_id)
            channel.shared = shared
            if not shared:
                # unverified: taking permission away also revokes the partner's keys.
                self._revoke_keys(channel)
            changed.append(channel)
        return changed

    def set_api_key_permission(self, client_id: str, granted: bool) -> Client:
        client = self.client(client_id)
        client.api_key_permission = granted
        if not granted:
            for channel in self.channels_of(client.id):
                self._revoke_keys(channel)
        return client

    def _revoke_keys(self, channel: Channel) -> None:
        moment = self.clock()
        for key in channel.api_keys:
            key.revoked_at = key.revoked_at or moment

    def channels_of(self, client_id: str) -> list[Channel]:
        return [c for c in self.channels.values() if c.client_id == client_id]

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
