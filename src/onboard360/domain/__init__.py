"""The onboarding rules, pure: no I/O, no clock, no randomness.

Edges parse what arrives (``parse_redirect``, ``parse_event``), jobs feed the result to
``apply`` / ``apply_client`` with the stored state and carry out the returned effects.
This module is the package's public surface.
"""

from onboard360.domain.clients import ClientState, apply_client, channels_touched, client_of
from onboard360.domain.effects import (
    DiscardKey,
    Effect,
    NotifyProduct,
    OnboardingFacts,
    ProductEvent,
    ProvisionKey,
)
from onboard360.domain.events import (
    EventError,
    EventKind,
    PartnerEvent,
    normalize_phone,
    parse_event,
)
from onboard360.domain.ids import (
    ID_PATTERN,
    MAX_ID_LENGTH,
    ChannelId,
    ClientId,
    IdError,
    PartnerId,
    channel_id,
    client_id,
    is_valid_id,
    partner_id,
)
from onboard360.domain.inputs import (
    ChannelSnapshot,
    Entitled,
    Input,
    KeyRefused,
    KeyRotationRequested,
    KeyStored,
    PermissionConfirmed,
    Redirected,
    SnapshotError,
)
from onboard360.domain.lifecycle import (
    ChannelState,
    KeyBlocker,
    KeyStatus,
    KeyVerdict,
    apply,
    apply_all,
    concerns,
    may_generate_key,
    may_rotate_key,
)
from onboard360.domain.permission import Billing, Entitlement, KeyPermission, Permission
from onboard360.domain.redirect import (
    MAX_IDS,
    MAX_QUERY_LENGTH,
    ListStyle,
    RedirectError,
    RedirectResult,
    format_redirect,
    parse_redirect,
)

__all__ = [
    "ID_PATTERN",
    "MAX_IDS",
    "MAX_ID_LENGTH",
    "MAX_QUERY_LENGTH",
    "Billing",
    "ChannelId",
    "ChannelSnapshot",
    "ChannelState",
    "ClientId",
    "ClientState",
    "DiscardKey",
    "Effect",
    "Entitled",
    "Entitlement",
    "EventError",
    "EventKind",
    "IdError",
    "Input",
    "KeyBlocker",
    "KeyPermission",
    "KeyRefused",
    "KeyRotationRequested",
    "KeyStatus",
    "KeyStored",
    "KeyVerdict",
    "ListStyle",
    "NotifyProduct",
    "OnboardingFacts",
    "PartnerEvent",
    "PartnerId",
    "Permission",
    "PermissionConfirmed",
    "ProductEvent",
    "ProvisionKey",
    "RedirectError",
    "RedirectResult",
    "Redirected",
    "SnapshotError",
    "apply",
    "apply_all",
    "apply_client",
    "channel_id",
    "channels_touched",
    "client_id",
    "client_of",
    "concerns",
    "format_redirect",
    "is_valid_id",
    "may_generate_key",
    "may_rotate_key",
    "normalize_phone",
    "parse_event",
    "parse_redirect",
    "partner_id",
]
