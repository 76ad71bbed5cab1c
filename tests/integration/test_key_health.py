"""The key health check over real HTTP: a key revoked out of band at the sandbox is found
by one check, marked, announced once and listed; no key is generated. A 5xx is no
verdict, and a 429 stops the run."""

from __future__ import annotations

from datetime import timedelta

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from onboard360.runtime.serving import running
from onboard360.sandbox.models import Faults
from tests.integration.dashboard_http import Dashboard, onboarded
from tests.integration.key_checks import (
    checks,
    due_again,
    events_of,
    health,
    revoke_out_of_band,
    run_check,
)
from tests.integration.service_http import execute, rows
from tests.stack import Stack


def failing_api() -> Starlette:
    async def unavailable(_request: Request) -> JSONResponse:
        return JSONResponse({"meta": {"developer_message": "down"}}, status_code=503)

    return Starlette(routes=[Route("/{path:path}", unavailable, methods=["GET", "POST"])])


def test_a_key_revoked_out_of_band_is_marked_once_and_listed(
    stack: Stack, dashboard: Dashboard
) -> None:
    client, (channel,) = onboarded(stack, "pp")
    working = checks("pp", "working")
    assert run_check(stack).outcomes == {"working": 1}
    assert checks("pp", "working") - working == 1
    good_at = health(stack, channel)["key_good_at"]
    assert good_at is not None

    revoke_out_of_band(stack, client)
    # Checked again at once (as if a period had passed): one check finds it.
    due_again(stack)
    not_working = checks("pp", "not_working")
    assert run_check(stack).outcomes == {"not_working": 1}
    assert checks("pp", "not_working") - not_working == 1
    row = health(stack, channel)
    assert (row["blocker"], row["key_status"], row["key_check_outcome"]) == (
        "key_not_working",
        "stored",
        "not_working",
    )
    assert row["key_good_at"] == good_at

    # Checked again: still refused, nothing new for the product.
    due_again(stack)
    assert run_check(stack).outcomes == {"not_working": 1}
    stack.drain()
    (lost,) = events_of(stack, "channel.key_not_working", channel)
    assert lost["data"]["api_key_available"] is True
    assert "401/403" in lost["data"]["reason"]

    # The needs-attention lists, the product's and the operator's, say so.
    listed = stack.api.get("/api/v1/attention", params={"kind": "key_not_working"})
    assert listed.status_code == 200, listed.text
    (item,) = listed.json()["data"]
    assert item["channel_id"] == channel
    assert "last good check: " + good_at.strftime("%Y-%m-%d %H:%M") in item["what"]
    page = dashboard.get("/dashboard/attention/key_not_working", hub="pp")
    assert page.status_code == 200
    assert channel in page.text
    assert "last good check" in page.text

    # Nothing asked for a key: one generation in all, the first.
    assert stack.sandbox.channel(channel).keys_generated == 1
    (generation,) = rows(stack, "SELECT intent FROM key_generations WHERE channel_id = %s", channel)
    assert generation["intent"] == 1
    waiting = rows(stack, "SELECT 1 FROM procrastinate_jobs WHERE task_name = 'provision_key'")
    assert len(waiting) == 1  # the first key's job, done long ago
    kinds = [
        r["kind"] for r in rows(stack, "SELECT kind FROM timeline WHERE channel_id = %s", channel)
    ]
    assert kinds.count("KeyCheckFailed") == 1


def test_a_5xx_is_no_verdict_and_leaves_the_key_as_it_was(stack: Stack) -> None:
    _, (channel,) = onboarded(stack, "pp")
    stack.sandbox_hub("pp").faults = Faults(api_5xx_rate=1.0)
    assert run_check(stack).outcomes == {"unavailable": 1}
    row = health(stack, channel)
    assert (row["blocker"], row["key_check_outcome"]) == ("has_key", "unavailable")
    # No verdict moves neither the check time nor the last good check: first in line again.
    assert row["key_checked_at"] is None
    assert row["key_good_at"] is None
    stack.sandbox_hub("pp").faults = Faults()
    assert run_check(stack).outcomes == {"working": 1}


def test_a_5xx_leaves_a_mark_in_place(stack: Stack) -> None:
    client, (channel,) = onboarded(stack, "pp")
    revoke_out_of_band(stack, client)
    assert run_check(stack).outcomes == {"not_working": 1}
    checked = health(stack, channel)
    due_again(stack)
    # The messaging API now answers 503 to everything, whatever the key.
    with running(failing_api()) as url:
        assert run_check(stack, messaging_api_url=url).outcomes == {"unavailable": 1}
    row = health(stack, channel)
    assert (row["blocker"], row["key_check_outcome"]) == ("key_not_working", "unavailable")
    assert row["key_good_at"] == checked["key_good_at"]
    stack.drain()
    assert len(events_of(stack, "channel.key_not_working", channel)) == 1
    assert events_of(stack, "channel.key_working", channel) == []


def test_a_429_stops_the_run(stack: Stack) -> None:
    _, channels = onboarded(stack, "pp", numbers=3)
    stack.sandbox_hub("pp").faults = Faults(api_429_rate=1.0, api_retry_after_seconds=30)
    limited = checks("pp", "rate_limited")
    report = run_check(stack)
    assert report.rate_limited
    assert report.retry_after == 30
    assert report.outcomes == {"rate_limited": 1}  # one call, then the run stopped
    assert checks("pp", "rate_limited") - limited == 1
    assert all(health(stack, c)["key_checked_at"] is None for c in channels)
    stack.sandbox_hub("pp").faults = Faults()
    release_hold(stack)
    assert run_check(stack).outcomes == {"working": 3}


def test_the_next_run_waits_for_the_retry_after_of_a_429(stack: Stack) -> None:
    _, channels = onboarded(stack, "pp", numbers=2)
    stack.sandbox_hub("pp").faults = Faults(api_429_rate=1.0, api_retry_after_seconds=600)
    assert run_check(stack).rate_limited
    (held,) = rows(stack, "SELECT * FROM rate_limit_holds")
    assert (held["hub"], held["api"], held["retry_after_seconds"]) == ("pp", "messaging", 600)
    assert held["not_before"] - held["noted_at"] == timedelta(seconds=600)

    # Another run (another worker, a minute later) sends nothing to the hub: with the fault
    # still on, any call would have been answered 429 and counted.
    limited = checks("pp", "rate_limited")
    report = run_check(stack)
    assert report.outcomes == {}
    assert not report.rate_limited
    assert report.held == {"pp": held["not_before"]}
    assert "pp held until" in report.summary()
    assert checks("pp", "rate_limited") == limited
    assert all(health(stack, c)["key_checked_at"] is None for c in channels)

    # Once the wait is over, the next run checks the hub again, oldest first.
    stack.sandbox_hub("pp").faults = Faults()
    release_hold(stack)
    assert run_check(stack).outcomes == {"working": 2}


def test_a_retry_after_longer_than_a_period_holds_one_period(stack: Stack) -> None:
    onboarded(stack, "pp")
    stack.sandbox_hub("pp").faults = Faults(api_429_rate=1.0, api_retry_after_seconds=3600)
    assert run_check(stack, period_hours=0.5).rate_limited is True
    (held,) = rows(stack, "SELECT not_before - noted_at AS wait FROM rate_limit_holds")
    assert held["wait"] == timedelta(minutes=30)


def test_a_429_without_retry_after_holds_nothing(stack: Stack) -> None:
    onboarded(stack, "pp")
    stack.sandbox_hub("pp").faults = Faults(api_429_rate=1.0, api_retry_after_seconds=0)
    assert run_check(stack).rate_limited
    assert rows(stack, "SELECT * FROM rate_limit_holds") == []
    stack.sandbox_hub("pp").faults = Faults()
    assert run_check(stack).outcomes == {"working": 1}


def release_hold(stack: Stack) -> None:
    """As if the Retry-After had passed."""
    execute(stack, "UPDATE rate_limit_holds SET not_before = now() - interval '1 second'")
