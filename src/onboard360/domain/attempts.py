"""Onboarding attempts: when one expires, whether a redirect is the one it had already,
and what the product hears of it. Pure: the clock is passed in.

An attempt is made for a product user (``onboarding.started``), opened as the popup, and
completed by its redirect (``onboarding.completed``). The official button calls back
twice and a reload sends the redirect again: the attempt's own redirect, again, is
answered as the first time; a different one is refused.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol

from onboard360.domain.effects import NotifyProduct, OnboardingFacts, ProductEvent
from onboard360.domain.redirect import RedirectResult

EXPIRED = "This onboarding has expired: start again from the partner's page."


class AttemptClock(Protocol):
    """What the rules need to know of an attempt's times (its row has both)."""

    @property
    def expires_at(self) -> datetime: ...
    @property
    def redirected_at(self) -> datetime | None: ...


class OpenedAttempt(AttemptClock, Protocol):
    """An attempt's times, and when its popup was last opened (None: never)."""

    @property
    def popup_opened_at(self) -> datetime | None: ...


class PopupStep(StrEnum):
    """What the connect page saw happen to the 360dialog window before the redirect came
    back; each a funnel step, stamped once (``popup_blocked_at`` / ``popup_closed_at``)."""

    BLOCKED = "popup_blocked"
    CLOSED = "popup_closed"


def popup_step_refusal(attempt: OpenedAttempt, step: PopupStep) -> str | None:
    """Why the page may not record ``step`` for ``attempt`` (None: it may); an expired
    attempt (``is_expired``) is refused before this is asked.

    Only an attempt still waiting for its redirect: once the redirect came back, the
    window closing is its normal end. A window can only be closed once it was opened (the
    opener stamps ``popup_opened_at`` before 360dialog's page loads); a blocked one never
    reached the opener.
    """
    if attempt.redirected_at is not None:
        return "This onboarding already came back from 360dialog: there is nothing to record."
    if step is PopupStep.CLOSED and attempt.popup_opened_at is None:
        return "The 360dialog window of this onboarding was never opened."
    return None


def expires_at(now: datetime, ttl_seconds: float) -> datetime:
    """When an attempt made ``now`` stops accepting its popup's redirect."""
    return now + timedelta(seconds=ttl_seconds)


def is_expired(attempt: AttemptClock, now: datetime) -> bool:
    """Expired: no redirect came back before ``expires_at``. A completed attempt never
    expires (its repeated redirect is still answered as the first time)."""
    return attempt.redirected_at is None and attempt.expires_at <= now


def is_open(attempt: AttemptClock, now: datetime) -> bool:
    """Still waiting for its redirect, and not expired."""
    return attempt.redirected_at is None and attempt.expires_at > now


def is_same_redirect(first: RedirectResult | None, again: RedirectResult) -> bool:
    """Whether ``again`` is the redirect the attempt already received (``first``; None: it
    received none) — what the browser sent, not what was verified of it. The lists are
    compared as sets: 360dialog's order is not promised."""
    if first is None:
        return False
    return (
        first.client_id == again.client_id
        and set(first.channels) == set(again.channels)
        and set(first.revoked) == set(again.revoked)
    )


def started(
    onboarding_id: str, external_user_id: str, *, returning_client: bool, expires: datetime
) -> NotifyProduct:
    """``onboarding.started``: the product's record that the attempt exists."""
    facts = OnboardingFacts(
        onboarding_id, external_user_id, returning_client=returning_client, expires_at=expires
    )
    return NotifyProduct(ProductEvent.ONBOARDING_STARTED, onboarding=facts)


def completed(onboarding_id: str, external_user_id: str, kept: RedirectResult) -> NotifyProduct:
    """``onboarding.completed``, with the redirect's lists as verified (``kept``); its
    dedupe key is the onboarding's, so a repeated redirect never sends it twice."""
    facts = OnboardingFacts(
        onboarding_id, external_user_id, channels=kept.channels, revoked=kept.revoked
    )
    return NotifyProduct(
        ProductEvent.ONBOARDING_COMPLETED, client_id=kept.client_id, onboarding=facts
    )
