"""The deliver task's retry schedule: exponential, capped, about three days, then dead."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from onboard360.jobs.backoff import DeliveryBackoff, DeliveryFailed
from onboard360.worker.app import RetryTuning

DAY = 86400.0


def job(attempts: int) -> Any:
    return SimpleNamespace(attempts=attempts)


def test_default_schedule_spans_about_three_days() -> None:
    waits = RetryTuning().delivery_backoff().schedule()
    assert 2.9 * DAY <= sum(waits) <= 3.3 * DAY
    assert len(waits) == RetryTuning().delivery_attempts - 1


def test_waits_double_then_stay_at_the_cap() -> None:
    backoff = DeliveryBackoff(max_attempts=10, first_wait=30, max_wait=200)
    assert backoff.schedule() == [30, 60, 120, 200, 200, 200, 200, 200, 200]


def test_retry_after_lengthens_one_wait_but_never_past_the_cap() -> None:
    backoff = DeliveryBackoff(max_attempts=10, first_wait=30, max_wait=3600)
    assert backoff.wait(1, retry_after=120) == 120
    assert backoff.wait(1, retry_after=5) == 30
    assert backoff.wait(1, retry_after=10**9) == 3600


def test_the_last_attempt_is_not_retried() -> None:
    backoff = DeliveryBackoff(max_attempts=3, first_wait=30, max_wait=3600)
    failed = DeliveryFailed("HTTP 500")
    first = backoff.get_retry_decision(exception=failed, job=job(0))
    second = backoff.get_retry_decision(exception=failed, job=job(1))
    assert first is not None
    assert second is not None
    assert backoff.get_retry_decision(exception=failed, job=job(2)) is None
    assert [backoff.is_last(n) for n in range(3)] == [False, False, True]


@pytest.mark.parametrize("error", [ConnectionError("database blip"), KeyError("payload")])
def test_other_errors_are_retried_on_the_same_schedule(error: Exception) -> None:
    backoff = DeliveryBackoff(max_attempts=3, first_wait=30, max_wait=3600)
    assert backoff.get_retry_decision(exception=error, job=job(0)) is not None
    assert backoff.get_retry_decision(exception=error, job=job(2)) is None


def test_huge_attempt_counts_do_not_overflow() -> None:
    assert DeliveryBackoff(first_wait=30, max_wait=60).wait(10_000) == 60
