"""The client's side of the lifecycle: which client exists and which channels are its own.

Channels carry the onboarding rules (lifecycle.py); a client is mostly the list of its
channels, so a job knows which channel states an input touches, and a once-only
``client.created`` for the partner's product. ``client_created`` may arrive after the
client's first ``channel_created`` or redirect, or never: any of them makes the client
known.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from onboard360.domain.effects import Effect, NotifyProduct, ProductEvent
from onboard360.domain.events import PartnerEvent
from onboard360.domain.ids import ChannelId, ClientId
from onboard360.domain.inputs import ChannelSnapshot, Input, Redirected


@dataclass(frozen=True)
class ClientState:
    """What the lifecycle knows about one client; ``channel_ids`` in first-seen order."""

    client_id: ClientId
    known: bool = False
    channel_ids: tuple[ChannelId, ...] = ()


def client_of(item: Input) -> ClientId | None:
    """The client an input names, if it names one."""
    if isinstance(item, Redirected):
        return item.redirect.client_id
    if isinstance(item, PartnerEvent | ChannelSnapshot):
        return item.client_id
    return None


def channels_touched(item: Input) -> tuple[ChannelId, ...]:
    """The channels whose state an input may change (by id; see lifecycle.concerns for
    events that name only a phone number)."""
    if isinstance(item, Redirected):
        return (*item.redirect.channels, *item.redirect.revoked)
    channel = item.channel_id
    return () if channel is None else (channel,)


def apply_client(state: ClientState, item: Input) -> tuple[ClientState, tuple[Effect, ...]]:
    """The client's next state; ``client.created`` the first time it becomes known."""
    if client_of(item) != state.client_id:
        return state, ()
    learned = [c for c in channels_touched(item) if c not in state.channel_ids]
    if learned:
        state = replace(state, channel_ids=(*state.channel_ids, *dict.fromkeys(learned)))
    if state.known:
        return state, ()
    state = replace(state, known=True)
    return state, (NotifyProduct(ProductEvent.CLIENT_CREATED, client_id=state.client_id),)
