"""Abandoned attempts: when one is, the last step it reached, why it waits, whether the
product hears of it, and whether it may be resumed. Pure: the clock is passed in.

An attempt is **abandoned** when

- it **expired without its redirect** (``expires_at`` passed): nobody came back from the
  popup; or
- its redirect came back but it **stopped short**: ``abandon_after`` after the redirect,
  none of its own numbers has a key stored yet (its last step is before ``key_stored``).
  An attempt one of whose numbers got its key is not abandoned: its user can message,
  and a number still waiting is on the operator's needs-attention lists.

The mark is set once (``abandoned_at``, ``abandoned_step``, ``abandoned_reason``: the
blocker) and is history: a later redirect cannot come (an expired attempt refuses it),
and progress after the mark (the client grants permission, the number goes live) moves
the attempt's stage on while the mark stays, and ``onboarding.abandoned`` is not sent
again (its dedupe key is the attempt's: domain/effects.py).

The product is told (``onboarding.abandoned``, once) so it can nudge its user — but only
for an attempt that went stale within ``notify_within`` of the sweep that finds it: the
history found when the sweep first runs, or after the workers were stopped for longer,
is marked without an event (nobody wants a nudge about last year's attempt).

"The last step reached" is read from the attempt's step stamps (migration 0014) where
they are set and from what its rows say now (its redirect, its own numbers' states,
domain/stage.py's ``own_numbers``), whichever is further: one function, ``last_step``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Final, cast

from onboard360.domain import statuses
from onboard360.domain.effects import NotifyProduct, OnboardingFacts, ProductEvent
from onboard360.domain.ids import ChannelId, ClientId
from onboard360.domain.stage import NEEDS_CLIENT, NumberFacts, own_numbers
from onboard360.domain.stage import OnboardingFacts as StageFacts


class Step(StrEnum):
    """An attempt's steps, in the order it reaches them."""

    STARTED = "started"
    POPUP_OPENED = "popup_opened"
    REDIRECTED = "redirected"
    FIRST_CHANNEL = "first_channel"
    RUNNING = "running"
    KEY_STORED = "key_stored"
    ACTIVATED = "activated"


_ORDER: Final = {step: n for n, step in enumerate(Step)}

# Why an attempt waits when no channel of its own holds it (else: the channel's blocker).
WAITING: Final[dict[str, str]] = {
    "popup_not_opened": "The onboarding link was never opened.",
    "popup_blocked": "The browser blocked 360dialog's popup.",
    "popup_closed": "The popup was closed before 360dialog sent the client back.",
    "no_redirect": "The popup was opened, but 360dialog never sent the client back.",
    "redirect_unconfirmed": "360dialog could not confirm the redirect yet.",
    "client_conflict": "The client the redirect named is not this user's: claim it.",
    "unknown_client": "360dialog does not know the client the redirect named.",
    "no_channel_yet": "360dialog has not reported the numbers the client picked yet.",
}


@dataclass(frozen=True)
class Stamps:
    """When the attempt first reached each step (migration 0014); None: not (yet) seen."""

    popup_opened_at: datetime | None = None
    popup_blocked_at: datetime | None = None
    popup_closed_at: datetime | None = None
    redirected_at: datetime | None = None
    first_channel_at: datetime | None = None
    running_at: datetime | None = None
    key_stored_at: datetime | None = None
    activated_at: datetime | None = None


@dataclass(frozen=True)
class WaitingNumber(NumberFacts):
    """A channel row as the rule reads it: the stage's facts and the channel's reason."""

    reason: str = ""


@dataclass(frozen=True)
class AttemptFacts:
    """What the rule reads of one attempt: its row, and whom its client is bound to."""

    onboarding_id: str
    external_user_id: str
    expires_at: datetime
    stamps: Stamps
    stage: StageFacts
    abandoned_at: datetime | None = None
    live: bool = False  # its stored stage is live


@dataclass(frozen=True)
class Abandonment:
    """The verdict on an attempt found abandoned."""

    step: Step
    blocker: str
    reason: str
    channel_id: str | None  # the channel holding it, if one does
    due_at: datetime  # when it went stale: its expiry, or its redirect + abandon_after
    notify: bool


@dataclass(frozen=True)
class Policy:
    """The settings the rule needs (``abandon_after_hours``, ``abandon_notify_within_hours``)."""

    abandon_after: timedelta
    notify_within: timedelta


def _own(attempt: AttemptFacts, numbers: Sequence[WaitingNumber]) -> list[WaitingNumber]:
    return cast(list[WaitingNumber], own_numbers(attempt.stage, numbers))


def last_step(attempt: AttemptFacts, numbers: Sequence[WaitingNumber]) -> Step:
    """The furthest step the attempt reached: its stamps, or what its rows say now."""
    s = attempt.stamps
    reached = [Step.STARTED]
    if s.popup_opened_at or s.popup_blocked_at or s.popup_closed_at:
        reached.append(Step.POPUP_OPENED)
    if attempt.stage.redirected or s.redirected_at:
        reached.append(Step.REDIRECTED)
    stamped = (
        (s.first_channel_at, Step.FIRST_CHANNEL),
        (s.running_at, Step.RUNNING),
        (s.key_stored_at, Step.KEY_STORED),
        (s.activated_at, Step.ACTIVATED),
    )
    reached += [step for at, step in stamped if at is not None]
    for number in _own(attempt, numbers):
        reached.append(Step.FIRST_CHANNEL)
        # Only a status that can message now: a suspended or terminated number may never
        # have run (its running_at stamp says so when it did).
        if statuses.is_live(number.status):
            reached.append(Step.RUNNING)
        if number.key_status == "stored":
            reached.append(Step.KEY_STORED)
    return max(reached, key=_ORDER.__getitem__)


def waiting_on(
    attempt: AttemptFacts, numbers: Sequence[WaitingNumber]
) -> tuple[str, str, str | None]:
    """Why the attempt waits: (blocker, reason, the channel holding it or None)."""
    s, facts = attempt.stamps, attempt.stage
    if not facts.redirected:
        late = max((at for at in (s.popup_blocked_at, s.popup_closed_at) if at), default=None)
        if late is not None:
            blocker = "popup_closed" if late == s.popup_closed_at else "popup_blocked"
        else:
            blocker = "no_redirect" if s.popup_opened_at else "popup_not_opened"
        return blocker, WAITING[blocker], None
    if facts.verification == "pending":
        return "redirect_unconfirmed", WAITING["redirect_unconfirmed"], None
    if facts.verification == "unknown_client":
        return "unknown_client", WAITING["unknown_client"], None
    if not facts.owns_client:
        return "client_conflict", WAITING["client_conflict"], None
    waiting = [n for n in _own(attempt, numbers) if not n.live]
    if not waiting:
        return "no_channel_yet", WAITING["no_channel_yet"], None
    # The one the user can act on first (e.g. API-key permission), else the first by id.
    holding = min(waiting, key=lambda n: (n.blocker not in NEEDS_CLIENT, n.channel_id))
    return holding.blocker or "connecting", holding.reason, holding.channel_id


def due_at(attempt: AttemptFacts, policy: Policy) -> datetime:
    """When the attempt goes stale: at its expiry without a redirect, else
    ``abandon_after`` after its redirect."""
    redirected = attempt.stamps.redirected_at
    if not attempt.stage.redirected or redirected is None:
        return attempt.expires_at
    return redirected + policy.abandon_after


def abandonment(
    attempt: AttemptFacts, numbers: Sequence[WaitingNumber], now: datetime, policy: Policy
) -> Abandonment | None:
    """The verdict if the attempt is abandoned at ``now`` (None: it is not, or is already)."""
    if attempt.abandoned_at is not None or attempt.live:
        return None
    due = due_at(attempt, policy)
    if due > now:
        return None
    step = last_step(attempt, numbers)
    if attempt.stage.redirected and _ORDER[step] >= _ORDER[Step.KEY_STORED]:
        return None  # a number of its own got its key: not stopped short
    blocker, reason, channel = waiting_on(attempt, numbers)
    return Abandonment(
        step, blocker, reason, channel, due, notify=now - due <= policy.notify_within
    )


def abandoned(attempt: AttemptFacts, verdict: Abandonment) -> NotifyProduct:
    """``onboarding.abandoned``: once per attempt (its dedupe key is the attempt's)."""
    client = attempt.stage.client_id if attempt.stage.owns_client else None
    facts = OnboardingFacts(
        attempt.onboarding_id,
        attempt.external_user_id,
        step=verdict.step.value,
        blocker=verdict.blocker,
        reason=verdict.reason,
    )
    return NotifyProduct(
        ProductEvent.ONBOARDING_ABANDONED,
        client_id=ClientId(client) if client else None,
        channel_id=ChannelId(verdict.channel_id) if verdict.channel_id else None,
        onboarding=facts,
    )


# Why an attempt cannot be resumed (the API's 409 codes), with what to do instead.
NOT_RESUMABLE: Final[dict[str, str]] = {
    "already_live": "this onboarding went live: nothing to resume",
    "still_open": "this onboarding is still open: send its user its link, or resume it "
    "once it has expired",
    "in_progress": "this onboarding's redirect came back and its numbers are on their way: "
    "it can be resumed once it is abandoned",
}


def why_not_resumable(attempt: AttemptFacts, now: datetime) -> str | None:
    """None when the attempt may be resumed (abandoned, or expired without its redirect
    and not live); else the code of ``NOT_RESUMABLE`` saying why not."""
    if attempt.live:
        return "already_live"
    if attempt.abandoned_at is not None:
        return None
    if not attempt.stage.redirected:
        return None if attempt.expires_at <= now else "still_open"
    return "in_progress"
