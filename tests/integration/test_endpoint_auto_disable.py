"""A failing product endpoint is disabled on its own — 410 Gone at once, or after failing
without a single success for ``endpoint_disable_after_hours`` — holds its events, shows in
metrics and on the dashboard, and sends them all once enabled. A timeout among successes
never disables it. Against a real HTTP product (the stack's sink)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.e2e.service_stack import worker_running
from tests.integration.dashboard_http import attention_counts, logged_in, onboarded, sql
from tests.integration.test_metrics import METRICS_TOKEN, scrape, value
from tests.sandbox_fixtures import wait_until
from tests.stack import Stack, running_stack


@pytest.fixture
def stack(database_url: str) -> Iterator[Stack]:
    with running_stack(database_url, metrics_token=METRICS_TOKEN) as s:
        yield s


def endpoint(stack: Stack) -> dict[str, object]:
    answer = stack.api.get("/api/v1/endpoint")
    assert answer.status_code == 200, answer.text
    state: dict[str, object] = answer.json()
    return state


def attempts(stack: Stack) -> int:
    (row,) = sql(stack, "SELECT count(*) AS n FROM delivery_attempts")
    return int(row.n)


def test_gone_disables_at_once_and_enabling_sends_every_held_event(stack: Stack) -> None:
    stack.product.answer_next(410)
    onboarded(stack, "pp")

    state = endpoint(stack)
    assert (state["state"], state["disabled_by"]) == ("disabled", "auto")
    assert "410 Gone" in str(state["disabled_reason"])
    assert len(stack.product.requests()) == 1  # nothing after the 410
    assert attempts(stack) == 1
    held = sql(stack, "SELECT id FROM product_events ORDER BY created_at, id")
    assert state["pending_events"] == len(held) > 1
    assert state["failed_events"] == 0
    samples = scrape(stack.service_url)
    assert value(samples, "onboard360_product_endpoint_disabled", product="default") == 1
    assert value(
        samples, "onboard360_product_events_undelivered", product="default", status="pending"
    ) == len(held)

    with logged_in(stack, "ops@example.test") as dashboard:
        assert attention_counts(dashboard.get("/dashboard"), "pp")["endpoint_disabled"] == 1
        page = dashboard.get("/dashboard/attention/endpoint_disabled", hub="pp")
        assert "410 Gone" in page.text
        assert 'class="product-page"' in page.text
        assert 'href="/dashboard/products/default"' in page.text

    assert stack.api.post("/api/v1/endpoint/enable").json()["requeued"] == len(held)
    stack.drain()
    delivered = [r.headers["webhook-id"] for r in stack.product.requests()[1:]]
    assert sorted(delivered) == sorted(row.id for row in held)
    assert endpoint(stack)["pending_events"] == 0
    samples = scrape(stack.service_url)
    assert value(samples, "onboard360_product_endpoint_disabled", product="default") == 0


def test_failing_for_longer_than_the_limit_without_a_success_disables_it(
    database_url: str,
) -> None:
    with running_stack(database_url) as stack:  # the default limit: days
        stack.product.default_status = 503
        onboarded(stack, "pp", numbers=2)
        # Failing, far from long enough: enabled, and operators see it.
        state = endpoint(stack)
        assert state["state"] == "enabled"
        assert state["failing_since"] is not None
        with logged_in(stack, "ops@example.test") as dashboard:
            counts = attention_counts(dashboard.get("/dashboard"), "pp")
            assert counts["endpoint_disabled"] == 1
            page = dashboard.get("/dashboard/products/default")
            assert 'id="failing-since"' in page.text
            assert "disabled automatically at" in page.text

        # The workers now disable after 1 s of failure; the next failure comes later.
        stack.settings = stack.settings.model_copy(
            update={"endpoint_disable_after_hours": 1 / 3600}
        )
        time.sleep(1.1)
        onboarded(stack, "pp", user="user-2")
        state = endpoint(stack)
        assert state["state"] == "disabled"
        assert state["disabled_reason"] == (
            "every attempt failed for 1 second(s), not one succeeded"
        )
        (total,) = sql(stack, "SELECT count(*) AS n FROM product_events")
        assert state["pending_events"] == total.n - int(str(state["failed_events"])) > 0
        (ok,) = sql(stack, "SELECT count(*) AS n FROM delivery_attempts WHERE status < 300")
        assert ok.n == 0


def test_a_timeout_among_concurrent_successes_leaves_it_enabled(
    database_url: str,
) -> None:
    """Every fourth event's first delivery times out; the rest succeed, four at a time,
    for longer than the limit: no run of failures ever lasts, nothing is disabled."""
    with running_stack(
        database_url,
        endpoint_disable_after_hours=0.3 / 3600,
        product_overrides={"webhook_timeout_seconds": 0.4},
    ) as stack:
        firsts: list[str] = []

        def delay(msg_id: str, first: bool) -> float:
            if first:
                firsts.append(msg_id)
                if len(firsts) % 4 == 0:
                    return 1.0  # past the timeout
            return 0.1

        stack.product.delay = delay
        # Hold the events, then release them all at once to a worker running 4 at a time.
        assert stack.api.post("/api/v1/endpoint/disable", json={"reason": "hold"}).is_success
        for n in range(4):
            onboarded(stack, "pp", user=f"user-{n}", numbers=2)
        started = time.monotonic()
        with worker_running(stack, concurrency=4):
            assert stack.api.post("/api/v1/endpoint/enable").json()["requeued"] > 20
            wait_until(lambda: endpoint(stack)["pending_events"] == 0, timeout=60, what="delivery")
        took = time.monotonic() - started
        timeouts = sql(
            stack, "SELECT count(*) AS n FROM delivery_attempts WHERE error_class IS NOT NULL"
        )[0].n
        state = endpoint(stack)
    assert took > 1.0  # deliveries kept failing now and then for longer than the limit
    assert timeouts >= 5
    assert (state["state"], state["failed_events"]) == ("enabled", 0)


def test_a_success_ends_the_run_of_failures(stack: Stack) -> None:
    stack.product.answer_next(500, 500)  # two events fail once, then all succeed
    onboarded(stack, "pp", numbers=2)

    state = endpoint(stack)
    assert (state["state"], state["failing_since"]) == ("enabled", None)
    assert state["pending_events"] == 0
    statuses = [r.status for r in sql(stack, "SELECT status FROM delivery_attempts ORDER BY id")]
    assert statuses[:2] == [500, 500]
    assert set(statuses[2:]) == {200}
