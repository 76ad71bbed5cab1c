"""What the sandbox's world is made of: hubs, clients, channels, keys and outgoing events,
and the refusals its rules raise.

Each entity renders itself the way 360dialog shows it to a partner (``public``); the
shapes that are guesses are described in platform.py.
"""

from __future__ import annotations

import secrets
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from onboard360.hub import platform as p
from onboard360.sandbox.models import Faults


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


def unused_id(taken: Collection[str], suffix: str, nbytes: int = 4) -> str:
    """A fresh id like ``1A2B3C4DCH``, never one in ``taken``."""
    while True:
        candidate = secrets.token_hex(nbytes).upper() + suffix
        if candidate not in taken:
            return candidate


@dataclass
class Hub:
    partner_id: str
    name: str
    billing: str
    redirect_url: str
    webhook_url: str | None
    # Secrets stay out of repr(), so no traceback or log line can show them.
    webhook_headers: dict[str, str] = field(repr=False)
    api_key: str = field(repr=False)
    username: str
    password: str = field(repr=False)
    platform_secret: str | None = field(repr=False)
    io_signature: bool
    step_delay_seconds: float
    auto_advance: bool
    # unverified: whether 360dialog's popup sends `state` back on the redirect. The docs
    # list only client, channels and revoked; echoing is the sandbox's default, and
    # switching it off shows a partner's flow does not depend on it.
    echo_state: bool
    # unverified: whether 360dialog's popup pages send a Cross-Origin-Opener-Policy. With
    # ``same-origin`` the partner's page loses the popup (``closed`` at once, no opener).
    opener_policy: str | None
    faults: Faults
    created_at: datetime

    @property
    def direct_payment(self) -> bool:
        return self.billing == "direct"

    def public(self) -> dict[str, Any]:
        """The partner object as GET and PATCH /partners/{pid} answer it (no secrets;
        platform.py)."""
        return {
            "id": self.partner_id,
            "name": self.name,
            "billing_model": self.billing,
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
    status: str = p.CLIENT_STATUS

    def public(self) -> dict[str, Any]:
        """The client as the client list and ``client_created`` show it (platform.py)."""
        return {
            "id": self.id,
            "partner_id": self.partner_id,
            "name": self.name,
            "contact_info": {"email": self.email},
            "status": self.status,
            "created_at": iso(self.created_at),
            "partner_payload": None,
        }


@dataclass
class ApiKey:
    id: str
    value: str = field(repr=False)
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
    # May carry the partner's own secrets in its headers.
    messaging_webhook: dict[str, Any] | None = field(default=None, repr=False)
    template_messaging: bool = True

    @property
    def keys_generated(self) -> int:
        return len(self.api_keys)

    def current_key(self) -> ApiKey | None:
        live = [k for k in self.api_keys if k.revoked_at is None]
        return live[-1] if live else None

    def revoke_keys(self, moment: datetime) -> None:
        """Revoke every key not revoked yet (generating a new one, or losing permission)."""
        for key in self.api_keys:
            key.revoked_at = key.revoked_at or moment

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
            "waba_account": {"external_id": self.waba_external_id, "status": p.WABA_ACCOUNT_STATUS},
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
        """The JSON body sent (the envelope is a guess, see platform.py)."""
        return {
            "id": self.id,
            "event": self.event,
            "created_at": iso(self.created_at),
            "payload": self.payload,
        }


@dataclass
class Token:
    partner_id: str
    expires_at: datetime
