"""What the lifecycle asks the outside world to do: values, carried out by jobs.

Every effect is emitted exactly when a transition happens, so replaying an input yields
nothing new. Effects that call 360dialog carry an ``idempotency_key`` that the job uses
as its queueing lock / uniqueness key: at most one API-key generation per channel per
*intent* (the first provisioning, each re-provisioning after permission came back, each
explicit rotation), whatever crashes or how many workers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TypeAlias

from onboard360.domain.ids import ChannelId, ClientId


class ProductEvent(StrEnum):
    """Events handed to the partner's product (signed, Standard Webhooks)."""

    CLIENT_CREATED = "client.created"
    # A client was bound to one of the product's users by an explicit claim (the product's
    # or an operator's); ``detail`` is that user's external_user_id.
    CLIENT_CLAIMED = "client.claimed"
    CHANNEL_CREATED = "channel.created"
    CHANNEL_RUNNING = "channel.running"
    # A key was generated and stored, or the partner's own key imported (detail
    # KEY_IMPORTED): the product can start messaging.
    CHANNEL_ACTIVATED = "channel.activated"
    KEY_ROTATED = "channel.key_rotated"
    # A redirect listed the number (new, or again after a refusal): shared with the
    # partner. Under Direct Payment this says nothing yet about API-key permission.
    CHANNEL_SHARED = "channel.shared"
    # API-key permission known granted: Direct Payment key generated, or operator confirmed.
    PERMISSION_GRANTED = "channel.permission_granted"
    # 360dialog refused to generate the key.
    PERMISSION_REFUSED = "channel.permission_refused"
    # A redirect listed the number under `revoked`: no longer shared, keys stop.
    PERMISSION_REVOKED = "channel.permission_revoked"
    CHANNEL_VIOLATION = "channel.violation"
    # 360dialog reports a status onboard360 does not know (e.g. suspended): not live, no key.
    CHANNEL_NOT_LIVE = "channel.not_live"
    CHANNEL_TERMINATED = "channel.terminated"
    # An onboarding attempt was created (API or dashboard link), and its redirect consumed.
    ONBOARDING_STARTED = "onboarding.started"
    ONBOARDING_COMPLETED = "onboarding.completed"


# The detail of a channel.activated whose key was imported, not generated: the channel's
# messaging webhook still points where the partner's current system set it.
KEY_IMPORTED = "key_imported"


@dataclass(frozen=True)
class ProvisionKey:
    """Generate the channel's API key through the Partner API, for this intent only.

    Generating a key revokes every earlier key of the channel (doc), so the job must run
    at most once per ``(channel_id, intent)`` and report back KeyStored or KeyRefused.
    """

    channel_id: ChannelId
    intent: int
    rotation: bool = False

    @property
    def idempotency_key(self) -> str:
        return f"provision-key:{self.channel_id}:{self.intent}"


@dataclass(frozen=True)
class DiscardKey:
    """Stop using the key of this intent: permission was taken away (the hub may have
    revoked it already, # unverified:). A key of this intent still in flight is dropped
    when it arrives."""

    channel_id: ChannelId
    intent: int

    @property
    def idempotency_key(self) -> str:
        return f"discard-key:{self.channel_id}:{self.intent}"


@dataclass(frozen=True)
class OnboardingFacts:
    """One onboarding attempt as the product hears of it.

    Never its state token (the popup's capability, which the product already holds) nor
    anything of the popup URL: ``expires_at`` on start, the redirect's lists on completion.
    """

    onboarding_id: str
    external_user_id: str
    returning_client: bool = False
    expires_at: datetime | None = None
    channels: tuple[ChannelId, ...] = ()
    revoked: tuple[ChannelId, ...] = ()


@dataclass(frozen=True)
class NotifyProduct:
    """Tell the partner's product that something happened to a client, a channel or an
    onboarding attempt (``onboarding``: its facts, for the ``onboarding.*`` events)."""

    event: ProductEvent
    client_id: ClientId | None = None
    channel_id: ChannelId | None = None
    detail: str | None = None
    onboarding: OnboardingFacts | None = None


Effect: TypeAlias = ProvisionKey | DiscardKey | NotifyProduct
