"""Issue 10's attacks, each through the hosted page and through ``POST /api/v1/redirects``,
by an attacker with an ordinary onboarding of their own: everything of the victim stays as
it was — binding, permission, key (the sandbox counts generations), rows, product events.
Plus what an honest redirect still does, and an outage of the Partner API mid-redirect."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest

from onboard360.domain import parse_redirect
from tests.integration.service_http import (
    get_redirect,
    live_channel,
    redirect_query,
    rows,
    sandbox_channels,
    state_of,
)
from tests.stack import Stack

Send = Callable[[Stack, str], httpx.Response]


def via_page(stack: Stack, query: str) -> httpx.Response:
    return get_redirect(stack, "pp", query)


def via_api(stack: Stack, query: str) -> httpx.Response:
    """The attacker's product forwards the query with its own onboarding (the state in it)."""
    state = parse_redirect(query).state
    return stack.api.post("/api/v1/redirects", json={"query": "?" + query, "state": state})


VIA = {"page": via_page, "api": via_api}


def victims_world(stack: Stack) -> dict[str, Any]:
    """Everything an attack on someone else's client must leave as it was."""
    return {
        "clients": rows(stack, "SELECT * FROM clients ORDER BY client_id"),
        "channels": rows(stack, "SELECT * FROM channels ORDER BY channel_id"),
        "product_events": rows(stack, "SELECT id, event_type FROM product_events ORDER BY id"),
        "key_generations": rows(stack, "SELECT * FROM key_generations ORDER BY channel_id"),
        "api_keys": rows(stack, "SELECT id, intent, discarded_at FROM api_keys ORDER BY id"),
    }


def attacker_state(stack: Stack) -> str:
    return state_of(stack.start_onboarding("pp", user="mallory"))


def attempt_of(stack: Stack, user: str) -> dict[str, Any]:
    (row,) = rows(stack, "SELECT * FROM onboardings WHERE external_user_id = %s", user)
    return row


def assert_untouched(stack: Stack, before: dict[str, Any], channel: str) -> None:
    stack.settle()
    assert victims_world(stack) == before
    assert stack.sandbox.channel(channel).keys_generated == 1
    key = stack.api.get(f"/api/v1/channels/{channel}/api-key")
    assert key.status_code == 200, key.text


@pytest.fixture
def victim(stack: Stack) -> tuple[str, str]:
    """user-1's client with one live channel (key stored): (client, channel)."""
    _, client, channel = live_channel(stack)
    return client, channel


@pytest.mark.parametrize("via", list(VIA))
def test_takeover_of_someone_elses_client_binds_nothing(
    stack: Stack, victim: tuple[str, str], via: str
) -> None:
    client, channel = victim
    state = attacker_state(stack)
    before = victims_world(stack)
    answer = VIA[via](stack, redirect_query(state, client, [channel]))
    assert answer.status_code == 200, answer.text
    assert_untouched(stack, before, channel)
    attempt = attempt_of(stack, "mallory")
    assert attempt["verification"] == "conflict"
    assert attempt["channels"] == []
    assert attempt["conflict"]["claim"] == "other_user"
    assert attempt["conflict"]["claimed_channels"] == [channel]
    # The operator and the product see it among the needs-attention items.
    listed = stack.api.get("/api/v1/attention", params={"kind": "redirect_unconfirmed"})
    assert [i["client_id"] for i in listed.json()["data"]] == [client]
    completed = [e for e in stack.product_events() if e["type"] == "onboarding.completed"]
    assert all(e["data"]["external_user_id"] != "mallory" for e in completed)


@pytest.mark.parametrize("via", list(VIA))
def test_revoking_someone_elses_number_under_my_own_client_changes_nothing(
    stack: Stack, victim: tuple[str, str], via: str
) -> None:
    _, channel = victim
    state = attacker_state(stack)
    # The attacker's own, genuinely new client: it binds, but the victim's channel is not
    # 360dialog's under it.
    own, (own_channel,) = sandbox_channels(stack, "pp")
    before = victims_world(stack)
    answer = VIA[via](stack, redirect_query(state, own, [own_channel], revoked=[channel]))
    assert answer.status_code == 200, answer.text
    stack.settle()
    attempt = attempt_of(stack, "mallory")
    assert attempt["verification"] == "applied"
    assert attempt["revoked"] == []
    assert attempt["ignored"] == [channel]
    (theirs,) = rows(stack, "SELECT * FROM channels WHERE channel_id = %s", channel)
    assert theirs == next(c for c in before["channels"] if c["channel_id"] == channel)
    assert stack.sandbox.channel(channel).keys_generated == 1
    assert stack.api.get(f"/api/v1/channels/{channel}/api-key").status_code == 200
    revoked = [e for e in stack.product_events() if e["type"] == "channel.permission_revoked"]
    assert revoked == []


@pytest.mark.parametrize("via", list(VIA))
def test_revoking_or_relisting_under_the_victims_client_changes_nothing(
    stack: Stack, victim: tuple[str, str], via: str
) -> None:
    client, channel = victim
    queries = (
        redirect_query(attacker_state(stack), client, [], revoked=[channel]),
        redirect_query(attacker_state(stack), client, [channel]),  # "force a new key"
    )
    before = victims_world(stack)
    for query in queries:
        assert VIA[via](stack, query).status_code == 200
    assert_untouched(stack, before, channel)


@pytest.mark.parametrize("via", list(VIA))
def test_junk_ids_create_nothing(stack: Stack, via: str) -> None:
    state = attacker_state(stack)
    fakes = ",".join(f"FAKE{i:04d}CH" for i in range(100))
    before = victims_world(stack)
    answer = VIA[via](stack, f"client=JUNKCL&channels=[{fakes}]&state={state}")
    assert answer.status_code in (200, 400), answer.text
    stack.settle()
    assert victims_world(stack) == before
    attempt = attempt_of(stack, "mallory")
    assert attempt["verification"] == "unknown_client"
    assert attempt["client_id"] is None
    assert len(attempt["ignored"]) == 100


def test_junk_without_an_attempt_records_nothing(stack: Stack) -> None:
    before = victims_world(stack)
    answer = get_redirect(stack, "pp", "client=JUNKCL&channels=[FAKE0000CH,FAKE0001CH]")
    assert answer.status_code == 200
    assert "being connected" in answer.text
    assert victims_world(stack) == before
    assert rows(stack, "SELECT id FROM timeline") == []


def test_an_old_unbound_client_is_a_conflict_until_claimed(stack: Stack) -> None:
    # A client 360dialog made before this attempt began, bound to nobody here.
    client, (channel,) = sandbox_channels(stack, "pp")
    stack.sandbox.set_status(channel, "running")
    stack.sandbox.client(client).created_at -= timedelta(hours=1)
    state = state_of(stack.start_onboarding("pp", user="crm-9"))
    answer = get_redirect(stack, "pp", redirect_query(state, client, [channel]))
    assert answer.status_code == 200
    assert "could not confirm" in answer.text
    stack.settle()
    assert attempt_of(stack, "crm-9")["conflict"]["claim"] == "old_client"
    # Known from 360dialog's own webhooks, bound to nobody, not keyed.
    (known,) = rows(stack, "SELECT external_user_id FROM clients")
    assert known["external_user_id"] is None
    (row,) = rows(stack, "SELECT blocker FROM channels")
    assert row["blocker"] == "not_entitled"
    assert stack.sandbox.channel(channel).keys_generated == 0

    claimed = stack.api.post(f"/api/v1/clients/{client}/claim", json={"external_user_id": "crm-9"})
    assert claimed.status_code == 200, claimed.text
    stack.settle()
    assert claimed.json()["external_user_id"] == "crm-9"
    attempt = attempt_of(stack, "crm-9")
    assert attempt["verification"] == "applied"
    assert attempt["channels"] == [channel]
    assert stack.sandbox.channel(channel).keys_generated == 1
    types = [e["type"] for e in stack.product_events()]
    assert "client.claimed" in types
    assert "onboarding.completed" in types


def test_a_returning_client_shares_one_more_number(stack: Stack) -> None:
    _, client, first = live_channel(stack)
    state = state_of(stack.start_onboarding("pp"))  # the same user-1, days later
    second = stack.sandbox.create_channel(client, "+4915199999999").id
    stack.sandbox.set_status(second, "running")
    answer = get_redirect(stack, "pp", redirect_query(state, client, [first, second]))
    assert answer.status_code == 200, answer.text
    stack.settle()
    assert stack.sandbox.channel(second).keys_generated == 1
    assert stack.sandbox.channel(first).keys_generated == 1
    (bound,) = rows(stack, "SELECT external_user_id FROM clients")
    assert bound["external_user_id"] == "user-1"


def test_partner_api_outage_postpones_the_redirect_until_360dialog_confirms_it(
    stack: Stack,
) -> None:
    created = stack.start_onboarding("pp")
    state = state_of(created)
    client, (channel,) = sandbox_channels(stack, "pp")
    stack.sandbox.set_status(channel, "running")
    faults = stack.sandbox_hub("pp").faults
    faults.api_5xx_rate = 1.0
    answer = get_redirect(stack, "pp", redirect_query(state, client, [channel]))
    assert answer.status_code == 200
    assert "Confirming with 360dialog" in answer.text
    (pending,) = rows(stack, "SELECT * FROM onboardings")
    assert pending["verification"] == "pending"
    assert pending["client_id"] is None
    assert pending["channels"] == []
    view = stack.api.get(f"/api/v1/onboardings/{created['id']}").json()
    assert view["stage"] == "confirming"
    # Nothing unverified was applied: no client, no channel, no key, no completion event.
    assert rows(stack, "SELECT * FROM clients") == []
    assert rows(stack, "SELECT * FROM channels") == []
    # The same redirect again while 360dialog is down answers as the first did.
    assert "Confirming" in get_redirect(stack, "pp", redirect_query(state, client, [channel])).text

    faults.api_5xx_rate = 0.0
    stack.settle()
    (done,) = rows(stack, "SELECT * FROM onboardings")
    assert done["verification"] == "applied"
    assert done["channels"] == [channel]
    assert stack.sandbox.channel(channel).keys_generated == 1
    assert stack.api.get(f"/api/v1/onboardings/{created['id']}").json()["stage"] == "live"
    events = [e["type"] for e in stack.product_events()]
    assert events.count("onboarding.completed") == 1
