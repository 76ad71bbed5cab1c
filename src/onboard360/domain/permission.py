"""What the partner may do with a channel: two facts, and the one word shown for them.

360dialog keeps two things apart (docs.360dialog.com, "Partner Permission to Generate API
Key", "Using Custom IO"):

- the number is **shared** with the partner: the popup's permission screen, reported by
  the redirect (``channels`` lists it, ``revoked`` takes it away);
- under Direct Payment, the client grants **API-key permission** on its own screen of the
  popup (or later in their hub) and may take it away again. Under Partner Payment the
  partner has it by default.

The partner learns of API-key permission only indirectly: a key generation that succeeds
proves it, one that 360dialog refuses (# unverified: 400/403) says it is missing, and an
operator may confirm the client granted it in their hub. No partner webhook reports it.
The Partner API documents a read of a client's shared numbers
(``GET /partners/{pid}/clients/{cid}/shared_client_numbers``) but not its answer, so
onboard360 does not use it yet (# unverified: its shape).
"""

from __future__ import annotations

from enum import StrEnum


class Billing(StrEnum):
    """The Partner Hub's billing model (the sandbox's ``billing`` values)."""

    PARTNER_PAYMENT = "partner"
    DIRECT_PAYMENT = "direct"


class Entitlement(StrEnum):
    """Why onboard360 may generate this channel's key at all (docs/decisions/0006).

    A hub connected to onboard360 has clients from before, whose keys another system
    holds, and a new key revokes the old one: so a channel found by webhooks or sync is
    never keyed on its own. It becomes onboard360's to key only through one of these.
    """

    # A verified redirect of one of onboard360's own attempts listed it (or it was keyed
    # by onboard360 before entitlement was kept: that key is the live one already).
    ONBOARDING = "onboarding"
    # Its client was claimed for a product user (an operator or the product said so).
    CLAIMED = "claimed"
    # An operator took it over, knowing the key held elsewhere dies.
    TAKEN_OVER = "taken_over"
    # The partner handed onboard360 the key it already holds: no generation needed.
    IMPORTED = "imported"


class KeyPermission(StrEnum):
    """Has the client granted the partner API-key permission (Direct Payment)?

    UNKNOWN: nothing proves it either way (a redirect alone does not: the number may be
    shared while API-key permission was denied). GRANTED: a key was generated under
    Direct Payment, or an operator confirmed it. REFUSED: 360dialog refused the key.
    REVOKED: it was granted, then the client took the number away.
    """

    UNKNOWN = "unknown"
    GRANTED = "granted"
    REFUSED = "refused"
    REVOKED = "revoked"


class Permission(StrEnum):
    """One word for both facts, as the ``channels.permission`` column and the API show it.

    UNKNOWN: no redirect and no refusal yet. SHARED: Direct Payment, the number is shared,
    API-key permission not known yet (a key attempt tells). GRANTED: the partner may
    generate keys (Partner Payment and shared, or API-key permission known granted).
    REFUSED: 360dialog refused the key. REVOKED: the client took the number away.
    """

    UNKNOWN = "unknown"
    SHARED = "shared"
    GRANTED = "granted"
    REFUSED = "refused"
    REVOKED = "revoked"


def summarize(billing: Billing, shared: bool | None, key: KeyPermission) -> Permission:
    """The one word for ``shared`` (None: nothing heard) and ``key`` under ``billing``."""
    if shared is False:
        return Permission.REVOKED
    if key is KeyPermission.REFUSED:
        return Permission.REFUSED
    if key is KeyPermission.GRANTED:
        return Permission.GRANTED
    if shared is None:
        return Permission.UNKNOWN
    return Permission.SHARED if billing is Billing.DIRECT_PAYMENT else Permission.GRANTED


def after_redirect(listed: bool, key: KeyPermission) -> KeyPermission:
    """API-key permission after a newer redirect that lists (or revokes) the number.

    Listed again after a refusal: the client may have granted it on this visit, so it is
    unknown again and one new key attempt tells. Revoked: a known grant goes with it.
    """
    if listed:
        return KeyPermission.UNKNOWN if key in _LIFTED_BY_SHARING else key
    return KeyPermission.REVOKED if key is KeyPermission.GRANTED else key


_LIFTED_BY_SHARING = frozenset({KeyPermission.REFUSED, KeyPermission.REVOKED})
