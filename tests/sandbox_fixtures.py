"""Helpers for tests that talk to the sandbox's APIs over real HTTP.

Plain functions, not fixtures, so each test module builds the fixtures it needs and
another module's fixtures never leak in.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from onboard360.sandbox.app import create_app
from onboard360.sandbox.models import HubSpec
from onboard360.sandbox.state import Channel, Client, Hub, Sandbox
from onboard360.serving import running

API_KEY = "partner-api-key-0123456789"
USERNAME = "partner@example.test"
PASSWORD = "correct horse battery"


class FakeClock:
    """A clock tests move by hand; every call is a microsecond later, so order is kept."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(microseconds=1)
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def hub_spec(**overrides: Any) -> HubSpec:
    """A hub that sends no webhooks and leaves channel statuses to the test."""
    fields: dict[str, Any] = {
        "partner_id": "SANDBOXPA",
        "redirect_url": "https://partner.example.test/connected",
        "api_key": API_KEY,
        "username": USERNAME,
        "password": PASSWORD,
        "auto_advance": False,
    }
    fields.update(overrides)
    return HubSpec(**fields)


def new_sandbox(seed: int = 1, clock: FakeClock | None = None) -> Sandbox:
    if clock is None:
        return Sandbox(rng=random.Random(seed))
    return Sandbox(clock=clock, rng=random.Random(seed))


@contextlib.contextmanager
def serving(sandbox: Sandbox) -> Iterator[str]:
    """The sandbox app on a free port; yields its base URL."""
    with running(create_app(sandbox=sandbox)) as base_url:
        yield base_url


def add_client(sandbox: Sandbox, hub: Hub, *, permission: bool | None = None, n: int = 1) -> Client:
    return sandbox.create_client(
        hub.partner_id, f"Client {n}", f"client{n}@example.test", api_key_permission=permission
    )


def add_channel(
    sandbox: Sandbox, client: Client, *, status: str = "running", **kwargs: Any
) -> Channel:
    channel = sandbox.create_channel(client.id, f"+4915{len(sandbox.channels):08d}", **kwargs)
    if status != channel.status:
        sandbox.set_status(channel.id, status)
    return channel


@dataclass
class World:
    """One served sandbox with one hub, and clients that speak its APIs."""

    sandbox: Sandbox
    hub: Hub
    base_url: str
    http: httpx.Client  # no credentials
    api: httpx.Client  # the hub's x-api-key

    @property
    def pid(self) -> str:
        return self.hub.partner_id

    def generate_key(self, channel_id: str) -> httpx.Response:
        return self.api.post(f"/api/v2/partners/{self.pid}/channels/{channel_id}/api_keys")

    def messaging(self, key: str) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, headers={"D360-API-KEY": key})


@contextlib.contextmanager
def world(sandbox: Sandbox | None = None, **hub_fields: Any) -> Iterator[World]:
    sandbox = sandbox or new_sandbox()
    hub = sandbox.create_hub(hub_spec(**hub_fields))
    with (
        serving(sandbox) as base_url,
        httpx.Client(base_url=base_url, timeout=10) as http,
        httpx.Client(base_url=base_url, timeout=10, headers={"x-api-key": hub.api_key}) as api,
    ):
        yield World(sandbox, hub, base_url, http, api)


def developer_message(response: httpx.Response) -> str:
    """The human message of an error answer (platform.error_body)."""
    body = response.json()
    assert body["meta"]["success"] is False
    assert body["meta"]["http_code"] == response.status_code
    message: str = body["meta"]["developer_message"]
    return message
