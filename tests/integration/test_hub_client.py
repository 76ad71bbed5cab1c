"""The Partner/Messaging API client against the sandbox over real HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from typing import TypeVar

import httpx
import pytest
from pydantic import SecretStr

from onboard360.hub import (
    ApiKeyAuth,
    HubAuth,
    HubAuthError,
    HubNotFound,
    HubPermissionRefused,
    HubRateLimited,
    HubUnavailable,
    MessagingAPI,
    PartnerAPI,
    RetryPolicy,
    TokenAuth,
)
from tests import sandbox_fixtures as sf
from tests.sandbox_fixtures import World

T = TypeVar("T")
FAST = RetryPolicy(attempts=4, timeout=10, wait_initial=0.0, wait_max=0.01, wait_jitter=0.0)


@pytest.fixture
def env() -> Iterator[World]:
    with sf.world() as world:
        yield world


def run(
    env: World, scenario: Callable[[PartnerAPI], Awaitable[T]], auth: HubAuth | None = None
) -> T:
    async def main() -> T:
        async with httpx.AsyncClient(timeout=10) as client:
            api = PartnerAPI(
                env.pid,
                auth or ApiKeyAuth(SecretStr(env.hub.api_key)),
                base_url=f"{env.base_url}/api/v2",
                client=client,
                retry=FAST,
            )
            return await scenario(api)

    return asyncio.run(main())


def test_iter_channels_pages_through_every_channel(env: World) -> None:
    client = sf.add_client(env.sandbox, env.hub)
    made = {sf.add_channel(env.sandbox, client).id for _ in range(7)}

    async def scenario(api: PartnerAPI) -> set[str]:
        return {channel.id async for channel in api.iter_channels(page_size=3)}

    assert run(env, scenario) == made


def test_filters_reach_the_hub(env: World) -> None:
    client = sf.add_client(env.sandbox, env.hub)
    running = sf.add_channel(env.sandbox, client)
    sf.add_channel(env.sandbox, client, status="ready")

    async def scenario(api: PartnerAPI) -> list[str]:
        page = await api.channels_page(filters={"status": "running"})
        return [channel.id for channel in page.items]

    assert run(env, scenario) == [running.id]


def test_get_channel_reads_phone_number_and_client(env: World) -> None:
    client = sf.add_client(env.sandbox, env.hub)
    channel = sf.add_channel(env.sandbox, client)

    async def scenario(api: PartnerAPI) -> tuple[object, object]:
        return await api.get_channel(channel.id), await api.get_channel("NOSUCHCH")

    found, missing = run(env, scenario)
    assert found is not None
    assert (found.client_id, found.phone_number, found.status) == (
        client.id,
        channel.phone_number,
        "running",
    )
    assert missing is None


def test_token_auth_fetches_one_token_and_reuses_it(env: World) -> None:
    sf.add_channel(env.sandbox, sf.add_client(env.sandbox, env.hub))
    auth = TokenAuth(env.hub.username, SecretStr(env.hub.password))

    async def scenario(api: PartnerAPI) -> int:
        for _ in range(3):
            await api.channels_page()
        return len(env.sandbox.tokens)

    assert run(env, scenario, auth) == 1


def test_wrong_password_is_an_auth_error_without_the_password(env: World) -> None:
    auth = TokenAuth(env.hub.username, SecretStr("wrong-password-123"))
    with pytest.raises(HubAuthError) as info:
        run(env, lambda api: api.channels_page(), auth)
    assert "wrong-password-123" not in str(info.value)


def test_wrong_api_key_is_an_auth_error_without_the_key(env: World) -> None:
    auth = ApiKeyAuth(SecretStr("not-the-key-0123456789"))
    with pytest.raises(HubAuthError, match="401") as info:
        run(env, lambda api: api.channels_page(), auth)
    assert "not-the-key" not in str(info.value)


def test_generated_key_configures_the_messaging_webhook(env: World) -> None:
    channel = sf.add_channel(env.sandbox, sf.add_client(env.sandbox, env.hub))

    async def scenario(api: PartnerAPI) -> dict[str, object]:
        key = await api.generate_api_key(channel.id)
        async with httpx.AsyncClient(timeout=10) as client:
            messaging = MessagingAPI(base_url=env.base_url, client=client, retry=FAST)
            secret = key.api_key.get_secret_value()
            await messaging.set_webhook(secret, "https://product.example.test/inbound")
            return await messaging.get_webhook(secret)

    assert run(env, scenario) == {"url": "https://product.example.test/inbound"}
    assert env.sandbox.channel(channel.id).keys_generated == 1


def test_generated_key_is_never_in_its_repr(env: World) -> None:
    channel = sf.add_channel(env.sandbox, sf.add_client(env.sandbox, env.hub))
    key = run(env, lambda api: api.generate_api_key(channel.id))
    assert key.api_key.get_secret_value() not in repr(key)


def test_key_without_permission_is_refused(env: World) -> None:
    client = sf.add_client(env.sandbox, env.hub, permission=False)
    channel = sf.add_channel(env.sandbox, client)
    with pytest.raises(HubPermissionRefused, match="permission"):
        run(env, lambda api: api.generate_api_key(channel.id))
    assert env.sandbox.channel(channel.id).keys_generated == 0


def test_key_for_unknown_channel_is_not_found(env: World) -> None:
    with pytest.raises(HubNotFound):
        run(env, lambda api: api.generate_api_key("NOSUCHCH"))


def test_persistent_429_ends_rate_limited_with_retry_after(env: World) -> None:
    env.hub.faults.api_429_rate = 1.0
    env.hub.faults.api_retry_after_seconds = 0
    with pytest.raises(HubRateLimited):
        run(env, lambda api: api.channels_page())


def test_some_429_and_5xx_are_retried_until_success(env: World) -> None:
    sf.add_channel(env.sandbox, sf.add_client(env.sandbox, env.hub))
    env.hub.faults.api_429_rate = 0.3
    env.hub.faults.api_5xx_rate = 0.3
    env.hub.faults.api_retry_after_seconds = 0

    async def scenario(api: PartnerAPI) -> int:
        pages = [await api.channels_page() for _ in range(10)]
        return sum(len(page.items) for page in pages)

    assert run(env, scenario) == 10


def test_outage_ends_unavailable(env: World) -> None:
    env.hub.faults.outage = True
    with pytest.raises(HubUnavailable, match="503"):
        run(env, lambda api: api.channels_page())


def test_unreachable_hub_is_unavailable() -> None:
    async def scenario() -> None:
        async with httpx.AsyncClient(timeout=2) as client:
            api = PartnerAPI(
                "SANDBOXPA",
                ApiKeyAuth(SecretStr("k" * 20)),
                base_url="http://127.0.0.1:1/api/v2",
                client=client,
                retry=FAST,
            )
            await api.channels_page()

    with pytest.raises(HubUnavailable, match="ConnectError"):
        asyncio.run(scenario())


def test_update_partner_sets_the_webhook_url(env: World) -> None:
    answer = run(env, lambda api: api.update_partner(webhook_url="https://o360.example.test/wh"))
    assert answer["webhook_url"] == "https://o360.example.test/wh"
    assert env.hub.webhook_url == "https://o360.example.test/wh"
