"""Helpers for the service's edge tests (tests/integration/test_service_*.py): signed
partner webhooks, redirects, a live channel, and snapshots of the database to prove
that something changed nothing."""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import psycopg
from psycopg.rows import dict_row
from pydantic import SecretStr

from onboard360.config.hubs import ProductConfig
from onboard360.db.embedded import to_libpq_uri
from onboard360.domain import RedirectResult, format_redirect
from onboard360.hub.platform import SIGNATURE_HEADER
from onboard360.hub.signatures import webhook_signature
from tests.stack import Stack, running_stack

OTHER_TOKEN = "other-product-token-" + "o" * 24

# ---- the database ---------------------------------------------------------------------------


@contextmanager
def database(stack: Stack) -> Iterator[psycopg.Connection[dict[str, Any]]]:
    with psycopg.connect(to_libpq_uri(stack.database_url), row_factory=dict_row) as conn:
        yield conn


def rows(stack: Stack, query: str, *params: Any) -> list[dict[str, Any]]:
    with database(stack) as conn:
        return conn.execute(query, params).fetchall()  # type: ignore[arg-type]


def onboarding_row(stack: Stack, onboarding_id: str) -> dict[str, Any]:
    """The onboarding's row, every column."""
    (row,) = rows(stack, "SELECT * FROM onboardings WHERE id = %s", onboarding_id)
    return row


def count(stack: Stack, table: str) -> int:
    query = f"SELECT count(*) AS n FROM {table}"  # noqa: S608 - tables named by tests
    return int(rows(stack, query)[0]["n"])


def execute(stack: Stack, query: str, *params: Any) -> None:
    with database(stack) as conn:
        conn.execute(query, params)  # type: ignore[arg-type]


# ---- journeys: until the abandonment sweep and POST /onboardings/{id}/resume are merged,
# the funnel's tests write their columns directly, here only (switch these to the real path).


def snapshot(stack: Stack) -> dict[str, Any]:
    """Everything a replay must leave as it was (timestamps of untouched rows included)."""
    return {
        "channels": rows(stack, "SELECT * FROM channels ORDER BY hub, channel_id"),
        "clients": rows(stack, "SELECT * FROM clients ORDER BY hub, client_id"),
        "timeline": rows(stack, "SELECT * FROM timeline ORDER BY id"),
        "product_events": rows(stack, "SELECT id, dedupe_key FROM product_events ORDER BY id"),
        "key_generations": rows(stack, "SELECT * FROM key_generations ORDER BY channel_id"),
        "api_keys": rows(stack, "SELECT id, intent, discarded_at FROM api_keys ORDER BY id"),
        "onboardings": rows(stack, "SELECT * FROM onboardings ORDER BY id"),
    }


@contextmanager
def two_products(database_url: str) -> Iterator[Stack]:
    """Two products: "default" owns hub pp, "other" (``OTHER_TOKEN``) owns hub dp."""
    other = ProductConfig(name="other", api_tokens=[SecretStr(OTHER_TOKEN)])
    with running_stack(
        database_url, hub_overrides={"dp": {"product": "other"}}, extra_products=[other]
    ) as stack:
        yield stack


# ---- partner webhooks -----------------------------------------------------------------------


def event_body(event: str, payload: dict[str, Any] | None = None, **top: Any) -> bytes:
    """A partner webhook shaped as the sandbox sends it: an envelope and a ``payload``."""
    body: dict[str, Any] = {"id": secrets.token_hex(12), "event": event, **top}
    if payload is not None:
        body["payload"] = payload
    return json.dumps(body, separators=(",", ":")).encode()


def channel_event(stack: Stack, event: str, channel_id: str, status: str) -> bytes:
    """``event`` about a sandbox channel, with the channel object as the payload."""
    payload = stack.sandbox.channel_payload(stack.sandbox.channel(channel_id))
    return event_body(event, {**payload, "status": status})


def webhook_url(stack: Stack, hub: str, secret: str | None = None) -> str:
    secret = secret or stack.hub(hub).webhook_secret.get_secret_value()
    return f"{stack.service_url}/hooks/360dialog/{hub}/{secret}"


def post_webhook(
    stack: Stack,
    hub: str,
    body: bytes,
    *,
    secret: str | None = None,
    signature: str | None = None,
    sign: bool = True,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """POST ``body`` as 360dialog would: signed with the hub's platform secret."""
    sent = {"content-type": "application/json", **(headers or {})}
    platform_secret = stack.hub(hub).platform_secret
    if signature is not None:
        sent[SIGNATURE_HEADER] = signature
    elif sign and platform_secret is not None:
        sent[SIGNATURE_HEADER] = webhook_signature(platform_secret.get_secret_value(), body)
    return httpx.post(webhook_url(stack, hub, secret), content=body, headers=sent, timeout=10)


def inbox_rows(stack: Stack, body: bytes) -> list[dict[str, Any]]:
    digest = hashlib.sha256(body).digest()
    return rows(stack, "SELECT * FROM inbox_events WHERE body_sha256 = %s", digest)


def quiet_sandbox(stack: Stack, hub: str) -> None:
    """Stop the sandbox's own webhooks for ``hub``: the test sends every webhook itself."""
    stack.sandbox_hub(hub).webhook_url = None


def assert_error(answer: httpx.Response, status: int, code: str | None = None) -> None:
    """The service's one error shape: {"error": {"type", "code", "message"}}."""
    assert answer.status_code == status, answer.text
    error = answer.json()["error"]
    assert set(error) >= {"type", "code", "message"}, error
    assert error["message"]
    if code is not None:
        assert error["code"] == code, error


# ---- onboarding -----------------------------------------------------------------------------


def state_of(created: dict[str, Any]) -> str:
    return httpx.URL(created["connect_url"]).params["start"]


def redirect_query(
    state: str | None, client: str, channels: list[str], revoked: list[str] | None = None
) -> str:
    return format_redirect(RedirectResult(client, tuple(channels), tuple(revoked or ()), state))


def get_redirect(stack: Stack, hub: str, query: str) -> httpx.Response:
    return httpx.get(f"{stack.service_url}/connect/{hub}?{query}", timeout=10)


def sandbox_channels(
    stack: Stack, hub: str, numbers: int = 1, *, permission: bool | None = None
) -> tuple[str, list[str]]:
    client = stack.sandbox.create_client(
        stack.hub(hub).partner_id, "Acme", "ops@acme.test", api_key_permission=permission
    )
    phones = [f"+49151{secrets.randbelow(10**7):07d}" for _ in range(numbers)]
    return client.id, [stack.sandbox.create_channel(client.id, phone).id for phone in phones]


def onboarded_channels(
    stack: Stack, hub: str, numbers: int = 1, *, permission: bool | None = None
) -> tuple[dict[str, Any], str, list[str]]:
    """A client that signed up through one of our onboardings, its numbers shared in the
    popup's redirect (so onboard360 may key them), not yet running: (created, client,
    channels)."""
    created = stack.start_onboarding(hub)
    client, channels = sandbox_channels(stack, hub, numbers, permission=permission)
    answer = get_redirect(stack, hub, redirect_query(state_of(created), client, channels))
    assert answer.status_code == 200, answer.text
    return created, client, channels


def live_channel(stack: Stack, hub: str = "pp") -> tuple[dict[str, Any], str, str]:
    """An onboarding whose one channel is running with its key stored: (created, client,
    channel)."""
    created, client, (channel,) = onboarded_channels(stack, hub, permission=True)
    stack.sandbox.set_status(channel, "running")
    stack.settle()
    assert stack.sandbox.channel(channel).keys_generated == 1
    return created, client, channel


def messaging_status(stack: Stack, key: str) -> int:
    """What the sandbox's Messaging API answers this channel key (200: the key is live)."""
    answer = httpx.get(
        f"{stack.sandbox_url}/v1/configs/webhook", headers={"D360-API-KEY": key}, timeout=10
    )
    return answer.status_code
