"""One state machine per channel (and a small one per client), as pure functions.

``apply(state, input) -> (state, effects)``: the input is anything that tells us about a
channel — a partner webhook (PartnerEvent), the popup's redirect (Redirected), a Partner
API read (ChannelSnapshot), an operator's PermissionConfirmed, or the outcome of a key job
(KeyStored, KeyRefused), KeyRotationRequested, an adoption's Entitled or KeyImported (the
partner's own key, stored without a generation). An input about another channel is a
no-op, so a job can hand one input to every state it might concern.

Rules, because the platform gives no ordering and no event ids:

- Status is the most advanced one observed (statuses.merge): any order of the same
  observations ends in the same status; a late ``channel_created`` never moves a
  channel back.
- Sharing is a register ordered by ``sequence``: every redirect and every
  PermissionConfirmed carries a number that grows with each popup opening / operator
  action, and one not newer than the last applied is ignored. The official button calls
  back more than once for one onboarding and the opener reloads with the same query:
  those replays carry the same sequence and change nothing.
- API-key permission (Direct Payment, permission.py) is not what a redirect says: it is
  known granted only once a key was generated or an operator confirmed it, refused when
  360dialog refuses the key, and unknown again when a newer redirect lists the number
  (one new attempt per such redirect).
- Key outcomes are tied to the intent they answer; a stale KeyStored/KeyRefused changes
  nothing, and so does a KeyRotationRequested for a key that was already replaced.
- A refusal of an intent asked before a newer redirect listing the number (or a newer
  confirmation) is stale too: the client may have granted API-key permission on that
  visit while the job was in flight. It leaves the permission as the newer input set it
  and one new intent is asked for, as if the refusal had arrived before that input.
- A health check's verdict on the stored key (KeyCheckFailed: 401/403, KeyCheckPassed)
  counts only for the key of the intent it checked: a refusal marks the key not working
  (``channel.key_not_working``, once per loss), a later success lifts the mark
  (``channel.key_working``). Neither ever asks for a key: a new key revokes the old one,
  so only a person may ask for it (KEY_NOT_WORKING blocks automatic provisioning).
- Milestone notifications (created, running, not live, terminated) are sent once; activated once
  per key that is not a rotation, key_rotated once per rotation.

See docs/domain.md for the tables.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TypeAlias

from onboard360.domain import statuses
from onboard360.domain.channel import (
    ChannelState,
    KeyStatus,
    may_generate_key,
    may_import_key,
    may_rotate_key,
)
from onboard360.domain.effects import (
    KEY_IMPORTED,
    DiscardKey,
    Effect,
    ProductEvent,
    ProvisionKey,
)
from onboard360.domain.events import CHANNEL_ENTITY_EVENTS, EventKind, PartnerEvent
from onboard360.domain.ids import ClientId
from onboard360.domain.inputs import (
    ChannelSnapshot,
    Entitled,
    Input,
    KeyCheckFailed,
    KeyCheckPassed,
    KeyImported,
    KeyRefused,
    KeyRotationRequested,
    KeyStored,
    PermissionConfirmed,
    Redirected,
)
from onboard360.domain.permission import (
    Billing,
    Entitlement,
    KeyPermission,
    after_redirect,
)

Transition: TypeAlias = tuple["ChannelState", tuple[Effect, ...]]

_STATUS_OF_EVENT = {
    EventKind.CHANNEL_READY: statuses.READY,
    EventKind.CHANNEL_RUNNING: statuses.RUNNING,
}
_VIOLATIONS = frozenset({EventKind.ACCOUNT_VIOLATION, EventKind.ACCOUNT_RESTRICTION})
_TEMPLATES = {
    EventKind.TEMPLATE_MESSAGING_ENABLED: True,
    EventKind.TEMPLATE_MESSAGING_DISABLED: False,
}
_MILESTONES = {
    statuses.RUNNING: ProductEvent.CHANNEL_RUNNING,
    statuses.TERMINATED: ProductEvent.CHANNEL_TERMINATED,
}


def _milestone(status: str | None) -> ProductEvent | None:
    """The once-only notification a channel in ``status`` is owed: a status onboard360
    does not know tells the product the channel is not live (statuses.py)."""
    if statuses.is_unknown(status):
        return ProductEvent.CHANNEL_NOT_LIVE
    return _MILESTONES.get(status or "")


def concerns(state: ChannelState, item: Input) -> bool:
    """Whether ``item`` is about this channel."""
    if isinstance(item, Redirected):
        return state.channel_id in (*item.redirect.channels, *item.redirect.revoked)
    if isinstance(item, PartnerEvent):
        if item.kind is EventKind.CLIENT_CREATED:
            return False
        if item.channel_id is not None:
            return item.channel_id == state.channel_id
        # account_violation names only the phone number (doc).
        return item.phone_number is not None and item.phone_number == state.phone_number
    return item.channel_id == state.channel_id


def apply(state: ChannelState, item: Input) -> Transition:
    """The channel's next state and the effects of the transition (none when unchanged)."""
    if not concerns(state, item):
        return state, ()
    effects: list[Effect] = []
    if isinstance(item, PartnerEvent):
        state = _on_event(state, item, effects)
    elif isinstance(item, ChannelSnapshot):
        state = _observe(state, item.status, item.client_id, item.phone_number)
    elif isinstance(item, Redirected):
        state = _on_redirect(state, item, effects)
    elif isinstance(item, Entitled):
        if state.entitlement is None:
            state = replace(state, entitlement=item.how)
    elif isinstance(item, KeyImported):
        state = _on_import(state, item, effects)
    elif isinstance(item, PermissionConfirmed):
        if item.sequence > state.permission_sequence:
            state = _share(state, True, KeyPermission.GRANTED, item.sequence, effects)
    elif isinstance(item, KeyStored | KeyRefused):
        state = _on_key_outcome(state, item, effects)
    elif isinstance(item, KeyRotationRequested):
        state = _on_rotation(state, item, effects)
    elif isinstance(item, KeyCheckFailed | KeyCheckPassed):
        state = _on_key_check(state, item, effects)
    return _settle(state, item, effects)


def apply_all(state: ChannelState, items: list[Input]) -> Transition:
    """``apply`` over ``items`` in order, effects concatenated."""
    effects: list[Effect] = []
    for item in items:
        state, new = apply(state, item)
        effects.extend(new)
    return state, tuple(effects)


def _observe(
    state: ChannelState,
    status: str | None,
    owner: ClientId | None = None,
    phone: str | None = None,
) -> ChannelState:
    return replace(
        state,
        status=statuses.merge(state.status, status),
        statuses_seen=state.statuses_seen | ({status} if status else set()),
        # First writer wins: a channel never changes client; a later disagreement is noise.
        client_id=state.client_id or owner,
        phone_number=state.phone_number or phone,
    )


def _on_event(state: ChannelState, event: PartnerEvent, effects: list[Effect]) -> ChannelState:
    # Only channel events report the channel's status; an account or unknown event's
    # `status` may be about something else.
    reported = event.status if event.kind in CHANNEL_ENTITY_EVENTS else None
    state = _observe(state, reported, event.client_id, event.phone_number)
    state = _observe(state, _STATUS_OF_EVENT.get(event.kind))
    if event.account_mode or event.fb_account_status:
        state = replace(
            state,
            account_mode=event.account_mode or state.account_mode,
            fb_account_status=event.fb_account_status or state.fb_account_status,
        )
    if event.kind in _VIOLATIONS:
        violation = f"{event.kind.value}:{event.violation_type or 'unspecified'}"
        if violation not in state.violations:
            state = replace(state, violations=state.violations | {violation})
            effects.append(state.notify(ProductEvent.CHANNEL_VIOLATION, violation))
    if event.kind in _TEMPLATES:
        # Last writer wins: the platform gives nothing to order two toggles by.
        state = replace(state, template_messaging=_TEMPLATES[event.kind])
    return state


def _on_redirect(state: ChannelState, item: Redirected, effects: list[Effect]) -> ChannelState:
    if item.sequence <= state.permission_sequence:
        return state  # the button's second callback, a reload, or an older popup
    state = _observe(state, None, item.redirect.client_id)
    listed = state.channel_id in item.redirect.channels
    if listed and state.entitlement is None:
        # Only a verified redirect of one of our own attempts is applied (services decide).
        state = replace(state, entitlement=Entitlement.ONBOARDING)
    key = after_redirect(listed, state.key_permission)
    return _share(state, listed, key, item.sequence, effects)


def _share(
    state: ChannelState,
    shared: bool,
    key: KeyPermission,
    sequence: int,
    effects: list[Effect],
) -> ChannelState:
    """Apply a newer redirect / confirmation; notify what changed."""
    before = state
    state = replace(state, shared=shared, key_permission=key, permission_sequence=sequence)
    # Shared now, or shared again after a refusal (one new key attempt follows, _settle).
    lifted = key is KeyPermission.UNKNOWN and before.key_permission is not key
    if shared and (before.shared is not True or lifted):
        effects.append(state.notify(ProductEvent.CHANNEL_SHARED))
    if key is KeyPermission.GRANTED and before.key_permission is not KeyPermission.GRANTED:
        effects.append(state.notify(ProductEvent.PERMISSION_GRANTED))
    if not shared and before.shared is not False:
        effects.append(state.notify(ProductEvent.PERMISSION_REVOKED))
        if state.key is not KeyStatus.NONE:
            effects.append(DiscardKey(state.channel_id, state.key_intent))
            state = replace(state, key=KeyStatus.NONE, key_rotating=False)
    return state


def _on_key_outcome(
    state: ChannelState, item: KeyStored | KeyRefused, effects: list[Effect]
) -> ChannelState:
    if state.key is not KeyStatus.PROVISIONING or item.intent != state.key_intent:
        return state  # an answer to an intent that is no longer wanted
    if isinstance(item, KeyRefused):
        if state.key_intent_sequence < state.permission_sequence:
            # Asked before the newest redirect / confirmation, which listed the number (one
            # that revoked it discarded this intent): the refusal may predate the grant on
            # that visit. Permission stays as that input set it; _settle asks once more.
            return replace(state, key=KeyStatus.NONE, key_rotating=False)
        effects.append(state.notify(ProductEvent.PERMISSION_REFUSED))
        return replace(
            state, key=KeyStatus.NONE, key_rotating=False, key_permission=KeyPermission.REFUSED
        )
    granted = state.billing is Billing.DIRECT_PAYMENT and (
        state.key_permission is not KeyPermission.GRANTED
    )
    if granted:
        # Under Direct Payment a generated key is the proof of API-key permission.
        state = replace(state, key_permission=KeyPermission.GRANTED)
        effects.append(state.notify(ProductEvent.PERMISSION_GRANTED))
    if state.key_rotating:
        effects.append(state.notify(ProductEvent.KEY_ROTATED))
    else:
        effects.append(state.notify(ProductEvent.CHANNEL_ACTIVATED))
    return replace(state, key=KeyStatus.STORED, key_rotating=False)


def _on_import(state: ChannelState, item: KeyImported, effects: list[Effect]) -> ChannelState:
    # The edge stores the key under the next intent; any other is a replay or a race lost.
    if item.intent != state.key_intent + 1 or not may_import_key(state).allowed:
        return state
    state = replace(
        state,
        key=KeyStatus.STORED,
        key_intent=item.intent,
        key_intent_sequence=state.permission_sequence,
        key_rotating=False,
        entitlement=state.entitlement or Entitlement.IMPORTED,
    )
    effects.append(state.notify(ProductEvent.CHANNEL_ACTIVATED, KEY_IMPORTED))
    return state


def _on_key_check(
    state: ChannelState, item: KeyCheckFailed | KeyCheckPassed, effects: list[Effect]
) -> ChannelState:
    if state.key is not KeyStatus.STORED or item.intent != state.key_intent:
        return state  # a check of a key that was replaced or discarded meanwhile
    if isinstance(item, KeyCheckFailed) and not state.key_not_working:
        state = replace(state, key_refused_intent=item.intent, key_losses=state.key_losses + 1)
        effects.append(state.notify(ProductEvent.KEY_NOT_WORKING))
    elif isinstance(item, KeyCheckPassed) and state.key_not_working:
        state = replace(state, key_refused_intent=0)
        effects.append(state.notify(ProductEvent.KEY_WORKING))
    return state


def _on_rotation(
    state: ChannelState, item: KeyRotationRequested, effects: list[Effect]
) -> ChannelState:
    # A replayed request names a key already replaced: NO_KEY, nothing happens.
    if not may_rotate_key(state, item.intent).allowed:
        return state
    return _provision(state, effects, rotation=True)


def _provision(state: ChannelState, effects: list[Effect], *, rotation: bool) -> ChannelState:
    intent = state.key_intent + 1
    effects.append(ProvisionKey(state.channel_id, intent, rotation=rotation))
    return replace(
        state,
        key=KeyStatus.PROVISIONING,
        key_intent=intent,
        key_intent_sequence=state.permission_sequence,
        key_rotating=rotation,
    )


def _settle(state: ChannelState, item: Input, effects: list[Effect]) -> Transition:
    """Once-only milestones, then provisioning if the channel just became eligible."""
    notes: list[Effect] = []
    learned = isinstance(item, PartnerEvent | ChannelSnapshot | Redirected)
    if learned and ProductEvent.CHANNEL_CREATED not in state.announced:
        state = replace(state, announced=state.announced | {ProductEvent.CHANNEL_CREATED})
        notes.append(state.notify(ProductEvent.CHANNEL_CREATED))
    milestone = _milestone(state.status)
    if milestone is not None and milestone not in state.announced:
        state = replace(state, announced=state.announced | {milestone})
        notes.append(state.notify(milestone))
    effects[:0] = notes
    if may_generate_key(state).allowed:
        state = _provision(state, effects, rotation=False)
    return state, tuple(effects)
