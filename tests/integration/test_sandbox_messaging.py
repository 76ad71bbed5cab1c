"""The sandbox's Messaging API over real HTTP: channel keys and the inbound webhook config."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from onboard360.sandbox.state import Channel
from tests import sandbox_fixtures as sf
from tests.sandbox_fixtures import World

WEBHOOK = "/v1/configs/webhook"


@pytest.fixture
def env() -> Iterator[World]:
    with sf.world() as world:
        yield world


@pytest.fixture
def channel(env: World) -> Channel:
    return sf.add_channel(env.sandbox, sf.add_client(env.sandbox, env.hub))


def set_webhook(env: World, key: str, body: object) -> httpx.Response:
    with env.messaging(key) as messaging:
        return messaging.post(WEBHOOK, json=body)


def test_webhook_is_null_before_one_is_set(env: World, channel: Channel) -> None:
    answer = env.read_webhook(env.new_key(channel.id))
    assert answer.status_code == 200
    assert answer.json() == {"url": None}


def test_set_webhook_is_read_back(env: World, channel: Channel) -> None:
    key = env.new_key(channel.id)
    url = "https://partner.example.test/inbound/1"
    answer = set_webhook(env, key, {"url": url})
    assert (answer.status_code, answer.json()) == (200, {"url": url})
    assert env.read_webhook(key).json() == {"url": url}


def test_webhook_headers_are_stored_but_never_answered(env: World, channel: Channel) -> None:
    key = env.new_key(channel.id)
    body = {"url": "https://partner.example.test/in", "headers": {"Authorization": "s3cret"}}
    answer = set_webhook(env, key, body)
    assert channel.messaging_webhook == body
    assert "s3cret" not in answer.text
    assert "s3cret" not in env.read_webhook(key).text


def test_each_key_configures_its_own_channel(env: World, channel: Channel) -> None:
    other = sf.add_channel(env.sandbox, sf.add_client(env.sandbox, env.hub, n=2))
    set_webhook(env, env.new_key(other.id), {"url": "https://partner.example.test/other"})
    assert channel.messaging_webhook is None
    assert other.messaging_webhook == {"url": "https://partner.example.test/other", "headers": {}}


def test_missing_key_is_401(env: World) -> None:
    answer = env.http.get(WEBHOOK)
    assert answer.status_code == 401
    assert "D360-API-KEY" in sf.developer_message(answer)


def test_unknown_key_is_401(env: World) -> None:
    assert env.read_webhook("not-a-channel-key").status_code == 401


def test_partner_api_key_does_not_open_the_messaging_api(env: World) -> None:
    assert env.read_webhook(env.hub.api_key).status_code == 401


def test_new_key_revokes_the_old_one(env: World, channel: Channel) -> None:
    old = env.new_key(channel.id)
    new = env.new_key(channel.id)
    assert env.read_webhook(old).status_code == 401
    assert env.read_webhook(new).status_code == 200
    assert channel.keys_generated == 2


def test_taking_key_permission_away_revokes_the_key(env: World, channel: Channel) -> None:
    key = env.new_key(channel.id)
    env.sandbox.set_api_key_permission(channel.client_id, granted=False)
    assert env.read_webhook(key).status_code == 401


@pytest.mark.parametrize(
    "body",
    [
        {"url": "ftp://partner.example.test/in"},
        {"url": "partner.example.test/in"},
        {"url": ""},
        {},
        {"url": 7},
        {"url": "https://partner.example.test/in", "headers": {"X-A": "a\r\nInjected: 1"}},
        {"url": "https://partner.example.test/in", "headers": {"bad name": "x"}},
        {"url": "https://partner.example.test/in", "headers": ["X-A"]},
        {"url": "https://partner.example.test/in", "events": ["messages"]},
        ["https://partner.example.test/in"],
    ],
    ids=[
        "not-http",
        "no-scheme",
        "empty",
        "no-url",
        "number",
        "header-line-break",
        "header-name",
        "headers-list",
        "unknown-field",
        "not-an-object",
    ],
)
def test_bad_webhook_config_is_422_and_changes_nothing(
    env: World, channel: Channel, body: object
) -> None:
    answer = set_webhook(env, env.new_key(channel.id), body)
    assert answer.status_code == 422
    assert sf.developer_message(answer)
    assert channel.messaging_webhook is None
