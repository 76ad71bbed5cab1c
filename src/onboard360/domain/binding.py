"""Who a redirected client belongs to, and which of the redirect's claims 360dialog supports.

The popup's redirect is not authenticated: its ``client``, ``channels`` and ``revoked``
are claims anyone can type (../shared/docs/360dialog.md). Before it changes anything, the
edge asks 360dialog what it knows of that client (``ClientFacts``: the Partner API's
client and its channels, plus the channels signed webhooks already placed under it) and
lets ``verify`` decide, with the owner onboard360 has on record and the attempt the
redirect came back to:

- **bind** the client to the attempt's user only when it is already that user's
  (``RETURNING``), or nobody's and 360dialog created it after the attempt began, allowing
  ``skew`` for two clocks (``NEW``) — unless its signup's redirect already came back
  without an attempt of ours (a direct link): a signup returns once, so a second claim
  on it is not that signup's;
- anything else binds nothing and changes no channel: a client bound to another user
  (``OTHER_USER``), an unbound client created before the attempt or of unknown age
  (``OLD_CLIENT``), a client 360dialog does not know (``UNKNOWN_CLIENT``). The first two
  are conflicts an operator or the product settles with an explicit claim;
- a redirect with no attempt of ours (a direct link, ``NO_ATTEMPT``) binds nothing either;
  its client is recorded as nobody's;
- ``channels`` and ``revoked`` keep only ids 360dialog lists under that client; the rest
  are ``ignored`` (recorded, never a row).

Pure: the clock (``now``) and every fact are parameters.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Final

from onboard360.domain.ids import ChannelId, ClientId
from onboard360.domain.redirect import RedirectResult

# 360dialog's clock and ours may disagree by this much (and a popup signup takes seconds).
DEFAULT_CLOCK_SKEW: Final = timedelta(minutes=2)


class Claim(StrEnum):
    """What a redirect's client is to the attempt it came back to."""

    RETURNING = "returning"
    NEW = "new"
    OTHER_USER = "other_user"
    OLD_CLIENT = "old_client"
    UNKNOWN_CLIENT = "unknown_client"
    NO_ATTEMPT = "no_attempt"

    @property
    def binds(self) -> bool:
        return self in (Claim.RETURNING, Claim.NEW)

    @property
    def conflict(self) -> bool:
        """Settled only by an explicit claim (an operator's or the product's)."""
        return self in (Claim.OTHER_USER, Claim.OLD_CLIENT)


@dataclass(frozen=True)
class ClientFacts:
    """What 360dialog says about one client: whether it exists, when it created it, and
    the channels it lists under it (Partner API and signed webhooks together)."""

    client_id: ClientId
    exists: bool
    created_at: datetime | None = None
    channels: frozenset[ChannelId] = frozenset()
    # A redirect for this client already came back with no attempt of ours behind it.
    returned_without_attempt: bool = False


@dataclass(frozen=True)
class Attempt:
    """The onboarding attempt a redirect came back to: whose it is and when it began."""

    external_user_id: str
    began_at: datetime


@dataclass(frozen=True)
class Verdict:
    """``redirect`` holds only what 360dialog supports; apply it only when ``claim.binds``."""

    claim: Claim
    redirect: RedirectResult
    ignored: tuple[ChannelId, ...] = ()


def claim_of(
    attempt: Attempt | None,
    owner: str | None,
    facts: ClientFacts,
    *,
    now: datetime,
    skew: timedelta = DEFAULT_CLOCK_SKEW,
) -> Claim:
    """Whether the redirect's client may be bound to the attempt's user (module docstring)."""
    if not facts.exists:
        return Claim.UNKNOWN_CLIENT
    if attempt is None:
        return Claim.NO_ATTEMPT
    if owner is not None:
        return Claim.RETURNING if owner == attempt.external_user_id else Claim.OTHER_USER
    if facts.created_at is None or facts.returned_without_attempt:
        return Claim.OLD_CLIENT  # of unknown age, or its signup already came back
    if attempt.began_at - skew <= facts.created_at <= now + skew:
        return Claim.NEW
    return Claim.OLD_CLIENT


def verify(
    redirect: RedirectResult,
    facts: ClientFacts,
    attempt: Attempt | None,
    owner: str | None,
    *,
    now: datetime,
    skew: timedelta = DEFAULT_CLOCK_SKEW,
) -> Verdict:
    """The redirect cut down to what 360dialog lists under its client, and its claim."""
    if facts.client_id != redirect.client_id:
        raise ValueError("facts about another client than the redirect's")
    claim = claim_of(attempt, owner, facts, now=now, skew=skew)
    listed = facts.channels if facts.exists else frozenset()
    kept = RedirectResult(
        client_id=redirect.client_id,
        channels=_kept(redirect.channels, listed),
        revoked=_kept(redirect.revoked, listed),
        state=redirect.state,
    )
    ignored = tuple(c for c in (*redirect.channels, *redirect.revoked) if c not in listed)
    return Verdict(claim, kept, ignored)


def may_claim(owner: str | None, external_user_id: str, *, reassign: bool) -> bool:
    """Whether a client may be claimed for ``external_user_id``: it is nobody's, already
    that user's (a repeat), or an operator explicitly re-assigns it."""
    return owner is None or owner == external_user_id or reassign


def _kept(ids: Iterable[ChannelId], listed: frozenset[ChannelId]) -> tuple[ChannelId, ...]:
    return tuple(c for c in ids if c in listed)
