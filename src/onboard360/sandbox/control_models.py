"""Request bodies of the control API (control.py). Strict: wrong types are refused, not coerced."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from onboard360.runtime.clock import MAX_SPEED
from onboard360.sandbox.models import HubSpec

ID_PATTERN = r"^[A-Za-z0-9]{1,64}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class StrictHubSpec(HubSpec):
    """A HubSpec as POST and PATCH /sandbox/hubs take it: ``"10"`` is not a number there.

    (A ``--hubs`` file is read leniently; TOML has its own types.)
    """

    model_config = ConfigDict(extra="forbid", strict=True, title="HubSpec")


class ClientCreate(_Strict):
    name: str = Field("Sandbox client", min_length=1, max_length=200)
    email: str | None = Field(None, min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+$")
    # None: the billing model's default (granted under Partner Payment, not under Direct).
    api_key_permission: bool | None = None
    client_id: str | None = Field(None, pattern=ID_PATTERN)


class ChannelCreate(_Strict):
    phone_number: str | None = Field(None, pattern=r"^\+?[0-9][0-9 ]{5,19}$")
    phone_name: str = Field("", max_length=200)
    shared: bool = True
    account_mode: Literal["sandbox", "live"] = "live"
    channel_id: str | None = Field(None, pattern=ID_PATTERN)


class StatusChange(_Strict):
    status: str = Field(..., min_length=1, max_length=50)


class EventTrigger(_Strict):
    event: str = Field(..., min_length=1, max_length=100)
    violation_type: str | None = Field(None, min_length=1, max_length=200)
    # Extra top-level payload fields, e.g. to imitate a field the docs do not name.
    fields: dict[str, Any] = Field(default_factory=dict, max_length=50)


class PermissionChange(_Strict):
    granted: bool


class SharingChange(_Strict):
    shared: bool


class SeedRequest(_Strict):
    clients: int = Field(..., ge=1, le=200_000)
    channels_per_client: int = Field(1, ge=0, le=10)
    status: str = Field("running", min_length=1, max_length=50)
    api_key_permission: bool | None = None
    # Off by default: a benchmark's 100,000 channels should not flood the partner's receiver.
    webhooks: bool = False
    # Answer every created id (large for big seeds); otherwise only the counts.
    ids: bool = False


class ClockChange(_Strict):
    # Whole numbers are fine where a float is wanted (strict mode refuses "2", not 2).
    speed: float | None = Field(None, gt=0, le=MAX_SPEED)
    advance_seconds: float = Field(0, ge=0, le=10 * 365 * 86400)
