"""The one set of helpers for tests that drive the sandbox: in memory, over real HTTP, and a
webhook receiver that records what the sandbox sends.

Plain functions, not fixtures, so each test module builds the fixtures it needs and another
module's fixtures never leak in. Servers run in background threads via
``onboard360.runtime.serving.running``; read what they record from the test thread with
``wait_until`` (polling with a deadline, never fixed sleeps).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from onboard360.runtime.serving import running
from onboard360.sandbox.app import create_app
from onboard360.sandbox.models import HubSpec
from onboard360.sandbox.state import Channel, Client, Hub, Sandbox
from onboard360.sandbox.webhooks import DeliverySettings

T = TypeVar("T")

API_KEY = "partner-api-key-0123456789"
USERNAME = "partner@example.test"
PASSWORD = "correct horse battery"

# Fast, repeatable deliveries for tests: tiny backoff, a short reorder window, a fixed seed.
FAST = DeliverySettings(
    max_attempts=4,
    retry_base_seconds=0.01,
    retry_max_seconds=0.05,
    timeout_seconds=2.0,
    reorder_window_seconds=0.2,
    seed=1234,
)

# ---- the sandbox in memory -----------------------------------------------------------------


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
    """A hub with known credentials that leaves channel statuses to the test."""
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


# ---- the sandbox over HTTP -----------------------------------------------------------------


@contextlib.contextmanager
def running_sandbox(
    hubs: Iterable[HubSpec] = (),
    settings: DeliverySettings = FAST,
    sandbox: Sandbox | None = None,
) -> Iterator[str]:
    """The sandbox app on a free port; yields its base URL."""
    with running(create_app(hubs, sandbox=sandbox, webhook_settings=settings)) as base:
        yield base


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

    def new_key(self, channel_id: str) -> str:
        """A freshly generated key of the channel (which must allow one)."""
        answer = self.generate_key(channel_id)
        assert answer.status_code == 201, answer.text
        key: str = answer.json()["api_key"]
        return key

    def messaging(self, key: str) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, headers={"D360-API-KEY": key}, timeout=10)

    def read_webhook(self, key: str) -> httpx.Response:
        """GET /v1/configs/webhook with a channel key."""
        with self.messaging(key) as messaging:
            return messaging.get("/v1/configs/webhook")


@contextlib.contextmanager
def world(sandbox: Sandbox | None = None, **hub_fields: Any) -> Iterator[World]:
    sandbox = sandbox or new_sandbox()
    hub = sandbox.create_hub(hub_spec(**hub_fields))
    with (
        running_sandbox(sandbox=sandbox) as base_url,
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


# ---- the control API over HTTP -------------------------------------------------------------


def create_hub(base: str, **spec: Any) -> dict[str, Any]:
    spec.setdefault("redirect_url", "http://127.0.0.1:9/onboarding/done")
    return _created(httpx.post(f"{base}/sandbox/hubs", json=spec))


def create_client(base: str, partner_id: str, **body: Any) -> dict[str, Any]:
    return _created(httpx.post(f"{base}/sandbox/hubs/{partner_id}/clients", json=body))


def create_channel(base: str, client_id: str, **body: Any) -> dict[str, Any]:
    return _created(httpx.post(f"{base}/sandbox/clients/{client_id}/channels", json=body))


def hub_with_channel(base: str, **hub_fields: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """A new hub (``hub_fields`` as POST /sandbox/hubs takes them) with one client's channel."""
    hub = create_hub(base, **hub_fields)
    return hub, create_channel(base, create_client(base, hub["partner_id"])["id"])


def _created(answer: httpx.Response) -> dict[str, Any]:
    assert answer.status_code == 201, answer.text
    created: dict[str, Any] = answer.json()
    return created


def deliveries(base: str, **params: str | int) -> list[dict[str, Any]]:
    answer = httpx.get(f"{base}/sandbox/deliveries", params=params)
    answer.raise_for_status()
    found: list[dict[str, Any]] = answer.json()["deliveries"]
    return found


def logged(base: str, count: int, **params: str | int) -> list[dict[str, Any]]:
    """The delivery log once it has ``count`` attempts. A sink sees a request before the
    sandbox logs its answer, so wait for the log itself rather than for the sink."""
    return wait_until(
        lambda: len(found := deliveries(base, **params)) >= count and found,
        what=f"{count} logged delivery attempt(s)",
    )


# ---- a partner's webhook receiver ----------------------------------------------------------


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def event(self) -> str:
        return str(self.json()["event"])


@dataclass
class WebhookSink:
    """Records every POST; answers the queued status codes first, then ``default_status``."""

    default_status: int = 200
    received: list[Received] = field(default_factory=list)
    # Seconds to wait before answering: given the event's webhook-id and whether it is
    # that event's first delivery.
    delay: Callable[[str, bool], float] | None = None
    _answers: list[int] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def answer_next(self, *statuses: int) -> None:
        with self._lock:
            self._answers.extend(statuses)

    def requests(self) -> list[Received]:
        with self._lock:
            return list(self.received)

    def events(self) -> list[str]:
        return [r.event for r in self.requests()]

    async def _receive(self, request: Request) -> JSONResponse:
        body = await request.body()
        with self._lock:
            msg_id = request.headers.get("webhook-id", "")
            first = all(r.headers.get("webhook-id") != msg_id for r in self.received)
            self.received.append(Received(request.url.path, dict(request.headers), body))
            status = self._answers.pop(0) if self._answers else self.default_status
        if self.delay is not None:
            await asyncio.sleep(self.delay(msg_id, first))
        return JSONResponse({"ok": 200 <= status < 300}, status_code=status)

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/{path:path}", self._receive, methods=["POST"])])


@contextlib.contextmanager
def running_sink(default_status: int = 200) -> Iterator[tuple[WebhookSink, str]]:
    """A sink on a free port; yields it and the URL to point a hub's webhook_url at."""
    sink = WebhookSink(default_status)
    with running(sink.app()) as base:
        yield sink, f"{base}/hooks/partner"


def wait_until(probe: Callable[[], T | None], timeout: float = 10.0, what: str = "condition") -> T:
    """Poll ``probe`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.01)
