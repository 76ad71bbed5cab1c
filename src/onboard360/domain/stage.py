"""An onboarding's stage: the one definition, from its facts and its own numbers' states.

The stage is stored on the onboarding (``onboardings.stage``, db/stages.py keeps it in
the same transaction as whatever changes it) so lists count and filter it through
indexes. The only part that depends on the clock is not stored: an onboarding still
``waiting_for_popup`` past its ``expires_at`` is *shown* as ``expired`` (``shown``), and
lists ask that of an index on the expiry.

An onboarding's own numbers are those its redirect listed, of the client it names, while
that client is bound to the onboarding's user (a redirect's ids are claims: a forged one
naming someone else's client or number owns none of them).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Final, Literal

from onboard360.domain import statuses

Stage = Literal["waiting_for_popup", "confirming", "connecting", "action_needed", "live", "expired"]
StoredStage = Literal["waiting_for_popup", "confirming", "connecting", "action_needed", "live"]

WAITING: Final = "waiting_for_popup"
EXPIRED: Final = "expired"
# Every stage, in the order people read them.
STAGES: Final = (
    "waiting_for_popup",
    "confirming",
    "connecting",
    "action_needed",
    "live",
    "expired",
)

# Blockers only the client can lift; when every shared number is held by one of them, the
# onboarding waits for the client, not for 360dialog.
NEEDS_CLIENT: Final = frozenset({"waiting_for_permission", "permission_revoked", "terminated"})


@dataclass(frozen=True)
class NumberFacts:
    """What the stage needs of one channel row."""

    channel_id: str
    client_id: str | None
    status: str | None
    key_status: str
    blocker: str | None

    @property
    def live(self) -> bool:
        """A key, and a status that can message."""
        return self.key_status == "stored" and statuses.is_live(self.status)


@dataclass(frozen=True)
class OnboardingFacts:
    """What the stage needs of one onboarding row, and whom its client is bound to."""

    redirected: bool
    verification: str | None
    client_id: str | None
    external_user_id: str
    channels: tuple[str, ...]
    client_owner: str | None  # the user the named client is bound to, if any

    @property
    def owns_client(self) -> bool:
        return self.client_owner is not None and self.client_owner == self.external_user_id


def own_numbers(facts: OnboardingFacts, numbers: Iterable[NumberFacts]) -> list[NumberFacts]:
    """The numbers of ``numbers`` the onboarding's redirect shared and it owns."""
    if not facts.owns_client:
        return []
    listed = set(facts.channels)
    return [n for n in numbers if n.channel_id in listed and n.client_id == facts.client_id]


def stage_of(facts: OnboardingFacts, numbers: Iterable[NumberFacts]) -> StoredStage:
    """The stored stage: everything but the clock (``shown`` adds expiry)."""
    if not facts.redirected:
        return "waiting_for_popup"
    if facts.verification == "pending":
        return "confirming"  # 360dialog could not confirm the redirect yet: a job will
    shared = own_numbers(facts, numbers)
    if shared and all(n.live for n in shared):
        return "live"
    if any(n.live for n in shared) or not all(n.blocker in NEEDS_CLIENT for n in shared):
        return "connecting"
    # Nothing more happens until the client acts (e.g. grants API-key permission).
    return "action_needed"


# The steps an attempt's own numbers tell (stamped once each by db/stages.py, migration
# 0014), in order: each implies the ones before it (a key is generated only for a running
# number), so a number already terminated when the redirect came still counts as created.
NUMBER_STEPS: Final = ("first_channel", "running", "key_stored")


def number_steps(facts: OnboardingFacts, numbers: Iterable[NumberFacts]) -> tuple[str, ...]:
    """The steps of ``NUMBER_STEPS`` the onboarding's own numbers have reached now."""
    shared = own_numbers(facts, numbers)
    if not shared:
        return ()
    if any(n.key_status == "stored" for n in shared):
        return NUMBER_STEPS
    if any(statuses.is_live(n.status) for n in shared):
        return NUMBER_STEPS[:2]
    return NUMBER_STEPS[:1]


def shown(stored: str, expires_at: datetime, now: datetime) -> Stage:
    """The stage people see: a stored ``waiting_for_popup`` past its expiry is expired."""
    if stored == WAITING and expires_at <= now:
        return "expired"
    return stored  # type: ignore[return-value]
