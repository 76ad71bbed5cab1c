"""When an attempt is abandoned, the step it reached and why it waits, whether the product
is told, and whether it may be resumed (domain/abandonment.py; the clock passed in)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from onboard360.domain import ProductEvent, dedupe_key
from onboard360.domain.abandonment import (
    AttemptFacts,
    Policy,
    Stamps,
    Step,
    WaitingNumber,
    abandoned,
    abandonment,
    last_step,
    why_not_resumable,
)
from onboard360.domain.stage import OnboardingFacts as StageFacts

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
POLICY = Policy(abandon_after=timedelta(hours=72), notify_within=timedelta(days=7))
HOUR = timedelta(hours=1)


def waiting(expires_at: datetime = NOW - HOUR, **stamps: datetime) -> AttemptFacts:
    """An attempt whose redirect never came back."""
    facts = StageFacts(False, None, None, "user-1", (), None)
    return AttemptFacts("o-1", "user-1", expires_at, Stamps(**stamps), facts)


def redirected(
    at: datetime = NOW - 73 * HOUR,
    channels: tuple[str, ...] = ("ch1",),
    *,
    owner: str | None = "user-1",
    verification: str = "applied",
    **stamps: datetime,
) -> AttemptFacts:
    facts = StageFacts(True, verification, "cl1", "user-1", channels, owner)
    return AttemptFacts("o-1", "user-1", at - HOUR, Stamps(redirected_at=at, **stamps), facts)


def number(
    channel: str = "ch1",
    status: str | None = "running",
    key: str = "none",
    blocker: str | None = "waiting_for_permission",
    client: str = "cl1",
) -> WaitingNumber:
    return WaitingNumber(channel, client, status, key, blocker, reason=f"{blocker} because")


def test_an_attempt_is_abandoned_at_its_expiry_without_a_redirect() -> None:
    attempt = waiting(expires_at=NOW)
    assert abandonment(attempt, [], NOW - timedelta(seconds=1), POLICY) is None
    verdict = abandonment(attempt, [], NOW, POLICY)
    assert verdict is not None
    assert (verdict.step, verdict.blocker, verdict.channel_id) == (
        Step.STARTED,
        "popup_not_opened",
        None,
    )
    assert (verdict.due_at, verdict.notify) == (NOW, True)


@pytest.mark.parametrize(
    ("stamps", "blocker"),
    [
        ({"popup_opened_at": NOW - 2 * HOUR}, "no_redirect"),
        ({"popup_opened_at": NOW - 2 * HOUR, "popup_blocked_at": NOW - 2 * HOUR}, "popup_blocked"),
        ({"popup_blocked_at": NOW - 3 * HOUR, "popup_closed_at": NOW - 2 * HOUR}, "popup_closed"),
        ({"popup_closed_at": NOW - 3 * HOUR, "popup_blocked_at": NOW - 2 * HOUR}, "popup_blocked"),
    ],
)
def test_an_expired_attempt_waits_on_what_its_popup_last_did(
    stamps: dict[str, datetime], blocker: str
) -> None:
    verdict = abandonment(waiting(**stamps), [], NOW, POLICY)
    assert verdict is not None
    assert (verdict.step, verdict.blocker) == (Step.POPUP_OPENED, blocker)


def test_a_redirected_attempt_is_abandoned_abandon_after_its_redirect() -> None:
    at = NOW - 72 * HOUR
    assert abandonment(redirected(at), [number()], NOW - timedelta(seconds=1), POLICY) is None
    verdict = abandonment(redirected(at), [number()], NOW, POLICY)
    assert verdict is not None
    assert verdict.due_at == NOW


def test_a_direct_payment_number_waiting_for_permission_holds_the_attempt() -> None:
    verdict = abandonment(redirected(), [number()], NOW, POLICY)
    assert verdict is not None
    assert (verdict.step, verdict.blocker, verdict.reason, verdict.channel_id) == (
        Step.RUNNING,
        "waiting_for_permission",
        "waiting_for_permission because",
        "ch1",
    )


def test_the_number_the_user_can_act_on_is_named_first() -> None:
    numbers = [
        number("ch0", status="pending", blocker="not_running"),
        number("ch9", blocker="waiting_for_permission"),
    ]
    verdict = abandonment(redirected(channels=("ch0", "ch9")), numbers, NOW, POLICY)
    assert verdict is not None
    assert (verdict.blocker, verdict.channel_id) == ("waiting_for_permission", "ch9")


def test_an_attempt_with_a_keyed_number_did_not_stop_short() -> None:
    numbers = [number("ch1", key="stored", blocker="has_key"), number("ch2")]
    assert abandonment(redirected(channels=("ch1", "ch2")), numbers, NOW, POLICY) is None
    stamped = redirected(key_stored_at=NOW - 70 * HOUR)
    assert abandonment(stamped, [number()], NOW, POLICY) is None


def test_a_live_or_already_abandoned_attempt_is_not_abandoned_again() -> None:
    assert abandonment(replace(redirected(), live=True), [], NOW, POLICY) is None
    marked = replace(waiting(), abandoned_at=NOW - HOUR)
    assert abandonment(marked, [], NOW, POLICY) is None


@pytest.mark.parametrize(
    ("attempt", "blocker"),
    [
        (redirected(verification="pending", owner=None), "redirect_unconfirmed"),
        (redirected(verification="unknown_client", owner=None), "unknown_client"),
        (redirected(owner="someone-else", verification="conflict"), "client_conflict"),
        (redirected(channels=("ch-not-reported",)), "no_channel_yet"),
    ],
)
def test_without_a_number_of_its_own_the_attempt_says_why(
    attempt: AttemptFacts, blocker: str
) -> None:
    verdict = abandonment(attempt, [number("ch1")], NOW, POLICY)
    assert verdict is not None
    assert (verdict.step, verdict.blocker, verdict.channel_id) == (Step.REDIRECTED, blocker, None)


def test_someone_elses_number_is_no_step_of_this_attempt() -> None:
    # A forged redirect listing another client's number reached nothing through it.
    verdict = abandonment(redirected(), [number(client="cl-other", key="stored")], NOW, POLICY)
    assert verdict is not None
    assert (verdict.step, verdict.blocker) == (Step.REDIRECTED, "no_channel_yet")


def test_the_last_step_is_the_furthest_of_stamps_and_rows() -> None:
    attempt = redirected(first_channel_at=NOW - 70 * HOUR)
    assert last_step(attempt, []) == Step.FIRST_CHANNEL
    assert last_step(attempt, [number(status="pending")]) == Step.FIRST_CHANNEL
    assert last_step(attempt, [number(status="running")]) == Step.RUNNING
    assert last_step(attempt, [number(status="suspended")]) == Step.FIRST_CHANNEL
    assert last_step(redirected(running_at=NOW - 70 * HOUR), []) == Step.RUNNING


def test_history_that_went_stale_long_ago_is_marked_without_telling_the_product() -> None:
    old = waiting(expires_at=NOW - timedelta(days=7, seconds=1))
    verdict = abandonment(old, [], NOW, POLICY)
    assert verdict is not None
    assert not verdict.notify
    recent = abandonment(waiting(expires_at=NOW - timedelta(days=7)), [], NOW, POLICY)
    assert recent is not None
    assert recent.notify


def test_the_event_carries_the_step_and_is_keyed_once_per_attempt() -> None:
    attempt = redirected()
    verdict = abandonment(attempt, [number()], NOW, POLICY)
    assert verdict is not None
    effect = abandoned(attempt, verdict)
    assert effect.event is ProductEvent.ONBOARDING_ABANDONED
    assert (effect.client_id, effect.channel_id) == ("cl1", "ch1")
    assert effect.onboarding is not None
    assert (effect.onboarding.step, effect.onboarding.blocker) == (
        "running",
        "waiting_for_permission",
    )
    # Another verdict on the same attempt (another channel, another step) is the same key.
    later = abandoned(attempt, replace(verdict, channel_id="ch2", step=Step.FIRST_CHANNEL))
    assert dedupe_key("pp", effect, None) == dedupe_key("pp", later, None)
    assert dedupe_key("pp", effect, None) == "onboarding.abandoned:pp:onboarding:o-1"


def test_a_client_not_bound_to_the_user_is_not_named_to_the_product() -> None:
    attempt = redirected(owner="someone-else", verification="conflict")
    verdict = abandonment(attempt, [], NOW, POLICY)
    assert verdict is not None
    assert abandoned(attempt, verdict).client_id is None


@pytest.mark.parametrize(
    ("attempt", "why"),
    [
        (waiting(expires_at=NOW + HOUR), "still_open"),
        (waiting(expires_at=NOW), None),
        (replace(waiting(expires_at=NOW + HOUR), abandoned_at=NOW), None),
        (redirected(), "in_progress"),
        (replace(redirected(), abandoned_at=NOW), None),
        (replace(redirected(), abandoned_at=NOW, live=True), "already_live"),
    ],
)
def test_only_an_abandoned_or_expired_attempt_may_be_resumed(
    attempt: AttemptFacts, why: str | None
) -> None:
    assert why_not_resumable(attempt, NOW) == why
