"""What the lifecycle is fed, besides partner webhooks (events.PartnerEvent).

Redirects and operator confirmations carry a ``sequence``: a number that grows with each
popup opening or operator action (the edge takes it from the attempt or inbox row). It
orders permission changes, which the platform does not: replays of one redirect carry
the same sequence and are ignored. Key outcomes carry the ``intent`` they answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeAlias

from onboard360.domain import statuses
from onboard360.domain.events import PartnerEvent, normalize_phone, normalize_word
from onboard360.domain.ids import ChannelId, ClientId, IdError, channel_id, client_id, excerpt
from onboard360.domain.permission import Entitlement
from onboard360.domain.redirect import RedirectResult


@dataclass(frozen=True)
class Redirected:
    """The popup's redirect, with its place in the order of permission changes."""

    redirect: RedirectResult
    sequence: int


@dataclass(frozen=True)
class PermissionConfirmed:
    """An operator (or the partner's product) says the client granted permission outside
    the popup, in the client's own hub, so the key may be tried again."""

    channel_id: ChannelId
    sequence: int


@dataclass(frozen=True)
class Entitled:
    """onboard360 may now key this channel: its client was claimed, or an operator took
    it over or imported its key (permission.Entitlement says which). A channel's first
    entitlement is kept; a later one changes nothing."""

    channel_id: ChannelId
    how: Entitlement


@dataclass(frozen=True)
class KeyImported:
    """The partner handed onboard360 the key its current system holds for this channel.

    The edge checked it with one read-only Messaging API call and stored it encrypted as
    the key of ``intent`` (the channel's next one) in the same transaction: no key was
    generated, so nothing was revoked. Accept it only when ``channel.may_import_key``
    allows it; an import that names any other intent changes nothing.
    """

    channel_id: ChannelId
    intent: int


class SnapshotError(ValueError):
    """The Partner API channel object is not usable."""


@dataclass(frozen=True)
class ChannelSnapshot:
    """A channel as a Partner API read saw it (reconciliation)."""

    channel_id: ChannelId
    status: str | None = None
    client_id: ClientId | None = None
    phone_number: str | None = None

    @classmethod
    def from_api(cls, channel: Mapping[str, Any]) -> ChannelSnapshot:
        """From one entry of ``GET /partners/{pid}/channels`` → ``partner_channels``."""
        if not isinstance(channel, Mapping):
            raise SnapshotError("a partner_channels entry must be a JSON object")
        try:
            cid = channel_id(channel.get("id"), "partner_channels[].id")
            owner = channel.get("client_id")
            client = client_id(owner, "partner_channels[].client_id") if owner else None
        except IdError as exc:
            raise SnapshotError(str(exc)) from None
        raw_status = channel.get("status")
        status = normalize_word(raw_status)
        if raw_status is not None and status is None:
            raise SnapshotError(f"partner_channels[].status {excerpt(raw_status)} is not a status")
        if channel.get("terminated_at"):
            status = statuses.merge(status, statuses.TERMINATED)
        setup = channel.get("setup_info")
        phone = normalize_phone(setup.get("phone_number")) if isinstance(setup, dict) else None
        return cls(channel_id=cid, status=status, client_id=client, phone_number=phone)


@dataclass(frozen=True)
class KeyStored:
    """The key of this intent was generated and stored encrypted (only ever sent by the
    job that carried out ProvisionKey for that intent)."""

    channel_id: ChannelId
    intent: int


@dataclass(frozen=True)
class KeyRefused:
    """The hub refused to generate the key of this intent (# unverified: 400/403)."""

    channel_id: ChannelId
    intent: int


@dataclass(frozen=True)
class KeyRotationRequested:
    """Replace the stored key of ``intent`` (the one the requester sees) with a new one.

    Accept a request only when ``channel.may_rotate_key`` allows it at that moment.
    """

    channel_id: ChannelId
    intent: int


@dataclass(frozen=True)
class KeyCheckPassed:
    """A health check's read-only Messaging API call with the stored key of ``intent``
    succeeded: the key works (a mark of that key is lifted)."""

    channel_id: ChannelId
    intent: int


@dataclass(frozen=True)
class KeyCheckFailed:
    """360dialog answered 401/403 to a health check with the stored key of ``intent``.

    Only a verdict is an input: a 5xx, a timeout or a 429 says nothing about the key and
    is not applied. A failed check never asks for a key: generating one would revoke the
    old key, which may only be refused for a while (a person decides).
    """

    channel_id: ChannelId
    intent: int


Input: TypeAlias = (
    PartnerEvent
    | Redirected
    | PermissionConfirmed
    | Entitled
    | KeyImported
    | ChannelSnapshot
    | KeyStored
    | KeyRefused
    | KeyRotationRequested
    | KeyCheckPassed
    | KeyCheckFailed
)
