"""The onboarding-attempt rules (domain/attempts.py), with the clock passed in."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from onboard360.domain import ChannelId, ClientId, ProductEvent, attempts
from onboard360.domain.redirect import RedirectResult

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Times:
    expires_at: datetime
    redirected_at: datetime | None = None


def redirect(client: str = "cl1", *channels: str, revoked: tuple[str, ...] = ()) -> RedirectResult:
    return RedirectResult(
        ClientId(client),
        tuple(ChannelId(c) for c in channels),
        tuple(ChannelId(c) for c in revoked),
    )


def test_an_attempt_expires_its_ttl_after_it_was_made() -> None:
    assert attempts.expires_at(NOW, 900) == NOW + timedelta(minutes=15)


def test_an_attempt_without_a_redirect_expires_at_its_deadline() -> None:
    attempt = Times(expires_at=NOW)
    assert attempts.is_expired(attempt, NOW)
    assert not attempts.is_expired(attempt, NOW - timedelta(seconds=1))
    assert not attempts.is_open(attempt, NOW)
    assert attempts.is_open(attempt, NOW - timedelta(seconds=1))


def test_a_completed_attempt_never_expires_and_is_not_open() -> None:
    attempt = Times(expires_at=NOW, redirected_at=NOW - timedelta(minutes=1))
    assert not attempts.is_expired(attempt, NOW + timedelta(days=30))
    assert not attempts.is_open(attempt, NOW - timedelta(minutes=5))


def test_the_same_redirect_again_is_recognised_whatever_the_order_of_its_lists() -> None:
    first = redirect("cl1", "ch1", "ch2", revoked=("ch3",))
    assert attempts.is_same_redirect(first, redirect("cl1", "ch2", "ch1", revoked=("ch3",)))


def test_a_different_redirect_is_not_the_same() -> None:
    first = redirect("cl1", "ch1")
    assert not attempts.is_same_redirect(first, redirect("cl2", "ch1"))
    assert not attempts.is_same_redirect(first, redirect("cl1", "ch1", "ch2"))
    assert not attempts.is_same_redirect(first, redirect("cl1", "ch1", revoked=("ch9",)))


def test_an_attempt_that_had_no_redirect_has_no_same_redirect() -> None:
    assert not attempts.is_same_redirect(None, redirect("cl1", "ch1"))


def test_starting_tells_the_product_when_the_attempt_expires() -> None:
    notice = attempts.started("o1", "user-7", returning_client=True, expires=NOW)
    assert notice.event is ProductEvent.ONBOARDING_STARTED
    assert notice.onboarding is not None
    assert (notice.onboarding.expires_at, notice.onboarding.returning_client) == (NOW, True)


def test_completing_tells_the_product_the_verified_lists() -> None:
    kept = redirect("cl1", "ch1", revoked=("ch2",))
    notice = attempts.completed("o1", "user-7", kept)
    assert notice.event is ProductEvent.ONBOARDING_COMPLETED
    assert notice.client_id == "cl1"
    assert notice.onboarding is not None
    assert notice.onboarding.channels == ("ch1",)
    assert notice.onboarding.revoked == ("ch2",)


@dataclass(frozen=True)
class Opened(Times):
    popup_opened_at: datetime | None = None


def test_a_waiting_attempt_may_record_its_popup_blocked_or_closed() -> None:
    opened = Opened(expires_at=NOW, popup_opened_at=NOW)
    for step in attempts.PopupStep:
        assert attempts.popup_step_refusal(opened, step) is None
    assert attempts.popup_step_refusal(Opened(expires_at=NOW), attempts.PopupStep.BLOCKED) is None


def test_a_popup_never_opened_cannot_have_been_closed() -> None:
    never = Opened(expires_at=NOW)
    assert "never opened" in (attempts.popup_step_refusal(never, attempts.PopupStep.CLOSED) or "")


def test_after_the_redirect_no_popup_step_is_recorded() -> None:
    back = Opened(expires_at=NOW, redirected_at=NOW, popup_opened_at=NOW)
    for step in attempts.PopupStep:
        assert "already came back" in (attempts.popup_step_refusal(back, step) or "")
