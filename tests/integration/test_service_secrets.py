"""No secret in any log line, error body, page or table where it does not belong: flows run
with JSON logging (at debug level) captured, failures included, then everything searched."""

from __future__ import annotations

import io
from collections.abc import Iterator

import httpx
import pytest
from pydantic import SecretStr

from onboard360.runtime.crypto import Keyring
from onboard360.sandbox.models import Faults
from tests.integration.service_http import (
    get_redirect,
    live_channel,
    onboarded_channels,
    post_webhook,
    redirect_query,
    rows,
    sandbox_channels,
    state_of,
)
from tests.stack import PRODUCT_TOKEN, Stack, running_stack

HUB_USER = "dp-user@example.test"
HUB_PASSWORD = "hub-password-" + "p" * 24
TABLES = (
    "timeline",
    "product_events",
    "inbox_events",
    "key_generations",
    "channels",
    "clients",
    "onboardings",
    "procrastinate_jobs",
)


@pytest.fixture
def stack(log_stream: io.StringIO, database_url: str) -> Iterator[Stack]:
    # dp signs in with a hub user and password (the token flow), pp with an API key.
    overrides = {"dp": {"api_key": None, "username": HUB_USER, "password": SecretStr(HUB_PASSWORD)}}
    with running_stack(database_url, hub_overrides=overrides) as s:
        s.sandbox_hub("dp").username = HUB_USER
        s.sandbox_hub("dp").password = HUB_PASSWORD
        yield s


def configured_secrets(stack: Stack) -> dict[str, str]:
    found = {"product token": PRODUCT_TOKEN, "hub password": HUB_PASSWORD}
    for n, key in enumerate(stack.settings.encryption_keys):
        found[f"fernet key {n}"] = key.get_secret_value()
    for hub in stack.settings.hubs:
        for name in ("api_key", "platform_secret", "webhook_secret", "password"):
            value = getattr(hub, name)
            if value is not None:
                found[f"{hub.name} {name}"] = value.get_secret_value()
    for product in stack.settings.products:
        for n, secret in enumerate(product.webhook_secrets):
            found[f"{product.name} webhook secret {n}"] = secret.get_secret_value()
    return found


def channel_keys(stack: Stack) -> dict[str, str]:
    return {
        f"key {key.id} of {channel.id}": key.value
        for channel in stack.sandbox.channels.values()
        for key in channel.api_keys
    }


def run_flows_with_failures(stack: Stack) -> list[str]:
    """Happy paths and failures; returns every body the service answered."""
    seen: list[str] = []
    _created, _client, channel = live_channel(stack, "pp")
    seen.append(stack.api.get(f"/api/v1/channels/{channel}/api-key").text)
    seen.append(
        stack.api.post(f"/api/v1/channels/{channel}/rotate-key", json={"key_version": 1}).text
    )
    stack.settle()

    # 360dialog failing: 5xx, then 429, on the key call.
    hub = stack.sandbox_hub("pp")
    for faults in (Faults(api_5xx_rate=1.0), Faults(api_429_rate=1.0, api_retry_after_seconds=0)):
        # Onboarded while 360dialog answers (the redirect is verified), failing from then on.
        _created, _client, (failing,) = onboarded_channels(stack, "pp")
        hub.faults = faults
        stack.sandbox.set_status(failing, "running")
        stack.settle()
        seen.append(stack.api.get(f"/api/v1/channels/{failing}").text)
    hub.faults = Faults()

    # Direct Payment through the token flow: one key refused, one generated.
    for permission in (False, True):
        created = stack.start_onboarding("dp")
        client, (direct,) = sandbox_channels(stack, "dp", permission=permission)
        stack.sandbox.set_status(direct, "running")
        seen.append(
            get_redirect(stack, "dp", redirect_query(state_of(created), client, [direct])).text
        )
        stack.settle()
        seen.append(stack.api.get(f"/api/v1/channels/{direct}/api-key").text)

    # The product's endpoint failing while events go out.
    stack.product.default_status = 500
    _created, _client, _ = live_channel(stack, "pp")
    stack.product.default_status = 200

    # Hostile callers.
    seen.append(post_webhook(stack, "pp", b'{"event": "x"}', signature="00" * 32).text)
    seen.append(post_webhook(stack, "pp", b'{"event": "x"}', secret="w" * 30).text)
    seen.append(post_webhook(stack, "pp", b'{"event": "x", "n": NaN}').text)
    seen.append(post_webhook(stack, "pp", b"{" * 10).text)
    bad_token = {"Authorization": "Bearer " + PRODUCT_TOKEN[:-2] + "zz"}
    seen.append(httpx.get(f"{stack.service_url}/api/v1/channels", headers=bad_token).text)
    seen.append(get_redirect(stack, "pp", "client=<script>&channels=[x]&state=nope").text)
    seen.append(stack.api.post("/api/v1/onboardings", json={"hub": "pp"}).text)
    return seen


def test_no_secret_is_logged_answered_or_stored_out_of_place(
    stack: Stack, log_stream: io.StringIO
) -> None:
    answered = run_flows_with_failures(stack)
    keys = channel_keys(stack)
    assert len(keys) >= 4  # first key, rotation, the failing channels' keys, Direct Payment
    secrets = {**configured_secrets(stack), **keys}
    logs = log_stream.getvalue()
    assert "api key attempt failed" in logs  # the failures did happen and were logged
    assert "product event not accepted" in logs

    leaks = [name for name, value in secrets.items() if value in logs]
    assert leaks == [], f"in the logs: {leaks}"
    # Every key the product read was its own; no other body carries any secret.
    others = [text for text in answered if '"api_key"' not in text]
    leaks = [name for name, value in secrets.items() for text in others if value in text]
    assert leaks == [], f"in answers: {leaks}"
    outbound = b"".join(r.body for r in stack.product.requests()).decode()
    assert [name for name, value in secrets.items() if value in outbound] == []

    for table in TABLES:
        text = "".join(str(row) for row in rows(stack, f"SELECT * FROM {table}"))  # noqa: S608
        leaks = [name for name, value in secrets.items() if value in text]
        assert leaks == [], f"in {table}: {leaks}"


def test_api_keys_are_stored_encrypted(stack: Stack) -> None:
    _created, _client, channel = live_channel(stack, "pp")
    live = stack.sandbox.channel(channel).current_key()
    assert live is not None
    (row,) = rows(stack, "SELECT ciphertext FROM api_keys WHERE channel_id = %s", channel)
    ciphertext = bytes(row["ciphertext"])
    assert live.value.encode() not in ciphertext
    assert Keyring.from_keys(stack.settings.encryption_keys).decrypt(ciphertext) == live.value
