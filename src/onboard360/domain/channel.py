"""A channel's state and what it allows next: may a key be generated, replaced, imported?

``lifecycle.py`` moves the state (``apply``); this module holds the state itself and the
verdicts the edges and the lifecycle both ask (docs/domain.md, "May a key be generated
now?").
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from onboard360.domain import statuses
from onboard360.domain.effects import NotifyProduct, ProductEvent
from onboard360.domain.ids import ChannelId, ClientId
from onboard360.domain.permission import (
    Billing,
    Entitlement,
    KeyPermission,
    Permission,
    summarize,
)


class KeyStatus(StrEnum):
    NONE = "none"
    PROVISIONING = "provisioning"
    STORED = "stored"


class KeyBlocker(StrEnum):
    """Why a key may not be generated now."""

    TERMINATED = "terminated"
    NOT_ENTITLED = "not_entitled"
    HAS_KEY = "has_key"
    PROVISIONING = "provisioning"
    PERMISSION_REVOKED = "permission_revoked"
    NOT_RUNNING = "not_running"
    WAITING_FOR_PERMISSION = "waiting_for_permission"
    # Rotation only: the key named is not the channel's current stored key.
    NO_KEY = "no_key"
    # A health check found the stored key refused (401/403): it is stored still, and only
    # a person may ask for a new one (a new key revokes the old: never automatic).
    KEY_NOT_WORKING = "key_not_working"


@dataclass(frozen=True)
class KeyVerdict:
    """Whether a key may be generated now and, if not, why, in words for an operator."""

    blocker: KeyBlocker | None
    message: str

    @property
    def allowed(self) -> bool:
        return self.blocker is None


@dataclass(frozen=True)
class ChannelState:
    """Everything the lifecycle knows about one channel.

    ``billing`` is the billing model of the hub the channel belongs to. ``shared``: the
    newest redirect / confirmation listed the number (True), revoked it (False), or none
    arrived (None). ``key_permission``: the client's API-key permission as far as it is
    known (permission.py). ``announced`` holds the once-only notifications already sent.
    ``violations`` are ``"<event>:<violation_type>"`` strings, each notified once.
    """

    channel_id: ChannelId
    billing: Billing
    client_id: ClientId | None = None
    phone_number: str | None = None
    status: str | None = None
    statuses_seen: frozenset[str] = frozenset()
    shared: bool | None = None
    key_permission: KeyPermission = KeyPermission.UNKNOWN
    # The newest redirect / PermissionConfirmed applied (orders `shared`).
    permission_sequence: int = 0
    key: KeyStatus = KeyStatus.NONE
    key_intent: int = 0
    # The `permission_sequence` when `key_intent` was asked for: a refusal of an intent
    # asked before a newer redirect / confirmation may predate the client's grant.
    key_intent_sequence: int = 0
    # The key being provisioned replaces a stored one (rotation), rather than being the
    # channel's first usable key (first provisioning, or after permission came back).
    key_rotating: bool = False
    # The intent of the stored key a health check found refused (401/403); 0: none. Tied
    # to the intent, so a new key (a rotation, an import) is never marked by an old check.
    key_refused_intent: int = 0
    # How many times a working key was found not working: each loss is notified once.
    key_losses: int = 0
    announced: frozenset[ProductEvent] = frozenset()
    violations: frozenset[str] = frozenset()
    # Why onboard360 may key this channel; None: it is someone else's (Entitlement).
    entitlement: Entitlement | None = None
    template_messaging: bool | None = None
    account_mode: str | None = None
    fb_account_status: str | None = None

    @property
    def key_not_working(self) -> bool:
        """A key is stored and 360dialog refused it on the newest health check."""
        return self.key is KeyStatus.STORED and self.key_refused_intent == self.key_intent > 0

    @property
    def permission(self) -> Permission:
        """``shared`` and ``key_permission`` in one word (the column and the API)."""
        return summarize(self.billing, self.shared, self.key_permission)

    def notify(self, event: ProductEvent, detail: str | None = None) -> NotifyProduct:
        return NotifyProduct(event, self.client_id, self.channel_id, detail)


def may_generate_key(state: ChannelState) -> KeyVerdict:
    """Whether the partner may generate this channel's key now (first provisioning)."""
    return _no_first_key(state) or _may_replace_key(state)


def _no_first_key(state: ChannelState) -> KeyVerdict | None:
    """Why the channel cannot get a first key, whoever would bring it (None: it can)."""
    if statuses.is_terminal(state.status):
        return KeyVerdict(KeyBlocker.TERMINATED, f"the channel is {state.status}")
    if statuses.is_unknown(state.status):  # like terminated: whatever key it has
        return KeyVerdict(KeyBlocker.NOT_RUNNING, statuses.not_running(state.status))
    if state.key_not_working:
        return KeyVerdict(KeyBlocker.KEY_NOT_WORKING, KEY_NOT_WORKING_MESSAGE)
    if state.key is KeyStatus.STORED:
        return KeyVerdict(KeyBlocker.HAS_KEY, "the channel already has an API key")
    if state.key is KeyStatus.PROVISIONING:
        return KeyVerdict(KeyBlocker.PROVISIONING, "an API key is being generated")
    return None


def may_rotate_key(state: ChannelState, intent: int) -> KeyVerdict:
    """Whether the stored key of ``intent`` may be replaced now.

    The edge checks this before accepting a rotation request, so a KeyRotationRequested
    only ever names a key that was stored when it was asked for. Such a key is never
    stored again once replaced or discarded (intents only grow), so a request ignored
    once stays ignored when replayed.
    """
    if state.key is not KeyStatus.STORED or intent != state.key_intent:
        return KeyVerdict(KeyBlocker.NO_KEY, "that key is not the channel's current key")
    return _may_replace_key(state)


def may_replace_dead_key(state: ChannelState, intent: int) -> KeyVerdict:
    """Whether the stored key of ``intent`` may be replaced as dead: a rotation that also
    needs a health check to have found that very key refused (``key_not_working``).

    A new key revokes the old one, so a person or product asking for one "because the key
    is dead" must not revoke a key that works: if it was never found refused, or a later
    check found it working again, the request is refused (HAS_KEY) and nothing happens.
    """
    verdict = may_rotate_key(state, intent)
    if not verdict.allowed or state.key_not_working:
        return verdict
    return KeyVerdict(KeyBlocker.HAS_KEY, KEY_WORKING_MESSAGE.format(intent=intent))


def may_import_key(state: ChannelState) -> KeyVerdict:
    """Whether the key the partner already holds may be stored as this channel's key.

    Needs no entitlement (importing one is how a channel gets it) and revokes nothing;
    refused only where a stored key would be wrong: the channel is gone, already has a
    key (or one is being generated), or the client took the number away from the partner.
    """
    refused = _no_first_key(state)
    if refused is not None:
        return refused
    if state.shared is False:
        return KeyVerdict(
            KeyBlocker.PERMISSION_REVOKED,
            "the client took the partner's permission for this number away",
        )
    return KeyVerdict(None, "the key the partner holds may be imported")


KEY_NOT_WORKING_MESSAGE = (
    "360dialog refused the stored API key (401/403 on a health check): the client may have "
    "taken API-key permission away or the key was replaced outside onboard360; a new key is "
    "generated only when someone asks for one (it revokes the old one)"
)

KEY_WORKING_MESSAGE = (
    "key version {intent} is not marked not working (no key health check found it refused, "
    "or a later one found it working): nothing was done. A new key revokes the old one; "
    "to replace a working key on purpose, rotate it"
)

NOT_ENTITLED_MESSAGE = (
    "not onboarded through onboard360: claim its client, import its key, or take it over "
    "(a new key would revoke the one its current integration uses)"
)


def _may_replace_key(state: ChannelState) -> KeyVerdict:
    """The rules that hold whether or not a key exists (for rotation too)."""
    if statuses.is_terminal(state.status):
        return KeyVerdict(KeyBlocker.TERMINATED, f"the channel is {state.status}")
    if state.entitlement is None:
        return KeyVerdict(KeyBlocker.NOT_ENTITLED, NOT_ENTITLED_MESSAGE)
    return _client_allows(state)


def _client_allows(state: ChannelState) -> KeyVerdict:
    """What the client and 360dialog allow on a live channel onboard360 may key."""
    if state.shared is False:
        return KeyVerdict(
            KeyBlocker.PERMISSION_REVOKED,
            "the client took the partner's permission for this number away; "
            "it comes back when the client shares the number again in the popup",
        )
    if not statuses.is_live(state.status):
        return KeyVerdict(KeyBlocker.NOT_RUNNING, statuses.not_running(state.status))
    if state.key_permission is KeyPermission.REFUSED:
        return KeyVerdict(
            KeyBlocker.WAITING_FOR_PERMISSION,
            "waiting for the client's API-key permission: 360dialog refused the key; send "
            "the client back to the popup to grant it (or confirm it once they granted it "
            "in their 360dialog hub)",
        )
    if state.billing is Billing.DIRECT_PAYMENT and state.shared is not True:
        return KeyVerdict(
            KeyBlocker.WAITING_FOR_PERMISSION,
            "Direct Payment: waiting for the client to share this number with the partner "
            "in the popup",
        )
    return KeyVerdict(None, "an API key may be generated")
