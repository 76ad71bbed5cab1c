"""The official button on the product's own page (web/api/button.py): signed popup
parameters from onboard360, and redirects forwarded with the onboarding they belong to."""

from __future__ import annotations

import time
from typing import Any

import httpx

from onboard360.hub.signatures import io_signature_problem
from tests.integration.service_http import (
    OTHER_TOKEN,
    count,
    execute,
    onboarding_row,
    redirect_query,
    rows,
    sandbox_channels,
    snapshot,
    state_of,
    two_products,
)
from tests.integration.test_attempt_identity import browser, open_popup
from tests.integration.test_service_redirects import HOSTILE
from tests.stack import Stack, running_stack


def parameters(stack: Stack, onboarding_id: str) -> httpx.Response:
    return stack.api.post(f"/api/v1/onboardings/{onboarding_id}/popup-parameters")


def forward(stack: Stack, query: str, **onboarding: Any) -> httpx.Response:
    return stack.api.post("/api/v1/redirects", json={"query": query, **onboarding})


def other_products_onboarding(stack: Stack) -> dict[str, Any]:
    """An onboarding of the product "other" (hub dp, two_products)."""
    answer = httpx.post(
        f"{stack.service_url}/api/v1/onboardings",
        json={"hub": "dp", "external_user_id": "u"},
        headers={"Authorization": f"Bearer {OTHER_TOKEN}"},
        timeout=10,
    )
    assert answer.status_code == 201, answer.text
    created: dict[str, Any] = answer.json()
    return created


# ---- signed popup parameters ----------------------------------------------------------------


def test_popup_parameters_are_signed_now_and_carry_the_prefill(database_url: str) -> None:
    with running_stack(database_url, hub_options={"io_signature": True}) as stack:
        created = stack.start_onboarding(
            "pp", "user-1", email="a@acme.test", name="Acme", number="+4915100000009"
        )
        answer = parameters(stack, created["id"])
        assert answer.status_code == 200, answer.text
        assert answer.headers["cache-control"] == "no-store"
        body = answer.json()
        hub = stack.hub("pp")
        assert (body["hub"], body["partner_id"]) == ("pp", hub.partner_id)
        params = body["query_parameters"]
        assert (params["email"], params["name"], params["number"]) == (
            "a@acme.test",
            "Acme",
            "+4915100000009",
        )
        assert hub.platform_secret is not None
        problem = io_signature_problem(
            hub.platform_secret.get_secret_value(),
            hub.partner_id,
            params["io_signature"],
            params["io_timestamp"],
            now_seconds=int(time.time()),
        )
        assert problem is None
        # Not the onboarding's state (a capability the button would leave in a page URL).
        assert params["state"] != created["state"]
        assert created["state"] not in answer.text
        # The sandbox's popup opens with them, and refuses the same link unsigned.
        assert httpx.get(body["popup_url"], timeout=10).status_code == 200
        unsigned = body["popup_url"].split("&io_signature")[0]
        assert httpx.get(unsigned, timeout=10).status_code == 403


def test_a_returning_client_logs_in(stack: Stack) -> None:
    created = stack.start_onboarding("pp", "back")
    client, channels = sandbox_channels(stack, "pp")
    assert (
        forward(stack, redirect_query(None, client, channels), **by_id(created)).status_code == 200
    )
    again = stack.start_onboarding("pp", "back")
    params = parameters(stack, again["id"]).json()["query_parameters"]
    assert params["next"] == "login"
    assert "io_signature" not in params  # this hub does not want IO Signatures


def test_popup_parameters_refuse_completed_expired_and_foreign_onboardings(
    database_url: str,
) -> None:
    with two_products(database_url) as stack:
        done = stack.start_onboarding("pp")
        client, channels = sandbox_channels(stack, "pp")
        assert (
            forward(stack, redirect_query(None, client, channels), **by_id(done)).status_code == 200
        )
        assert parameters(stack, done["id"]).status_code == 409

        expired = stack.start_onboarding("pp")
        execute(stack, "UPDATE onboardings SET expires_at = now() WHERE id = %s", expired["id"])
        assert parameters(stack, expired["id"]).status_code == 410

        theirs = other_products_onboarding(stack)
        assert parameters(stack, theirs["id"]).status_code == 404


# ---- forwarded redirects ------------------------------------------------------------------------


def by_id(created: dict[str, Any]) -> dict[str, str]:
    return {"onboarding_id": created["id"]}


def test_a_forwarded_redirect_without_state_completes_the_named_onboarding(stack: Stack) -> None:
    created = stack.start_onboarding("pp", "user-1")
    client, channels = sandbox_channels(stack, "pp")
    answer = forward(stack, "?" + redirect_query(None, client, channels), **by_id(created))
    assert answer.status_code == 200, answer.text
    assert answer.json()["id"] == created["id"]
    (row,) = rows(stack, "SELECT client_id, channels FROM onboardings")
    assert (row["client_id"], row["channels"]) == (client, channels)


def test_an_echoed_state_must_be_the_named_onboardings(stack: Stack) -> None:
    created = stack.start_onboarding("pp", "user-1")
    other = stack.start_onboarding("pp", "user-2")
    client, channels = sandbox_channels(stack, "pp")
    tag = parameters(stack, created["id"]).json()["query_parameters"]["state"]
    other_tag = parameters(stack, other["id"]).json()["query_parameters"]["state"]
    before = snapshot(stack)
    for wrong in (state_of(other), other_tag, "made-up"):
        answer = forward(stack, redirect_query(wrong, client, channels), **by_id(created))
        assert answer.status_code == 400, answer.text
        assert answer.json()["error"]["code"] == "state_mismatch"
    assert snapshot(stack) == before
    # Its popup parameters' state, or its own state, agree.
    assert (
        forward(stack, redirect_query(tag, client, channels), **by_id(created)).status_code == 200
    )
    again = forward(stack, redirect_query(state_of(created), client, channels), **by_id(created))
    assert again.status_code == 200


def test_the_onboarding_may_be_named_by_its_state(stack: Stack) -> None:
    created = stack.start_onboarding("pp")
    client, channels = sandbox_channels(stack, "pp")
    answer = forward(stack, redirect_query(None, client, channels), state=state_of(created))
    assert answer.status_code == 200, answer.text
    assert answer.json()["id"] == created["id"]


def test_the_onboarding_must_be_named_once(stack: Stack) -> None:
    created = stack.start_onboarding("pp")
    client, channels = sandbox_channels(stack, "pp")
    query = redirect_query(state_of(created), client, channels)
    for body in ({}, {**by_id(created), "state": state_of(created)}, {"state": "a b"}):
        answer = forward(stack, query, **body)
        assert answer.status_code == 422, answer.text
    assert stack.api.post("/api/v1/redirects", json={"query": query, "x": 1}).status_code == 422
    assert count(stack, "channels") == 0


def test_another_products_onboarding_cannot_be_named(database_url: str) -> None:
    with two_products(database_url) as stack:
        theirs = other_products_onboarding(stack)
        client, channels = sandbox_channels(stack, "dp")
        before = snapshot(stack)
        query = redirect_query(None, client, channels)
        assert forward(stack, query, **by_id(theirs)).status_code == 404
        assert forward(stack, query, state=theirs["state"]).status_code == 404
        assert snapshot(stack) == before


def test_another_users_cookie_is_no_use_through_the_api(stack: Stack) -> None:
    victim = stack.start_onboarding("pp", "victim")
    mine = stack.start_onboarding("pp", "attacker")
    with browser(stack) as http:
        open_popup(http, "pp", state_of(victim))
        stolen = dict(http.cookies)
    client, channels = sandbox_channels(stack, "pp")
    query = redirect_query(None, client, channels)
    before = snapshot(stack)
    with httpx.Client(
        base_url=stack.service_url, headers=stack.api.headers, cookies=stolen, timeout=10
    ) as attacker:
        bare = attacker.post("/api/v1/redirects", json={"query": query})
        assert bare.status_code == 422, bare.text
        assert snapshot(stack) == before
        answer = attacker.post("/api/v1/redirects", json={"query": query, **by_id(mine)})
    assert answer.status_code == 200, answer.text
    assert answer.json()["id"] == mine["id"]
    untouched = onboarding_row(stack, victim["id"])
    assert (untouched["redirected_at"], untouched["client_id"]) == (None, None)


def test_forwarded_redirect_for_an_expired_onboarding_says_expired(stack: Stack) -> None:
    created = stack.start_onboarding("pp")
    execute(stack, "UPDATE onboardings SET expires_at = now() - interval '1 second'")
    client, channels = sandbox_channels(stack, "pp")
    answer = forward(stack, "?" + redirect_query(None, client, channels), **by_id(created))
    assert answer.status_code == 410, answer.text
    assert answer.json()["error"]["code"] == "invalid_state"
    assert count(stack, "channels") == 0


def test_forwarded_redirect_reused_differently_says_conflict(stack: Stack) -> None:
    created = stack.start_onboarding("pp")
    client, (a, b) = sandbox_channels(stack, "pp", 2)
    assert forward(stack, redirect_query(None, client, [a]), **by_id(created)).status_code == 200
    before = snapshot(stack)
    assert forward(stack, redirect_query(None, client, [b]), **by_id(created)).status_code == 409
    assert snapshot(stack) == before


def test_forwarded_hostile_redirect_is_400_json(stack: Stack) -> None:
    created = stack.start_onboarding("pp")
    answer = forward(stack, HOSTILE["script client"], **by_id(created))
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "invalid_redirect"
    assert "<script" not in answer.text
