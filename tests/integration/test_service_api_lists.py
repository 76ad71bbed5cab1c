"""The product API's lists over real HTTP: cursor pages, filters, what the dashboard shows
(overview, attention, search, clients, timeline, events), and one error shape for every
refusal — unknown routes, wrong methods, bad JSON and bad cursors included."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.integration.service_http import (
    OTHER_TOKEN,
    assert_error,
    execute,
    get_redirect,
    live_channel,
    redirect_query,
    sandbox_channels,
    state_of,
    two_products,
)
from tests.stack import Stack


@pytest.fixture
def stack(database_url: str) -> Iterator[Stack]:
    with two_products(database_url) as s:
        yield s


def walk(stack: Stack, path: str, **params: Any) -> list[dict[str, Any]]:
    """Every item of a list, one page of ``limit`` at a time, checking each page's shape."""
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        answer = stack.api.get(path, params={**params, **({"cursor": cursor} if cursor else {})})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert set(body) == {"data", "has_more", "next_cursor"}
        items.extend(body["data"])
        assert body["has_more"] == (body["next_cursor"] is not None)
        if not body["has_more"]:
            return items
        cursor = body["next_cursor"]


def waiting_for_permission(stack: Stack, user: str) -> tuple[str, str]:
    """A pp client whose one running number has no API-key permission: (client, channel)."""
    created = stack.start_onboarding("pp", user)
    client, (channel,) = sandbox_channels(stack, "pp", permission=False)
    stack.sandbox.set_status(channel, "running")
    answer = get_redirect(stack, "pp", redirect_query(state_of(created), client, [channel]))
    assert answer.status_code == 200, answer.text
    stack.settle()
    return client, channel


# ---- cursor pagination ----------------------------------------------------------------------


def test_pages_walk_every_item_once_even_while_rows_are_inserted(stack: Stack) -> None:
    for n in range(5):
        stack.start_onboarding("pp", f"user-{n}")
    first = stack.api.get("/api/v1/onboardings", params={"limit": 2}).json()
    assert [o["external_user_id"] for o in first["data"]] == ["user-4", "user-3"]
    stack.start_onboarding("pp", "user-new")  # newer than every page: never shifts them
    rest = walk(stack, "/api/v1/onboardings", limit=2, cursor=first["next_cursor"])
    assert [o["external_user_id"] for o in rest] == ["user-2", "user-1", "user-0"]
    everything = walk(stack, "/api/v1/onboardings", limit=1)
    assert len({o["id"] for o in everything}) == len(everything) == 6


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage!",
        "e30",  # {}
        base64.urlsafe_b64encode(b'{"l":"clients","k":[["s","pp"],["s","x"]]}').decode(),
        base64.urlsafe_b64encode(b'{"l":"channels","k":[["s","x"]]}').decode(),
        base64.urlsafe_b64encode(b'{"l":"channels","k":[["i",1],["s","pp"]]}').decode(),
        base64.urlsafe_b64encode(b'{"l":"channels","k":[["s","a\\u0000"],["s","pp"]]}').decode(),
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
    ],
)
def test_a_garbage_or_foreign_cursor_is_400(stack: Stack, cursor: str) -> None:
    answer = stack.api.get("/api/v1/channels", params={"cursor": cursor})
    assert_error(answer, 400, "invalid_cursor")
    assert "cursor" in answer.json()["error"]["message"]


def test_a_tampered_timestamp_cursor_is_400(stack: Stack) -> None:
    stack.start_onboarding("pp", "a")
    stack.start_onboarding("pp", "b")
    cursor = stack.api.get("/api/v1/onboardings", params={"limit": 1}).json()["next_cursor"]
    data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    data["k"][0][1] = "2026-13-45 99:00:00"
    forged = base64.urlsafe_b64encode(json.dumps(data).encode()).decode()
    assert_error(stack.api.get("/api/v1/onboardings", params={"cursor": forged}), 400)


# ---- what the dashboard shows ---------------------------------------------------------------


def test_lists_and_filters_show_what_the_dashboard_shows(stack: Stack) -> None:
    created, client, live = live_channel(stack, "pp")
    blocked_client, blocked = waiting_for_permission(stack, "blocked-user")
    stack.start_onboarding("pp", "never-came-back")

    stages = {o["external_user_id"]: o["stage"] for o in walk(stack, "/api/v1/onboardings")}
    assert stages == {
        "user-1": "live",
        "blocked-user": "action_needed",
        "never-came-back": "waiting_for_popup",
    }
    for stage, user in (("live", "user-1"), ("action_needed", "blocked-user")):
        found = walk(stack, "/api/v1/onboardings", stage=stage)
        assert [o["external_user_id"] for o in found] == [user]
    assert walk(stack, "/api/v1/onboardings", external_user_id="user-1")[0]["id"] == created["id"]

    assert {c["client_id"] for c in walk(stack, "/api/v1/clients", limit=1)} == {
        client,
        blocked_client,
    }
    one = stack.api.get(f"/api/v1/clients/{client}").json()
    assert [c["channel_id"] for c in one["channels"]] == [live]

    listed = walk(stack, "/api/v1/channels", attention="waiting_for_permission")
    assert [c["channel_id"] for c in listed] == [blocked]
    assert [c["channel_id"] for c in walk(stack, "/api/v1/channels", status="running")] == sorted(
        [live, blocked]
    )
    attention = walk(stack, "/api/v1/attention", kind="waiting_for_permission")
    assert [(a["channel_id"], a["client_id"]) for a in attention] == [(blocked, blocked_client)]

    overview = stack.api.get("/api/v1/overview").json()
    (hub,) = overview["hubs"]  # dp belongs to the other product
    assert hub["hub"] == "pp"
    assert hub["onboardings"] == {
        "waiting_for_popup": 1,
        "confirming": 0,
        "connecting": 0,
        "action_needed": 1,
        "live": 1,
        "expired": 0,
    }
    assert hub["attention"]["waiting_for_permission"] == 1
    assert sum(s["count"] for s in hub["channels"]) == 2

    phone = stack.sandbox.channel(live).phone_number
    hits = walk(stack, "/api/v1/search", q=phone[-6:])
    assert [(h["kind"], h["client_id"]) for h in hits] == [("client", client)]
    hits = walk(stack, "/api/v1/search", q="never-came-back")
    assert [h["kind"] for h in hits] == ["onboarding"]


def test_the_timeline_pages_newest_first_and_never_shows_a_key(stack: Stack) -> None:
    _created, client, channel = live_channel(stack, "pp")
    key = stack.api.get(f"/api/v1/channels/{channel}/api-key").json()["api_key"]
    execute(
        stack,
        "INSERT INTO timeline (hub, client_id, source, kind, detail) "
        "VALUES ('pp', %s, 'test', 'leaky', %s)",
        client,
        json.dumps({"api_key": key, "nested": {"token": "t0ps3cret"}, "count": 3}),
    )
    items = walk(stack, f"/api/v1/clients/{client}/timeline", limit=3)
    assert items[0]["kind"] == "leaky"
    assert items[0]["detail"] == {
        "api_key": "[redacted]",
        "nested": {"token": "[redacted]"},
        "count": 3,
    }
    times = [item["at"] for item in items]
    assert times == sorted(times, reverse=True)
    assert len({item["id"] for item in items}) == len(items)
    assert {"api_key_read", "onboarding_created", "redirected"} <= {i["kind"] for i in items}
    for path in ("/api/v1/events", f"/api/v1/clients/{client}/timeline"):
        assert key not in stack.api.get(path).text
        assert "t0ps3cret" not in stack.api.get(path).text


def test_events_show_their_delivery_status(stack: Stack) -> None:
    stack.product.default_status = 500  # the product refuses everything from now on
    _created, _client, channel = live_channel(stack, "pp")
    events = walk(stack, "/api/v1/events", channel_id=channel)
    assert events
    assert all(not e["delivered"] and e["attempts"] > 0 for e in events)
    assert {e["state"] for e in events} <= {"pending", "failed"}  # failed: retries spent
    assert {e["last_status"] for e in events} == {500}
    assert walk(stack, "/api/v1/events", delivered="true") == []
    activated = walk(stack, "/api/v1/events", type="channel.activated")
    assert [e["channel_id"] for e in activated] == [channel]
    assert activated[0]["data"]["api_key_available"] is True


def test_another_products_lists_are_empty_and_its_client_is_404(stack: Stack) -> None:
    _created, client, _channel = live_channel(stack, "pp")
    headers = {"Authorization": f"Bearer {OTHER_TOKEN}"}
    with httpx.Client(base_url=stack.service_url, headers=headers, timeout=10) as other:
        for path in ("/api/v1/onboardings", "/api/v1/clients", "/api/v1/channels"):
            assert other.get(path).json()["data"] == []
        assert other.get("/api/v1/search", params={"q": client}).json()["data"] == []
        assert other.get("/api/v1/events").json()["data"] == []
        assert [h["hub"] for h in other.get("/api/v1/overview").json()["hubs"]] == ["dp"]
        assert_error(other.get(f"/api/v1/clients/{client}"), 404, "not_found")
        assert_error(other.get(f"/api/v1/clients/{client}/timeline"), 404, "not_found")
        assert_error(other.get("/api/v1/channels", params={"hub": "pp"}), 404, "not_found")


# ---- one error shape ------------------------------------------------------------------------


def test_unknown_routes_wrong_methods_and_bad_values_share_the_error_shape(stack: Stack) -> None:
    assert_error(stack.api.get("/api/v1/nothing-here"), 404, "not_found")
    wrong = stack.api.delete("/api/v1/channels")
    assert_error(wrong, 405, "method_not_allowed")
    assert wrong.headers["allow"] == "GET"
    answer = stack.api.get("/api/v1/attention", params={"kind": "nonsense"})
    assert_error(answer, 422, "validation_failed")
    assert "query.kind" in answer.json()["error"]["message"]
    assert_error(stack.api.get("/api/v1/search"), 422, "validation_failed")
    assert_error(stack.api.get("/api/v1/search", params={"q": "a\x00b"}), 422)
    assert_error(stack.api.get("/api/v1/clients/x'%20OR%201=1"), 404, "not_found")
    answer = stack.api.post(
        "/api/v1/onboardings", content=b"{nope", headers={"content-type": "application/json"}
    )
    assert_error(answer, 400, "invalid_json")


def test_search_finds_a_number_by_its_digits_however_it_is_written(stack: Stack) -> None:
    _created, client, channel = live_channel(stack, "pp")
    # 360dialog's format for phone numbers is not documented: a hub that sends spaces.
    execute(
        stack,
        "UPDATE channels SET phone_number = '+49 151 2345-6789' WHERE channel_id = %s",
        channel,
    )
    for typed in ("4915123456789", "+49 151 23", "151 2345", "456789", "(151) 2345-67"):
        hits = walk(stack, "/api/v1/search", q=typed)
        assert [(h["kind"], h["client_id"]) for h in hits] == [("client", client)], typed
    assert walk(stack, "/api/v1/search", q="4915999") == []
