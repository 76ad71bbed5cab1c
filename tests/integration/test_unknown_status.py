"""A status onboard360 does not know (here `suspended`, which the sandbox can set) is stored
and shown as it is, never taken for running: no key, not live, the product told once."""

from __future__ import annotations

from typing import Any

from tests.integration.test_reconcile import sync
from tests.stack import Stack


def channel_of(stack: Stack, channel_id: str) -> dict[str, Any]:
    answer = stack.api.get(f"/api/v1/channels/{channel_id}")
    assert answer.status_code == 200, answer.text
    seen: dict[str, Any] = answer.json()
    return seen


def not_live_events(stack: Stack, channel_id: str) -> list[dict[str, Any]]:
    return [
        e
        for e in stack.product_events()
        if e["type"] == "channel.not_live" and e["data"]["channel_id"] == channel_id
    ]


def test_a_live_channel_reported_suspended_is_shown_so_keyless_and_not_live(
    stack: Stack,
) -> None:
    channel = stack.redirect_running_channel()
    stack.settle()
    assert channel_of(stack, channel)["live"] is True

    stack.sandbox.set_status(channel, "suspended")  # no webhook: a sync reads it
    sync(stack, "pp")
    stack.drain()

    seen = channel_of(stack, channel)
    assert (seen["status"], seen["live"], seen["blocker"]) == ("suspended", False, "not_running")
    assert "'suspended', a status onboard360 does not know" in seen["reason"]
    assert seen["api_key_available"] is True  # 360dialog decides what the key is worth
    (told,) = not_live_events(stack, channel)
    assert told["data"]["status"] == "suspended"
    refused = stack.api.post(
        f"/api/v1/channels/{channel}/rotate-key", json={"key_version": seen["key_version"]}
    )
    assert refused.status_code == 409, refused.text

    # 360dialog says running again: it may be older news, so nothing changes.
    stack.sandbox.set_status(channel, "running")
    stack.settle()
    sync(stack, "pp")
    stack.drain()
    assert channel_of(stack, channel)["status"] == "suspended"
    assert len(not_live_events(stack, channel)) == 1
    assert stack.sandbox.channel(channel).keys_generated == 1
    stages = stack.api.get("/api/v1/onboardings").json()["data"]
    assert [o["stage"] for o in stages] == ["connecting"]


def test_a_channel_first_reported_in_an_unknown_status_never_gets_a_key(stack: Stack) -> None:
    partner_id = stack.hub("pp").partner_id
    stack.sandbox_hub("pp").faults.webhook_drop_rate = 1.0  # only the sync tells us
    client = stack.sandbox.create_client(partner_id, "Held", "held@example.test")
    channel = stack.sandbox.create_channel(client.id, "+4917000000077").id
    stack.sandbox.set_status(channel, "suspended")
    sync(stack, "pp")
    stack.drain()
    stack.sandbox.set_status(channel, "running")
    sync(stack, "pp")
    stack.drain()

    seen = channel_of(stack, channel)
    assert (seen["status"], seen["live"], seen["api_key_available"]) == (
        "suspended",
        False,
        False,
    )
    assert stack.sandbox.channel(channel).keys_generated == 0
    types = [e["type"] for e in stack.product_events() if e["data"].get("channel_id") == channel]
    assert "channel.running" not in types
    assert types.count("channel.not_live") == 1
