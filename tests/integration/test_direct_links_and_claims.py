"""Issue 18's direct links and claims: a client onboarded through the hub's direct link
(no attempt of ours) lands as unclaimed with no key request; a claim binds it and entitles
its channels; a bound client is never claimed away without an operator's re-assignment."""

from __future__ import annotations

import httpx

from tests.integration.popup_http import Popup, onboard, parse_redirect, unique_email
from tests.integration.service_http import (
    assert_error,
    live_channel,
    rows,
    sandbox_channels,
    snapshot,
)
from tests.stack import Stack


def direct_link_onboarding(stack: Stack, numbers: int = 1) -> tuple[str, list[str], str]:
    """A person follows the hub's direct link through the sandbox popup and comes back:
    (client, channels, the page they end on)."""
    opener = httpx.get(f"{stack.service_url}/connect/pp/direct", timeout=10)
    assert opener.status_code == 303
    assert "state" not in httpx.URL(opener.headers["location"]).params
    phones = [f"+4915122{n:05d}" for n in range(numbers)]
    with httpx.Client(base_url=stack.sandbox_url, timeout=10) as http:
        popup = Popup(http, stack.hub("pp").partner_id)
        done = onboard(
            popup,
            email=unique_email("direct"),
            numbers=phones,
            opened=popup.open(url=opener.headers["location"]),
        )
    back = parse_redirect(done.headers["location"])
    assert back.state is None
    page = httpx.get(done.headers["location"], timeout=10)
    assert page.status_code == 200, page.text
    return back.client, back.channels, page.text


def claim(stack: Stack, client: str, user: str, **extra: str) -> httpx.Response:
    return stack.api.post(
        f"/api/v1/clients/{client}/claim", json={"external_user_id": user, **extra}
    )


def test_the_bare_connect_page_offers_the_hubs_direct_link(stack: Stack) -> None:
    page = httpx.get(f"{stack.service_url}/connect/pp", timeout=10)
    assert page.status_code == 200
    assert f'href="{stack.settings.public_url}/connect/pp/direct"' in page.text


def test_a_direct_link_client_is_unclaimed_unkeyed_until_claimed(stack: Stack) -> None:
    client, (channel,), text = direct_link_onboarding(stack)
    assert "Your number is being connected. You can close this window." in text
    stack.sandbox.set_status(channel, "running")
    stack.settle()
    (row,) = rows(stack, "SELECT * FROM channels WHERE channel_id = %s", channel)
    assert row["status"] == "running"
    assert row["blocker"] == "not_entitled"
    assert stack.sandbox.channel(channel).keys_generated == 0
    unclaimed = stack.api.get("/api/v1/clients", params={"claimed": "false"}).json()["data"]
    assert [c["client_id"] for c in unclaimed] == [client]
    listed = stack.api.get("/api/v1/attention", params={"kind": "unclaimed_clients"}).json()
    assert [i["client_id"] for i in listed["data"]] == [client]

    answer = claim(stack, client, "crm-42")
    assert answer.status_code == 200, answer.text
    assert answer.json()["external_user_id"] == "crm-42"
    stack.settle()
    assert stack.sandbox.channel(channel).keys_generated == 1
    assert stack.api.get(f"/api/v1/channels/{channel}/api-key").status_code == 200
    claimed = [e for e in stack.product_events() if e["type"] == "client.claimed"]
    assert [e["data"]["external_user_id"] for e in claimed] == ["crm-42"]
    assert stack.api.get("/api/v1/clients", params={"claimed": "false"}).json()["data"] == []
    # The same claim again changes nothing and sends nothing.
    before = snapshot(stack)
    assert claim(stack, client, "crm-42").status_code == 200
    stack.settle()
    assert snapshot(stack) == before


def test_a_bound_client_cannot_be_claimed_for_another_user(stack: Stack) -> None:
    _, client, channel = live_channel(stack)
    before = snapshot(stack)
    assert_error(claim(stack, client, "mallory"), 409, "already_claimed")
    stack.settle()
    assert snapshot(stack) == before
    assert stack.sandbox.channel(channel).keys_generated == 1


def test_claims_360dialog_does_not_confirm_are_refused(stack: Stack) -> None:
    assert_error(claim(stack, "JUNKCL", "crm-1"), 422, "hub_required")  # two hubs
    assert_error(claim(stack, "JUNKCL", "crm-1", hub="pp"), 404, "not_found")
    client, _ = sandbox_channels(stack, "pp")
    stack.settle()
    before = snapshot(stack)
    stack.sandbox_hub("pp").faults.api_5xx_rate = 1.0
    assert_error(claim(stack, client, "crm-1"), 503, "hub_unavailable")
    stack.sandbox_hub("pp").faults.api_5xx_rate = 0.0
    assert snapshot(stack) == before


def test_a_claim_body_is_strict(stack: Stack) -> None:
    client, _ = sandbox_channels(stack, "pp")
    assert_error(claim(stack, client, "crm-1", role="admin"), 422)
    assert_error(claim(stack, client, "crm\x00-1"), 422)
    assert_error(claim(stack, client, "crm-1", hub="no-such-hub"), 404)
    assert rows(stack, "SELECT * FROM clients WHERE external_user_id IS NOT NULL") == []
