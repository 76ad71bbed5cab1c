"""What the lifecycle asks the outside world to do: values, carried out by jobs.

Every effect is emitted exactly when a transition happens, so replaying an input yields
nothing new. Effects that call 360dialog name their channel and *intent* (the first
provisioning, each re-provisioning after permission came back, each explicit rotation):
the jobs that carry them out key their work by those (a queueing lock per channel, a
key generation row per intent: jobs/), so at most one API-key generation runs per channel
per intent, whatever crashes or how many workers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, TypeAlias

from onboard360.domain.ids import ChannelId, ClientId

if TYPE_CHECKING:
    from onboard360.domain.channel import ChannelState


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
    # A health check found the stored key refused (401/403), or working again after that.
    KEY_NOT_WORKING = "channel.key_not_working"
    KEY_WORKING = "channel.key_working"
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
    # The attempt expired without its redirect, or stopped short of a key for too long
    # (domain/abandonment.py): its last step and why it waits, once per attempt.
    ONBOARDING_ABANDONED = "onboarding.abandoned"


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


@dataclass(frozen=True)
class DiscardKey:
    """Stop using the key of this intent: permission was taken away (the hub may have
    revoked it already, # unverified:). A key of this intent still in flight is dropped
    when it arrives."""

    channel_id: ChannelId
    intent: int


@dataclass(frozen=True)
class OnboardingFacts:
    """One onboarding attempt as the product hears of it.

    Never its state token (the popup's capability, which the product already holds) nor
    anything of the popup URL: ``expires_at`` on start, the redirect's lists on completion,
    the last step reached and why it waits (a blocker and its reason) on abandonment.
    """

    onboarding_id: str
    external_user_id: str
    returning_client: bool = False
    expires_at: datetime | None = None
    channels: tuple[ChannelId, ...] = ()
    revoked: tuple[ChannelId, ...] = ()
    step: str | None = None
    blocker: str | None = None
    reason: str | None = None


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


def delivery_subject(
    channel_id: str | None, client_id: str | None, onboarding_id: str | None
) -> str:
    """Whose events one delivery lock keeps in order: the onboarding attempt's, else the
    channel's, else the client's (product_events rows and new effects alike).

    An onboarding's events get their own lock rather than its client's: a new client has
    no id yet when ``onboarding.started`` is sent, and ``onboarding.completed`` must not
    overtake that event however long a failing one holds it back.
    """
    if onboarding_id:
        return f"onboarding:{onboarding_id}"
    return channel_id or client_id or ""


# Sent again each time the channel's permission changes (a new permission_sequence).
_BY_SEQUENCE = frozenset(
    {ProductEvent.CHANNEL_SHARED, ProductEvent.PERMISSION_GRANTED, ProductEvent.PERMISSION_REVOKED}
)
# Sent again for each key intent: each key generated (or imported), each refusal of one.
_BY_KEY_INTENT = frozenset(
    {ProductEvent.CHANNEL_ACTIVATED, ProductEvent.KEY_ROTATED, ProductEvent.PERMISSION_REFUSED}
)
# Once per loss of a working key (and once per recovery from it).
_BY_KEY_LOSS = frozenset({ProductEvent.KEY_NOT_WORKING, ProductEvent.KEY_WORKING})
# Once per violation, and once per user a client is claimed for.
_BY_DETAIL = frozenset({ProductEvent.CHANNEL_VIOLATION, ProductEvent.CLIENT_CLAIMED})


def dedupe_key(hub: str, effect: NotifyProduct, state: ChannelState | None) -> str:
    """The key a product notification is stored once under: the event, the hub and its
    subject (``delivery_subject``), plus what makes that event new again for the channel
    (``state``: the channel after the transition, None for a client's or an attempt's
    event). So an ``onboarding.*`` event is sent once per attempt, a milestone once per
    channel, and a replayed input never sends anything twice."""
    onboarding = effect.onboarding.onboarding_id if effect.onboarding else None
    subject = delivery_subject(effect.channel_id, effect.client_id, onboarding)
    return f"{effect.event.value}:{hub}:{subject}{_again(effect, state)}"


def _again(effect: NotifyProduct, state: ChannelState | None) -> str:
    if effect.event in _BY_DETAIL:
        return f":{effect.detail}"
    if state is None:
        return ""
    if effect.event in _BY_KEY_INTENT:
        return f":{state.key_intent}"
    if effect.event in _BY_KEY_LOSS:
        return f":{state.key_intent}:{state.key_losses}"
    if effect.event in _BY_SEQUENCE:
        return f":{state.permission_sequence}"
    return ""
