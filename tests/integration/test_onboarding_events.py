"""`onboarding.started` / `onboarding.completed`: one of each per attempt, written with
the attempt's row, signed to the product, never carrying the state or the popup's
signature — however many times the official button calls back."""

from __future__ import annotations

import http.client
import io
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest

from onboard360.handoff import verify
from tests.integration.dashboard_http import forms, logged_in, onboarded
from tests.integration.service_http import (
    execute,
    get_redirect,
    redirect_query,
    rows,
    sandbox_channels,
    state_of,
)
from tests.stack import Stack, running_stack

STARTED, COMPLETED = "onboarding.started", "onboarding.completed"


def received(stack: Stack) -> list[dict[str, Any]]:
    """Every event the product received, each one's signature checked with its secret."""
    secret = stack.settings.products[0].webhook_secrets[0]
    for request in stack.product.requests():
        verify(secret, request.headers, request.body, now=int(time.time()))
    return stack.product_events()


def onboarding_events(stack: Stack, event_type: str | None = None) -> list[dict[str, Any]]:
    return [
        e
        for e in received(stack)
        if e["type"].startswith("onboarding.") and event_type in (None, e["type"])
    ]


def stored(stack: Stack, event_type: str) -> list[dict[str, Any]]:
    query = "SELECT * FROM product_events WHERE event_type = %s ORDER BY created_at"
    return rows(stack, query, event_type)


def on_hosted_page(stack: Stack, hub: str, query: str) -> httpx.Response:
    return get_redirect(stack, hub, query)


def forwarded(stack: Stack, _hub: str, query: str) -> httpx.Response:
    """The product names the onboarding by the state it holds (here: the one in the query)."""
    state = dict(parse_qsl(query))["state"]
    return stack.api.post("/api/v1/redirects", json={"query": f"?{query}", "state": state})


CONSUMERS: dict[str, Callable[[Stack, str, str], httpx.Response]] = {
    "hosted page": on_hosted_page,
    "api forward": forwarded,
}


def test_an_onboarding_created_through_the_api_is_announced_once(stack: Stack) -> None:
    created = stack.start_onboarding("pp", "crm-user-1")
    stack.drain()

    (event,) = onboarding_events(stack)
    data = event["data"]
    expires = datetime.fromisoformat(data.pop("expires_at"))
    assert event["type"] == STARTED
    assert data == {
        "hub": "pp",
        "partner_id": stack.hub("pp").partner_id,
        "onboarding_id": created["id"],
        "external_user_id": "crm-user-1",
        "returning_client": False,
    }
    assert expires == datetime.fromisoformat(created["expires_at"])


def test_a_dashboard_relink_announces_a_returning_clients_attempt(stack: Stack) -> None:
    client, _channels = onboarded(stack, "dp", user="crm-7", permission=False)
    with logged_in(stack, "ops@example.test") as dashboard:
        confirm = dashboard.get("/dashboard/links/new", hub="dp", client=client)
        made = dashboard.http.post(
            "/dashboard/links/new", data=forms(confirm)["/dashboard/links/new"]
        )
    assert made.status_code == 303
    stack.drain()

    (_first, relink) = onboarding_events(stack, STARTED)
    (row,) = rows(stack, "SELECT id FROM onboardings WHERE prefill ? 'login'")
    assert relink["data"]["onboarding_id"] == str(row["id"])
    assert (relink["data"]["external_user_id"], relink["data"]["returning_client"]) == (
        "crm-7",
        True,
    )


@pytest.mark.parametrize("consume", list(CONSUMERS), ids=str)
def test_a_replayed_redirect_completes_the_onboarding_once(stack: Stack, consume: str) -> None:
    created = stack.start_onboarding("pp", "crm-user-2")
    client, channels = sandbox_channels(stack, "pp", 2)
    query = redirect_query(state_of(created), client, channels)
    # The official button calls back more than once; a person may reload the page too.
    answers = [CONSUMERS[consume](stack, "pp", query) for _ in range(3)]
    stack.settle()

    assert [a.status_code for a in answers] == [200, 200, 200]
    types = [e["type"] for e in onboarding_events(stack)]
    assert types == [STARTED, COMPLETED]
    (completed,) = onboarding_events(stack, COMPLETED)
    assert completed["data"] == {
        "hub": "pp",
        "partner_id": stack.hub("pp").partner_id,
        "onboarding_id": created["id"],
        "external_user_id": "crm-user-2",
        "client_id": client,
        "channels": channels,
        "revoked": [],
    }
    assert len(stored(stack, COMPLETED)) == 1


def test_a_redirect_on_both_paths_completes_the_onboarding_once(stack: Stack) -> None:
    created = stack.start_onboarding("pp")
    client, channels = sandbox_channels(stack, "pp")
    query = redirect_query(state_of(created), client, channels)
    assert on_hosted_page(stack, "pp", query).status_code == 200
    assert forwarded(stack, "pp", query).status_code == 200
    stack.settle()
    assert [e["type"] for e in onboarding_events(stack)] == [STARTED, COMPLETED]


@pytest.mark.parametrize("consume", list(CONSUMERS), ids=str)
def test_an_expired_onboarding_sends_no_completed(stack: Stack, consume: str) -> None:
    created = stack.start_onboarding("pp")
    client, channels = sandbox_channels(stack, "pp")
    execute(stack, "UPDATE onboardings SET expires_at = now() - interval '1 second'")
    answer = CONSUMERS[consume](stack, "pp", redirect_query(state_of(created), client, channels))
    stack.settle()

    assert answer.status_code == 410
    assert [e["type"] for e in onboarding_events(stack)] == [STARTED]
    assert stored(stack, COMPLETED) == []


@pytest.mark.parametrize("consume", list(CONSUMERS), ids=str)
def test_an_unknown_state_sends_no_onboarding_event(stack: Stack, consume: str) -> None:
    client, channels = sandbox_channels(stack, "pp")
    answer = CONSUMERS[consume](
        stack, "pp", redirect_query("not-a-state-we-made", client, channels)
    )
    stack.settle()

    # The page cannot tell (400); the API names the onboarding, which does not exist (404).
    assert answer.status_code == (400 if consume == "hosted page" else 404)
    assert onboarding_events(stack) == []
    assert rows(stack, "SELECT id FROM product_events WHERE event_type LIKE 'onboarding.%%'") == []


def test_a_conflicting_second_redirect_sends_no_second_completed(stack: Stack) -> None:
    created = stack.start_onboarding("pp")
    client, channels = sandbox_channels(stack, "pp", 2)
    first = get_redirect(stack, "pp", redirect_query(state_of(created), client, channels[:1]))
    other = get_redirect(stack, "pp", redirect_query(state_of(created), client, channels))
    stack.settle()

    assert (first.status_code, other.status_code) == (200, 409)
    (completed,) = onboarding_events(stack, COMPLETED)
    assert completed["data"]["channels"] == channels[:1]


def test_one_onboardings_events_share_one_delivery_lock_also_when_replayed(
    stack: Stack,
) -> None:
    created = stack.start_onboarding("pp")
    client, channels = sandbox_channels(stack, "pp")
    get_redirect(stack, "pp", redirect_query(state_of(created), client, channels))
    lock_of = """SELECT e.event_type, j.lock FROM procrastinate_jobs j
        JOIN product_events e ON e.id = j.args->>'event_id'
        WHERE j.task_name = 'deliver_product_event' AND j.status = 'todo'
          AND e.event_type LIKE 'onboarding.%%' ORDER BY j.id"""
    wanted = f"deliver:default:onboarding:{created['id']}"
    assert rows(stack, lock_of) == [
        {"event_type": STARTED, "lock": wanted},
        {"event_type": COMPLETED, "lock": wanted},
    ]
    stack.settle()

    replayed = stack.api.post(
        "/api/v1/events/replay", json={"event_type": COMPLETED, "status": "all"}
    )
    assert replayed.status_code == 202, replayed.text
    assert rows(stack, lock_of) == [{"event_type": COMPLETED, "lock": wanted}]


def popup_location(url: str) -> str:
    """Where our opener sends the browser. Read with http.client: an httpx client in this
    process logs the answer's headers at debug, as if the service had logged them."""
    target = httpx.URL(url)
    conn = http.client.HTTPConnection(target.host, target.port, timeout=10)
    try:
        conn.request("GET", target.raw_path.decode())
        answer = conn.getresponse()
        assert answer.status == 303
        return str(answer.getheader("location"))
    finally:
        conn.close()


def test_no_state_or_io_signature_in_onboarding_events_or_logs(
    log_stream: io.StringIO, database_url: str
) -> None:
    with running_stack(database_url, hub_options={"io_signature": True}) as stack:
        created = stack.start_onboarding("pp", "crm-user-3")
        signature = httpx.URL(popup_location(created["popup_url"])).params["io_signature"]
        client, channels = sandbox_channels(stack, "pp")
        get_redirect(stack, "pp", redirect_query(state_of(created), client, channels))
        stack.settle()

        assert [e["type"] for e in onboarding_events(stack)] == [STARTED, COMPLETED]
        secrets = {"state": created["state"], "io_signature": signature}
        outbound = b"".join(r.body for r in stack.product.requests()).decode()
        table = "".join(str(row) for row in rows(stack, "SELECT * FROM product_events"))
        logs = log_stream.getvalue()
        assert "onboarding_id" in table
        for where, text in {"outbound": outbound, "product_events": table, "logs": logs}.items():
            leaks = [name for name, value in secrets.items() if value in text]
            assert leaks == [], f"in {where}: {leaks}"
