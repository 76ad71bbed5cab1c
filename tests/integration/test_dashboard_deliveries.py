"""The product's deliveries on the dashboard: disable / enable the endpoint, replay the
failed events, an event's delivery log — confirmed, audited, harmless when repeated."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from tests.integration.dashboard_http import (
    Dashboard,
    audit_rows,
    forms,
    onboarded,
    sql,
)
from tests.stack import Stack

PAGE = "/dashboard/products/default"


def submit(dashboard: Dashboard, action: str) -> tuple[str, dict[str, str]]:
    """Open the product action's confirm page and submit it: the outcome and the form."""
    target = f"{PAGE}/actions/{action}"
    page = dashboard.get(target)
    assert page.status_code == 200, page.text
    fields = forms(page)[target]
    return post(dashboard, action, fields), fields


def post(dashboard: Dashboard, action: str, fields: dict[str, str]) -> str:
    answer = dashboard.http.post(f"{PAGE}/actions/{action}", data=fields)
    assert answer.status_code == 303, answer.text
    location = answer.headers["location"]
    assert location.startswith(PAGE)
    page = dashboard.get(location)
    assert 'id="done"' in page.text
    return parse_qs(urlsplit(location).query)["done"][0]


def test_disable_holds_events_and_enable_sends_them(stack: Stack, dashboard: Dashboard) -> None:
    outcome, form = submit(dashboard, "disable-endpoint")
    assert outcome == "endpoint_disabled"
    assert post(dashboard, "disable-endpoint", form) == "endpoint_nothing"  # resent form
    onboarded(stack, "pp")
    assert stack.product.requests() == []
    page = dashboard.get(PAGE)
    assert 'data-state="disabled"' in page.text
    assert "by operator:ops@example.test" in page.text

    outcome, form = submit(dashboard, "enable-endpoint")
    assert outcome == "endpoint_enabled"
    assert post(dashboard, "enable-endpoint", form) == "endpoint_nothing"
    stack.drain()
    (events,) = sql(stack, "SELECT count(*) AS n FROM product_events WHERE delivered_at IS NULL")
    assert events.n == 0
    assert len(stack.product.requests()) > 0
    details = [r.detail for r in audit_rows(stack, "enable-endpoint")]
    assert [d["outcome"] for d in details] == ["endpoint_enabled", "endpoint_nothing"]
    assert details[0]["requeued"] == len(stack.product.requests())
    assert audit_rows(stack, "disable-endpoint")[0].target == "product:default"


def test_replay_failed_sends_each_dead_event_once(stack: Stack, dashboard: Dashboard) -> None:
    stack.product.default_status = 500
    onboarded(stack, "pp")
    dead = sql(stack, "SELECT id FROM product_events WHERE failed_at IS NOT NULL")
    assert dead
    stack.product.default_status = 200
    before = len(stack.product.requests())

    page = dashboard.get(PAGE)
    assert f'id="failed">{len(dead)}<' in page.text
    outcome, form = submit(dashboard, "replay-failed")
    assert outcome == "replay_queued"
    assert post(dashboard, "replay-failed", form) == "replay_nothing"
    stack.drain()

    resent = [r.headers["webhook-id"] for r in stack.product.requests()[before:]]
    assert sorted(resent) == sorted(row.id for row in dead)
    details = [r.detail for r in audit_rows(stack, "replay-failed")]
    assert [d["outcome"] for d in details] == ["replay_queued", "replay_nothing"]
    assert details[0]["queued"] == len(dead)


def test_event_page_shows_each_attempt(stack: Stack, dashboard: Dashboard) -> None:
    # The first event is onboarding.started (no client yet); the next one is the client's.
    stack.product.answer_next(200, 503)
    client, _ = onboarded(stack, "pp")
    (event,) = sql(stack, "SELECT id, hub FROM product_events WHERE attempts = 2")
    client_page = dashboard.get(f"/dashboard/clients/pp/{client}")
    assert f'href="/dashboard/events/{event.id}"' in client_page.text
    page = dashboard.get(f"/dashboard/events/{event.id}")
    assert page.status_code == 200
    assert 'data-attempt="1"' in page.text
    assert 'data-attempt="2"' in page.text
    assert ">503<" in page.text
    secret = stack.settings.products[0].webhook_secrets[0].get_secret_value()
    assert secret.removeprefix("whsec_") not in page.text


def test_product_actions_refuse_a_wrong_csrf_token(stack: Stack, dashboard: Dashboard) -> None:
    target = f"{PAGE}/actions/disable-endpoint"
    fields = forms(dashboard.get(target))[target]
    for token in ("forged", ""):
        answer = dashboard.http.post(target, data={**fields, "csrf_token": token})
        assert answer.status_code == 403
    unconfirmed = {k: v for k, v in fields.items() if k != "confirm"}
    assert dashboard.http.post(target, data=unconfirmed).status_code == 303
    assert 'data-state="enabled"' in dashboard.get(PAGE).text
    assert audit_rows(stack, "disable-endpoint") == []


def test_unknown_products_actions_and_events_are_404(dashboard: Dashboard) -> None:
    for path in (
        "/dashboard/products/nope",
        "/dashboard/products/nope/actions/disable-endpoint",
        f"{PAGE}/actions/self-destruct",
        "/dashboard/events/msg_nope",
        "/dashboard/events/msg_" + "0" * 32,
    ):
        assert dashboard.get(path).status_code == 404, path
