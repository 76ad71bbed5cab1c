"""The product REST API (/api/v1) over real HTTP: who may call it, what each product sees,
what is refused, and the key endpoints: read once-owned keys, rotate explicitly."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.integration.service_http import (
    OTHER_TOKEN,
    assert_error,
    count,
    live_channel,
    messaging_status,
    rows,
    sandbox_channels,
    snapshot,
    two_products,
)
from tests.stack import PRODUCT_TOKEN, Stack


@pytest.fixture
def stack(database_url: str) -> Iterator[Stack]:
    with two_products(database_url) as s:
        yield s


@pytest.fixture
def other(stack: Stack) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {OTHER_TOKEN}"}
    with httpx.Client(base_url=stack.service_url, headers=headers, timeout=10) as client:
        yield client


def call(stack: Stack, method: str, path: str, **kwargs: Any) -> httpx.Response:
    return httpx.request(method, f"{stack.service_url}{path}", timeout=10, **kwargs)


# ---- authentication -------------------------------------------------------------------------

ENDPOINTS = [
    ("GET", "/api/v1/channels"),
    ("GET", "/api/v1/onboardings"),
    ("GET", "/api/v1/clients"),
    ("GET", "/api/v1/clients/SomeClieCL"),
    ("GET", "/api/v1/clients/SomeClieCL/timeline"),
    ("GET", "/api/v1/overview"),
    ("GET", "/api/v1/attention?kind=stuck"),
    ("GET", "/api/v1/search?q=x"),
    ("GET", "/api/v1/events"),
    ("GET", "/api/v1/channels/SomeChanCH"),
    ("GET", "/api/v1/channels/SomeChanCH/api-key"),
    ("POST", "/api/v1/channels/SomeChanCH/rotate-key"),
    ("POST", "/api/v1/onboardings"),
    ("GET", "/api/v1/onboardings/00000000-0000-0000-0000-000000000000"),
    ("POST", "/api/v1/redirects"),
]
BAD_AUTH = {
    "none": {},
    "empty bearer": {"Authorization": "Bearer"},
    "wrong token": {"Authorization": "Bearer " + "w" * 40},
    "token prefix": {"Authorization": "Bearer " + PRODUCT_TOKEN[:-1]},
    "token longer": {"Authorization": "Bearer " + PRODUCT_TOKEN + "x"},
    "basic scheme": {"Authorization": "Basic " + PRODUCT_TOKEN},
    "no scheme": {"Authorization": PRODUCT_TOKEN},
}


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_every_endpoint_refuses_a_missing_or_wrong_token(
    stack: Stack, method: str, path: str
) -> None:
    for headers in BAD_AUTH.values():
        answer = call(stack, method, path, headers=headers, json={"hub": "pp"})
        assert_error(answer, 401, "unauthorized")
        assert answer.json()["error"]["type"] == "authentication"
        assert PRODUCT_TOKEN not in answer.text
    assert count(stack, "onboardings") == 0


# ---- products are isolated ------------------------------------------------------------------


def test_a_product_never_sees_another_products_hubs(stack: Stack, other: httpx.Client) -> None:
    _created, _client, channel = live_channel(stack, "pp")
    mine = stack.start_onboarding("pp")

    assert other.get("/api/v1/channels").json()["data"] == []
    for path in (
        f"/api/v1/channels/{channel}",
        f"/api/v1/channels/{channel}/api-key",
        f"/api/v1/onboardings/{mine['id']}",
    ):
        assert_error(other.get(path), 404, "not_found")
    assert_error(
        other.post(f"/api/v1/channels/{channel}/rotate-key", json={"key_version": 1}),
        404,
        "not_found",
    )
    answer = other.post("/api/v1/onboardings", json={"hub": "pp", "external_user_id": "u"})
    assert_error(answer, 404, "not_found")
    assert stack.sandbox.channel(channel).keys_generated == 1


def test_each_product_sees_its_own(stack: Stack, other: httpx.Client) -> None:
    created = other.post("/api/v1/onboardings", json={"hub": "dp", "external_user_id": "u-9"})
    assert created.status_code == 201, created.text
    assert other.get(f"/api/v1/onboardings/{created.json()['id']}").status_code == 200
    assert_error(stack.api.get(f"/api/v1/onboardings/{created.json()['id']}"), 404, "not_found")
    answer = stack.api.post("/api/v1/onboardings", json={"hub": "dp", "external_user_id": "u"})
    assert_error(answer, 404, "not_found")


def test_a_forwarded_redirect_reaches_only_the_products_own_onboardings(
    stack: Stack, other: httpx.Client
) -> None:
    created = stack.start_onboarding("pp")
    state = httpx.URL(created["connect_url"]).params["start"]
    client, channels = sandbox_channels(stack, "pp")
    query = f"client={client}&channels=[{channels[0]}]&state={state}"
    for body in ({"state": state}, {"onboarding_id": created["id"]}):
        assert other.post("/api/v1/redirects", json={"query": query, **body}).status_code == 404
    assert count(stack, "channels") == 0
    answer = stack.api.post("/api/v1/redirects", json={"query": query, "state": state})
    assert answer.status_code == 200


# ---- malformed requests ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/channels/%3Cscript%3E",
        "/api/v1/channels/" + "A" * 65,
        "/api/v1/channels/..%2F..%2Fetc",
        "/api/v1/channels/x'%20OR%20'1'='1/api-key",
    ],
)
def test_bad_channel_ids_are_404(stack: Stack, path: str) -> None:
    answer = stack.api.get(path)
    assert answer.status_code == 404
    assert "<script" not in answer.text


def test_bad_onboarding_id_is_422(stack: Stack) -> None:
    assert_error(stack.api.get("/api/v1/onboardings/not-a-uuid"), 422, "validation_failed")


@pytest.mark.parametrize(
    ("content", "code"),
    [
        (b"{", "invalid_json"),
        (b"[]", "validation_failed"),
        (b'{"hub": "pp"}', "validation_failed"),
        (b'{"hub": "pp", "external_user_id": "u", "admin": true}', "validation_failed"),
        (b'{"hub": "pp", "external_user_id": ""}', "validation_failed"),
        (b'{"hub": "pp", "external_user_id": "u", "number": "<script>"}', "validation_failed"),
        (b'{"hub": "pp", "external_user_id": "u", "email": "no-at-sign"}', "validation_failed"),
        (b'{"hub": "nope", "external_user_id": "u"}', "not_found"),
    ],
)
def test_bad_onboarding_requests_are_4xx_and_store_nothing(
    stack: Stack, content: bytes, code: str
) -> None:
    answer = stack.api.post(
        "/api/v1/onboardings", content=content, headers={"content-type": "application/json"}
    )
    assert 400 <= answer.status_code < 500
    assert_error(answer, answer.status_code, code)
    assert "<script>" not in answer.text
    assert count(stack, "onboardings") == 0


def test_oversized_body_is_413_in_the_api_error_shape(stack: Stack) -> None:
    body = {"hub": "pp", "external_user_id": "u", "name": "x" * (70 * 1024)}
    assert_error(stack.api.post("/api/v1/onboardings", json=body), 413, "too_large")
    assert count(stack, "onboardings") == 0


def test_bad_paging_is_422(stack: Stack) -> None:
    for params in ({"limit": 0}, {"limit": 501}, {"limit": "x"}, {"cursor": "a" * 513}):
        answer = stack.api.get("/api/v1/channels", params=params)
        assert_error(answer, 422, "validation_failed")
        assert "query." in answer.json()["error"]["message"]  # names the field


# ---- reading a key --------------------------------------------------------------------------


def test_api_key_is_given_to_its_owner_and_never_cached(stack: Stack) -> None:
    _created, _client, channel = live_channel(stack, "pp")
    answer = stack.api.get(f"/api/v1/channels/{channel}/api-key")
    assert answer.status_code == 200
    assert answer.headers["cache-control"] == "no-store"
    body = answer.json()
    assert body["key_version"] == 1
    assert body["api_key"] == stack.sandbox.channel(channel).current_key().value  # type: ignore[union-attr]
    assert messaging_status(stack, body["api_key"]) == 200
    view = stack.api.get(f"/api/v1/channels/{channel}").json()
    assert "api_key" not in view
    assert view["key_version"] == 1


def test_api_key_of_a_channel_without_one_is_409(stack: Stack) -> None:
    created = stack.start_onboarding("pp")
    state = httpx.URL(created["connect_url"]).params["start"]
    client, (channel,) = sandbox_channels(stack, "pp")
    stack.api.post(
        "/api/v1/redirects",
        json={"query": f"client={client}&channels=[{channel}]", "state": state},
    )
    stack.settle()
    answer = stack.api.get(f"/api/v1/channels/{channel}/api-key")
    assert_error(answer, 409, "no_api_key")
    assert "not running" in answer.json()["error"]["message"]


# ---- rotating a key -------------------------------------------------------------------------


def rotate(stack: Stack, channel: str, version: int | None) -> httpx.Response:
    body = {} if version is None else {"key_version": version}
    return stack.api.post(f"/api/v1/channels/{channel}/rotate-key", json=body)


def test_rotation_makes_one_new_key_and_revokes_the_old(stack: Stack) -> None:
    _created, _client, channel = live_channel(stack, "pp")
    old = stack.api.get(f"/api/v1/channels/{channel}/api-key").json()
    answer = rotate(stack, channel, old["key_version"])
    assert answer.status_code == 202, answer.text
    assert answer.json()["key_version"] == 2
    stack.settle()

    assert stack.sandbox.channel(channel).keys_generated == 2
    new = stack.api.get(f"/api/v1/channels/{channel}/api-key").json()
    assert (new["key_version"], new["api_key"] != old["api_key"]) == (2, True)
    assert messaging_status(stack, new["api_key"]) == 200
    assert messaging_status(stack, old["api_key"]) == 401
    assert [e["type"] for e in stack.product_events()].count("channel.key_rotated") == 1


def test_replayed_rotation_after_it_finished_changes_nothing(stack: Stack) -> None:
    _created, _client, channel = live_channel(stack, "pp")
    assert rotate(stack, channel, 1).status_code == 202
    stack.settle()
    before = snapshot(stack)

    replay = rotate(stack, channel, 1)  # e.g. the product's HTTP client retried
    assert_error(replay, 409, "key_already_replaced")
    stack.settle()
    assert stack.sandbox.channel(channel).keys_generated == 2
    assert snapshot(stack) == before

    # A new, explicit request names the key it replaces now.
    assert rotate(stack, channel, 2).status_code == 202
    stack.settle()
    assert stack.sandbox.channel(channel).keys_generated == 3
    key = stack.api.get(f"/api/v1/channels/{channel}/api-key").json()
    assert key["key_version"] == 3
    assert messaging_status(stack, key["api_key"]) == 200


def test_double_click_while_rotating_makes_one_key(stack: Stack) -> None:
    _created, _client, channel = live_channel(stack, "pp")
    assert rotate(stack, channel, 1).status_code == 202
    assert_error(rotate(stack, channel, 1), 409, "rotation_in_progress")
    assert_error(rotate(stack, channel, 2), 409, "rotation_in_progress")
    stack.settle()
    assert stack.sandbox.channel(channel).keys_generated == 2


def test_rotation_needs_the_key_version(stack: Stack) -> None:
    _created, _client, channel = live_channel(stack, "pp")
    assert_error(rotate(stack, channel, None), 422, "validation_failed")
    assert_error(rotate(stack, channel, 0), 422, "validation_failed")
    assert_error(rotate(stack, channel, 7), 409, "unknown_key_version")
    answer = stack.api.post(
        f"/api/v1/channels/{channel}/rotate-key", json={"key_version": 1, "force": True}
    )
    assert_error(answer, 422, "validation_failed")
    stack.settle()
    assert stack.sandbox.channel(channel).keys_generated == 1


def test_rotation_without_a_key_is_refused(stack: Stack) -> None:
    created = stack.start_onboarding("pp")
    state = httpx.URL(created["connect_url"]).params["start"]
    client, (channel,) = sandbox_channels(stack, "pp")
    stack.api.post(
        "/api/v1/redirects",
        json={"query": f"client={client}&channels=[{channel}]", "state": state},
    )
    stack.settle()
    assert_error(rotate(stack, channel, 1), 409, "cannot_rotate_no_key")
    assert_error(rotate(stack, "NoSuchChanCH", 1), 404, "not_found")
    stack.settle()
    assert stack.sandbox.channel(channel).keys_generated == 0
    assert rows(stack, "SELECT count(*) AS n FROM key_generations")[0]["n"] == 0
