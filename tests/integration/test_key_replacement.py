"""A new key for a key found dead (#14): the product (POST …/rotate-key with
``only_if_not_working``), an operator (the dashboard's **New key**) or the CLI
(``rotate-key --only-if-not-working``) may ask for one only while a key health check
found the current key refused. On a working key it is refused and no key is generated:
judged by the sandbox's count of generated keys and the key_generations rows."""

from __future__ import annotations

from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from onboard360.runtime.serving import running
from tests.cli_process import run_onboard360
from tests.integration.dashboard_http import Dashboard, audit_rows, forms, onboarded
from tests.integration.key_checks import (
    due_again,
    events_of,
    health,
    revoke_out_of_band,
    run_check,
)
from tests.integration.service_http import rows, snapshot
from tests.integration.test_dashboard_actions import post, submit
from tests.stack import Stack


def generations(stack: Stack, channel: str) -> list[int]:
    found = rows(
        stack, "SELECT intent FROM key_generations WHERE channel_id = %s ORDER BY intent", channel
    )
    return [row["intent"] for row in found]


def dead_key(stack: Stack) -> tuple[str, str]:
    """A channel whose key 360dialog revoked out of band (the client took API-key
    permission away, then gave it back: the key stays revoked), found by one check."""
    client, (channel,) = onboarded(stack, "pp")
    assert run_check(stack).outcomes == {"working": 1}
    revoke_out_of_band(stack, client)
    revoke_out_of_band(stack, client, granted=True)
    due_again(stack)
    assert run_check(stack).outcomes == {"not_working": 1}
    assert health(stack, channel)["blocker"] == "key_not_working"
    return client, channel


def working_key(stack: Stack) -> str:
    _, (channel,) = onboarded(stack, "pp")
    assert run_check(stack).outcomes == {"working": 1}
    return channel


def ask_for_new_key(stack: Stack, channel: str, version: int) -> httpx.Response:
    return stack.api.post(
        f"/api/v1/channels/{channel}/rotate-key",
        json={"key_version": version, "only_if_not_working": True},
    )


def assert_nothing_generated(stack: Stack, channel: str, before: dict[str, Any]) -> None:
    stack.drain()
    assert stack.sandbox.channel(channel).keys_generated == 1
    assert generations(stack, channel) == [1]
    assert snapshot(stack) == before


def test_a_dead_key_is_replaced_on_request_and_the_mark_clears(stack: Stack) -> None:
    _, channel = dead_key(stack)
    old = stack.api.get(f"/api/v1/channels/{channel}/api-key").json()
    assert old["key_version"] == 1

    answer = ask_for_new_key(stack, channel, 1)
    assert answer.status_code == 202, answer.text
    assert answer.json()["key_version"] == 2
    stack.drain()

    assert stack.sandbox.channel(channel).keys_generated == 2
    assert generations(stack, channel) == [1, 2]
    new = stack.api.get(f"/api/v1/channels/{channel}/api-key").json()
    assert new["key_version"] == 2
    assert new["api_key"] != old["api_key"]
    row = health(stack, channel)
    assert (row["blocker"], row["key_status"], row["key_intent"]) == ("has_key", "stored", 2)
    (rotated,) = events_of(stack, "channel.key_rotated", channel)
    assert rotated["data"]["api_key_available"] is True

    # The next check finds the new key working: the channel stays off the list.
    due_again(stack)
    assert run_check(stack).outcomes == {"working": 1}
    assert health(stack, channel)["blocker"] == "has_key"
    listed = stack.api.get("/api/v1/attention", params={"kind": "key_not_working"}).json()
    assert listed["data"] == []

    # The same request again (a retry): the key it names is gone, nothing is generated.
    before = snapshot(stack)
    again = ask_for_new_key(stack, channel, 1)
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "key_already_replaced"
    stack.drain()
    assert stack.sandbox.channel(channel).keys_generated == 2
    assert snapshot(stack) == before


def test_a_working_key_is_not_replaced_as_dead(stack: Stack) -> None:
    channel = working_key(stack)
    before = snapshot(stack)
    answer = ask_for_new_key(stack, channel, 1)
    assert answer.status_code == 409, answer.text
    error = answer.json()["error"]
    assert error["code"] == "key_working"
    assert "not marked not working" in error["message"]
    assert_nothing_generated(stack, channel, before)


def refusing_api() -> Starlette:
    """A Messaging API that answers 401 to every key (a passing misconfiguration)."""

    async def refused(_request: Request) -> JSONResponse:
        return JSONResponse({"meta": {"developer_message": "Invalid api key"}}, status_code=401)

    return Starlette(routes=[Route("/{path:path}", refused, methods=["GET"])])


def test_a_key_found_working_again_is_not_replaced_as_dead(stack: Stack) -> None:
    """One check was refused, a later one found the key working: the mark is lifted, and a
    request made on the strength of the old mark is refused."""
    channel = working_key(stack)
    due_again(stack)
    with running(refusing_api()) as url:
        assert run_check(stack, messaging_api_url=url).outcomes == {"not_working": 1}
    assert health(stack, channel)["blocker"] == "key_not_working"
    due_again(stack)
    assert run_check(stack).outcomes == {"working": 1}
    stack.drain()
    assert len(events_of(stack, "channel.key_working", channel)) == 1
    before = snapshot(stack)
    answer = ask_for_new_key(stack, channel, 1)
    assert answer.status_code == 409
    assert answer.json()["error"]["code"] == "key_working"
    assert_nothing_generated(stack, channel, before)


def test_an_operator_asks_for_a_new_key_from_the_needs_attention_list(
    stack: Stack, dashboard: Dashboard
) -> None:
    _, channel = dead_key(stack)
    listed = dashboard.get("/dashboard/attention/key_not_working", hub="pp")
    link = f"/dashboard/actions/new-key?hub=pp&amp;channel={channel}"
    assert link in listed.text
    page = dashboard.get(f"/dashboard/clients/pp/{onboarded_client(stack, channel)}")
    assert link in page.text

    outcome, form = submit(dashboard, "new-key", hub="pp", channel=channel)
    assert outcome == "new_key_requested"
    stack.drain()
    assert stack.sandbox.channel(channel).keys_generated == 2
    assert generations(stack, channel) == [1, 2]
    assert health(stack, channel)["blocker"] == "has_key"

    # The form resent: version 1 is gone, nothing more.
    assert post(dashboard, "new-key", form) == "new_key_nothing"
    stack.drain()
    assert stack.sandbox.channel(channel).keys_generated == 2
    details = [r.detail for r in audit_rows(stack, "new-key")]
    assert [d["outcome"] for d in details] == ["new_key_requested", "new_key_nothing"]
    assert details[0]["new_version"] == 2


def test_the_dashboard_offers_no_new_key_for_a_working_key(
    stack: Stack, dashboard: Dashboard
) -> None:
    channel = working_key(stack)
    page = dashboard.confirm_page("new-key", hub="pp", channel=channel)
    assert "not marked not working" in page.text
    assert "/dashboard/actions/new-key" not in forms(page)
    before = snapshot(stack)
    # A form made up from the rotate page (its key_version) does nothing either.
    rotate = forms(dashboard.confirm_page("rotate-key", hub="pp", channel=channel))
    fields = rotate["/dashboard/actions/rotate-key"]
    assert post(dashboard, "new-key", fields) == "new_key_nothing"
    stack.drain()
    assert stack.sandbox.channel(channel).keys_generated == 1
    assert generations(stack, channel) == [1]
    assert snapshot(stack)["key_generations"] == before["key_generations"]


def test_the_cli_refuses_a_new_key_for_a_working_key_in_one_line(stack: Stack) -> None:
    channel = working_key(stack)
    before = snapshot(stack)
    result = run_onboard360(
        "rotate-key", channel, "--only-if-not-working", env=stack.env(), timeout=60
    )
    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: key version 1 is not marked not working")
    assert_nothing_generated(stack, channel, before)


def test_the_cli_replaces_a_dead_key(stack: Stack) -> None:
    _, channel = dead_key(stack)
    result = run_onboard360(
        "rotate-key", channel, "--only-if-not-working", env=stack.env(), timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert "key #2" in result.stdout
    stack.drain()
    assert stack.sandbox.channel(channel).keys_generated == 2
    assert health(stack, channel)["blocker"] == "has_key"


def onboarded_client(stack: Stack, channel: str) -> str:
    (row,) = rows(stack, "SELECT client_id FROM channels WHERE channel_id = %s", channel)
    return str(row["client_id"])
