"""The sandbox's Partner API over real HTTP: auth, lists, key generation, partner settings."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from onboard360.hub import platform as p
from tests import sandbox_fixtures as sf
from tests.sandbox_fixtures import World


@pytest.fixture
def env() -> Iterator[World]:
    with sf.world() as world:
        yield world


def other_hub(env: World) -> str:
    hub = env.sandbox.create_hub(
        sf.hub_spec(
            partner_id="OTHERPA",
            api_key="other-partner-api-key-0123",
            username="other@example.test",
            password="another password",
        )
    )
    return hub.partner_id


def channels(env: World, **params: object) -> httpx.Response:
    return env.api.get(f"/api/v2/partners/{env.pid}/channels", params=params)


def clients(env: World, **params: object) -> httpx.Response:
    return env.api.get(f"/api/v2/partners/{env.pid}/clients", params=params)


def ids(response: httpx.Response, name: str = "partner_channels") -> list[str]:
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()[name]]


# ---- auth ------------------------------------------------------------------------------


def test_token_for_right_credentials_is_a_bearer_token(env: World) -> None:
    answer = env.http.post("/api/v2/token", json={"username": sf.USERNAME, "password": sf.PASSWORD})
    assert answer.status_code == 200
    body = answer.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "refresh_token"}
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == p.TOKEN_TTL_SECONDS
    assert answer.headers["cache-control"] == "no-store"


def test_bearer_token_opens_the_partner_api(env: World) -> None:
    credentials = {"username": sf.USERNAME, "password": sf.PASSWORD}
    token = env.http.post("/api/v2/token", json=credentials).json()["access_token"]
    answer = env.http.get(
        f"/api/v2/partners/{env.pid}/channels", headers={"Authorization": f"Bearer {token}"}
    )
    assert answer.status_code == 200


def test_token_for_wrong_password_is_401(env: World) -> None:
    answer = env.http.post("/api/v2/token", json={"username": sf.USERNAME, "password": "nope-nope"})
    assert answer.status_code == 401
    assert "wrong username or password" in sf.developer_message(answer)


def test_token_without_credentials_is_401(env: World) -> None:
    answer = env.http.post("/api/v2/token", json={"username": sf.USERNAME})
    assert answer.status_code == 401
    assert "required" in sf.developer_message(answer)


def test_request_without_credentials_is_401(env: World) -> None:
    answer = env.http.get(f"/api/v2/partners/{env.pid}/channels")
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"] == "Bearer"
    assert "x-api-key" in sf.developer_message(answer)


def test_wrong_api_key_is_401(env: World) -> None:
    answer = env.http.get(
        f"/api/v2/partners/{env.pid}/channels", headers={"x-api-key": "not-the-partner-key"}
    )
    assert answer.status_code == 401


def test_unknown_bearer_token_is_401(env: World) -> None:
    answer = env.http.get(
        f"/api/v2/partners/{env.pid}/channels", headers={"Authorization": "Bearer made-up"}
    )
    assert answer.status_code == 401


def test_expired_bearer_token_is_401() -> None:
    clock = sf.FakeClock()
    with sf.world(sf.new_sandbox(clock=clock)) as env:
        credentials = {"username": sf.USERNAME, "password": sf.PASSWORD}
        token = env.http.post("/api/v2/token", json=credentials).json()["access_token"]
        clock.advance(p.TOKEN_TTL_SECONDS + 1)
        answer = env.http.get(
            f"/api/v2/partners/{env.pid}/channels", headers={"Authorization": f"Bearer {token}"}
        )
    assert answer.status_code == 401


def test_credentials_on_another_partners_id_are_refused(env: World) -> None:
    answer = env.api.get(f"/api/v2/partners/{other_hub(env)}/channels")
    assert answer.status_code == p.OTHER_PARTNER_STATUS


def test_credentials_on_an_unknown_partner_id_are_refused_alike(env: World) -> None:
    answer = env.api.get("/api/v2/partners/NOSUCHPA/channels")
    assert answer.status_code == p.OTHER_PARTNER_STATUS


def test_channel_key_is_no_partner_credential(env: World) -> None:
    channel = sf.add_channel(env.sandbox, sf.add_client(env.sandbox, env.hub))
    key = env.generate_key(channel.id).json()["api_key"]
    answer = env.http.get(f"/api/v2/partners/{env.pid}/channels", headers={"x-api-key": key})
    assert answer.status_code == 401


# ---- lists -----------------------------------------------------------------------------


def test_channel_list_has_the_documented_envelope(env: World) -> None:
    sf.add_channel(env.sandbox, sf.add_client(env.sandbox, env.hub))
    body = channels(env).json()
    assert set(body) == {"partner_channels", "count", "total", "limit", "offset", "sort", "filters"}
    assert (body["count"], body["total"], body["limit"], body["offset"]) == (1, 1, 20, 0)
    assert (body["sort"], body["filters"]) == ("-created_at", {})
    channel = body["partner_channels"][0]
    assert {"id", "client_id", "status", "account_mode", "setup_info", "client"} <= set(channel)


def test_channel_list_shows_only_the_hubs_own_channels(env: World) -> None:
    own = sf.add_channel(env.sandbox, sf.add_client(env.sandbox, env.hub))
    foreign_client = env.sandbox.create_client(other_hub(env), "Them", "them@example.test")
    sf.add_channel(env.sandbox, foreign_client)
    assert ids(channels(env)) == [own.id]


def test_channel_list_filters_by_id(env: World) -> None:
    client = sf.add_client(env.sandbox, env.hub)
    wanted = sf.add_channel(env.sandbox, client)
    sf.add_channel(env.sandbox, client)
    answer = channels(env, filters=json.dumps({"id": wanted.id}))
    assert ids(answer) == [wanted.id]
    assert answer.json()["filters"] == {"id": wanted.id}


def test_channel_list_filters_by_client_and_status(env: World) -> None:
    first, second = sf.add_client(env.sandbox, env.hub), sf.add_client(env.sandbox, env.hub, n=2)
    ready = sf.add_channel(env.sandbox, first, status="ready")
    sf.add_channel(env.sandbox, first, status="running")
    sf.add_channel(env.sandbox, second, status="ready")
    answer = channels(env, filters=json.dumps({"client_id": first.id, "status": "ready"}))
    assert ids(answer) == [ready.id]


def test_channel_list_is_newest_first_by_default(env: World) -> None:
    client = sf.add_client(env.sandbox, env.hub)
    made = [sf.add_channel(env.sandbox, client).id for _ in range(3)]
    assert ids(channels(env)) == made[::-1]


def test_channel_list_sorts_oldest_first_on_request(env: World) -> None:
    client = sf.add_client(env.sandbox, env.hub)
    made = [sf.add_channel(env.sandbox, client).id for _ in range(3)]
    answer = channels(env, sort="created_at")
    assert ids(answer) == made
    assert answer.json()["sort"] == "created_at"


def test_unknown_sort_field_is_400(env: World) -> None:
    answer = channels(env, sort="-phone_number")
    assert answer.status_code == 400
    assert "sort must be one of" in sf.developer_message(answer)


def test_limit_and_offset_page_through_the_list(env: World) -> None:
    client = sf.add_client(env.sandbox, env.hub)
    made = [sf.add_channel(env.sandbox, client).id for _ in range(5)]
    answer = channels(env, sort="created_at", limit=2, offset=2)
    assert ids(answer) == made[2:4]
    body = answer.json()
    assert (body["count"], body["total"], body["limit"], body["offset"]) == (2, 5, 2, 2)


def test_offset_past_the_end_is_an_empty_page(env: World) -> None:
    sf.add_channel(env.sandbox, sf.add_client(env.sandbox, env.hub))
    body = channels(env, offset=50).json()
    assert (body["partner_channels"], body["count"], body["total"]) == ([], 0, 1)


@pytest.mark.parametrize("limit", [0, p.LIST_LIMIT_MAX + 1, "many"])
def test_limit_out_of_bounds_is_refused(env: World, limit: object) -> None:
    answer = channels(env, limit=limit)
    assert answer.status_code == 422
    assert "limit" in sf.developer_message(answer)


@pytest.mark.parametrize(
    ("filters", "complaint"),
    [
        ("status=running", "JSON object"),
        ('["running"]', "JSON object"),
        ('{"phone_number": "+49"}', "unknown filter key"),
        ('{"status": 1}', "must be a string"),
        ('{"status": ["running"]}', "must be a string"),
    ],
    ids=["not-json", "not-an-object", "unknown-key", "number", "list"],
)
def test_malformed_filters_are_400(env: World, filters: str, complaint: str) -> None:
    answer = channels(env, filters=filters)
    assert answer.status_code == 400
    assert complaint in sf.developer_message(answer)


def test_client_list_has_the_documented_envelope(env: World) -> None:
    client = sf.add_client(env.sandbox, env.hub)
    body = clients(env).json()
    assert set(body) == {"clients", "count", "total", "limit", "offset", "sort", "filters"}
    assert [c["id"] for c in body["clients"]] == [client.id]
    assert body["clients"][0]["contact_info"] == {"email": client.email}


def test_client_list_filters_by_email_ignoring_case(env: World) -> None:
    sf.add_client(env.sandbox, env.hub)
    wanted = sf.add_client(env.sandbox, env.hub, n=2)
    answer = clients(env, filters=json.dumps({"email": wanted.email.upper()}))
    assert ids(answer, "clients") == [wanted.id]


def test_client_list_refuses_channel_filter_keys(env: World) -> None:
    answer = clients(env, filters=json.dumps({"account_mode": "live"}))
    assert answer.status_code == 400


# ---- keys ------------------------------------------------------------------------------


def test_key_generation_answers_id_key_address_and_app_id(env: World) -> None:
    channel = sf.add_channel(env.sandbox, sf.add_client(env.sandbox, env.hub))
    answer = env.generate_key(channel.id)
    assert answer.status_code == p.API_KEY_CREATED_STATUS
    body = answer.json()
    assert set(body) == {"id", "api_key", "address", "app_id"}
    assert body["api_key"] == channel.current_key().value  # type: ignore[union-attr]
    assert (body["address"], body["app_id"]) == (env.base_url, channel.id)
    assert answer.headers["cache-control"] == "no-store"


def test_direct_payment_without_key_permission_is_refused(env: World) -> None:
    env.hub.billing = "direct"
    channel = sf.add_channel(env.sandbox, sf.add_client(env.sandbox, env.hub))
    answer = env.generate_key(channel.id)
    assert answer.status_code == p.KEY_REFUSED_STATUS
    assert "permission" in sf.developer_message(answer)
    assert channel.keys_generated == 0


def test_direct_payment_with_key_permission_generates(env: World) -> None:
    env.hub.billing = "direct"
    client = sf.add_client(env.sandbox, env.hub, permission=True)
    answer = env.generate_key(sf.add_channel(env.sandbox, client).id)
    assert answer.status_code == p.API_KEY_CREATED_STATUS


def test_channel_not_shared_with_the_partner_is_refused(env: World) -> None:
    client = sf.add_client(env.sandbox, env.hub)
    channel = sf.add_channel(env.sandbox, client, shared=False)
    answer = env.generate_key(channel.id)
    assert answer.status_code == p.KEY_REFUSED_STATUS
    assert "not shared" in sf.developer_message(answer)


def test_channel_not_running_is_refused(env: World) -> None:
    channel = sf.add_channel(env.sandbox, sf.add_client(env.sandbox, env.hub), status="ready")
    answer = env.generate_key(channel.id)
    assert answer.status_code == p.KEY_REFUSED_STATUS
    assert "not running" in sf.developer_message(answer)


def test_another_partners_channel_is_404(env: World) -> None:
    foreign_client = env.sandbox.create_client(other_hub(env), "Them", "them@example.test")
    foreign = sf.add_channel(env.sandbox, foreign_client)
    assert env.generate_key(foreign.id).status_code == 404
    assert foreign.keys_generated == 0


def test_unknown_channel_is_404(env: World) -> None:
    assert env.generate_key("NOSUCHCH").status_code == 404


def test_every_generated_key_is_counted(env: World) -> None:
    channel = sf.add_channel(env.sandbox, sf.add_client(env.sandbox, env.hub))
    for _ in range(3):
        assert env.generate_key(channel.id).status_code == p.API_KEY_CREATED_STATUS
    assert channel.keys_generated == 3


# ---- the partner -----------------------------------------------------------------------


def test_patch_sets_webhook_and_redirect_urls(env: World) -> None:
    change = {
        "webhook_url": "https://partner.example.test/hooks/360",
        "partner_redirect_url": "https://partner.example.test/done",
    }
    answer = env.api.patch(f"/api/v2/partners/{env.pid}", json=change)
    assert answer.status_code == 200
    assert answer.json() == env.hub.public()
    assert (env.hub.webhook_url, env.hub.redirect_url) == tuple(change.values())


def test_patch_leaves_fields_not_sent_alone(env: World) -> None:
    before = env.hub.redirect_url
    change = {"webhook_url": "https://partner.example.test/hooks/360"}
    env.api.patch(f"/api/v2/partners/{env.pid}", json=change)
    assert env.hub.redirect_url == before


@pytest.mark.parametrize(
    "change",
    [
        {"webhook_url": "ftp://partner.example.test/x"},
        {"partner_redirect_url": "/relative/path"},
        {"webhook_url": None},
        {"webhook_url": 42},
        {"webhook_url": "https://partner.example.test/" + "a" * 3000},
        {"webhook_url": "https://partner.example.test:port/hooks"},
        {"webhook_url": "https://partner.example.test/\x00hooks"},
    ],
    ids=["not-http", "relative", "null", "number", "too-long", "bad-port", "control-char"],
)
def test_patch_refuses_bad_urls(env: World, change: dict[str, object]) -> None:
    before = env.hub.public()
    answer = env.api.patch(f"/api/v2/partners/{env.pid}", json=change)
    assert answer.status_code == 422
    assert env.hub.public() == before


@pytest.mark.parametrize(
    ("method", "path"),
    [("get", "/api/v2/partners/SANDBOXPA/nothing"), ("delete", "/api/v2/partners/SANDBOXPA")],
)
def test_unknown_routes_and_methods_answer_in_the_error_shape(
    env: World, method: str, path: str
) -> None:
    answer = env.api.request(method, path)
    assert answer.status_code in (404, 405)
    assert sf.developer_message(answer)


def test_patch_refuses_unknown_fields(env: World) -> None:
    answer = env.api.patch(f"/api/v2/partners/{env.pid}", json={"billing_model": "partner"})
    assert answer.status_code == 422
    assert "billing_model" in sf.developer_message(answer)


def test_patch_on_another_partners_id_is_refused(env: World) -> None:
    other = other_hub(env)
    change = {"webhook_url": "https://evil.example.test/"}
    answer = env.api.patch(f"/api/v2/partners/{other}", json=change)
    assert answer.status_code == p.OTHER_PARTNER_STATUS
    assert env.sandbox.hub(other).webhook_url is None
