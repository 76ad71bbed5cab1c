"""Test helpers: a webhook receiver that records what it gets, and a sandbox on real HTTP.

Both run in background threads via ``onboard360.serving.running``; read them from the test
thread with ``wait_until`` (polling with a deadline, never fixed sleeps).
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from onboard360.sandbox.app import create_app
from onboard360.sandbox.models import HubSpec
from onboard360.sandbox.state import Sandbox
from onboard360.sandbox.webhooks import DeliverySettings
from onboard360.serving import running

T = TypeVar("T")

# Fast, repeatable deliveries for tests: tiny backoff, a short reorder window, a fixed seed.
FAST = DeliverySettings(
    max_attempts=4,
    retry_base_seconds=0.01,
    retry_max_seconds=0.05,
    timeout_seconds=2.0,
    reorder_window_seconds=0.2,
    seed=1234,
)


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
            self.received.append(Received(request.url.path, dict(request.headers), body))
            status = self._answers.pop(0) if self._answers else self.default_status
        return JSONResponse({"ok": 200 <= status < 300}, status_code=status)

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/{path:path}", self._receive, methods=["POST"])])


@contextlib.contextmanager
def running_sink(default_status: int = 200) -> Iterator[tuple[WebhookSink, str]]:
    """A sink on a free port; yields it and the URL to point a hub's webhook_url at."""
    sink = WebhookSink(default_status)
    with running(sink.app()) as base:
        yield sink, f"{base}/hooks/partner"


@contextlib.contextmanager
def running_sandbox(
    hubs: tuple[HubSpec, ...] = (),
    settings: DeliverySettings = FAST,
    sandbox: Sandbox | None = None,
) -> Iterator[str]:
    """The sandbox app on a free port; yields its base URL."""
    with running(create_app(hubs, sandbox=sandbox, webhook_settings=settings)) as base:
        yield base


def wait_until(probe: Callable[[], T | None], timeout: float = 5.0, what: str = "condition") -> T:
    """Poll ``probe`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.01)


def deliveries(base: str, **params: str | int) -> list[dict[str, Any]]:
    answer = httpx.get(f"{base}/sandbox/deliveries", params=params)
    answer.raise_for_status()
    found: list[dict[str, Any]] = answer.json()["deliveries"]
    return found


def create_hub(base: str, **spec: Any) -> dict[str, Any]:
    spec.setdefault("redirect_url", "http://127.0.0.1:9/onboarding/done")
    answer = httpx.post(f"{base}/sandbox/hubs", json=spec)
    assert answer.status_code == 201, answer.text
    hub: dict[str, Any] = answer.json()
    return hub


def create_client(base: str, partner_id: str, **body: Any) -> dict[str, Any]:
    answer = httpx.post(f"{base}/sandbox/hubs/{partner_id}/clients", json=body)
    assert answer.status_code == 201, answer.text
    client: dict[str, Any] = answer.json()
    return client


def create_channel(base: str, client_id: str, **body: Any) -> dict[str, Any]:
    answer = httpx.post(f"{base}/sandbox/clients/{client_id}/channels", json=body)
    assert answer.status_code == 201, answer.text
    channel: dict[str, Any] = answer.json()
    return channel
