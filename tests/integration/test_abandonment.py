"""The abandonment sweep on a real database with the sandbox over HTTP: an attempt that
expired, or whose numbers stopped short of a key, is marked with its last step and
blocker, and the product hears `onboarding.abandoned` once — however many sweeps run,
one after the other or at once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from prometheus_client import REGISTRY

from tests.integration.abandon_http import (
    announced,
    expire,
    marks,
    redirected_ago,
    run_sweeps,
    stored_events,
)
from tests.integration.dashboard_http import Dashboard, onboarded
from tests.integration.service_http import execute, rows
from tests.stack import Stack


def abandoned_total(announced: str) -> float:
    labels = {"hub": "pp", "announced": announced}
    return REGISTRY.get_sample_value("onboard360_abandoned_onboardings_total", labels) or 0.0


def test_an_expired_attempt_is_abandoned_and_announced_once_however_often_swept(
    stack: Stack,
) -> None:
    created = stack.start_onboarding("pp", "crm-user-9", email="owner@shop.test")
    opened = httpx.get(created["popup_url"], follow_redirects=False, timeout=10)
    assert opened.status_code in (302, 303, 307), opened.text
    assert run_sweeps(stack)[0].abandoned == 0  # not expired yet
    expire(stack, created["id"])

    reports = run_sweeps(stack) + run_sweeps(stack)

    assert [(r.abandoned, r.notified) for r in reports] == [(1, 1), (0, 0)]
    ((mark,),) = [marks(stack)]
    assert (mark["id"], mark["abandoned_step"], mark["abandoned_reason"]) == (
        created["id"],
        "popup_opened",
        "no_redirect",
    )
    (event,) = announced(stack)
    assert event["data"] == {
        "hub": "pp",
        "partner_id": stack.hub("pp").partner_id,
        "onboarding_id": created["id"],
        "external_user_id": "crm-user-9",
        "client_id": None,
        "channel_id": None,
        "step": "popup_opened",
        "blocker": "no_redirect",
        "reason": "The popup was opened, but 360dialog never sent the client back.",
        "resume": f"/api/v1/onboardings/{created['id']}/resume",
    }
    view = stack.api.get(f"/api/v1/onboardings/{created['id']}").json()
    assert (view["stage"], view["abandoned_step"], view["abandoned_reason"]) == (
        "expired",
        "popup_opened",
        "no_redirect",
    )
    assert view["journey_id"] == created["id"]


def test_concurrent_sweeps_mark_each_attempt_once_and_announce_it_once(stack: Stack) -> None:
    ids = [stack.start_onboarding("pp", f"crm-user-{n}")["id"] for n in range(12)]
    execute(stack, "UPDATE onboardings SET expires_at = now() - interval '1 minute'")

    reports = run_sweeps(stack, sweeps=3, batch=2)

    assert sum(r.abandoned for r in reports) == sum(r.notified for r in reports) == 12
    assert sorted(m["id"] for m in marks(stack)) == sorted(ids)
    assert len(stored_events(stack)) == 12
    events = announced(stack)
    assert sorted(e["data"]["onboarding_id"] for e in events) == sorted(ids)
    assert {e["data"]["step"] for e in events} == {"started"}
    assert {e["data"]["blocker"] for e in events} == {"popup_not_opened"}


def test_a_number_waiting_for_permission_abandons_the_attempt_with_its_blocker(
    stack: Stack,
) -> None:
    client, (channel,) = onboarded(stack, "dp", user="crm-dp", permission=False)
    (row,) = rows(stack, "SELECT id::text, stage FROM onboardings")
    (held,) = rows(stack, "SELECT blocker, reason FROM channels WHERE channel_id = %s", channel)
    assert held["blocker"] == "waiting_for_permission"
    redirected_ago(stack, 71)
    assert run_sweeps(stack)[0].abandoned == 0  # abandon_after_hours is 72

    redirected_ago(stack, 73)
    assert run_sweeps(stack)[0].abandoned == 1

    ((mark,),) = [marks(stack)]
    assert (mark["abandoned_step"], mark["abandoned_reason"]) == (
        "running",
        "waiting_for_permission",
    )
    (event,) = announced(stack)
    assert event["data"]["onboarding_id"] == row["id"]
    assert (event["data"]["client_id"], event["data"]["channel_id"]) == (client, channel)
    assert (event["data"]["blocker"], event["data"]["reason"]) == (
        "waiting_for_permission",
        held["reason"],
    )
    (line,) = rows(stack, "SELECT * FROM timeline WHERE kind = 'onboarding_abandoned'")
    assert (line["client_id"], line["channel_id"]) == (client, channel)


def test_a_live_attempt_is_never_abandoned(stack: Stack) -> None:
    onboarded(stack, "pp", user="crm-live")
    assert rows(stack, "SELECT stage FROM onboardings") == [{"stage": "live"}]
    redirected_ago(stack, 24 * 30)

    assert run_sweeps(stack)[0].abandoned == 0
    assert marks(stack) == []
    assert announced(stack) == []


def test_progress_after_abandonment_keeps_the_mark_and_sends_nothing_again(
    stack: Stack, dashboard: Dashboard
) -> None:
    client, (channel,) = onboarded(stack, "dp", user="crm-late", permission=False)
    redirected_ago(stack, 80)
    run_sweeps(stack)
    (before,) = marks(stack)

    # The client grants permission in its own hub after all; an operator confirms it.
    stack.sandbox.set_api_key_permission(client, True)
    answer = dashboard.act("retry-provisioning", hub="dp", channel=channel)
    assert answer.status_code in (200, 303), answer.text
    stack.drain()
    run_sweeps(stack)

    (after,) = marks(stack)
    assert after["stage"] == "live"
    assert {k: after[k] for k in ("abandoned_at", "abandoned_step", "abandoned_reason")} == {
        k: before[k] for k in ("abandoned_at", "abandoned_step", "abandoned_reason")
    }
    assert len(announced(stack)) == 1
    assert len(stored_events(stack)) == 1


def test_history_that_went_stale_long_ago_is_marked_without_an_event(stack: Stack) -> None:
    old = stack.start_onboarding("pp", "crm-old")["id"]
    recent = stack.start_onboarding("pp", "crm-recent")["id"]
    expire(stack, old, timedelta(days=30))
    expire(stack, recent, timedelta(hours=2))
    before = {told: abandoned_total(told) for told in ("true", "false")}

    (report,) = run_sweeps(stack)

    assert (report.abandoned, report.notified) == (2, 1)
    assert {told: abandoned_total(told) - n for told, n in before.items()} == {
        "true": 1,
        "false": 1,
    }
    assert sorted(m["id"] for m in marks(stack)) == sorted([old, recent])
    assert [e["data"]["onboarding_id"] for e in announced(stack)] == [recent]
    (mark,) = [m for m in marks(stack) if m["id"] == old]
    # Marked as of when it went stale (its expiry), not when the sweep found it.
    assert mark["abandoned_at"] < datetime.now(UTC) - timedelta(days=29)
