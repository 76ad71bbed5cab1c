"""API faults (429, 5xx, outage, latency) and hostile input, over real HTTP."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import httpx
import pytest

from onboard360.hub import platform as p
from onboard360.sandbox.app import MAX_BODY_BYTES
from onboard360.sandbox.state import Channel
from tests import sandbox_fixtures as sf
from tests.sandbox_fixtures import World


@pytest.fixture
def env() -> Iterator[World]:
    with sf.world() as world:
        yield world


@pytest.fixture
def channel_key(env: World) -> str:
    return env.new_key(sf.add_channel(env.sandbox, sf.add_client(env.sandbox, env.hub)).id)


def list_channels(env: World) -> httpx.Response:
    return env.api.get(f"/api/v2/partners/{env.pid}/channels")


# ---- faults ----------------------------------------------------------------------------


def test_rate_429_of_one_answers_429_with_retry_after(env: World) -> None:
    env.hub.faults.api_429_rate = 1.0
    env.hub.faults.api_retry_after_seconds = 7
    answer = list_channels(env)
    assert answer.status_code == 429
    assert answer.headers["retry-after"] == "7"
    assert sf.developer_message(answer)


def test_rate_429_applies_to_the_messaging_api(env: World, channel_key: str) -> None:
    env.hub.faults.api_429_rate = 1.0
    answer = env.read_webhook(channel_key)
    assert answer.status_code == 429
    assert "retry-after" in answer.headers


def test_rate_5xx_of_one_answers_a_server_error(env: World) -> None:
    env.hub.faults.api_5xx_rate = 1.0
    statuses = {list_channels(env).status_code for _ in range(10)}
    assert statuses <= set(p.API_5XX_STATUSES)


def test_injected_5xx_on_key_generation_generates_nothing(env: World) -> None:
    channel = sf.add_channel(env.sandbox, sf.add_client(env.sandbox, env.hub))
    env.hub.faults.api_5xx_rate = 1.0
    assert env.generate_key(channel.id).status_code >= 500
    assert channel.keys_generated == 0


def test_outage_answers_503_on_the_partner_api(env: World) -> None:
    env.hub.faults.outage = True
    assert list_channels(env).status_code == 503


def test_outage_answers_503_on_the_messaging_api(env: World, channel_key: str) -> None:
    env.hub.faults.outage = True
    assert env.read_webhook(channel_key).status_code == 503


def test_outage_answers_503_on_token_and_grants_nothing(env: World) -> None:
    env.hub.faults.outage = True
    credentials = {"username": sf.USERNAME, "password": sf.PASSWORD}
    assert env.http.post("/api/v2/token", json=credentials).status_code == 503
    assert env.sandbox.tokens == {}


def test_faults_are_read_at_request_time(env: World) -> None:
    env.hub.faults.outage = True
    assert list_channels(env).status_code == 503
    env.hub.faults.outage = False
    assert list_channels(env).status_code == 200


def test_faults_of_one_hub_leave_another_alone(env: World) -> None:
    calm = env.sandbox.create_hub(
        sf.hub_spec(partner_id="CALMPA", api_key="calm-partner-api-key-0123", username="calm")
    )
    env.hub.faults.outage = True
    answer = env.http.get("/api/v2/partners/CALMPA/clients", headers={"x-api-key": calm.api_key})
    assert answer.status_code == 200


def test_latency_slows_every_answer(env: World) -> None:
    env.hub.faults.api_latency_seconds = 0.3
    started = time.monotonic()
    answer = list_channels(env)
    assert answer.status_code == 200
    assert time.monotonic() - started >= 0.25


def statuses_with_seed(seed: int) -> list[int]:
    sandbox = sf.new_sandbox(seed=seed)
    with sf.world(sandbox) as env:
        env.hub.faults.api_429_rate = 0.3
        env.hub.faults.api_5xx_rate = 0.3
        return [list_channels(env).status_code for _ in range(30)]


def test_seeded_partial_rates_give_a_repeatable_mix() -> None:
    first, second = statuses_with_seed(42), statuses_with_seed(42)
    assert first == second
    assert {200, 429} <= set(first)
    assert set(first) & set(p.API_5XX_STATUSES)


# ---- hostile input ---------------------------------------------------------------------


def test_body_over_the_limit_is_413(env: World) -> None:
    body = json.dumps({"webhook_url": "https://x.example.test/" + "a" * MAX_BODY_BYTES})
    answer = env.api.patch(
        f"/api/v2/partners/{env.pid}", content=body, headers={"content-type": "application/json"}
    )
    assert answer.status_code == 413


def test_broken_json_is_422(env: World) -> None:
    answer = env.api.patch(
        f"/api/v2/partners/{env.pid}",
        content=b'{"webhook_url": ',
        headers={"content-type": "application/json"},
    )
    assert answer.status_code == 422
    assert sf.developer_message(answer)


def test_json_array_for_an_object_is_422(env: World) -> None:
    answer = env.api.patch(f"/api/v2/partners/{env.pid}", json=["https://x.example.test/"])
    assert answer.status_code == 422


@pytest.mark.parametrize(
    "channel_id",
    ["A" * 5000, "..%2F..%2Fetc", "%00", "ch%C3%A9", "<script>", "id%20with%20space"],
    ids=["very-long", "dot-dot", "nul", "unicode", "markup", "space"],
)
def test_odd_channel_ids_are_404(env: World, channel_id: str) -> None:
    answer = env.generate_key(channel_id)
    assert answer.status_code == 404
    assert "<script>" not in answer.text


def test_very_long_partner_id_is_refused_without_echo(env: World) -> None:
    answer = env.api.get(f"/api/v2/partners/{'P' * 5000}A/channels")
    assert answer.status_code == p.OTHER_PARTNER_STATUS
    assert "PPPP" not in answer.text


def test_deeply_nested_filters_are_400(env: World) -> None:
    answer = env.api.get(f"/api/v2/partners/{env.pid}/channels", params={"filters": "[" * 3000})
    assert answer.status_code == 400


def test_wrong_password_is_never_echoed(env: World) -> None:
    wrong = "my-Secret-guess-123"
    answer = env.http.post("/api/v2/token", json={"username": sf.USERNAME, "password": wrong})
    assert answer.status_code == 401
    assert wrong not in answer.text


def test_over_long_password_is_refused_without_echo(env: World) -> None:
    wrong = "x" * 300
    answer = env.http.post("/api/v2/token", json={"username": sf.USERNAME, "password": wrong})
    assert answer.status_code == 422
    assert wrong not in answer.text


def test_wrong_api_key_is_never_echoed(env: World) -> None:
    wrong = "my-Secret-api-key-guess"
    answer = env.http.get(f"/api/v2/partners/{env.pid}/channels", headers={"x-api-key": wrong})
    assert answer.status_code == 401
    assert wrong not in answer.text


def test_revoked_channel_key_is_never_echoed(env: World) -> None:
    channel: Channel = sf.add_channel(env.sandbox, sf.add_client(env.sandbox, env.hub))
    old = env.new_key(channel.id)
    env.new_key(channel.id)
    answer = env.read_webhook(old)
    assert answer.status_code == 401
    assert old not in answer.text
