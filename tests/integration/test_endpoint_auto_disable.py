"""A failing product endpoint is disabled on its own — 410 Gone, failing too many events
or for too long — holds its events, shows in metrics and on the dashboard, and sends
them all once enabled. Against a real HTTP product (the stack's sink)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.dashboard_http import attention_counts, logged_in, onboarded, sql
from tests.integration.test_metrics import scrape, value
from tests.stack import Stack, running_stack


@pytest.fixture
def stack(database_url: str) -> Iterator[Stack]:
    with running_stack(database_url, endpoint_disable_after_events=3) as s:
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


def test_enough_different_events_failing_in_a_row_disable_it(stack: Stack) -> None:
    stack.product.default_status = 503
    onboarded(stack, "pp", numbers=3)

    state = endpoint(stack)
    assert state["state"] == "disabled"
    assert state["disabled_reason"] == "3 different event(s) failed in a row"
    (row,) = sql(stack, "SELECT count(DISTINCT event_id) AS n FROM delivery_attempts")
    assert row.n == 3  # no event was attempted after the third one failed
    (total,) = sql(stack, "SELECT count(*) AS n FROM product_events")
    assert state["pending_events"] == total.n - int(str(state["failed_events"])) > 0


def test_a_success_ends_the_run_of_failures(stack: Stack) -> None:
    stack.product.answer_next(500, 500)  # two events fail once, then all succeed
    onboarded(stack, "pp", numbers=2)

    state = endpoint(stack)
    assert (state["state"], state["failing_since"]) == ("enabled", None)
    assert state["pending_events"] == 0
    statuses = [r.status for r in sql(stack, "SELECT status FROM delivery_attempts ORDER BY id")]
    assert statuses[:2] == [500, 500]
    assert set(statuses[2:]) == {200}


def test_failing_for_longer_than_the_limit_disables_it(stack: Stack) -> None:
    stack.product.default_status = 500
    sql(
        stack,
        "INSERT INTO product_endpoints (product, failing_since) "
        "VALUES ('default', now() - interval '25 hours')",
    )
    onboarded(stack, "pp")

    state = endpoint(stack)
    assert state["state"] == "disabled"
    assert state["disabled_reason"] == "every attempt failed for 24 hour(s)"
    assert len(stack.product.requests()) == 1
