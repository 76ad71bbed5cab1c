"""The product's delivery API over real HTTP: the delivery log, replays, its endpoint."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from onboard360.config.hubs import ProductConfig
from onboard360.handoff import generate_secret
from onboard360.runtime.serving import free_port
from tests.integration.dashboard_http import onboarded, sql
from tests.integration.service_http import assert_error
from tests.stack import Stack, running_stack

OTHER_TOKEN = "other-product-token-" + "o" * 24


@pytest.fixture
def stack(database_url: str) -> Iterator[Stack]:
    """Two products: "default" owns hub pp, "other" owns hub dp, whose webhook_url nobody
    listens on."""
    other = ProductConfig(
        name="other",
        webhook_url=f"http://127.0.0.1:{free_port()}/nobody",
        webhook_secrets=[SecretStr(generate_secret())],
        api_tokens=[SecretStr(OTHER_TOKEN)],
    )
    with running_stack(
        database_url, hub_overrides={"dp": {"product": "other"}}, extra_products=[other]
    ) as s:
        yield s


@pytest.fixture
def other(stack: Stack) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {OTHER_TOKEN}"}
    with httpx.Client(base_url=stack.service_url, headers=headers, timeout=10) as client:
        yield client


def events(stack: Stack, **where: str) -> list[Any]:
    clause = " AND ".join(f"{k} = :{k}" for k in where) or "true"
    columns = "id, event_type, channel_id, client_id, attempts, delivered_at, failed_at"
    query = f"SELECT {columns} FROM product_events WHERE {clause} ORDER BY created_at, id"  # noqa: S608
    return sql(stack, query, **where)


def queued_jobs(stack: Stack) -> int:
    (row,) = sql(
        stack,
        "SELECT count(*) AS n FROM procrastinate_jobs "
        "WHERE task_name = 'deliver_product_event' AND status IN ('todo', 'doing')",
    )
    return int(row.n)


def failed_onboarding(stack: Stack) -> list[Any]:
    """A client of hub pp whose every event failed all its attempts (dead)."""
    stack.product.default_status = 500
    onboarded(stack, "pp")
    dead = events(stack, product="default")
    assert dead
    assert all(e.failed_at is not None and e.attempts == 3 for e in dead)
    stack.product.default_status = 200
    return dead


def received_ids(stack: Stack) -> list[str]:
    return [r.headers["webhook-id"] for r in stack.product.requests()]


# ---- the delivery log ---------------------------------------------------------------


def test_each_attempt_is_logged_with_its_answer_and_no_secret(stack: Stack) -> None:
    event = failed_onboarding(stack)[0]
    answer = stack.api.get(f"/api/v1/events/{event.id}/attempts")
    assert answer.status_code == 200, answer.text
    log = answer.json()
    assert (log["event_id"], log["state"], log["has_more"]) == (event.id, "failed", False)
    assert [a["attempt"] for a in log["data"]] == [1, 2, 3]
    for attempt in log["data"]:
        assert attempt["status"] == 500
        assert attempt["error"] == "HTTP 500 Internal Server Error"
        assert attempt["error_class"] is None
        assert attempt["response_excerpt"] == '{"ok":false}'
        assert attempt["duration_ms"] >= 0
    secret = stack.settings.products[0].webhook_secrets[0].get_secret_value()
    assert secret.removeprefix("whsec_") not in answer.text
    assert "127.0.0.1" not in answer.text  # the product's URL is not in the log

    page = stack.api.get(f"/api/v1/events/{event.id}/attempts", params={"limit": 2})
    assert [a["attempt"] for a in page.json()["data"]] == [1, 2]
    assert page.json()["has_more"] is True
    cursor = page.json()["next_cursor"]
    rest = stack.api.get(f"/api/v1/events/{event.id}/attempts", params={"cursor": cursor})
    assert [a["attempt"] for a in rest.json()["data"]] == [3]
    assert (rest.json()["has_more"], rest.json()["next_cursor"]) == (False, None)


def test_an_unreachable_product_is_logged_by_error_class(stack: Stack, other: httpx.Client) -> None:
    stack.api = other  # hub dp belongs to "other", whose port nobody listens on
    _, (channel,) = onboarded(stack, "dp")
    (event, *_) = events(stack, product="other", channel_id=channel)
    headers = {"Authorization": f"Bearer {OTHER_TOKEN}"}
    log = httpx.get(
        f"{stack.service_url}/api/v1/events/{event.id}/attempts", headers=headers
    ).json()
    assert {a["error_class"] for a in log["data"]} == {"ConnectError"}
    assert {a["status"] for a in log["data"]} == {None}


def test_another_products_events_do_not_exist_for_it(stack: Stack, other: httpx.Client) -> None:
    event = failed_onboarding(stack)[0]
    for path in (f"/api/v1/events/{event.id}/attempts", f"/api/v1/events/{event.id}/replay"):
        method = "GET" if path.endswith("attempts") else "POST"
        assert_error(other.request(method, path), 404, "not_found")
        assert_error(httpx.request(method, f"{stack.service_url}{path}"), 401, "unauthorized")
    for bad in ("msg_nope", "msg_" + "0" * 32, "x" * 300, "msg_%2e%2e"):
        assert_error(stack.api.get(f"/api/v1/events/{bad}/attempts"), 404)
    bulk = other.post("/api/v1/events/replay", json={"status": "all"})
    assert bulk.json()["queued"] == 0  # none of them is its own
    assert queued_jobs(stack) == 0


# ---- replays ------------------------------------------------------------------------


def test_replaying_one_event_sends_it_once_with_the_same_id(stack: Stack) -> None:
    event = failed_onboarding(stack)[-1]
    before = len(stack.product.requests())

    first = stack.api.post(f"/api/v1/events/{event.id}/replay")
    assert first.status_code == 202, first.text
    assert first.json() == {"event_id": event.id, "queued": True}
    again = stack.api.post(f"/api/v1/events/{event.id}/replay")  # a client retry
    assert again.json() == {"event_id": event.id, "queued": False}
    assert queued_jobs(stack) == 1
    stack.drain()

    assert received_ids(stack)[before:] == [event.id]
    log = stack.api.get(f"/api/v1/events/{event.id}/attempts").json()
    assert log["state"] == "delivered"
    assert [(a["attempt"], a["status"]) for a in log["data"]][-1] == (4, 200)


def test_bulk_replay_queues_every_failed_event_once_oldest_first(stack: Stack) -> None:
    dead = failed_onboarding(stack)
    before = len(stack.product.requests())

    answer = stack.api.post("/api/v1/events/replay", json={"status": "failed"})
    assert answer.status_code == 202, answer.text
    assert (answer.json()["queued"], answer.json()["has_more"]) == (len(dead), False)
    repeat = stack.api.post("/api/v1/events/replay", json={"status": "undelivered"})
    assert repeat.json()["queued"] == 0  # every one is queued already
    stack.drain()

    assert received_ids(stack)[before:] == [e.id for e in dead]
    assert all(e.delivered_at is not None for e in events(stack, product="default"))
    assert stack.api.post("/api/v1/events/replay", json={}).json()["queued"] == 0


def test_bulk_replay_takes_only_what_the_filters_match(stack: Stack) -> None:
    dead = failed_onboarding(stack)
    activated = [e for e in dead if e.event_type == "channel.activated"]
    assert activated

    by_type = stack.api.post(
        "/api/v1/events/replay", json={"event_type": "channel.activated", "limit": 1000}
    )
    assert by_type.json()["queued"] == len(activated)
    channel = dead[-1].channel_id
    rest = [e for e in dead if e.channel_id == channel and e not in activated]
    by_channel = stack.api.post(
        "/api/v1/events/replay", json={"channel_id": channel, "limit": 1}
    ).json()
    assert (by_channel["queued"], by_channel["has_more"]) == (1, len(rest) > 1)
    past = datetime.now(UTC) - timedelta(days=30)
    window = {"since": past.isoformat(), "until": (past + timedelta(days=1)).isoformat()}
    assert stack.api.post("/api/v1/events/replay", json=window).json()["queued"] == 0
    assert queued_jobs(stack) == len(activated) + 1


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"status": "dead"}, 422, "validation_failed"),
        ({"status": "failed", "force": True}, 422, "validation_failed"),
        ({"event_type": "channel.exploded"}, 422, "validation_failed"),
        ({"channel_id": "../../etc"}, 422, "validation_failed"),
        ({"client_id": "x" * 65}, 422, "validation_failed"),
        ({"limit": 0}, 422, "validation_failed"),
        ({"limit": 10**9}, 422, "validation_failed"),
        ({"since": "2024-05-01T00:00:00"}, 422, "validation_failed"),  # no offset
        ({"since": "yesterday"}, 422, "validation_failed"),
        ({"since": "2024-05-02T00:00:00Z", "until": "2024-05-01T00:00:00Z"}, 400, "invalid_range"),
        (
            {"since": "0001-01-01T00:00:00Z", "until": "9999-12-31T00:00:00Z"},
            400,
            "range_too_large",
        ),
        (
            {"since": "2024-01-01T00:00:00Z", "until": "2024-06-01T00:00:00Z"},
            400,
            "range_too_large",
        ),
    ],
)
def test_bulk_replay_refuses_bad_filters_and_queues_nothing(
    stack: Stack, body: dict[str, Any], status: int, code: str
) -> None:
    failed_onboarding(stack)
    assert_error(stack.api.post("/api/v1/events/replay", json=body), status, code)
    assert queued_jobs(stack) == 0


# ---- the endpoint -------------------------------------------------------------------


def test_disabled_endpoint_holds_events_and_enabling_sends_them_in_order(stack: Stack) -> None:
    state = stack.api.get("/api/v1/endpoint").json()
    assert (state["state"], state["pending_events"], state["failed_events"]) == ("enabled", 0, 0)

    off = stack.api.post("/api/v1/endpoint/disable", json={"reason": "maintenance"})
    assert off.status_code == 200, off.text
    assert (off.json()["state"], off.json()["changed"]) == ("disabled", True)
    again = stack.api.post("/api/v1/endpoint/disable", json={"reason": "other words"})
    assert again.json()["changed"] is False
    assert again.json()["disabled_reason"] == "maintenance"
    assert again.json()["disabled_since"] == off.json()["disabled_since"]

    onboarded(stack, "pp")  # every event happens while deliveries are off
    held = events(stack, product="default")
    assert held
    assert stack.product.requests() == []
    assert all(e.attempts == 0 and e.failed_at is None for e in held)
    assert stack.api.get("/api/v1/endpoint").json()["pending_events"] == len(held)
    assert_error(stack.api.post(f"/api/v1/events/{held[0].id}/replay"), 409, "endpoint_disabled")
    assert_error(stack.api.post("/api/v1/events/replay", json={}), 409, "endpoint_disabled")

    on = stack.api.post("/api/v1/endpoint/enable")
    assert (on.json()["state"], on.json()["changed"], on.json()["requeued"]) == (
        "enabled",
        True,
        len(held),
    )
    assert stack.api.post("/api/v1/endpoint/enable").json()["requeued"] == 0
    stack.drain()
    assert received_ids(stack) == [e.id for e in held]
    actions = [r.action for r in sql(stack, "SELECT action FROM audit_log ORDER BY id")]
    assert actions == ["endpoint-disable", "endpoint-disable", "endpoint-enable", "endpoint-enable"]


@pytest.mark.parametrize(
    "body", [{"reason": ""}, {"reason": "x" * 201}, {"reason": "ok", "until": "never"}, [1]]
)
def test_disable_refuses_a_bad_body_and_changes_nothing(stack: Stack, body: Any) -> None:
    assert_error(stack.api.post("/api/v1/endpoint/disable", json=body), 422, "validation_failed")
    assert stack.api.get("/api/v1/endpoint").json()["state"] == "enabled"


def test_extreme_but_valid_dates_are_answered_not_crashed(stack: Stack) -> None:
    for window in (
        {"since": "0001-01-01T00:00+14:00", "until": "0001-01-02T00:00Z"},
        {"until": "9999-12-31T23:59:59-14:00"},
    ):
        answer = stack.api.post("/api/v1/events/replay", json={"status": "all", **window})
        assert answer.status_code == 202, answer.text
        assert answer.json()["queued"] == 0


def test_a_product_without_webhook_url_has_no_endpoint(database_url: str) -> None:
    token = "silent-product-token-" + "s" * 24
    silent = ProductConfig(name="silent", api_tokens=[SecretStr(token)])
    with running_stack(database_url, extra_products=[silent]) as stack:
        headers = {"Authorization": f"Bearer {token}"}
        for method, path in (
            ("GET", "/api/v1/endpoint"),
            ("POST", "/api/v1/endpoint/disable"),
            ("POST", "/api/v1/endpoint/enable"),
        ):
            answer = httpx.request(method, f"{stack.service_url}{path}", headers=headers)
            assert_error(answer, 404, "no_webhook_url")


def test_a_wrong_method_says_which_are_allowed(stack: Stack) -> None:
    answer = stack.api.request("TRACE", "/api/v1/endpoint")
    assert_error(answer, 405, "method_not_allowed")
    assert answer.headers["allow"] == "GET"
